"""The stored plate preview (specs/plate-preview.md): built by write_plate and `plate preview`,
read by Plate.grid and plate-thumbnail in at most 3 requests, stale previews detected."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import zarr
from PIL import Image as PILImage

import ngffstore
from ngffstore.cli import main
from ngffstore.errors import InputError, NotNgffError
from ngffstore.plate import open_plate, write_plate, write_plate_metadata, write_well_metadata
from ngffstore.plate.preview import (
    PREVIEW_KEY,
    build_preview,
    check_preview,
    mark_fields_changed,
)
from ngffstore.validation import validate
from tests.plate.test_plate import check_other_clients


def constant_fields(wells, n_fields=2, shape=(2, 40, 60), skip=()):
    """Fields whose channels are constants (value = 1000 * channel + 10 * well index + field +
    1): every reduction of them is exact, so the preview equals the per-field reads."""
    fields, truth = [], {}
    for i, (r, c) in enumerate(wells):
        for f in range(n_fields):
            if (r, str(c), f) in skip:
                continue
            a = np.empty(shape, np.uint16)
            for ch in range(shape[0]):
                a[ch] = 1000 * ch + 10 * i + f + 1
            fields.append((r, c, f, a))
            truth[(r, str(c), f)] = a
    return fields, truth


def listing(folder):
    out = {}
    for base, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(base, f)
            out[p] = os.path.getmtime(p)
    return out


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def plate_url(tmp_path):
    fields, truth = constant_fields([("A", 1), ("A", 3), ("B", 2)], skip={("A", "3", 1)})
    url = str(tmp_path / "p.zarr")
    write_plate(fields, url, axes="cyx", rows=2, columns=3, min_size=16, progress=False)
    return url, truth


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_write_plate_stores_a_preview_other_clients_still_read_a_plate(tmp_path, version):
    fields, truth = constant_fields([("A", 1), ("B", 3)])
    url = str(tmp_path / f"p{version}.zarr")
    write_plate(fields, url, axes="cyx", min_size=16, ngff_version=version, progress=False)
    check_other_clients(url, version)  # ome-zarr-models, ome-zarr-py and ngffstore validate
    plate = open_plate(url)
    reg = plate.preview
    assert reg is not None and reg.fresh and reg.path == "preview" and reg.layout == (1, 2)
    preview = ngffstore.open_image(f"{url}/preview")  # an ordinary multiscale image
    assert validate(f"{url}/preview").ok
    assert preview.axes == "cyx" and [c.label for c in preview.channels] == ["channel 0", "channel 1"]
    attrs = zarr.open_group(f"{url}/preview", mode="r").attrs.asdict()
    geo = attrs["ngffstore"][PREVIEW_KEY]
    assert [w["name"] for w in geo["wells"]] == ["A01", "B03"]
    # every level is one chunk: a reader of any level makes one request for its pixels
    for lv in reg.levels:
        arr = zarr.open_array(f"{url}/preview/{lv['path']}", mode="r")
        assert arr.nchunks == 1
    full = np.asarray(zarr.open_array(f"{url}/preview/{reg.levels[0]['path']}", mode="r")[...])
    for w in geo["wells"]:
        for f in w["fields"]:
            x, y, width, height = f["box"]
            expected = truth[(w["row"], w["column"], int(f["path"]))][:, 0, 0]
            assert (full[:, y:y + height, x:x + width] == expected[:, None, None]).all()


def test_grid_from_the_preview_equals_the_fields(plate_url):
    url, _truth = plate_url
    plate = open_plate(url)
    for max_size in (8, 20, 60):
        served = plate.grid(max_size, gap=3)
        read = plate.grid(max_size, gap=3, preview=False)
        assert served.preview and not read.preview
        assert served.shape == read.shape and served.tile == read.tile and served.layout == read.layout
        a, b = served.compute(), read.compute()
        assert np.array_equal(a, b)
        x, y, w, h = served.position("A", "3", 1)  # the field A/3/1 does not exist: empty
        assert not a[:, y:y + h, x:x + w].any()
    one = plate.grid(20, c="channel 1", preview=True).compute()
    assert np.array_equal(one, plate.grid(20, c="channel 1", preview=False).compute())
    # what the preview cannot serve is read from the fields
    assert not plate.grid(200).preview  # larger tiles than the preview holds
    assert not plate.grid(level=-1).preview and not plate.grid(20, fields=[0]).preview
    with pytest.raises(ngffstore.ReadError, match="no fresh stored preview"):
        plate.grid(200, preview=True)


def test_stale_previews_are_detected_and_rebuilt(plate_url, capsys):
    url, _truth = plate_url
    assert check_preview(url).fresh
    # a field rewritten in place by another command: the cheap rule cannot see it, the check can
    new = np.full((2, 40, 60), 7, np.uint16)
    ngffstore.write_image(new, f"{url}/B/2/0", axes="cyx", min_size=16, overwrite=True, progress=False)
    assert open_plate(url).preview.fresh
    state = check_preview(url)
    assert not state.fresh and state.stale_fields == ("B/2/0",)
    code, out, err = run(capsys, "plate", "preview", url, "--check")
    assert code == 1 and "stale" in out and "B/2/0" in out
    code, out, err = run(capsys, "plate", "preview", url)
    assert code == 0, err
    assert check_preview(url).fresh
    plate = open_plate(url)
    mosaic = plate.grid(20)
    x, y, w, h = mosaic.position("B", "2", 0)
    assert mosaic.preview and (mosaic.compute()[:, y:y + h, x:x + w] == 7).all()
    # writers that say so (write_plate_metadata, mark_fields_changed) make it stale at once
    mark_fields_changed(url)
    plate = open_plate(url)
    assert not plate.preview.fresh and "rewritten" in plate.preview.reason
    assert not plate.grid(20).preview
    code, out, err = run(capsys, "plate", "preview", url)
    assert code == 0 and open_plate(url).preview.fresh
    write_plate_metadata(["A1", "A3", "B2"], url, rows=2, columns=3)
    assert not open_plate(url).preview.fresh


def test_missing_fields_are_empty_cells(plate_url):
    url, truth = plate_url
    os.remove(os.path.join(url, "A", "1", "1", "zarr.json"))
    summary = build_preview(url, progress=False)
    assert summary.missing == ("A/1/1",) and summary.fields == 4
    mosaic = open_plate(url).grid(20)
    out = mosaic.compute()
    x, y, w, h = mosaic.position("A", "1", 1)
    assert mosaic.preview and not out[:, y:y + h, x:x + w].any()
    x, y, w, h = mosaic.position("A", "1", 0)
    assert (out[:, y:y + h, x:x + w] == truth[("A", "1", 0)][:, :1, :1]).all()


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, plate_url, capsys):
    url, _ = plate_url
    image = f"{url}/A/1/0"
    before = listing(url)
    with pytest.raises(NotNgffError, match="needs an HCS plate.*is an image"):
        build_preview(image)
    code, _out, err = run(capsys, "plate", "preview", image)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert listing(url) == before
    # a plate that lists wells without any field image
    empty = str(tmp_path / "empty.zarr")
    write_well_metadata(["0"], f"{empty}/A/1")
    write_plate_metadata(["A1"], empty)
    before = listing(empty)
    code, _out, err = run(capsys, "plate", "preview", empty)
    assert code != 0 and "nothing to preview" in err and len(err.strip().splitlines()) == 1
    assert listing(empty) == before
    with pytest.raises(InputError):
        build_preview(url, tile=0)


def test_preview_of_another_writers_plate(tmp_path, capsys):
    """A plate written without ngffstore's preview (fields and metadata written separately, as
    other tools do) gets one with `plate preview URL`."""
    url = str(tmp_path / "other.zarr")
    fields, _truth = constant_fields([("A", 1), ("B", 2)], n_fields=1)
    for r, c, f, a in fields:
        ngffstore.write_image(a, f"{url}/{r}/{c}/{f}", axes="cyx", min_size=16, ngff_version="0.4", progress=False)
        write_well_metadata([str(f)], f"{url}/{r}/{c}", ngff_version="0.4")
    write_plate_metadata(["A1", "B2"], url, ngff_version="0.4")
    assert open_plate(url).preview is None
    code, out, err = run(capsys, "plate", "preview", url, "--check")
    assert code == 1 and "absent" in out
    code, out, err = run(capsys, "plate", "preview", url, "--no-progress")
    assert code == 0, err
    check_other_clients(url, "0.4")
    plate = open_plate(url)
    assert plate.preview.fresh and np.array_equal(
        plate.grid(16).compute(), plate.grid(16, preview=False).compute()
    )


def test_thumbnail_png_has_labels_gaps_and_zooms_to_a_well(plate_url, tmp_path, capsys):
    url, _truth = plate_url
    png = tmp_path / "p.png"
    code, out, err = run(capsys, "plate-thumbnail", url, "-o", png, "--gap", "4")
    assert code == 0, err and "from the stored preview" in out
    plate = open_plate(url)
    mosaic = plate.grid(max(plate.preview.tile), gap=4)
    picture = np.asarray(PILImage.open(png))
    # a margin for the labels on top and on the left, and grey gaps between wells
    assert picture.shape[0] > mosaic.shape[-2] and picture.shape[1] > mosaic.shape[-1]
    top = picture.shape[0] - mosaic.shape[-2]
    left = picture.shape[1] - mosaic.shape[-1]
    x, _, w, _ = mosaic.position("A", "1", 1)
    gap_column = picture[top:, left + x + w]
    assert (gap_column == (48, 48, 48)).all()
    assert picture[:top].any() and picture[:, :left].any()  # text drawn in the margins
    code, _nolabels, err = run(capsys, "plate-thumbnail", url, "-o", png, "--gap", "4", "--no-labels")
    assert np.asarray(PILImage.open(png)).shape[:2] == mosaic.shape[-2:]
    zoom = tmp_path / "b2.png"
    code, out, err = run(capsys, "plate-thumbnail", url, "-o", zoom, "--well", "B2")
    assert code == 0, err and "well B02" in out
    h, w = mosaic.cell
    assert np.asarray(PILImage.open(zoom)).shape[:2] == (h + 14, w)
    code, out, err = run(capsys, "plate-thumbnail", url, "-o", zoom, "--well", "H12")
    assert code != 0 and "no well" in err and len(err.strip().splitlines()) == 1


def _copy_to_s3(local, s3_bucket, s3_options, name):
    import s3fs

    s3fs.S3FileSystem(**s3_options).put(str(local), f"{s3_bucket}/{name}", recursive=True)
    return f"s3://{s3_bucket}/{name}"


@pytest.mark.parametrize("wells", [6, 96])
def test_overview_costs_at_most_three_requests_whatever_the_plate_size(
    tmp_path, s3_server, s3_bucket, s3_options, wells
):
    from ngffstore.plate.names import row_letters

    cols = 3 if wells == 6 else 12
    names = [(row_letters(i // cols), i % cols + 1) for i in range(wells)]
    fields, _truth = constant_fields(names, n_fields=2, shape=(2, 24, 24))
    local = tmp_path / "p.zarr"
    write_plate(fields, str(local), axes="cyx", min_size=8, progress=False, scheduler="threads")
    url = _copy_to_s3(local, s3_bucket, s3_options, f"p{wells}.zarr")
    with s3_server.count() as log:
        plate = open_plate(url, storage_options=s3_options)
        out = plate.grid(16, gap=2).compute()
    assert len(log) <= 3 and set(log.counts()) == {"GET"}, log.summary()
    with s3_server.count() as log:
        plate = open_plate(url, storage_options=s3_options)
        expected = plate.grid(16, gap=2, preview=False).compute()
    assert np.array_equal(out, expected)
    assert len(log) >= 2 * wells  # per-field reads: a level document and a chunk per field at least
    import s3fs

    s3fs.S3FileSystem(**s3_options).rm(f"{s3_bucket}/p{wells}.zarr", recursive=True)  # many objects: emptied here


def test_registration_survives_concurrent_plate_attribute_updates(plate_url):
    """The preview registers itself with a conditional read-modify-write: attributes another
    writer adds meanwhile are kept."""
    from ngffstore.nodes import update_attributes
    from ngffstore.storage import Location

    url, _ = plate_url

    def add(attrs):
        attrs.setdefault("ngffstore", {})["note"] = "kept"
        return attrs

    update_attributes(Location.parse(url), add)
    build_preview(url, progress=False)
    with open(os.path.join(url, "zarr.json")) as f:
        doc = json.load(f)
    assert doc["attributes"]["ngffstore"]["note"] == "kept"
    assert doc["attributes"]["ngffstore"]["preview"]["path"] == "preview"
