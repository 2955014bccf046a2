"""Label images: writing (validation first, pyramids that never invent values), reading, regions."""

from __future__ import annotations

import json
import logging
import pickle
import shutil
from typing import Any

import dask.array as da
import fsspec
import numpy as np
import pandas as pd
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ngffstore
from converters.base import Source
from ngffstore.errors import InputError, NotNgffError, OutputExistsError, StoreNotFoundError
from ngffstore.labels import (
    Labels,
    LabelsSummary,
    label_colors,
    list_labels,
    measure_regions,
    open_labels,
    overlay,
    remove_labels,
    write_labels,
)
from ngffstore.validation import validate


def make_image(url: str, shape=(3, 96, 80), axes="cyx", options=None, **kwargs: Any) -> str:
    rng = np.random.default_rng(0)
    kwargs.setdefault("min_size", 24)
    kwargs.setdefault("chunks", 32)
    ngffstore.write_image(
        rng.integers(0, 4000, size=shape, dtype=np.uint16), url, axes=axes,
        storage_options=options, progress=False, **kwargs,
    )
    return url


def write_open(data: Any, url: str, *, name: str, **kwargs: Any) -> Labels:
    """:func:`write_labels`, then the label image opened for reading (what most tests check)."""
    summary = write_labels(data, url, name=name, **kwargs)
    assert isinstance(summary, LabelsSummary) and summary.name == name
    return open_labels(url, name, storage_options=kwargs.get("storage_options"))


def blobs(shape=(96, 80), seed=0, n=12) -> np.ndarray:
    """Rectangles of label values 1..n (some overlapping, some crossing chunk borders)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, dtype=np.uint16)
    for v in range(1, n + 1):
        y, x = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
        h, w = rng.integers(2, 40), rng.integers(2, 40)
        out[y : y + h, x : x + w] = v
    return out


def snapshot(url: str, options: dict | None = None) -> dict[str, bytes]:
    """Every object stored below ``url`` (the parent image with its labels)."""
    fs, path = fsspec.core.url_to_fs(url, **(options or {}))
    fs.invalidate_cache()
    return {p[len(path):]: fs.cat_file(p) for p in fs.find(path)}


def levels_of(url: str) -> list[np.ndarray]:
    group = zarr.open_group(url, mode="r")
    attrs = group.attrs.asdict()
    block = attrs.get("ome", attrs)
    return [np.asarray(group[ds["path"]][...]) for ds in block["multiscales"][0]["datasets"]]


# -- writing ----------------------------------------------------------------------------------


def test_write_matches_parent_levels_scales_and_is_valid(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"), scale={"y": 0.5, "x": 0.25}, units={"y": "µm", "x": "µm"})
    data = blobs()
    summary = write_labels(data, img, name="cells")
    assert isinstance(summary, LabelsSummary)
    labels = open_labels(img, "cells")
    assert isinstance(labels, Labels)
    parent = ngffstore.image.open_image(img)
    # the summary says what was written, without a read
    assert summary.url == labels.url and summary.image == parent.url and summary.name == "cells"
    assert [lv.shape for lv in summary.levels] == [lv.shape for lv in labels.levels]
    assert summary.axes == "yx" and summary.dtype == "uint16" and summary.zarr_format == 3
    values = np.unique(data)
    assert summary.value_count == len(values) == summary.color_count
    assert summary.value_range == (values.min(), values.max()) and summary.property_count == 0
    assert summary.bytes_stored == labels.attrs["ngffstore"]["stored_bytes"]
    text = summary.to_text()
    assert text.startswith(f"labels    cells of {parent.url}") and "levels" in text
    assert len(labels.levels) == len(parent.levels) == 3
    for lab, par in zip(labels.levels, parent.levels):
        assert lab.shape == par.shape[1:]
        assert lab.scale == par.scale[1:]
        assert lab.translation == (par.translation[1:] if par.translation else None)
        assert np.dtype(lab.dtype) == np.uint16
    assert labels.axes == "yx" and labels.units == {"y": "micrometer", "x": "micrometer"}
    np.testing.assert_array_equal(levels_of(str(tmp_path / "img.zarr/labels/cells"))[0], data)
    attrs = json.loads((tmp_path / "img.zarr/labels/cells/zarr.json").read_text())["attributes"]
    il = attrs["ome"]["image-label"]
    assert il["source"] == {"image": "../../"}
    assert [c["label-value"] for c in il["colors"]] == sorted(np.unique(data).tolist())
    assert il["colors"][0]["rgba"] == [0, 0, 0, 0]  # the background is transparent
    assert attrs["ngffstore"]["provenance"][-1]["operation"] == "write_labels"
    assert "writing" not in attrs["ngffstore"]
    assert not (tmp_path / "img.zarr/labels/cells/.ngffstore-progress").exists()
    listing = json.loads((tmp_path / "img.zarr/labels/zarr.json").read_text())["attributes"]
    assert listing == {"ome": {"version": "0.5", "labels": ["cells"]}}
    report = validate(img, strict=True)
    assert report.ok, report.problems


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    h=st.integers(1, 60),
    w=st.integers(1, 60),
    chunk=st.sampled_from([5, 8, 16, 64]),
    target=st.sampled_from([512, 1 << 20]),
    method=st.sampled_from(["mode", "nearest"]),
    n_values=st.sampled_from([2, 5, 300]),
    seed=st.integers(0, 2**16),
)
def test_levels_never_invent_values(tmp_path_factory, h, w, chunk, target, method, n_values, seed):
    rng = np.random.default_rng(seed)
    url = str(tmp_path_factory.mktemp("h") / "img.zarr")
    make_image(url, shape=(h, w), axes="yx", min_size=4, chunks=16)
    data = rng.integers(0, n_values, size=(h, w)).astype(np.int32) * 7 - 3
    source = da.from_array(data, chunks=(max(1, h // 3), max(1, w // 2)))
    write_labels(source, url, name="l", method=method, memory_target=target, chunks=chunk)
    levels = levels_of(url + "/labels/l")
    np.testing.assert_array_equal(levels[0], data)
    allowed = set(np.unique(data).tolist())
    for k, level in enumerate(levels[1:], start=1):
        assert set(np.unique(level).tolist()) <= allowed
        prev = levels[k - 1]
        if method == "nearest":
            np.testing.assert_array_equal(level, data[:: 2**k, :: 2**k])
        else:  # each value comes from its own 2x2 window of the level before
            fy = 2 if prev.shape[0] > 1 else 1
            fx = 2 if prev.shape[1] > 1 else 1
            pad = np.pad(prev, ((0, (-prev.shape[0]) % fy), (0, (-prev.shape[1]) % fx)), mode="edge")
            windows = [pad[i::fy, j::fx] for i in range(fy) for j in range(fx)]
            assert np.all(np.any([wv == level for wv in windows], axis=0))


def test_ome_zarr_py_reads_labels(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    img = make_image(str(tmp_path / "img.zarr"))
    data = blobs()
    write_labels(data, img, name="cells", colors={3: "#FF0000"}, properties={3: {"class": "tumour"}})
    nodes = list(Reader(parse_url(img))())
    label_nodes = [n for n in nodes if any(isinstance(s, Label) for s in n.specs)]
    assert len(label_nodes) == 1
    node = label_nodes[0]
    assert node.metadata["name"] == "cells"
    assert node.metadata["color"][3] == [1.0, 0.0, 0.0, 1.0]
    assert node.metadata["properties"][3] == {"class": "tumour"}
    np.testing.assert_array_equal(np.asarray(node.data[0]), data)
    assert len(node.data) == 3


def test_ngff_04_parent(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    img = make_image(str(tmp_path / "img.zarr"), ngff_version="0.4")
    write_labels(blobs(), img, name="cells")
    attrs = json.loads((tmp_path / "img.zarr/labels/cells/.zattrs").read_text())
    assert attrs["image-label"]["version"] == "0.4"
    assert json.loads((tmp_path / "img.zarr/labels/.zattrs").read_text()) == {"labels": ["cells"]}
    assert (tmp_path / "img.zarr/labels/cells/0/.zarray").exists()
    assert validate(img).ok, validate(img).problems
    nodes = list(Reader(parse_url(img))())
    assert any(isinstance(s, Label) for n in nodes for s in n.specs)


def test_3d_and_singleton_axes(tmp_path):
    img = make_image(str(tmp_path / "zimg.zarr"), shape=(2, 6, 40, 36), axes="czyx", downsample_z=True, min_size=10)
    vol = np.zeros((6, 40, 36), dtype=np.uint32)
    vol[1:5, 3:30, 4:20] = 11
    labels = write_open(vol, img, name="vol")
    assert labels.axes == "zyx"
    parent = ngffstore.image.open_image(img)
    assert [lv.shape for lv in labels.levels] == [lv.shape[1:] for lv in parent.levels]
    table = labels.regions()
    assert table.loc[0, "area_px"] == 4 * 27 * 16
    assert validate(img).ok
    # a 2-D label fits an image whose t and z have one plane
    img5 = make_image(str(tmp_path / "t.zarr"), shape=(1, 2, 1, 30, 20), axes="tczyx")
    lab = write_open(np.ones((30, 20), np.uint8), img5, name="flat")
    assert lab.axes == "tzyx" and lab.shape == (1, 1, 30, 20)
    # a channel axis of length one is dropped; a source's axes are used
    src = Source(data=da.ones((1, 30, 20), dtype=np.uint8, chunks=10), axes="cyx", inputs=[])
    assert write_open(src, img5, name="src").shape == (1, 1, 30, 20)


def test_float_labels_need_cast_and_whole_numbers(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"))
    data = da.from_array(blobs().astype(np.float32), chunks=17)
    with pytest.raises(InputError, match="floating point.*cast=True"):
        write_labels(data, img, name="f")
    labels = write_open(data, img, name="f", cast=True)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels.to_dask().compute(), blobs())
    signed = write_open(data - 2, img, name="g", cast=True)
    assert signed.dtype == np.int8
    frac = data + 0.5
    with pytest.raises(InputError, match="fractional or non-finite"):
        write_labels(frac, img, name="h", cast=True)
    nan = da.where(data == 3, np.nan, data)
    with pytest.raises(InputError, match="fractional or non-finite"):
        write_labels(nan, img, name="h", cast=True)
    assert write_open(blobs() > 0, img, name="mask").dtype == np.uint8  # booleans are lossless


@pytest.fixture(scope="module")
def labelled_image(tmp_path_factory) -> str:
    """An image with one label image, ``cells`` (copy it before changing it)."""
    img = make_image(str(tmp_path_factory.mktemp("template") / "img.zarr"))
    write_labels(blobs(seed=1), img, name="cells")
    return img


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data": np.zeros((96, 81), np.uint8)}, InputError, r"shape \(y=96, x=81\).*\(y=96, x=80\)"),
        ({"data": np.zeros((2, 96, 80), np.uint8)}, InputError, "2 channels"),
        ({"data": np.zeros((96, 80), np.float64)}, InputError, "floating point"),
        ({"data": np.zeros((96, 80), np.complex64)}, InputError, "labels are integers"),
        ({"name": "a/b"}, InputError, "path separator"),
        ({"name": ".."}, InputError, "starts with '.'"),
        ({"name": "../../evil"}, InputError, "label name"),
        ({"name": "/abs"}, InputError, "absolute path"),
        ({"name": ""}, InputError, "empty"),
        ({"name": "zarr.json"}, InputError, "reserved"),
        ({"name": "cells"}, OutputExistsError, "already exists.*--overwrite"),
        ({"colors": {1: "not-a-colour"}}, InputError, "not a colour"),
        ({"properties": [{"x": 1}]}, InputError, "label-value"),
        ({"method": "mean"}, InputError, "mode, nearest"),
    ],
)
def test_bad_input_is_one_line_and_leaves_everything_untouched(tmp_path, labelled_image, kwargs, error, match):
    img = str(tmp_path / "img.zarr")
    shutil.copytree(labelled_image, img)
    before = snapshot(img)
    args = {"data": blobs(), "name": "new", **kwargs}
    with pytest.raises(error, match=match) as info:
        write_labels(args.pop("data"), img, name=args.pop("name"), **args)
    assert "\n" not in str(info.value)
    assert snapshot(img) == before
    assert ngffstore.image.open_image(img).labels == ("cells",)


def test_parent_metadata_and_chunks_untouched(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"))
    meta = (tmp_path / "img.zarr/zarr.json").read_bytes()
    chunk = (tmp_path / "img.zarr/0/c/0/0/0").read_bytes()
    with pytest.raises(InputError):
        write_labels(np.zeros((10, 10), np.uint8), img, name="x")
    write_labels(blobs(), img, name="x")
    remove_labels(img, "x")
    assert (tmp_path / "img.zarr/zarr.json").read_bytes() == meta
    assert (tmp_path / "img.zarr/0/c/0/0/0").read_bytes() == chunk


def test_not_an_image_parent(tmp_path):
    with pytest.raises(StoreNotFoundError, match="no Zarr group"):
        write_labels(blobs(), str(tmp_path / "missing.zarr"), name="a")
    img = make_image(str(tmp_path / "img.zarr"))
    write_labels(blobs(), img, name="a")
    with pytest.raises(InputError, match="is a label image"):
        write_labels(blobs(), img + "/labels/a", name="b")


def test_listing_overwrite_and_remove(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"))
    write_labels(blobs(seed=1), img, name="a")
    write_labels(blobs(seed=2), img, name="b")
    assert list_labels(img) == ["a", "b"]
    write_labels(blobs(seed=3), img, name="a", overwrite=True)
    assert list_labels(img) == ["a", "b"]
    np.testing.assert_array_equal(open_labels(img, "a").to_dask().compute(), blobs(seed=3))
    remove_labels(img, "a")
    assert list_labels(img) == ["b"]
    assert not (tmp_path / "img.zarr/labels/a").exists()
    with pytest.raises(StoreNotFoundError, match="no label image 'a'.*it has b"):
        open_labels(img, "a")
    with pytest.raises(StoreNotFoundError, match="no label image 'zz'"):
        remove_labels(img, "zz")
    remove_labels(img, "b")
    assert list_labels(img) == []
    assert not (tmp_path / "img.zarr/labels").exists()
    assert ngffstore.image.open_image(img).labels == ()
    assert validate(img).ok


def test_interrupted_label_is_not_listed(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"))
    target = ngffstore.Location.parse(img).child("labels", "half")
    from ngffstore.nodes import write_group_attrs

    write_group_attrs(target, 3, {"ngffstore": {"writing": {"fingerprint": "x"}}})
    assert list_labels(img) == []
    with pytest.raises(NotNgffError, match="'half'.*its write did not finish"):
        open_labels(img, "half")
    write_labels(blobs(), img, name="half")  # an interrupted write is replaced without --overwrite
    assert list_labels(img) == ["half"]


# -- colours and properties -----------------------------------------------------------------


def test_colors_are_stable_given_and_capped(tmp_path, monkeypatch, caplog):
    img = make_image(str(tmp_path / "img.zarr"))
    one = write_open(blobs(seed=1), img, name="one")
    two = write_open(blobs(seed=2) * 2, img, name="two", colors={4: (1, 2, 3), 6: "#0a0b0c80"})
    shared = set(one.colors) & set(two.colors) - {4, 6}
    assert shared
    for v in shared:
        assert one.colors[v] == two.colors[v] == tuple(label_colors([v])[0].tolist())
    assert two.colors[4] == (1, 2, 3, 255) and two.colors[6] == (10, 11, 12, 128)
    np.testing.assert_array_equal(one.color_of(np.array([[1, 0]]))[0, 1], [0, 0, 0, 0])

    monkeypatch.setattr("ngffstore.labels.write.MAX_GENERATED_COLORS", 3)
    with caplog.at_level(logging.WARNING, logger="ngffstore"):
        capped = write_open(blobs(seed=4), img, name="capped")
    assert sorted(capped.colors) == np.unique(blobs(seed=4))[:3].tolist()
    assert "colours are stored for the 3 smallest" in caplog.text
    assert capped.provenance[-1]["parameters"]["colors"].startswith("generated for the 3 smallest")


def test_properties_from_frame_and_missing_values(tmp_path, caplog):
    img = make_image(str(tmp_path / "img.zarr"))
    frame = pd.DataFrame({"label-value": [1, 2, 99], "class": ["a", "b", None], "score": [0.5, np.nan, 2.0]})
    with caplog.at_level(logging.WARNING, logger="ngffstore"):
        labels = write_open(blobs(), img, name="p", properties=frame)
    assert labels.properties == {1: {"class": "a", "score": 0.5}, 2: {"class": "b"}, 99: {"score": 2.0}}
    assert "absent from the label" in caplog.text
    assert list(labels.properties_frame().columns) == ["class", "score"]
    assert validate(img).ok


# -- reading ----------------------------------------------------------------------------------


def test_reader_verbs_use_nearest_and_stored_values(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"), scale=0.5, units={"y": "micrometer", "x": "micrometer"})
    data = blobs()
    labels = write_open(data, img, name="cells")
    values = set(np.unique(data).tolist())
    np.testing.assert_array_equal(labels.window(10, 20, 30, 25).compute(), data[20:45, 10:40])
    small = labels.window(0, 0, 80, 96, max_size=37)
    assert max(small.shape) == 37 and set(np.unique(small.compute()).tolist()) <= values
    thumb = labels.thumbnail(30)
    assert thumb.level == 1 and set(np.unique(thumb.compute()).tolist()) <= values
    xr = labels.to_xarray(1)
    assert xr.dims == ("y", "x") and float(xr.y[1] - xr.y[0]) == 1.0
    assert labels.point(12, 25).values.item() == data[25, 12]
    np.testing.assert_array_equal(labels.values(), np.unique(data))
    clone = pickle.loads(pickle.dumps(labels))
    assert isinstance(clone, Labels) and clone.colors == labels.colors and clone.label_name == "cells"
    np.testing.assert_array_equal(clone.to_dask(2).compute(), labels.to_dask(2).compute())
    assert labels.image.url == ngffstore.image.open_image(img).url
    assert labels.labels == ()
    with pytest.raises(NotNgffError, match="is a label image"):
        labels.label("x")
    assert "Labels 'cells'" in repr(labels)


def test_image_label_hookup(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"))
    write_labels(blobs(), img, name="cells")
    image = ngffstore.image.open_image(img)
    assert image.labels == ("cells",)
    labels = image.label("cells")
    assert isinstance(labels, Labels) and isinstance(labels, ngffstore.image.Image)
    assert labels.url == open_labels(img, "cells").url and labels.label_name == "cells"
    np.testing.assert_array_equal(labels.to_dask(0).compute(), blobs())
    assert labels.image.url == image.url
    with pytest.raises(StoreNotFoundError, match="no label image 'nuclei'.*it has cells"):
        image.label("nuclei")


def test_old_write_labels_order_warns_and_returns_the_reader(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"))
    with pytest.warns(DeprecationWarning, match=r"write_labels\(data, image_url, name\) is deprecated"):
        labels = write_labels(blobs(), img, "cells", colors={1: "#ff0000"})
    assert isinstance(labels, Labels) and labels.label_name == "cells"
    assert labels.colors[1] == (255, 0, 0, 255)
    np.testing.assert_array_equal(labels.to_dask(0).compute(), blobs())
    with pytest.raises(TypeError, match="name="):
        write_labels(blobs(), img)
    with pytest.raises(TypeError, match="2 positional"):
        write_labels(blobs(), img, "a", name="b")


def test_open_labels_errors(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"))
    with pytest.raises(StoreNotFoundError, match="it has no label images"):
        open_labels(img, "none")
    with pytest.raises(InputError, match="path separator"):
        open_labels(img, "../x")
    write_labels(blobs(), img, name="cells")
    (tmp_path / "img.zarr/labels/cells/zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
    with pytest.raises(NotNgffError, match="incomplete or not an NGFF label image"):
        open_labels(img, "cells")


# -- regions ----------------------------------------------------------------------------------


def reference_regions(data: np.ndarray) -> pd.DataFrame:
    rows = []
    for v in np.unique(data):
        if v == 0:
            continue
        idx = np.nonzero(data == v)
        row = {"label": int(v), "area_px": int(idx[0].size)}
        for k, a in enumerate("zyx"[-data.ndim:]):
            row[f"{a}_min"] = int(idx[k].min())
            row[f"{a}_max"] = int(idx[k].max()) + 1
            row[f"centroid_{a}"] = float(idx[k].mean()) + 0.5
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("chunks", [(7, 5), (96, 80), (13, 80)])
def test_regions_across_chunk_borders_match_numpy(chunks):
    data = blobs(seed=5, n=30)
    table = measure_regions(da.from_array(data, chunks=chunks), axes="yx", scheduler="synchronous")
    ref = reference_regions(data)
    pd.testing.assert_frame_equal(table[ref.columns].reset_index(drop=True), ref, check_dtype=False)


def test_regions_3d_and_background_none():
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4, size=(5, 9, 11)).astype(np.int16)
    table = measure_regions(da.from_array(data, chunks=(2, 4, 3)), axes="zyx", background=None)
    assert table["label"].tolist() == [0, 1, 2, 3]
    assert table["area_px"].sum() == data.size
    ref = reference_regions(data + 1)
    for col in ("z_min", "y_max", "centroid_x", "centroid_z"):
        np.testing.assert_allclose(table[col].to_numpy(), ref[col].to_numpy())


def test_stored_regions_physical_units_and_levels(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"), scale={"y": 0.5, "x": 0.25}, units={"y": "micrometer", "x": "micrometer"})
    data = np.zeros((96, 80), np.uint16)
    data[10:30, 20:60] = 5
    labels = write_open(data, img, name="box")
    table = labels.regions()
    row = table.iloc[0]
    assert (row.label, row.area_px, row.x_min, row.x_max, row.y_min, row.y_max) == (5, 800, 20, 60, 10, 30)
    assert row.area == pytest.approx(800 * 0.125)
    assert table.attrs["area_unit"] == "micrometer^2"
    assert (row.centroid_x, row.centroid_y) == (40.0, 20.0)
    assert (row.centroid_x_physical, row.centroid_y_physical) == (pytest.approx(39.5 * 0.25), pytest.approx(19.5 * 0.5))
    coarse = labels.regions(level=1).iloc[0]
    assert (coarse.area_px, coarse.x_min, coarse.x_max, coarse.y_min, coarse.y_max) == (800, 20, 60, 10, 30)
    assert (coarse.centroid_x, coarse.centroid_y) == (40.0, 20.0)


# -- overlay ----------------------------------------------------------------------------------


def test_overlay_blends_colours_and_keeps_background():
    rgb = np.full((4, 6, 3), 100, np.uint8)
    lab = np.zeros((4, 6), np.int32)
    lab[1:3, 2:5] = 7
    out = overlay(rgb, lab, {7: (200, 0, 0, 255)}, alpha=0.5)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(out[1, 2], [150, 50, 50])
    generated = overlay(rgb, lab, None, alpha=1.0)
    np.testing.assert_array_equal(generated[1, 2], label_colors([7])[0, :3])
    half = overlay(np.zeros((8, 12, 4), np.uint8), lab, {7: (255, 255, 255, 255)}, alpha=1.0)
    assert half.shape == (8, 12, 4) and half[3, 5, 0] == 255 and half[0, 0, 0] == 0
    with pytest.raises(InputError, match="integer labels"):
        overlay(rgb, lab.astype(float))


def test_labels_overlay_on_an_image_region(tmp_path):
    img = make_image(str(tmp_path / "img.zarr"))
    data = np.zeros((96, 80), np.uint16)
    data[:, 40:] = 3
    labels = write_open(data, img, name="half", colors={3: (0, 0, 255, 255)})
    region = ngffstore.image.open_image(img).thumbnail(40, c=0)
    rgb = np.zeros(region.shape + (3,), np.uint8)
    out = labels.overlay(rgb, region, alpha=1.0)
    assert out.shape == rgb.shape
    assert (out[:, : out.shape[1] // 2 - 1] == 0).all()
    assert (out[:, out.shape[1] // 2 + 1 :] == [0, 0, 255]).all()


# -- plate fields and S3 ----------------------------------------------------------------------


def test_labels_on_an_ome_zarr_py_plate_field(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.io import parse_url
        from ome_zarr.reader import Label, Reader
        from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    url = str(tmp_path / "plate.zarr")
    root = zarr.open_group(url, mode="w")
    write_plate_metadata(root, ["A"], ["1"], ["A/1"])
    well = root.require_group("A").require_group("1")
    write_well_metadata(well, [{"path": "0"}])
    rng = np.random.default_rng(1)
    write_image(rng.integers(0, 255, (2, 101, 77), dtype=np.uint8), well.require_group("0"), axes="cyx", scale_factors=(2, 4))
    field = url + "/A/1/0"
    data = np.zeros((101, 77), np.uint16)
    data[5:60, 3:50] = 4
    data[70:101, 60:77] = 9
    labels = write_open(data, field, name="cells")
    parent = ngffstore.image.open_image(field)
    # ome-zarr-py rounds level shapes down: the label levels follow the image's exactly
    assert [lv.shape for lv in labels.levels] == [lv.shape[1:] for lv in parent.levels] == [(101, 77), (50, 38), (25, 19)]
    assert [lv.scale for lv in labels.levels] == [lv.scale[1:] for lv in parent.levels]
    for level in levels_of(field + "/labels/cells"):
        assert set(np.unique(level).tolist()) <= {0, 4, 9}
    assert validate(url).ok, validate(url).problems
    nodes = list(Reader(parse_url(field))())
    assert any(isinstance(s, Label) for n in nodes for s in n.specs)
    assert labels.regions()["area_px"].tolist() == [55 * 47, 31 * 17]


def test_labels_on_s3_and_local(store_url):
    url, options = store_url
    img = make_image(url + "/img.zarr", options=options, chunks=64)
    data = blobs()
    labels = write_open(data, img, name="cells", storage_options=options, properties={1: {"k": "v"}})
    assert list_labels(img, storage_options=options) == ["cells"]
    opened = open_labels(img, "cells", storage_options=options)
    np.testing.assert_array_equal(opened.to_dask().compute(), data)
    assert opened.properties == {1: {"k": "v"}}
    assert labels.regions()["area_px"].sum() == np.count_nonzero(data)
    assert validate(img, storage_options=options).ok
    with pytest.raises(OutputExistsError):
        write_labels(data, img, name="cells", storage_options=options)
    remove_labels(img, "cells", storage_options=options)
    assert list_labels(img, storage_options=options) == []
