"""`ngffstore copy`: images, plates and collections between local, S3 and HTTP sources,
resumable and verified, with a search selection and a resave (specs/copy.md)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

import ngffstore
from ngffstore import copy as copymod
from ngffstore.cli import main
from ngffstore.copy import STATE_DIR, CopyError, copy, list_keys, walk
from ngffstore.errors import InputError, OutputExistsError, StorageAccessError
from ngffstore.storage import Location
from ngffstore.validation import validate

TOPS = ("cells.ome.zarr", "plate.ome.zarr")


def files(folder, *, skip=(STATE_DIR,)) -> dict[str, bytes]:
    out = {}
    for base, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in skip]
        for n in names:
            p = os.path.join(base, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, folder).replace(os.sep, "/")] = f.read()
    return out


def collection_objects(root) -> dict[str, bytes]:
    """The objects a collection copy carries: its images and plates, the index and its marker."""
    every = files(root)
    return {k: v for k, v in every.items()
            if k.split("/")[0] in TOPS or k in ("ngffstore-index.parquet", ".ngffstore-index/root.json")}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_document_walk_finds_what_a_listing_finds(demo_collection):
    root = Location.parse(str(demo_collection.root))
    for top in TOPS:
        walked = {k for k, _ in walk(root, top)}
        listed = {f"{top}/{k}" for k, _ in list_keys(root.child(top))}
        assert walked == listed, (sorted(walked ^ listed))[:10]


def test_copy_a_collection_from_each_backend(read_backend, demo_collection, tmp_path, capsys):
    dest = tmp_path / "copy"
    counting = read_backend.count()
    if counting is not None:
        with counting as log:
            summary = copy(read_backend.root, str(dest), storage_options=read_backend.options or None,
                           dst_storage_options={}, progress=False)
        assert "HEAD" not in log.counts()
        if read_backend.name == "http":
            assert "LIST" not in log.counts()
    else:
        summary = copy(read_backend.root, str(dest), progress=False)
    assert summary.enumeration == ("documents" if read_backend.name == "http" else "listing")
    assert summary.kind == "collection" and summary.index_rows == 13
    source = collection_objects(demo_collection.root)
    copied = collection_objects(dest)
    assert set(copied) == set(source)
    tops = {f"{t}/zarr.json" for t in TOPS}
    for key, data in source.items():
        if key not in tops:
            assert copied[key] == data, key  # byte for byte
    for top in TOPS:
        assert validate(str(dest / top)).ok
        history = ngffstore.read_provenance(str(dest / top))
        last = history[-1]
        assert last.operation == "copy" and last.parameters["source"].endswith(top)
    code, out, _err = run(capsys, "search", dest, 'kind == "image"')
    assert code == 0 and "cells.ome.zarr" in out


def test_a_rerun_resumes_and_skips_what_was_verified(demo_collection, tmp_path, monkeypatch):
    dest = tmp_path / "copy"
    calls = {"n": 0}
    original = copymod._copy_one

    def failing(source, dst, key, data, verify):
        calls["n"] += 1
        if calls["n"] == 40:
            raise OSError("connection reset (simulated)")
        return original(source, dst, key, data, verify)

    monkeypatch.setattr(copymod, "FLUSH_EVERY", 8)
    monkeypatch.setattr(copymod, "_copy_one", failing)
    with pytest.raises(OSError, match="simulated"):
        copy(str(demo_collection.root), str(dest), workers=2, progress=False)
    monkeypatch.setattr(copymod, "_copy_one", original)
    summary = copy(str(demo_collection.root), str(dest), workers=2, progress=False)
    assert summary.skipped >= 8 and summary.copied + summary.skipped == summary.objects
    assert summary.copied < summary.objects
    source, copied = collection_objects(demo_collection.root), collection_objects(dest)
    assert set(copied) == set(source)
    # the copy is recorded once, however many runs it took
    history = ngffstore.read_provenance(str(dest / "cells.ome.zarr"))
    assert [h.operation for h in history].count("copy") == 1
    again = copy(str(demo_collection.root), str(dest), progress=False)
    assert again.copied == 0 and again.skipped == again.objects


def test_a_corrupted_write_is_caught(demo_collection, tmp_path, monkeypatch):
    dest = tmp_path / "copy"
    original = Location.get

    def truncating(self, key):
        data = original(self, key)
        if data and self.url.startswith(str(dest)) and key.endswith("c/0/0/0"):
            return data[:-1]
        return data

    monkeypatch.setattr(Location, "get", truncating)
    with pytest.raises(CopyError, match="arrived where"):
        copy(str(Path(demo_collection.root) / "cells.ome.zarr"), str(dest), progress=False)


def test_memory_is_bounded_by_the_objects_in_flight(demo_collection, tmp_path, monkeypatch):
    lock = threading.Lock()
    state = {"now": 0, "most": 0}
    original = copymod._copy_one

    def counted(*args):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            return original(*args)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(copymod, "_copy_one", counted)
    copy(str(demo_collection.root), str(tmp_path / "c"), workers=3, progress=False)
    assert 1 <= state["most"] <= 3


def test_search_copies_only_the_selected_fields(read_backend, tmp_path):
    from tests.plate.test_plate import check_other_clients

    dest = tmp_path / "sel"
    summary = copy(read_backend.root, str(dest), search='well == "B2"', storage_options=read_backend.options or None,
                   dst_storage_options={}, progress=False)
    assert summary.index_rows == 2 and summary.enumeration == "documents"
    assert not (dest / "cells.ome.zarr").exists()
    plate = ngffstore.open_plate(str(dest / "plate.ome.zarr"))
    assert [w.path for w in plate.wells] == ["B/2"] and plate.preview is None
    assert sorted(os.listdir(dest / "plate.ome.zarr")) == ["B", "zarr.json"]
    check_other_clients(str(dest / "plate.ome.zarr"), "0.5")
    from ngffstore.index.search import search

    assert sorted(search(str(dest))["path"]) == ["plate.ome.zarr/B/2/0", "plate.ome.zarr/B/2/1"]


def test_copy_onto_s3_and_back(demo_collection, tmp_path, s3_server, s3_bucket, s3_options):
    url = f"s3://{s3_bucket}/copied"
    up = copy(str(Path(demo_collection.root) / "plate.ome.zarr"), url, dst_storage_options=s3_options, progress=False)
    assert up.kind == "plate" and up.copied == up.objects
    back = copy(url, str(tmp_path / "back"), storage_options=s3_options, dst_storage_options={}, progress=False)
    assert back.enumeration == "listing"
    source = files(Path(demo_collection.root) / "plate.ome.zarr")
    got = files(tmp_path / "back")
    assert set(got) == set(source)
    assert all(got[k] == v for k, v in source.items() if k != "zarr.json")


def test_resave_to_another_version_chunks_and_shards(demo_collection, tmp_path, capsys):
    src = Path(demo_collection.root) / "cells.ome.zarr"
    old = ngffstore.open_image(str(src))
    out04 = tmp_path / "cells04.zarr"
    code, _out, err = run(capsys, "copy", src, out04, "--ngff-version", "0.4", "--chunks", "128", "--no-progress")
    assert code == 0, err
    new = ngffstore.open_image(str(out04))
    assert new.zarr_format == 2 and new.levels[0].chunks[-1] == 128
    assert np.array_equal(new.to_dask(0).compute(), old.to_dask(0).compute())
    assert [c.to_dict() for c in new.channels] == [c.to_dict() for c in old.channels]
    assert new.labels == old.labels
    assert np.array_equal(new.label("nuclei").to_dask(0).compute(), old.label("nuclei").to_dask(0).compute())
    for layer in ("annotations", "nuclei"):
        assert len(ngffstore.read_rois(str(out04), layer)) == len(ngffstore.read_rois(str(src), layer))
    assert new.metadata["metadata"] == old.metadata["metadata"]
    assert validate(str(out04)).ok
    # and back to 0.5 with shards
    out05 = tmp_path / "cells05.zarr"
    code, _out, err = run(capsys, "copy", out04, out05, "--ngff-version", "0.5", "--chunks", "64", "--shards", "256",
                         "--no-progress")
    assert code == 0, err
    again = ngffstore.open_image(str(out05))
    assert again.zarr_format == 3 and np.array_equal(again.to_dask(0).compute(), old.to_dask(0).compute())
    ops = [h.operation for h in ngffstore.read_provenance(str(out05))]
    assert ops.count("copy") == 2 and ops.count("write_image") >= 3  # the source's history, then both resaves


def test_resave_a_plate(demo_collection, tmp_path):
    from tests.plate.test_plate import check_other_clients

    dest = tmp_path / "plate04.zarr"
    summary = copy(str(Path(demo_collection.root) / "plate.ome.zarr"), str(dest), ngff_version="0.4", progress=False)
    assert len(summary.resaved) == 12
    check_other_clients(str(dest), "0.4")
    a, b = ngffstore.open_plate(str(Path(demo_collection.root) / "plate.ome.zarr")), ngffstore.open_plate(str(dest))
    assert [w.path for w in a.wells] == [w.path for w in b.wells] and b.name == a.name
    assert np.array_equal(a.field("B2", None, 1).to_dask(0).compute(), b.field("B2", None, 1).to_dask(0).compute())
    assert b.preview is not None and b.preview.fresh


def test_bad_input_is_one_line_and_writes_nothing(demo_collection, tmp_path, capsys):
    root = Path(demo_collection.root)
    before = files(root)
    cases = [
        (["copy", root, root], "onto itself"),
        (["copy", root, root / "inside"], "one is inside the other"),
        (["copy", root, tmp_path / "x", "--search", 'well == "Z9"'], "selects no image"),
        (["copy", root / "cells.ome.zarr", tmp_path / "y", "--search", 'well == "B2"'], "single node"),
        (["copy", root, "https://example.org/demo"], "read-only"),
        (["copy", tmp_path / "nothing", tmp_path / "z"], "nothing to copy"),
    ]
    for argv, words in cases:
        code, _out, err = run(capsys, *argv)
        assert code != 0 and words in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert files(root) == before
    assert not any((tmp_path / n).exists() for n in ("x", "y", "z"))
    # a non-empty destination (another source's copy) without --overwrite
    busy = tmp_path / "busy"
    copy(str(root / "cells.ome.zarr"), str(busy), progress=False)
    kept = files(busy, skip=())
    code, _out, err = run(capsys, "copy", root / "plate.ome.zarr", busy)
    assert code != 0 and "not empty" in err and "--overwrite" in err
    assert files(busy, skip=()) == kept
    code, _out, err = run(capsys, "copy", root / "plate.ome.zarr", busy, "--overwrite", "--no-progress")
    assert code == 0 and ngffstore.open_plate(str(busy)).wells
    with pytest.raises(InputError):
        copy(str(root), str(tmp_path / "w"), workers=0)
    with pytest.raises(OutputExistsError):
        copy(str(root / "cells.ome.zarr"), str(busy))
    with pytest.raises(StorageAccessError):
        copy(str(root), "http://127.0.0.1:1/x")
