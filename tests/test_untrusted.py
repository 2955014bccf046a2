"""Untrusted stores: a crafted document cannot lead a reader (or a writer) outside the store, nor
make it decode more than its memory cap (issue 23).

Stores are crafted object by object (plain JSON documents and chunk bytes), locally and on the
moto S3 server; on S3 every request is counted at the server and must stay inside the store's
prefix.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

from ngffstore.cli import main
from ngffstore.errors import MemoryCapError, NgffStoreError
from ngffstore.paths import UnsafePathError, check_relative_path, unsafe_reason
from ngffstore.storage import Location

GROUP = {"zarr_format": 3, "node_type": "group"}


def image_attrs(path: str = "0") -> dict[str, Any]:
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    ds = {"path": path, "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}]}
    return {"ome": {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [ds]}]}}


def array_doc(shape, chunks, dtype="uint8", codecs=None) -> dict[str, Any]:
    return {
        "zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0, "codecs": codecs or [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": {}, "dimension_names": ["y", "x"],
    }


class Crafter:
    """Writes raw objects below a root URL (a folder or an s3:// prefix)."""

    def __init__(self, root: str, options: dict[str, Any]):
        self.root = Location.parse(root, options)
        self.options = options

    def url(self, key: str = "") -> str:
        return self.root.child(key).url if key else self.root.url

    def put(self, key: str, data: bytes | dict[str, Any]) -> None:
        raw = json.dumps(data).encode() if isinstance(data, dict) else data
        target = self.root.child(key)
        fs = self.root.fs
        if self.root.is_local:
            os.makedirs(os.path.dirname(target.path), exist_ok=True)
        fs.pipe_file(target.path, raw)

    def image(self, key: str, *, path: str = "0", shape=(8, 8), chunks=(8, 8), labels=None) -> None:
        self.put(f"{key}/zarr.json", {**GROUP, "attributes": image_attrs(path)})
        self.put(f"{key}/{path}/zarr.json", array_doc(shape, chunks))
        if labels is not None:
            self.put(f"{key}/labels/zarr.json", {**GROUP, "attributes": {"ome": {"version": "0.5", "labels": labels}}})

    def plate(self, key: str, *, wells: list[str], images: dict[str, list[str]]) -> None:
        plate = {
            "version": "0.5", "rows": [{"name": "A"}], "columns": [{"name": "1"}],
            "wells": [{"path": w, "rowIndex": 0, "columnIndex": 0} for w in wells], "field_count": 1,
        }
        self.put(f"{key}/zarr.json", {**GROUP, "attributes": {"ome": {"version": "0.5", "plate": plate}}})
        for well, fields in images.items():
            self.put(
                f"{key}/{well}/zarr.json",
                {**GROUP, "attributes": {"ome": {"version": "0.5", "well": {"images": [{"path": f} for f in fields]}}}},
            )
            for f in fields:
                if ".." not in f:
                    self.image(f"{key}/{well}/{f}")


@pytest.fixture
def crafted(store_url, s3_env_if_s3) -> Crafter:
    url, options = store_url
    c = Crafter(url, options)
    # the secret beside the store: a valid image nobody may be led to
    c.image("outside_secret.zarr")
    return c


@pytest.fixture
def s3_env_if_s3(request, store_url):
    """On S3, the AWS_* variables too (the CLI reads them)."""
    if store_url[0].startswith("s3://"):
        return request.getfixturevalue("s3_env")
    return None


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, out: str, err: str, *needles: str) -> None:
    assert code != 0, out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


class Requests:
    """Counts requests at the S3 server (nothing to count locally)."""

    def __init__(self, request, crafted: Crafter):
        self.crafted = crafted
        self.server = request.getfixturevalue("s3_server") if crafted.url().startswith("s3://") else None

    def inside(self, prefix_key: str):
        import contextlib

        @contextlib.contextmanager
        def window():
            if self.server is None:
                yield
                return
            bucket, _, base = self.crafted.url().removeprefix("s3://").partition("/")
            prefix = f"{base}/{prefix_key}".rstrip("/")
            with self.server.count() as log:
                yield
            assert len(log) > 0
            for r in log:
                if r.bucket is None:
                    continue
                assert r.bucket == bucket, r
                key = r.key if r.key is not None else r.params.get("prefix", "")
                assert key == prefix or key.startswith(prefix + "/"), f"request outside {prefix}: {r}"

        return window()


@pytest.fixture
def requests_at(request, crafted) -> Requests:
    return Requests(request, crafted)


# -- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["../x", "a/../b", "/abs", "s3://bucket/x", "https://h/x", "C:/x", "a\\b", "a//b", "a/", ".", "",
     "a\x00b", "a\nb", "./a", 3, None],
)
def test_unsafe_paths_are_refused(path):
    assert unsafe_reason(path) is not None
    with pytest.raises(UnsafePathError) as info:
        check_relative_path(path, document="s3://b/p/zarr.json", what="well path")
    assert "s3://b/p/zarr.json" in str(info.value) and repr(path) in str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


@pytest.mark.parametrize("path", ["0", "A/1", "s0", "nuclei", "a.b", "pos001", "scale0/image"])
def test_safe_paths_pass(path):
    assert check_relative_path(path, document="x", what="path") == path
    assert check_relative_path("0", document="x", single=True) == "0"
    with pytest.raises(UnsafePathError):
        check_relative_path("A/1", document="x", single=True)


# -- readers -------------------------------------------------------------------------------------


def test_plate_with_escaping_well_path(crafted, requests_at, capsys):
    from ngffstore.plate import open_plate

    crafted.plate("plate.zarr", wells=["../../../outside_secret.zarr/../x"], images={})
    url = crafted.url("plate.zarr")
    with requests_at.inside("plate.zarr"):
        code, out, err = run(capsys, "plate-info", url)
        assert_one_line(code, out, err, "zarr.json", "../../../outside_secret.zarr/../x", "unsafe well path")
        code, _, err = run(capsys, "plate-thumbnail", url, "-o", os.devnull + ".png")
        assert code != 0 and len(err.strip().splitlines()) == 1
        with pytest.raises(UnsafePathError):
            open_plate(url, storage_options=crafted.options)


def test_well_with_escaping_image_path(crafted, requests_at, capsys, tmp_path):
    from ngffstore.plate import open_plate

    crafted.plate("plate.zarr", wells=["A/1"], images={"A/1": ["../../../../outside_secret.zarr"]})
    url = crafted.url("plate.zarr")
    with requests_at.inside("plate.zarr"):
        with open_plate(url, storage_options=crafted.options) as plate, pytest.raises(
            UnsafePathError, match="outside_secret"
        ):
            plate.well("A", 1)
        code, out, err = run(capsys, "plate-info", url, "--wells")
        assert_one_line(code, out, err, "A/1/zarr.json", "unsafe well image path")
        code, out, err = run(capsys, "plate-thumbnail", url, "-o", tmp_path / "p.png")
        assert_one_line(code, out, err, "unsafe well image path")
    assert not (tmp_path / "p.png").exists()


def test_a_safe_plate_still_reads(crafted, capsys, tmp_path):
    crafted.plate("plate.zarr", wells=["A/1"], images={"A/1": ["0"]})
    code, _, err = run(capsys, "plate-thumbnail", crafted.url("plate.zarr"), "-o", tmp_path / "p.npy")
    assert code == 0, err
    assert np.load(tmp_path / "p.npy").shape == (8, 8)


def test_escaping_dataset_path_and_label_names(crafted, requests_at, capsys, tmp_path):
    from ngffstore.image import open_image

    crafted.image("img.zarr", path="../outside_secret.zarr/0")
    crafted.image("img2.zarr", labels=["../../../outside_secret.zarr"])
    with requests_at.inside("img.zarr"):
        code, out, err = run(capsys, "window", crafted.url("img.zarr"), "--x", 0, "--y", 0, "--width", 2,
                             "--height", 2, "-o", tmp_path / "w.npy")
        assert_one_line(code, out, err, "img.zarr/zarr.json", "multiscale dataset path")
        with pytest.raises(UnsafePathError):
            open_image(crafted.url("img.zarr"), storage_options=crafted.options)
    with requests_at.inside("img2.zarr"):
        code, out, err = run(capsys, "labels", "list", crafted.url("img2.zarr"))
        assert_one_line(code, out, err, "unsafe label name", "outside_secret")
        assert out == ""
        image = open_image(crafted.url("img2.zarr"), storage_options=crafted.options)
        with pytest.raises(UnsafePathError, match="labels/zarr.json"):
            image.labels  # noqa: B018


def test_bioformats2raw_series_outside(crafted, requests_at):
    from ngffstore.image import open_image

    crafted.put("bf.zarr/zarr.json", {**GROUP, "attributes": {"ome": {"version": "0.5", "bioformats2raw.layout": 3}}})
    crafted.put("bf.zarr/OME/zarr.json", {**GROUP, "attributes": {"ome": {"version": "0.5", "series": ["../outside_secret.zarr"]}}})
    with requests_at.inside("bf.zarr"):
        with pytest.raises(UnsafePathError, match="bioformats2raw series path"):
            open_image(crafted.url("bf.zarr"), storage_options=crafted.options, series=0)
        with pytest.raises(UnsafePathError, match="series path"):
            open_image(crafted.url("bf.zarr"), storage_options=crafted.options, series="../outside_secret.zarr")


def test_label_source_image_must_be_its_parent(tmp_path):
    from ngffstore.labels import open_labels

    c = Crafter(str(tmp_path / "store"), {})
    c.image("outside_secret.zarr")
    c.image("img.zarr", labels=["cells"])
    attrs = image_attrs()
    attrs["ome"]["image-label"] = {"source": {"image": "../../../outside_secret.zarr"}}
    c.put("img.zarr/labels/cells/zarr.json", {**GROUP, "attributes": attrs})
    c.put("img.zarr/labels/cells/0/zarr.json", array_doc((8, 8), (8, 8)))
    labels = open_labels(c.url("img.zarr"), "cells")
    with pytest.raises(UnsafePathError, match="source image"):
        labels.image  # noqa: B018


# -- writers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("well", ["../../x", "A/../../x", "/tmp/x", "A\\1"])
def test_manifest_wells_cannot_escape(tmp_path, capsys, well):
    import tifffile

    tifffile.imwrite(tmp_path / "f.tif", np.zeros((8, 8), np.uint8))
    (tmp_path / "m.csv").write_text(f"well,field,file\n{well},1,{tmp_path / 'f.tif'}\n")
    out_dir = tmp_path / "deep" / "plate.zarr"
    code, _, err = run(capsys, "plate", out_dir, "--manifest", tmp_path / "m.csv")
    assert code != 0 and "Traceback" not in err
    assert not (tmp_path / "deep").exists() and not (tmp_path / "x").exists()


def test_acquisition_table_names_are_plain():
    from converters.acquisition import table_name

    for title in ("../../etc", "..", "a/../b", "C:\\x", "s3://b/k", "\x00"):
        name = table_name(title)
        assert unsafe_reason(name, single=True) is None, (title, name)


# -- decompression bombs ------------------------------------------------------------------------

BOMB = 24576


def _ones_member() -> bytes:
    return gzip.compress(np.ones(1 << 24, dtype="<u4").tobytes(), compresslevel=9)


@pytest.fixture(scope="module")
def ones_member() -> bytes:
    return _ones_member()


def craft_bomb(c: Crafter, key: str, member: bytes) -> None:
    """Level 0 is one 24576x24576 uint32 chunk of ones (gzip members concatenated)."""
    c.put(f"{key}/zarr.json", {**GROUP, "attributes": image_attrs()})
    codecs = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "gzip", "configuration": {"level": 9}}]
    c.put(f"{key}/0/zarr.json", array_doc((BOMB, BOMB), (BOMB, BOMB), "uint32", codecs))
    n = BOMB * BOMB // (1 << 24)
    c.put(f"{key}/0/c/0/0", member * n)


def test_bomb_chunk_is_refused_before_it_is_fetched(crafted, requests_at, capsys, tmp_path, ones_member):
    from ngffstore.image import open_image
    from ngffstore.rois import crop  # noqa: F401 - crop goes through window

    craft_bomb(crafted, "bomb.zarr", ones_member)
    url = crafted.url("bomb.zarr")
    with requests_at.inside("bomb.zarr"):
        code, out, err = run(capsys, "window", url, "--x", 0, "--y", 0, "--width", 10, "--height", 10,
                             "-o", tmp_path / "w.npy")
        assert_one_line(code, out, err, "24576x24576 uint32", "--memory-cap", "bomb.zarr")
        code, out, err = run(capsys, "thumbnail", url, "-o", tmp_path / "t.png")
        assert_one_line(code, out, err, "24576x24576")
        image = open_image(url, storage_options=crafted.options)
        for verb in (
            lambda: image.window(0, 0, 10, 10),
            lambda: image.point(3, 3),
            lambda: image.statistics(),
            lambda: image.to_dask(0),
        ):
            with pytest.raises(MemoryCapError, match="memory_cap="):
                verb()
    if requests_at.server is not None:
        with requests_at.server.count() as log, pytest.raises(MemoryCapError):
            image.window(0, 0, 10, 10)
        assert log.count("GET") == 0  # refused from the metadata alone
    assert not (tmp_path / "w.npy").exists()


def test_bomb_peak_memory_is_far_below_the_chunk(tmp_path, ones_member):
    c = Crafter(str(tmp_path / "store"), {})
    craft_bomb(c, "bomb.zarr", ones_member)
    size = sum(f.stat().st_size for f in (tmp_path / "store").rglob("*") if f.is_file())
    assert size < 3 << 20
    script = textwrap.dedent(
        f"""
        from ngffstore.cli import main
        code = main(["window", {c.url('bomb.zarr')!r}, "--x", "0", "--y", "0", "--width", "10",
                     "--height", "10", "-o", {str(tmp_path / 'w.npy')!r}])
        # VmHWM: this process's peak RSS (ru_maxrss would start from the forking parent's)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
        print(code, hwm)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300)
    code, peak_kib = map(int, done.stdout.split())
    assert code != 0 and "memory cap" in done.stderr
    assert peak_kib * 1024 < (BOMB * BOMB * 4) // 8  # far below the 2.25 GiB chunk


def test_shard_index_bomb(tmp_path):
    from ngffstore.image import open_image

    c = Crafter(str(tmp_path / "store"), {})
    c.put("s.zarr/zarr.json", {**GROUP, "attributes": image_attrs()})
    codecs = [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [1, 1], "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
        "index_location": "end"}}]
    c.put("s.zarr/0/zarr.json", array_doc((100_000, 100_000), (100_000, 100_000), "uint8", codecs))
    image = open_image(c.url("s.zarr"))
    with pytest.raises(MemoryCapError, match="shard index"):
        image.window(0, 0, 4, 4)


def test_bomb_in_a_plate_field(tmp_path, ones_member, capsys):
    c = Crafter(str(tmp_path / "store"), {})
    c.plate("plate.zarr", wells=["A/1"], images={"A/1": []})
    c.put("plate.zarr/A/1/zarr.json", {**GROUP, "attributes": {"ome": {"version": "0.5", "well": {"images": [{"path": "0"}]}}}})
    craft_bomb(c, "plate.zarr/A/1/0", ones_member)
    code, out, err = run(capsys, "plate-thumbnail", c.url("plate.zarr"), "-o", tmp_path / "p.png")
    assert_one_line(code, out, err, "24576x24576", "memory")


def test_errors_are_typed():
    assert issubclass(UnsafePathError, NgffStoreError)


# -- credentials never reach the store, provenance, logs or messages -----------------------------


def _objects(server, bucket: str) -> dict[str, bytes]:
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True, **server.storage_options)
    return {key: fs.cat_file(key) for key in fs.find(bucket)}


def _assert_no_secret(server, bucket: str, printed: str) -> None:
    key, secret = server.credentials
    objects = _objects(server, bucket)
    assert any(k.endswith("zarr.json") for k in objects)
    assert any(k.endswith(".parquet") for k in objects), sorted(objects)
    for name, body in objects.items():
        for word in (key, secret):
            assert word.encode() not in body, f"{word[:4]}... stored in {name}"
    for word in (key, secret):
        assert word not in printed


def test_credentials_from_storage_options_are_not_stored(s3_server, s3_bucket, s3_options, caplog, capsys):
    import logging

    import pandas as pd

    from ngffstore import write_image, write_metadata, write_rois
    from ngffstore.image import open_image

    caplog.set_level(logging.DEBUG, logger="ngffstore")
    url = f"s3://{s3_bucket}/api/img.zarr"
    write_image(np.ones((64, 48), np.uint8), url, axes="yx", storage_options=s3_options, progress=False)
    write_metadata({"strain": "BY4741"}, url, tags=["good"], storage_options=s3_options)
    rois = pd.DataFrame({"geometry": [shapely_box(2, 2, 10, 10)], "terms": [["cell"]]})
    write_rois(rois, url, layer="manual", storage_options=s3_options)
    image = open_image(url, storage_options=s3_options)
    text = repr(image) + json.dumps(image.provenance) + repr(image.location) + str(image.__getstate__())
    bad = {**s3_options, "secret": "wrong-" + s3_server.credentials.secret}
    with pytest.raises(NgffStoreError) as info:
        open_image(url, storage_options=bad)
    out, err = capsys.readouterr()
    printed = "\n".join([out, err, caplog.text, text, str(info.value)])
    _assert_no_secret(s3_server, s3_bucket, printed.replace(bad["secret"], "<bad>"))


def test_credentials_from_the_environment_are_not_stored(s3_server, s3_bucket, s3_env, capsys, tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", np.arange(64 * 48, dtype=np.uint16).reshape(64, 48))
    (tmp_path / "rois.wkt").write_text("POLYGON ((2 2, 10 2, 10 10, 2 10, 2 2))\n")
    url = f"s3://{s3_bucket}/cli/img.zarr"
    printed = []
    for argv in (
        ("convert", tmp_path / "in.tif", url),
        ("meta", "set", url, "strain=BY4741"),
        ("rois", "import", url, tmp_path / "rois.wkt", "--layer", "manual"),
        ("info", url),
        ("provenance", url),
        ("window", f"s3://{s3_bucket}/cli/missing.zarr", "--x", 0, "--y", 0, "--width", 1, "--height", 1,
         "-o", tmp_path / "w.npy"),
    ):
        code, out, err = run(capsys, *argv)
        printed += [out, err]
        assert code == 0 or argv[0] == "window", err
    _assert_no_secret(s3_server, s3_bucket, "\n".join(printed))


def shapely_box(*args: float) -> Any:
    import shapely

    return shapely.box(*args)


def test_search_refuses_an_index_row_outside_the_collection(tmp_path, capsys):
    import pyarrow.parquet as pq

    import ngffstore
    from ngffstore.index._common import INDEX_FILE
    from ngffstore.index.search import search

    root = tmp_path / "coll"
    ngffstore.write_image(np.zeros((64, 64), np.uint8), str(root / "a.ome.zarr"), progress=False)
    ngffstore.build_index(str(root))
    table = pq.read_table(root / INDEX_FILE)
    paths = table.column("path").to_pylist()
    paths[0] = "../../outside_secret.zarr"
    table = table.set_column(table.column_names.index("path"), "path", [paths])
    pq.write_table(table, root / INDEX_FILE)
    with pytest.raises(UnsafePathError, match="image path in index row"):
        search(str(root))
    assert main(["search", str(root), "kind == \"image\""]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outside_secret" in err[0]


def test_labels_listing_with_an_escaping_name_is_refused(tmp_path):
    import ngffstore
    from ngffstore.nodes import write_group

    url = tmp_path / "img.ome.zarr"
    ngffstore.write_image(np.zeros((64, 64), np.uint8), str(url), progress=False)
    write_group(Location.parse(str(url / "labels")), 3, {"ome": {"version": "0.5", "labels": ["../../x"]}})
    with pytest.raises(UnsafePathError, match="label name"):
        ngffstore.list_labels(str(url))


def test_roi_layer_and_table_paths_from_documents_are_checked(tmp_path):
    import ngffstore
    from ngffstore.metadata import read_table
    from ngffstore.nodes import read_node, write_attributes
    from ngffstore.rois._model import RoisAttrs

    url = tmp_path / "img.ome.zarr"
    ngffstore.write_image(np.zeros((64, 64), np.uint8), str(url), progress=False)
    loc = Location.parse(str(url))
    node = read_node(loc)
    attrs = dict(node.attributes)
    block = dict(attrs.get("ngffstore") or {})
    block["metadata"] = {"tables": {"t": {"path": "../../secret.parquet", "rows": 1}}}
    block["rois"] = {"layers": {"cells": {"kind": "user", "count": 1,
                                          "files": [{"path": "../../secret.parquet", "rows": 1}]}}}
    attrs["ngffstore"] = block
    write_attributes(node, attrs, conditional=False)
    with pytest.raises(UnsafePathError, match="ROI Parquet path"):
        RoisAttrs.from_attrs(attrs)
    with pytest.raises(UnsafePathError, match="path of table 't'"):
        read_table(str(url), "t")
