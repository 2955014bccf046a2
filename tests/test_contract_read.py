"""One contract for every read verb, on every backend: local folder, S3 (moto) and plain HTTP.

The demo collection (``ngffstore demo``) is built once per session, copied to a moto bucket and
served by a static HTTP host (Range support, no listings, 403 for a missing object, as a CDN;
``tests/httpserver.py``). Each verb runs through the CLI on each backend and must give what it
gives on the local folder -- text with the root URL replaced by ``ROOT``, arrays and images
pixel for pixel -- as zarr-python's store tests run one suite over every store.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest

from ngffstore.cli import main

IMAGE = "cells.ome.zarr"
PLATE = "plate.ome.zarr"
FIELD = "plate.ome.zarr/A/1/0"


def _run(backend: Any, argv: list[str], capsys: pytest.CaptureFixture[str], *, code: int = 0) -> str:
    """Run the CLI with ``{root}`` in ``argv`` replaced by the backend's root URL; the output
    (stdout + stderr) with the root (and the folder the demo was written to, which provenance
    records) replaced by ``ROOT``."""
    args = [a.format(root=backend.root) for a in argv] + list(backend.cli)
    capsys.readouterr()
    got = main(args)
    out = capsys.readouterr()
    text = (out.out + out.err).replace(backend.root, "ROOT").replace(backend.written_at, "ROOT")
    assert got == code, f"{args} exited {got}:\n{text}"
    return text


@pytest.fixture
def env(read_backend: Any, request: pytest.FixtureRequest) -> Any:
    """The backend, with AWS credentials in the environment for the CLI when it is S3."""
    if read_backend.name == "s3":
        request.getfixturevalue("s3_env")
    return read_backend


@pytest.fixture(scope="session")
def local(local_demo: Any) -> Any:
    return local_demo


def _same(env: Any, local: Any, argv: list[str], capsys: Any, *, code: int = 0) -> str:
    expected = _run(local, argv, capsys, code=code)
    got = _run(env, argv, capsys, code=code)
    assert got == expected
    return got


# -- images ------------------------------------------------------------------------------------
def test_info(env, local, capsys):
    text = _same(env, local, ["info", "{root}/" + IMAGE], capsys)
    assert "image     ROOT/cells.ome.zarr" in text and "labels    nuclei" in text
    assert "stored    0 B" not in text and "stored    " in text  # the size the writer recorded
    doc = json.loads(_same(env, local, ["info", "{root}/" + IMAGE, "--json"], capsys))
    assert doc["channels"] == ["DAPI", "Membrane", "Spots"] and doc["bytes_stored"] > 0


def _npy(path: Any) -> np.ndarray:
    return np.load(path)


def _png(path: Any) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def _outputs(env: Any, local: Any, argv: list[str], tmp_path: Any, capsys: Any, ext: str) -> tuple[np.ndarray, np.ndarray]:
    read = _npy if ext == "npy" else _png
    mine, theirs = tmp_path / f"b.{ext}", tmp_path / f"a.{ext}"
    _run(local, [*argv, "-o", str(theirs)], capsys)
    _run(env, [*argv, "-o", str(mine)], capsys)
    return read(mine), read(theirs)


def test_window(env, local, tmp_path, capsys):
    argv = ["window", "{root}/" + IMAGE, "--x", "37", "--y", "11", "--width", "150", "--height", "90"]
    got, expected = _outputs(env, local, argv, tmp_path, capsys, "npy")
    assert got.shape[-2:] == (90, 150) and got.any()
    np.testing.assert_array_equal(got, expected)
    got, expected = _outputs(env, local, [*argv[:2], "--x", "0", "--y", "0", "--width", "256",
                                          "--height", "512", "--level", "1"], tmp_path, capsys, "npy")
    np.testing.assert_array_equal(got, expected)


def test_thumbnail_with_labels(env, local, tmp_path, capsys):
    got, expected = _outputs(env, local, ["thumbnail", "{root}/" + IMAGE, "--max-size", "64",
                                          "--labels", "nuclei"], tmp_path, capsys, "png")
    assert got.shape[:2] == (64, 64) and got.any()
    np.testing.assert_array_equal(got, expected)


def test_crop(env, local, tmp_path, capsys, demo_collection):
    from ngffstore.rois import read_rois

    rois = read_rois(os.path.join(demo_collection.root, IMAGE), layer="nuclei")
    roi = str(rois["id"].iloc[0]) if hasattr(rois, "iloc") else str(next(iter(rois)).id)
    for extra in ([], ["--mask"]):
        got, expected = _outputs(env, local, ["crop", "{root}/" + IMAGE, "--roi", roi,
                                              "--layer", "nuclei", *extra], tmp_path, capsys, "npy")
        assert got.size and got.any()
        np.testing.assert_array_equal(got, expected)


def test_rois(env, local, capsys):
    text = _same(env, local, ["rois", "list", "{root}/" + IMAGE], capsys)
    assert "annotations" in text and "nuclei" in text
    stats = _same(env, local, ["rois", "stats", "{root}/" + IMAGE], capsys)
    assert "nucleus" in stats
    csv = _same(env, local, ["rois", "export", "{root}/" + IMAGE, "--layer", "annotations",
                             "--format", "csv"], capsys)
    assert "mitosis" in csv
    collection = _same(env, local, ["rois", "stats", "--collection", "{root}"], capsys)
    assert "nucleus" in collection


def test_labels(env, local, capsys):
    assert "nuclei" in _same(env, local, ["labels", "list", "{root}/" + IMAGE], capsys)
    text = _same(env, local, ["labels", "info", "{root}/" + IMAGE, "nuclei"], capsys)
    assert "nuclei" in text
    regions = _same(env, local, ["labels", "regions", "{root}/" + IMAGE, "nuclei"], capsys)
    assert len(regions.strip().splitlines()) > 2


# -- plates, metadata, provenance ----------------------------------------------------------------
def test_plate(env, local, tmp_path, capsys):
    text = _same(env, local, ["plate-info", "{root}/" + PLATE], capsys)
    assert "A" in text and "B" in text
    got, expected = _outputs(env, local, ["plate-thumbnail", "{root}/" + PLATE], tmp_path, capsys, "png")
    assert got.any()
    np.testing.assert_array_equal(got, expected)
    info = _same(env, local, ["info", "{root}/" + FIELD], capsys)
    assert "labels    nuclei" in info


def test_metadata_and_provenance(env, local, capsys):
    meta = _same(env, local, ["meta", "get", "{root}/" + IMAGE], capsys)
    assert "experiment" in meta
    _same(env, local, ["meta", "get", "{root}/" + PLATE], capsys)
    history = _same(env, local, ["provenance", "{root}/" + IMAGE], capsys)
    assert history.strip()
    _same(env, local, ["provenance", "{root}/" + FIELD, "--json"], capsys)


# -- collection: search, index status, validate ---------------------------------------------------
def test_search(env, local, capsys):
    hits = _same(env, local, ["search", "{root}", "dose_uM >= 10", "--format", "csv"], capsys)
    assert len(hits.strip().splitlines()) == 1 + 4 + 1  # header, 4 fields, "4 match(es)"
    everything = _same(env, local, ["search", "{root}", "", "--format", "csv"], capsys)
    assert "13 match(es)" in everything


def test_index_status(env, local, capsys):
    text = _same(env, local, ["index", "{root}", "--status"], capsys)
    assert "13 rows" in text


def test_validate(env, local, capsys):
    for node in (IMAGE, PLATE):
        text = _same(env, local, ["validate", "{root}/" + node], capsys)
        assert "valid OME-NGFF" in text and "INVALID" not in text


def test_missing_node_is_one_line(env, local, capsys):
    for argv in (["info", "{root}/nothing.ome.zarr"], ["validate", "{root}/nothing.ome.zarr"]):
        text = _run(env, argv, capsys, code=1)
        assert len(text.strip().splitlines()) == 1 and "Traceback" not in text
        assert "ROOT/nothing.ome.zarr" in text


# -- what only a static HTTP host does -------------------------------------------------------------
def test_http_host_without_range_support_is_one_clear_line(tmp_path, http_host):
    import ngffstore
    from ngffstore.errors import StorageError
    from ngffstore.image import open_image

    data = np.arange(2 * 128 * 128, dtype=np.uint16).reshape(2, 128, 128)
    ngffstore.write_image(data, str(tmp_path / "img.zarr"), axes="cyx", chunks=32, shards=(1, 64, 64),
                          progress=False)
    good = http_host(tmp_path)
    np.testing.assert_array_equal(open_image(good.url_of("img.zarr")).window(0, 0, 128, 128).data.compute(), data)
    refusing = http_host(tmp_path, ranges=False)
    whole = open_image(refusing.url_of("img.zarr")).window(0, 0, 128, 128).data.compute()
    np.testing.assert_array_equal(whole, data)  # whole shards: one plain GET each, no range
    with pytest.raises(StorageError, match="does not support HTTP Range requests") as info:
        open_image(refusing.url_of("img.zarr")).window(0, 0, 32, 32).data.compute()  # part of a shard
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("status", [403, 404])
def test_http_missing_documents_read_as_not_found(tmp_path, http_host, capsys, status, demo_collection):
    server = http_host(demo_collection.root, missing_status=status)
    for argv in (["info", f"{server.url}/nothing.zarr"], ["validate", f"{server.url}/nothing.zarr"],
                 ["labels", "info", f"{server.url}/{IMAGE}", "nothing"]):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "access denied (" not in err and "no " in err, err
    empty = http_host(tmp_path, missing_status=status)
    assert main(["search", empty.url, ""]) == 1
    err = capsys.readouterr().err
    assert "no index at" in err and f"ngffstore index {empty.url}" not in err
    assert "publish ngffstore-index.parquet" in err
    assert main(["index", empty.url, "--status"]) == 1
    err = capsys.readouterr().err
    assert f"ngffstore index {empty.url}" not in err
