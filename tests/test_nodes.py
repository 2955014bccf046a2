"""The node layer: one GET per document, atomic and conditional writes, lost-update-free
read-modify-write — on a local folder and on the moto S3 server alike."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from typing import Any

import pytest

from ngffstore.errors import ConflictError, NotNgffError, StoreNotFoundError
from ngffstore.nodes import read_group, read_node, try_read_node, update_attributes, write_group
from ngffstore.storage import Location


@pytest.fixture
def loc(store_url: tuple[str, dict[str, Any]]) -> Location:
    url, options = store_url
    return Location.parse(url, options)


def test_get_put_roundtrip_and_missing(loc: Location) -> None:
    assert loc.get("a/b.json") is None
    assert loc.get_versioned("a/b.json") == (None, None)
    v1 = loc.put("a/b.json", b"one")
    data, version = loc.get_versioned("a/b.json")
    assert data == b"one" and version == v1
    loc.delete("a/b.json")
    loc.delete("a/b.json")  # absent: nothing happens
    assert loc.get("a/b.json") is None


def test_conditional_put(loc: Location) -> None:
    v1 = loc.put("doc", b"1", if_version=None)  # create only if absent
    with pytest.raises(ConflictError):
        loc.put("doc", b"x", if_version=None)
    v2 = loc.put("doc", b"2", if_version=v1)
    with pytest.raises(ConflictError, match="another writer"):
        loc.put("doc", b"3", if_version=v1)  # stale version
    assert loc.get("doc") == b"2"
    loc.put("doc", b"4", if_version=v2)
    assert loc.get("doc") == b"4"


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_read_node_formats(loc: Location, zarr_format: int) -> None:
    with pytest.raises(StoreNotFoundError, match="no Zarr group"):
        read_group(loc)
    assert try_read_node(loc) is None
    write_group(loc, zarr_format, {"k": 1})
    node = read_node(loc)
    assert (node.zarr_format, node.node_type, node.attributes) == (zarr_format, "group", {"k": 1})
    # an array is not a group
    arr = loc.child("arr")
    if zarr_format == 3:
        arr.put("zarr.json", json.dumps({"zarr_format": 3, "node_type": "array", "attributes": {}}).encode())
    else:
        arr.put(".zarray", json.dumps({"zarr_format": 2}).encode())
    assert read_node(arr).node_type == "array"
    with pytest.raises(NotNgffError):
        read_group(arr)


def test_read_node_costs_one_get(s3_server: Any, s3_bucket: str, s3_options: dict[str, Any]) -> None:
    loc = Location.parse(f"s3://{s3_bucket}/g", s3_options)
    write_group(loc, 3, {"a": 1})
    with s3_server.count() as log:
        read_node(loc, zarr_format=3)
    assert log.counts() == {"GET": 1}, log.summary()
    with s3_server.count() as log:
        update_attributes(loc, lambda a: {**a, "b": 2})
    assert log.counts() == {"GET": 1, "PUT": 1}, log.summary()


def test_corrupt_document_is_one_clear_error(loc: Location) -> None:
    loc.put("zarr.json", b"{not json")
    from ngffstore.errors import ReadError

    with pytest.raises(ReadError, match="not valid JSON"):
        read_node(loc)


def _add_keys(url: str, options: dict[str, Any], worker: int, keys: int) -> None:
    loc = Location.parse(url, options)
    for k in range(keys):
        update_attributes(loc, lambda a, k=k: {**a, f"w{worker}_{k}": k})


def test_concurrent_updates_lose_nothing(loc: Location) -> None:
    write_group(loc, 3, {})
    ctx = mp.get_context("spawn")
    workers, keys = 6, 5
    procs = [
        ctx.Process(target=_add_keys, args=(loc.url, dict(loc.storage_options), w, keys))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers
    attrs = read_node(loc).attributes
    assert len(attrs) == workers * keys, sorted(attrs)


def test_local_write_is_atomic_no_temporaries_left(tmp_path: Any) -> None:
    loc = Location.parse(str(tmp_path / "n"))
    write_group(loc, 3, {"x": 1})
    update_attributes(loc, lambda a: {**a, "y": 2})
    assert sorted(os.listdir(loc.url)) == ["zarr.json"]
