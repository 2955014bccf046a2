"""The napari reader, called headless (no napari needed): layer data and metadata of the demo
image and plate, checked against the stored documents and GeoParquet files read directly."""

from __future__ import annotations

import glob
import json
import os
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

import ngffstore
from ngffstore.napari import napari_get_reader, read_layers

IMAGE, PLATE = "cells.ome.zarr", "plate.ome.zarr"


def _doc(folder: str) -> dict[str, Any]:
    with open(os.path.join(folder, "zarr.json")) as f:
        return json.load(f)["attributes"]


def _hex(rgb: Any) -> str:
    return "".join(f"{round(float(v) * 255):02X}" for v in list(rgb)[:3])


@pytest.fixture(params=["local", "http"])
def demo(request: pytest.FixtureRequest, demo_collection: Any) -> tuple[str, str]:
    """(URL the reader opens, local folder with the same files)."""
    root = str(demo_collection.root)
    if request.param == "local":
        return root, root
    return request.getfixturevalue("_http_demo").root, root


def _by_kind(layers: list[Any], kind: str) -> list[Any]:
    return [layer for layer in layers if layer[2] == kind]


# -- image, labels, ROIs --------------------------------------------------------------------------
def test_image_layer_has_every_level_channels_colours_windows_and_physical_scale(demo):
    url, local = demo
    reader = napari_get_reader(f"{url}/{IMAGE}")
    assert reader is not None
    layers = reader(f"{url}/{IMAGE}")
    (data, kw, _), = _by_kind(layers, "image")
    attrs = _doc(os.path.join(local, IMAGE))["ome"]
    ms = attrs["multiscales"][0]
    axes = [a["name"] for a in ms["axes"]]
    assert axes == ["c", "y", "x"]
    # every pyramid level, lazily, the shapes stored in each level's document
    assert kw["multiscale"] is True and len(data) == len(ms["datasets"]) == 2
    for arr, ds in zip(data, ms["datasets"]):
        with open(os.path.join(local, IMAGE, ds["path"], "zarr.json")) as f:
            assert tuple(arr.shape) == tuple(json.load(f)["shape"])
        assert type(arr).__module__.startswith("dask")
    low = np.asarray(data[-1][:, :64, :64])
    with ngffstore.open_image(os.path.join(local, IMAGE)) as image:
        assert np.array_equal(low, image.to_dask(1)[:, :64, :64].compute())
    # channels: names, omero colours as black-to-colour colormaps, windows as contrast limits
    omero = attrs["omero"]["channels"]
    assert kw["channel_axis"] == 0
    assert [n.split()[-1] for n in kw["name"]] == [c["label"] for c in omero] == ["DAPI", "Membrane", "Spots"]
    for cmap, ch in zip(kw["colormap"], omero):
        assert cmap["colors"][0][:3] == [0.0, 0.0, 0.0]
        assert _hex(cmap["colors"][-1]) == ch["color"]
    assert kw["contrast_limits"] == [[c["window"]["start"], c["window"]["end"]] for c in omero]
    assert kw["visible"] == [True, True, True]
    # physical scale of level 0 without the channel axis, with units and axis labels
    assert kw["scale"] == ms["datasets"][0]["coordinateTransformations"][0]["scale"][1:] == [0.325, 0.325]
    assert kw["units"] == ["micrometer", "micrometer"]
    assert kw["axis_labels"] == ["y", "x"]
    assert kw["metadata"]["ngffstore"]["kind"] == "image"


def test_label_layers_are_multiscale_with_the_stored_colours_and_properties(demo):
    url, local = demo
    layers = read_layers(f"{url}/{IMAGE}")
    (data, kw, _), = _by_kind(layers, "labels")
    folder = os.path.join(local, IMAGE, "labels", "nuclei")
    ome = _doc(folder)["ome"]
    ms = ome["multiscales"][0]
    assert kw["name"].endswith("labels/nuclei") and kw["multiscale"] is True
    assert [tuple(a.shape) for a in data] == [(512, 512), (256, 256)]
    assert kw["scale"] == ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [0.325, 0.325]
    image_kw = _by_kind(layers, "image")[0][1]
    assert kw["scale"] == image_kw["scale"] and kw["translate"] == image_kw["translate"]
    # same pixels as the stored label image
    with ngffstore.open_image(os.path.join(local, IMAGE)) as image:
        assert np.array_equal(np.asarray(data[1]), image.label("nuclei").to_dask(1).compute())
    stored = {c["label-value"]: c["rgba"] for c in ome["image-label"]["colors"]}
    assert len(stored) > 10
    for value, rgba in stored.items():
        assert [round(v * 255) for v in kw["colormap"][value]] == rgba
    assert kw["colormap"][0][3] == 0.0  # background transparent
    props = {p["label-value"]: p for p in ome["image-label"]["properties"]}
    feats = kw["features"]
    assert sorted(feats["index"]) == sorted(props)
    for i, value in enumerate(feats["index"]):
        assert feats["class"][i] == props[value].get("class")


def _stored_rois(local: str, layer: str) -> dict[int, Any]:
    (path,) = glob.glob(os.path.join(local, IMAGE, "rois", layer, "*.parquet"))
    table = pq.read_table(path).to_pydict()
    return {
        int(i): (shapely.from_wkb(g), list(t or []), a, k)
        for i, g, t, a, k in zip(table["id"], table["geometry"], table["terms"], table["author"], table["kind"])
    }


def test_roi_layers_are_shapes_on_the_stored_geometry_coloured_by_term(demo):
    url, local = demo
    layers = read_layers(f"{url}/{IMAGE}")
    shapes = {kw["metadata"]["ngffstore"]["layer"]: (data, kw) for data, kw, _ in _by_kind(layers, "shapes")}
    assert sorted(shapes) == ["annotations", "nuclei"]
    terms = _doc(os.path.join(local, IMAGE))["ngffstore"]["rois"]["terms"]
    image_kw = _by_kind(layers, "image")[0][1]
    for layer, (data, kw) in shapes.items():
        stored = _stored_rois(local, layer)
        feats = kw["features"]
        assert sorted(feats["id"]) == sorted(stored) and len(data) == len(stored)
        assert kw["shape_type"] == ["polygon"] * len(data)
        # the image's physical scale, translation and units: ROIs line up with the pixels
        assert kw["scale"] == image_kw["scale"] and kw["translate"] == image_kw["translate"]
        assert kw["units"] == image_kw["units"]
        for i, verts in enumerate(data):
            geom, roi_terms, author, kind = stored[feats["id"][i]]
            ring = np.asarray(geom.exterior.coords)[:-1]
            # (x, y) level-0 corner coordinates -> napari (row, column) pixel-centre coordinates
            assert np.allclose(verts, ring[:, ::-1] - 0.5)
            # coloured by the most specific term: a child (mitosis) over its parent (nucleus)
            children = [t for t in roi_terms if terms[t]["parent"] in roi_terms]
            shown = children[0] if children else roi_terms[0]
            assert feats["term"][i] == shown
            assert feats["terms"][i] == ", ".join(roi_terms)
            assert feats["author"][i] == author and feats["kind"][i] == kind
            assert _hex(kw["edge_color"][i]) == terms[shown]["color"]
            assert _hex(kw["face_color"][i]) == terms[shown]["color"]
            assert kw["edge_color"][i][3] == 1.0 and 0 < kw["face_color"][i][3] < 1
    ann = shapes["annotations"][1]
    assert set(ann["features"]["term"]) == {"nucleus", "mitosis", "artifact"}
    assert set(ann["features"]["kind"]) == {"user"}
    assert set(shapes["nuclei"][1]["features"]["kind"]) == {"algorithm"}
    assert ann["metadata"]["ngffstore"]["layer_kind"] == "user"


def test_rois_pixels_and_physical_coordinates_agree_with_translation_and_anisotropic_scale(tmp_path):
    """A bright rectangle, a ROI on its outline, points, lines, a multipolygon and a hole: in
    napari's world coordinates (data * scale + translate) the ROI outline is the pixels' edge."""
    img = np.zeros((2, 40, 60), dtype=np.uint8)
    img[:, 10:20, 30:50] = 200
    url = str(tmp_path / "t.ome.zarr")
    ngffstore.write_image(
        img, url, axes="cyx", scale={"y": 0.5, "x": 0.25}, translation={"y": 100.0, "x": 7.0},
        units={"y": "micrometer", "x": "micrometer"}, channels=["A", "B"], progress=False,
    )
    square = shapely.box(30, 10, 50, 20)  # (xmin, ymin, xmax, ymax) level-0 pixel corners
    holed = shapely.Polygon([(0, 0), (20, 0), (20, 20), (0, 20)], [[(5, 5), (10, 5), (10, 10), (5, 10)]])
    rois = [
        {"geometry": square, "terms": ["cell"], "properties": {"score": 0.9}},
        {"geometry": shapely.Point(3, 4), "terms": ["spot"]},
        {"geometry": shapely.LineString([(0, 0), (59, 39)]), "terms": []},
        {"geometry": shapely.MultiPolygon([shapely.box(0, 30, 5, 35), shapely.box(10, 30, 15, 35)]), "terms": ["cell"]},
        {"geometry": holed, "terms": ["cell"]},
    ]
    ngffstore.write_rois(rois, url, layer="mixed", ontology={"cell": {"color": "112233"}, "spot": {"color": "FF8800"}})
    layers = read_layers(url)
    (img_data, img_kw, _), = _by_kind(layers, "image")
    (shp, kw, _), = _by_kind(layers, "shapes")
    (pts, pkw, _), = _by_kind(layers, "points")
    assert img_kw["scale"] == kw["scale"] == pkw["scale"] == [0.5, 0.25]
    assert img_kw["translate"] == kw["translate"] == pkw["translate"] == [100.0, 7.0]
    scale, translate = np.array(kw["scale"]), np.array(kw["translate"])

    def world(yx: Any) -> Any:
        return np.asarray(yx) * scale + translate

    # the bright pixels' extent in world coordinates: napari puts pixel i's centre at i
    level0 = img_data[0] if isinstance(img_data, list) else img_data
    bright = np.argwhere(np.asarray(level0[0]) > 0)
    lo, hi = world(bright.min(axis=0) - 0.5), world(bright.max(axis=0) + 0.5)
    first = kw["features"]["id"].index(1)
    verts = world(shp[first])
    assert np.allclose(verts.min(axis=0), lo) and np.allclose(verts.max(axis=0), hi)
    assert kw["features"]["score"][first] == 0.9
    # one shape per drawable part: square, line, two parts of the multipolygon, holed polygon
    assert sorted(kw["shape_type"]) == ["path", "polygon", "polygon", "polygon", "polygon"]
    assert kw["features"]["id"].count(4) == 2
    holed_i = kw["features"]["id"].index(5)
    assert kw["features"]["holes"][holed_i] == 1 and len(shp[holed_i]) == 4
    line_i = kw["shape_type"].index("path")
    assert kw["features"]["term"][line_i] == "" and _hex(kw["edge_color"][line_i]) == "BFBFBF"
    assert _hex(kw["edge_color"][first]) == "112233"
    # the point, in its own Points layer with the same transform
    assert np.allclose(pts, [[4 - 0.5, 3 - 0.5]])
    assert pkw["features"]["term"] == ["spot"] and _hex(pkw["face_color"][0]) == "FF8800"


def test_an_image_without_windows_gets_limits_from_its_lowest_level(tmp_path):
    url = str(tmp_path / "plain.zarr")
    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    ngffstore.write_image(data, url, axes="yx", progress=False)
    doc_path = os.path.join(url, "zarr.json")
    with open(doc_path) as f:
        doc = json.load(f)
    doc["attributes"]["ome"].pop("omero", None)
    with open(doc_path, "w") as f:
        json.dump(doc, f)
    (arr, kw, kind), = read_layers(url)
    assert kind == "image" and "channel_axis" not in kw and kw["multiscale"] is False
    assert arr.shape == (64, 64)
    assert kw["contrast_limits"] == [0.0, float(data.max())]
    assert kw["colormap"]["colors"][-1] == [1.0, 1.0, 1.0, 1.0]
    assert "units" not in kw and kw["scale"] == [1.0, 1.0]


# -- plates -----------------------------------------------------------------------------------
def test_plate_opens_as_the_stored_preview_with_well_rectangles(demo):
    url, local = demo
    layers = read_layers(f"{url}/{PLATE}")
    (data, kw, _), = _by_kind(layers, "image")
    (boxes, wkw, _), = _by_kind(layers, "shapes")
    plate_attrs = _doc(os.path.join(local, PLATE))
    reg = plate_attrs["ngffstore"]["preview"]
    assert kw["metadata"]["ngffstore"]["source"] == "preview"
    assert [list(a.shape) for a in data] == [lv["shape"] for lv in reg["levels"]]
    assert kw["channel_axis"] == 0
    assert [n.split()[-1] for n in kw["name"]] == [c["label"] for c in reg["channels"]] == ["DAPI", "GFP"]
    with ngffstore.open_image(os.path.join(local, PLATE, "preview")) as preview:
        assert np.array_equal(np.asarray(data[-1]), preview.to_dask(len(reg["levels"]) - 1).compute())
    # one rectangle per well, where the preview's own well geometry puts it
    geometry = _doc(os.path.join(local, PLATE, "preview"))["ngffstore"]["plate_preview"]["wells"]
    assert sorted(wkw["features"]["well"]) == sorted(w["name"] for w in geometry)
    assert len(geometry) == len(plate_attrs["ome"]["plate"]["wells"]) == 6
    for w in geometry:
        i = wkw["features"]["well"].index(w["name"])
        x, y, width, height = w["box"]
        assert np.allclose(boxes[i].min(axis=0), [y - 0.5, x - 0.5])
        assert np.allclose(boxes[i].max(axis=0), [y + height - 0.5, x + width - 0.5])
        assert wkw["features"]["path"][i] == w["path"]
    assert wkw["shape_type"] == "rectangle" and wkw["text"]["string"] == "{well}"
    assert wkw["scale"] == kw["scale"]


def test_plate_without_preview_opens_as_the_grid_the_library_builds(tmp_path):
    url = str(tmp_path / "np.zarr")
    rng = np.random.default_rng(0)
    fields = [
        (row, col, f, rng.integers(0, 1000, (2, 48, 64), dtype=np.uint16))
        for row, col in (("A", 1), ("B", 3))
        for f in range(2)
    ]
    ngffstore.write_plate(fields, url, axes="cyx", rows=2, columns=3, min_size=16, progress=False, preview=False)
    plate = ngffstore.open_plate(url)
    assert plate.preview is None
    layers = read_layers(url)
    (data, kw, _), = _by_kind(layers, "image")
    (boxes, wkw, _), = _by_kind(layers, "shapes")
    assert kw["metadata"]["ngffstore"]["source"] == "fields" and kw["multiscale"] is False
    mosaic = plate.grid(max_size=kw["metadata"]["ngffstore"]["max_size"], preview=False)
    assert data.shape == mosaic.shape and data.shape[0] == 2
    assert np.array_equal(np.asarray(data), mosaic.compute())
    # field A/1/0 is at the top left of the mosaic
    assert np.array_equal(np.asarray(data[:, :48, :64]), fields[0][3])
    assert sorted(wkw["features"]["well"]) == ["A01", "B03"]
    i = wkw["features"]["well"].index("B03")
    x, y, _, _ = mosaic.position("B", "3", 0)
    assert np.allclose(boxes[i].min(axis=0), [y - 0.5, x - 0.5])
    cell_h, cell_w = mosaic.cell
    assert np.allclose(boxes[i].max(axis=0), [y + cell_h - 0.5, x + cell_w - 0.5])


# -- what is not ours -------------------------------------------------------------------------
def test_reader_returns_none_for_what_is_not_an_ome_zarr_image_or_plate(demo_collection, tmp_path, http_host):
    root = str(demo_collection.root)
    (tmp_path / "plain").mkdir()
    (tmp_path / "file.txt").write_text("hello")
    level0 = os.path.join(root, IMAGE, "0")  # a Zarr array
    for path in [root, str(tmp_path / "plain"), str(tmp_path / "file.txt"), str(tmp_path / "missing"), level0]:
        assert napari_get_reader(path) is None, path
    server = http_host(root)
    assert napari_get_reader(f"{server.url}/nothing.zarr") is None
    assert napari_get_reader([os.path.join(root, IMAGE), str(tmp_path / "plain")]) is None
    with pytest.raises(ngffstore.NotNgffError):
        read_layers(level0)


def test_reader_takes_several_paths(demo_collection):
    root = str(demo_collection.root)
    paths = [os.path.join(root, IMAGE), os.path.join(root, PLATE)]
    layers = napari_get_reader(paths)(paths)
    kinds = [k for _, _, k in layers]
    assert kinds.count("image") == 2 and kinds.count("labels") == 1 and kinds.count("shapes") == 3


def test_reader_reads_s3_with_the_aws_environment(_s3_demo, s3_env):
    url = f"{_s3_demo.root}/{IMAGE}"
    reader = napari_get_reader(url)
    assert reader is not None
    layers = reader(url)
    assert [k for _, _, k in layers] == ["image", "labels", "shapes", "shapes"]
    assert layers[0][1]["scale"] == [0.325, 0.325]


def test_reader_falls_back_to_anonymous_reads_on_a_public_bucket(
    demo_collection, s3_server, monkeypatch
):
    import s3fs
    from s3server import forget_s3fs_instances

    fs = s3fs.S3FileSystem(**s3_server.public_writer_options)
    prefix = f"{s3_server.public_bucket}/napari-anon"
    fs.put(os.path.join(str(demo_collection.root), IMAGE), f"{prefix}/{IMAGE}", recursive=True)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.public_endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    forget_s3fs_instances()
    try:
        url = f"s3://{prefix}/{IMAGE}"
        with pytest.raises(ngffstore.StorageAccessError):  # no credentials: signed reads fail
            ngffstore.open_image(url, storage_options={"endpoint_url": s3_server.public_endpoint_url})
        reader = napari_get_reader(url)
        assert reader is not None
        (data, kw, _), = _by_kind(reader(url), "image")
        assert np.asarray(data[-1]).shape == (3, 256, 256)
        assert kw["metadata"]["ngffstore"]["url"] == url
    finally:
        forget_s3fs_instances()


def test_a_label_image_opened_by_itself_is_one_labels_layer(demo):
    url, _ = demo
    from_image = _by_kind(read_layers(f"{url}/{IMAGE}"), "labels")[0]
    (data, kw, kind), = read_layers(f"{url}/{IMAGE}/labels/nuclei")
    assert kind == "labels"
    assert [a.shape for a in data] == [a.shape for a in from_image[0]]
    assert np.array_equal(np.asarray(data[-1]), np.asarray(from_image[0][-1]))
    for key in ("scale", "translate", "units", "colormap", "features"):
        assert kw[key] == from_image[1][key], key


def test_a_volume_keeps_z_in_every_layer(tmp_path):
    url = str(tmp_path / "vol.ome.zarr")
    rng = np.random.default_rng(1)
    vol = rng.integers(0, 500, (2, 6, 64, 64), dtype=np.uint16)
    ngffstore.write_image(
        vol, url, axes="czyx", scale={"z": 2.0, "y": 0.5, "x": 0.5}, min_size=32, progress=False,
        units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
    )
    labels = (vol[0] > 400).astype(np.uint8)
    ngffstore.write_labels(labels, url, name="bright", progress=False)
    ngffstore.write_rois([shapely.box(1, 2, 10, 20)], url, layer="boxes")
    layers = read_layers(url)
    (img, ikw, _), = _by_kind(layers, "image")
    (lab, lkw, _), = _by_kind(layers, "labels")
    (shp, skw, _), = _by_kind(layers, "shapes")
    assert ikw["channel_axis"] == 0 and ikw["axis_labels"] == ["z", "y", "x"]
    assert ikw["scale"] == lkw["scale"] == [2.0, 0.5, 0.5]
    assert ikw["units"] == lkw["units"] == ["micrometer"] * 3
    assert [a.shape for a in img] == [(2, 6, 64, 64), (2, 6, 32, 32)]
    assert [a.shape for a in lab] == [(6, 64, 64), (6, 32, 32)]
    assert np.array_equal(np.asarray(lab[0]), labels)
    # ROIs are 2-D: drawn on every plane, with the image's y/x scale
    assert skw["ndim"] == 2 and skw["scale"] == [0.5, 0.5] and skw["axis_labels"] == ["y", "x"]
    assert np.allclose(shp[0].min(axis=0), [1.5, 0.5])
