"""HCS plates: the three builders, NGFF metadata read by other clients, lazy reading (S3 request
counts), the plate mosaic, bad input, resuming and a distributed build."""

from __future__ import annotations

import csv
import multiprocessing
import os
import pickle

import dask
import numpy as np
import pytest
import tifffile
import zarr
from hypothesis import given
from hypothesis import strategies as st

import ngffstore
from converters.plate import from_manifest, from_pattern, from_tree
from ngffstore.errors import NotNgffError, OutputExistsError
from ngffstore.plate import (
    PlateInputError,
    open_plate,
    write_plate,
    write_plate_metadata,
    write_well_metadata,
)
from ngffstore.plate.names import infer_layout, parse_names, parse_well, row_index, row_letters
from ngffstore.validation import validate

H, W = 40, 48
WELLS = [("A", 1), ("A", 2), ("B", 1), ("B", 3)]


def pixels(seed: int, shape: tuple[int, ...] = (H, W), dtype=np.uint16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4000, shape).astype(dtype)


@pytest.fixture
def pattern_folder(tmp_path):
    """MetaXpress-like names ``A01_s1_w1.tif``: 4 wells x 2 fields x 2 channels of 40x48."""
    folder = tmp_path / "exp"
    folder.mkdir()
    truth = {}
    for i, (r, c) in enumerate(WELLS):
        for s in (1, 2):
            planes = []
            for w in (1, 2):
                a = pixels(i * 100 + s * 10 + w)
                tifffile.imwrite(folder / f"{r}{c:02d}_s{s}_w{w}.tif", a)
                planes.append(a)
            truth[(r, str(c), s)] = np.stack(planes)
    (folder / "notes.txt").write_text("acquisition notes are ignored")
    return folder, truth


def field_data(url: str, row: str, column: str, path: str, level: int = 0) -> np.ndarray:
    return np.asarray(zarr.open_array(f"{url}/{row}/{column}/{path}/{level}", mode="r")[...])


def check_other_clients(url: str, version: str) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    if version == "0.5":
        from ome_zarr_models.v05.hcs import HCS
    else:
        from ome_zarr_models.v04.hcs import HCS
    hcs = HCS.from_zarr(zarr.open_group(url, mode="r"))  # raises on invalid metadata
    assert len(list(hcs.well_groups)) == hcs.n_wells
    nodes = list(Reader(parse_url(url))())
    assert "Plate" in [type(s).__name__ for s in nodes[0].specs]
    report = validate(url)
    assert report.ok, report.summary()


# -- builders --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_pattern_builder_writes_a_plate_other_clients_read(tmp_path, pattern_folder, version):
    folder, truth = pattern_folder
    url = str(tmp_path / f"plate{version}.zarr")
    plate_input = from_pattern(folder, "{well}_s{field}_w{channel}.tif")
    summary = write_plate(plate_input, url, min_size=16, ngff_version=version, progress=False)
    assert (summary.wells, summary.fields, summary.field_count) == (4, 8, 2)
    assert summary.rows == ("A", "B") and summary.columns == ("1", "2", "3")  # a 6-well plate
    assert summary.field_axes == "cyx" and summary.field_shape == (2, H, W)
    check_other_clients(url, version)

    plate = open_plate(url)
    assert plate.version == version and plate.field_count == 2 and plate.name == "exp"
    assert [w.path for w in plate.wells] == ["A/1", "A/2", "B/1", "B/3"]
    well = plate.well("B", 3)
    assert [f.path for f in well.images] == ["0", "1"]
    image = well.field(1)
    assert image.channels[0].label == "channel 1"
    assert np.array_equal(image.to_dask(0).compute(), truth[("B", "3", 2)])
    for (r, c, s), expected in truth.items():
        assert np.array_equal(field_data(url, r, c, str(s - 1)), expected)
    assert image.metadata["metadata"]["key_values"]["field"] == "2"  # the instrument's field id


def test_pattern_with_numbered_rows_z_planes_and_a_wildcard(tmp_path):
    """Operetta/Harmony names ``r02c03f01p01-ch1sk1fk1fl1.tiff``: z planes and channels stacked."""
    folder = tmp_path / "harmony"
    folder.mkdir()
    truth = {}
    for r, c in ((1, 1), (2, 3)):
        for f in (1, 2):
            stack = np.zeros((2, 3, H, W), np.uint16)
            for ch in (1, 2):
                for p in (1, 2, 3):
                    a = pixels(r * 1000 + c * 100 + f * 10 + ch * 5 + p)
                    stack[ch - 1, p - 1] = a
                    tifffile.imwrite(folder / f"r{r:02d}c{c:02d}f{f:02d}p{p:02d}-ch{ch}sk1fk1fl1.tiff", a)
            truth[(r, c, f)] = stack
    url = str(tmp_path / "plate.zarr")
    summary = write_plate(
        from_pattern(folder, "r{row}c{column}f{field}p{z}-ch{channel}sk*.tiff"), url,
        rows=8, columns=12, min_size=24, progress=False,
    )
    assert summary.field_axes == "czyx" and summary.field_shape == (2, 3, H, W)
    assert len(summary.rows) == 8 and len(summary.columns) == 12
    assert np.array_equal(field_data(url, "B", "3", "1"), truth[(2, 3, 2)])
    assert np.array_equal(field_data(url, "A", "1", "0"), truth[(1, 1, 1)])
    assert validate(url).ok


def test_regex_pattern(tmp_path, pattern_folder):
    folder, truth = pattern_folder
    url = str(tmp_path / "plate.zarr")
    regex = r"(?P<row>[A-H])(?P<column>\d\d)_s(?P<field>\d)_w(?P<channel>\d)\.tif"
    write_plate(from_pattern(folder, regex), url, min_size=16, progress=False)
    assert np.array_equal(field_data(url, "A", "2", "0"), truth[("A", "2", 1)])


def write_manifest(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_manifest_builder_stacks_named_channels_and_records_acquisitions(tmp_path):
    (tmp_path / "img").mkdir()
    rows, truth = [], {}
    for i, (well, field, acq) in enumerate([("C05", 1, 0), ("C05", 2, 0), ("D07", 1, 1)]):
        planes = []
        for ch in ("DAPI", "GFP"):
            a = pixels(i * 10 + len(ch))
            name = f"img/{well}_{field}_{ch}.tif"
            tifffile.imwrite(tmp_path / name, a)
            rows.append([well, field, ch, acq, name])
            planes.append(a)
        truth[(well, field, acq)] = np.stack(planes)
    write_manifest(tmp_path / "plate.csv", ["Well", "Field", "Channel", "Acquisition", "File"], rows)
    url = str(tmp_path / "plate.zarr")
    summary = write_plate(from_manifest(tmp_path / "plate.csv"), url, min_size=16, progress=False)
    assert summary.acquisitions == (0, 1) and summary.name == "plate"
    plate = open_plate(url)
    assert [a.id for a in plate.acquisitions] == [0, 1]
    assert (len(plate.rows), len(plate.columns)) == (6, 8)  # C05/D07: a 48-well plate
    well = plate.well("D07")
    assert [(f.path, f.acquisition) for f in well.images] == [("2", 1)]
    image = well.field(0)
    assert [ch.label for ch in image.channels] == ["DAPI", "GFP"]
    assert np.array_equal(image.to_dask(0).compute(), truth[("D07", 1, 1)])
    assert np.array_equal(field_data(url, "C", "5", "1"), truth[("C05", 2, 0)])
    check_other_clients(url, "0.5")


def test_manifest_with_row_and_column_one_file_per_field(tmp_path):
    truth = {}
    rows = []
    for r, c in (("A", "1"), ("B", "02")):
        a = pixels(ord(r), (2, H, W))
        tifffile.imwrite(tmp_path / f"{r}{c}.tif", a, photometric="minisblack")
        rows.append([r, c, 0, f"{r}{c}.tif"])
        truth[(r, str(int(c)))] = a
    write_manifest(tmp_path / "m.csv", ["row", "column", "field", "file"], rows)
    url = str(tmp_path / "plate.zarr")
    write_plate(from_manifest(tmp_path / "m.csv"), url, min_size=16, axes="cyx", progress=False)
    assert np.array_equal(field_data(url, "B", "2", "0"), truth[("B", "2")])


def test_tree_builder(tmp_path):
    """``PLATE/ROW/COL/FIELD``: a field is one file (``0.tif``) or a folder of channel files."""
    root = tmp_path / "plate1"
    truth = {}
    (root / "A" / "1").mkdir(parents=True)
    a = pixels(1, (2, H, W))
    tifffile.imwrite(root / "A" / "1" / "0.tif", a, ome=True, metadata={"axes": "CYX"})
    truth[("A", "1", "0")] = a
    for field in ("0", "1"):
        d = root / "2" / "03" / field  # numbered rows: 2 = B
        d.mkdir(parents=True)
        planes = [pixels(int(field) * 7 + k) for k in range(2)]
        for name, p in zip(("DAPI", "GFP"), planes):
            tifffile.imwrite(d / f"{name}.tif", p)
        truth[("B", "3", field)] = np.stack(planes)
    url = str(tmp_path / "plate.zarr")
    summary = write_plate(from_tree(root), url, min_size=16, progress=False)
    assert summary.name == "plate1" and summary.fields == 3
    for (r, c, f), expected in truth.items():
        assert np.array_equal(field_data(url, r, c, f), expected)
    assert [ch.label for ch in open_plate(url).field("B03", field=1).channels] == ["DAPI", "GFP"]
    assert validate(url).ok


# -- bad input: one message, nothing written ---------------------------------------------------


def _fields(shape=(H, W)):
    return [(r, c, 0, pixels(i, shape)) for i, (r, c) in enumerate(WELLS)]


def _bad_outside(tmp_path):
    return {"fields": _fields() + [("C", 1, 0, pixels(9))], "rows": "A-B", "columns": 3}, [
        "wells outside the plate's rows A-B and columns 1-3: C01"
    ]


def _bad_duplicate(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", pixels(0))
    write_manifest(tmp_path / "m.csv", ["well", "field", "file"], [["A1", 1, "a.tif"], ["A01", "1", "a.tif"]])
    return {"fields": from_manifest(tmp_path / "m.csv")}, ["duplicated fields: A01 field 1 (m.csv line 2 and m.csv line 3)"]


def _bad_missing(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", pixels(0))
    write_manifest(
        tmp_path / "m.csv", ["well", "field", "file"],
        [["A1", 1, "a.tif"], ["A2", 1, "gone.tif"], ["A3", 1, "sub/lost.tif"]],
    )
    return {"fields": from_manifest(tmp_path / "m.csv")}, ["missing files:", "gone.tif", "lost.tif"]


def _bad_shapes(tmp_path):
    fields = _fields() + [("B", 2, 0, pixels(5, (30, 30))), ("A", 3, 0, pixels(6).astype(np.float32))]
    return {"fields": fields}, [
        "fields whose shape or dtype differs from the other 4 (yx 40x48 uint16)",
        "B02 field 0 (yx 30x30 uint16)", "A03 field 0 (yx 40x48 float32)",
    ]


def _bad_names(tmp_path, pattern_folder=None):
    folder = tmp_path / "exp"
    folder.mkdir()
    for name in ("A01_s1_w1.tif", "A01_s1_w2.tif", "A01_s1_thumb.tif", "plate-overview.tif"):
        tifffile.imwrite(folder / name, pixels(1))
    return {"fields": from_pattern(folder, "{well}_s{field}_w{channel}.tif")}, [
        "image files not matching the pattern '{well}_s{field}_w{channel}.tif': A01_s1_thumb.tif, plate-overview.tif"
    ]


def _bad_planes(tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    for name in ("A01_s1_w1.tif", "A01_s1_w2.tif", "A01_s2_w1.tif"):
        tifffile.imwrite(folder / name, pixels(1))
    return {"fields": from_pattern(folder, "{well}_s{field}_w{channel}.tif")}, [
        "fields with missing planes: A01 field 2 lacks channel 2"
    ]


def _bad_many(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", pixels(0))
    tifffile.imwrite(tmp_path / "small.tif", pixels(0, (8, 8)))
    write_manifest(
        tmp_path / "m.csv", ["row", "column", "field", "file"],
        [["A", 1, 1, "a.tif"], ["A", 1, 1, "a.tif"], ["Q", 1, 1, "a.tif"], ["A", 2, 1, "nope.tif"],
         ["A", 3, 1, "small.tif"], ["A", 4, 1, "a.tif"]],
    )
    return {"fields": from_manifest(tmp_path / "m.csv"), "columns": 3}, [
        "the plate input has 4 problems, nothing was written",
        # Q is a row of a 1536-well plate (A-AF), so only column 4 lies outside
        "duplicated fields: A01 field 1", "wells outside the plate's rows A-AF and columns 1-3: A04",
        "missing files:", "nope.tif", "A03 field 1 (yx 8x8 uint16)",
    ]


@pytest.mark.parametrize(
    "case", [_bad_outside, _bad_duplicate, _bad_missing, _bad_shapes, _bad_names, _bad_planes, _bad_many],
    ids=lambda f: f.__name__[5:],
)
def test_bad_input_is_one_message_and_nothing_is_written(tmp_path, case):
    kwargs, expected = case(tmp_path)
    url = tmp_path / "out.zarr"
    with pytest.raises(PlateInputError) as info:
        write_plate(kwargs.pop("fields"), str(url), progress=False, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("the plate input has")
    for text in expected:
        assert text in message, message
    assert isinstance(info.value, ValueError)  # an InputError: callers may catch ValueError
    assert not url.exists()


def test_bad_layouts_are_clear_errors(tmp_path, pattern_folder):
    folder, _ = pattern_folder
    with pytest.raises(ngffstore.InputError, match="must name the well"):
        from_pattern(folder, "{field}_{channel}.tif")
    with pytest.raises(ngffstore.InputError, match="unknown part"):
        from_pattern(folder, "{well}_{site2}.tif")
    with pytest.raises(ngffstore.InputNotFoundError, match="no such folder"):
        from_pattern(tmp_path / "nope", "{well}.tif")
    write_manifest(tmp_path / "m.csv", ["where", "file"], [["A1", "a.tif"]])
    with pytest.raises(ngffstore.InputError, match="needs columns row, column"):
        from_manifest(tmp_path / "m.csv")
    with pytest.raises(TypeError, match="unknown option"):
        write_plate(_fields(), str(tmp_path / "x.zarr"), chunk_size=3)


def test_existing_output_needs_overwrite(tmp_path):
    url = str(tmp_path / "plate.zarr")
    write_plate(_fields(), url, min_size=16, progress=False)
    with pytest.raises(OutputExistsError):
        write_plate(_fields(), url, min_size=16, progress=False)
    assert open_plate(url).well("A", 1)  # left intact
    write_plate(_fields()[:2], url, min_size=16, progress=False, overwrite=True)
    assert len(open_plate(url).wells) == 2


def test_interrupted_build_never_reads_complete_and_resumes(tmp_path, pattern_folder, monkeypatch):
    import ngffstore.image.write as image_write

    folder, truth = pattern_folder
    url = str(tmp_path / "plate.zarr")
    real = image_write.write_image
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise OSError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(image_write, "write_image", failing)
    plate_input = from_pattern(folder, "{well}_s{field}_w{channel}.tif")
    with pytest.raises(OSError):
        write_plate(plate_input, url, min_size=16, scheduler="synchronous", progress=False)
    with pytest.raises(NotNgffError, match="did not finish"):
        open_plate(url)
    monkeypatch.setattr(image_write, "write_image", real)
    summary = write_plate(from_pattern(folder, "{well}_s{field}_w{channel}.tif"), url, min_size=16, progress=False)
    assert summary.resumed_fields == 3
    for (r, c, s), expected in truth.items():
        assert np.array_equal(field_data(url, r, c, str(s - 1)), expected)
    assert validate(url).ok


def test_metadata_writers_for_fields_written_elsewhere(tmp_path):
    url = str(tmp_path / "plate.zarr")
    for r, c in (("A", "1"), ("B", "2")):
        for f in ("0", "1"):
            ngffstore.write_image(pixels(3), f"{url}/{r}/{c}/{f}", min_size=16, progress=False)
        write_well_metadata(["0", {"path": "1", "acquisition": 7}], f"{url}/{r}/{c}")
    attrs = write_plate_metadata(
        ["A01", "B/2"],
        url,
        name="assembled",
        acquisitions=[{"id": 7, "name": "second"}],
        field_count=2,
    )
    assert attrs["ome"]["plate"]["wells"][1] == {"path": "B/2", "rowIndex": 1, "columnIndex": 1}
    assert validate(url).ok
    check_other_clients(url, "0.5")
    with pytest.raises(PlateInputError, match="outside"):
        write_plate_metadata(["A1", "K30"], str(tmp_path / "p2.zarr"), rows=8, columns=12)


# -- reading ---------------------------------------------------------------------------------


@pytest.fixture
def grid_plate(tmp_path):
    """2x3 wells (B/3 empty, A/2 with one field of two), fields (2, 50, 60) uint16, 3 levels."""
    truth = {}
    fields = []
    for i, (r, c) in enumerate([("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2)]):
        for f in range(1 if (r, c) == ("A", 2) else 2):
            a = pixels(i * 10 + f, (2, 50, 60))
            fields.append((r, c, f, a))
            truth[(r, str(c), f)] = a
    url = str(tmp_path / "grid.zarr")
    write_plate(fields, url, axes="cyx", min_size=16, rows=2, columns=3, progress=False)
    return url, truth


def test_grid_is_the_lowest_level_of_every_field(grid_plate):
    url, truth = grid_plate
    plate = open_plate(url)
    mosaic = plate.grid(level=-1)
    assert mosaic.level == 2 and mosaic.tile == (13, 15) and mosaic.layout == (1, 2)
    assert mosaic.axes == "cyx" and mosaic.shape == (2, 2 * 13, 3 * 2 * 15)
    assert mosaic.data.npartitions < 6  # whole plate rows per block, not one task per field
    # a Mosaic is a Region (its pixel fields and verbs are Region's, not repeated)
    from ngffstore.image import Region

    assert isinstance(mosaic, Region) and not mosaic.clipped and mosaic.nbytes == mosaic.compute().nbytes
    assert mosaic.bbox == (0, 0, round(mosaic.shape[2] * mosaic.scale[1]), round(mosaic.shape[1] * mosaic.scale[0]))
    out = mosaic.compute()
    for r in ("A", "B"):
        for c in ("1", "2", "3"):
            for f in (0, 1):
                x, y, w, h = mosaic.position(r, c, f)
                tile = out[:, y:y + h, x:x + w]
                if (r, c, f) in truth:
                    assert np.array_equal(tile, field_data(url, r, c, str(f), level=2))
                else:
                    assert not tile.any()  # empty well B/3, missing field A/2/1


def test_grid_with_max_size_uses_the_readers_rule(grid_plate):
    url, truth = grid_plate
    plate = open_plate(url)
    mosaic = plate.grid(max_size=20, c="channel 1", gap=3, preview=False)
    assert mosaic.axes == "yx" and mosaic.level == 1 and mosaic.tile == (17, 20)
    out = mosaic.compute()
    for (r, c, f) in truth:
        x, y, w, h = mosaic.position(r, c, f)
        expected = plate.field(r, c, f).thumbnail(20, c=1).compute()
        assert np.array_equal(out[y:y + h, x:x + w], expected)
    assert mosaic.shape == (2 * 17 + 3, 3 * 40 + 2 * 3)
    assert not out[17:20].any() and not out[:, 40:43].any()  # gaps between wells
    only_second = plate.grid(level=2, fields=[1], c=[1, 0]).compute()
    assert only_second.shape == (2, 26, 45)
    assert np.array_equal(only_second[0, 13:26, 0:15], field_data(url, "B", "1", "1", level=2)[1])


def test_grid_reads_a_field_with_another_pyramid_through_its_own_levels(grid_plate):
    """A field rewritten later with fewer levels lacks the first field's level: it is read with
    the reader's rule from its own pyramid and fills its tile all the same."""
    url, truth = grid_plate
    ngffstore.write_image(truth[("B", "1", 1)], f"{url}/B/1/1", axes="cyx", levels=2, overwrite=True, progress=False)
    plate = open_plate(url)
    mosaic = plate.grid(level=-1)
    out = mosaic.compute()
    x, y, w, h = mosaic.position("B", "1", 1)
    expected = plate.field("B", 1, 1).thumbnail(max(mosaic.tile)).compute()
    eh, ew = expected.shape[1:]
    assert (eh, ew) == (12, 15) and mosaic.tile == (13, 15)  # 50x60 at 15 px: 12.5 rounds to 12
    assert np.array_equal(out[:, y:y + eh, x:x + ew], expected)
    assert not out[:, y + eh:y + h, x:x + w].any()
    x, y, w, h = mosaic.position("B", "1", 0)
    assert np.array_equal(out[:, y:y + h, x:x + w], field_data(url, "B", "1", "0", level=2))


def test_plate_readers_pickle_and_errors_are_clear(grid_plate):
    url, _ = grid_plate
    plate = pickle.loads(pickle.dumps(open_plate(url)))
    assert plate.well("A2").images[0].path == "0"
    with pytest.raises(ngffstore.StoreNotFoundError, match="no images"):
        plate.well("B", 3)
    with pytest.raises(ngffstore.StoreNotFoundError, match="no well K/1"):
        plate.well("K1")
    with pytest.raises(NotNgffError, match="is an image, not a plate"):
        open_plate(f"{url}/A/1/0")
    with pytest.raises(NotNgffError, match="is a plate well"):
        open_plate(f"{url}/A/1")
    with pytest.raises(NotNgffError, match="HCS plate, not an image"):
        ngffstore.image.open_image(url)
    with pytest.raises(ngffstore.MemoryCapError, match="memory cap"):
        plate.grid(level=0, memory_cap=1000)
    with pytest.raises(ngffstore.RegionError, match="no channel"):
        plate.grid(level=-1, c="GFP")


# -- S3 ---------------------------------------------------------------------------------------


def test_write_on_s3_and_grid_reads_one_level_per_field(s3_server, s3_bucket, s3_options):
    url = f"s3://{s3_bucket}/plate.zarr"
    fields = [("A", 1, 0, pixels(1, (2, 40, 40))), ("B", 2, 0, pixels(2, (2, 40, 40)))]
    write_plate(fields, url, axes="cyx", min_size=20, storage_options=s3_options, progress=False)
    with s3_server.count() as log:
        plate = open_plate(url, storage_options=s3_options)
        mosaic = plate.grid(level=-1)
        out = mosaic.compute()
    # the plate, its wells, the first field opened as an image (its levels choose the level), the
    # chosen level's metadata of every other field, and the chunks: GETs only, each object once
    chunks = [f"{f}/1/c/{c}/0/0" for f in ("A/1/0", "B/2/0") for c in (0, 1)]
    expected = ["zarr.json", "A/1/zarr.json", "B/2/zarr.json", "A/1/0/zarr.json",
                *(f"A/1/0/{i}/zarr.json" for i in range(2)), "B/2/0/1/zarr.json", *chunks]
    assert sorted(log.keys("GET")) == sorted(f"plate.zarr/{k}" for k in expected), log.summary()
    assert len(log) == len(expected), log.summary()  # no HEAD, no LIST
    x, y, w, h = mosaic.position("B", "2")
    assert np.array_equal(out[:, y:y + h, x:x + w], plate.field("B", 2).to_dask(1).compute())


def test_opening_a_384_well_plate_reads_one_object(s3_server, s3_bucket, s3_options, tmp_path):
    """The plate lists 384 wells; opening it reads the plate group only, a well its own group."""
    import s3fs

    from ngffstore.image.read import OPEN_REQUESTS

    local = tmp_path / "p384.zarr"
    wells = [f"{row_letters(r)}{c + 1:02d}" for r in range(16) for c in range(24)]
    ngffstore.write_image(pixels(1), str(local / "B" / "3" / "0"), min_size=16, progress=False)
    write_well_metadata(["0"], str(local / "B" / "3"))
    write_plate_metadata(wells, str(local), field_count=1)
    s3fs.S3FileSystem(**s3_options).put(str(local), f"{s3_bucket}/p384.zarr", recursive=True)
    url = f"s3://{s3_bucket}/p384.zarr"
    with s3_server.count() as log:
        plate = open_plate(url, storage_options=s3_options)
    assert len(plate.wells) == 384 and log.keys() == ["p384.zarr/zarr.json"], log.summary()
    with s3_server.count() as log:
        well = plate.well("B", 3)
    assert log.keys() == ["p384.zarr/B/3/zarr.json"], log.summary()
    with s3_server.count() as log:
        image = well.field(0)
    assert image.shape == (H, W)
    assert set(log.counts()) == {"GET"} and log.count("GET", prefix="p384.zarr/B/3/0/") == len(log) <= OPEN_REQUESTS


# -- distributed -------------------------------------------------------------------------------


def test_distributed_build_matches_a_local_one(tmp_path):
    from distributed import Client, LocalCluster

    folder = tmp_path / "exp"
    folder.mkdir()
    truth = {}
    for i, (r, c) in enumerate(WELLS[:2]):
        planes = [pixels(i * 10 + w) for w in (1, 2)]
        for w, a in zip((1, 2), planes):
            tifffile.imwrite(folder / f"{r}{c:02d}_s1_w{w}.tif", a)
        truth[(r, str(c), 1)] = np.stack(planes)
    url = str(tmp_path / "plate.zarr")
    # worker processes forked from this one start in 0.5 s instead of ~12 s spent re-importing
    # dask, zarr and ngffstore; tasks still reach them pickled, over TCP
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": method}), LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        write_plate(from_pattern(folder, "{well}_s{field}_w{channel}.tif"), url, min_size=16,
                    scheduler=cluster.scheduler_address, progress=False)
        with Client(cluster) as client:
            mosaic = open_plate(url).grid(level=-1)
            remote = mosaic.data.compute(scheduler=client)
    for (r, c, s), expected in truth.items():
        assert np.array_equal(field_data(url, r, c, str(s - 1)), expected)
    assert np.array_equal(remote, mosaic.compute())
    assert validate(url).ok


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("B03", ("B", "3")), ("b3", ("B", "3")), ("r02c03", ("B", "3")), ("R2C3", ("B", "3")),
     ("B_03", ("B", "3")), ("AF48", ("AF", "48")), (("2", "03"), ("B", "3"))],
)
def test_well_names(text, expected):
    assert parse_well(text) == expected


def test_plate_layouts():
    assert infer_layout([("H", "12")]) == (list("ABCDEFGH"), [str(i) for i in range(1, 13)])
    rows, cols = infer_layout([("I", "1")])
    assert (len(rows), len(cols)) == (16, 24)
    assert parse_names("A-D", "row") == list("ABCD") and parse_names(3, "column") == ["1", "2", "3"]
    assert parse_names("1-3", "column") == ["1", "2", "3"] and parse_names("A,C", "row") == ["A", "C"]
    with pytest.raises(ngffstore.InputError, match="not a well name"):
        parse_well("well 7")


@given(st.integers(0, 2000))
def test_row_names_round_trip(index):
    name = row_letters(index)
    assert name.isalpha() and name.isupper() and row_index(name) == index


def test_pattern_on_nested_folders(tmp_path):
    for sub in ("TimePoint_1", "TimePoint_2"):
        (tmp_path / "exp" / sub).mkdir(parents=True)
        for w in ("A01", "A02"):
            tifffile.imwrite(tmp_path / "exp" / sub / f"{w}_s1.tif", pixels(int(sub[-1])))
    plate_input = from_pattern(tmp_path / "exp", "TimePoint_{t}/{well}_s{field}.tif")
    url = str(tmp_path / "plate.zarr")
    summary = write_plate(plate_input, url, min_size=16, progress=False)
    assert summary.field_axes == "tyx" and summary.field_shape == (2, H, W)
    assert np.array_equal(field_data(url, "A", "2", "0")[1], pixels(2))
    assert os.path.exists(os.path.join(url, "zarr.json"))
