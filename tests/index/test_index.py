"""The metadata index: crawl, lock-free incremental updates, search, staleness, S3, concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time

import numpy as np
import pandas as pd
import pytest

import ngffstore
from ngffstore import index
from ngffstore.index import (
    INDEX_FILE,
    JOURNAL,
    IndexNotFoundError,
    StaleIndexWarning,
    build_index,
    check_index,
    index_status,
    load_index,
)
from ngffstore.index.search import (
    ExpressionError,
    SearchResult,
    UnknownColumnError,
    parse_expression,
    search,
)
from ngffstore.journal import notify
from ngffstore.metadata import write_metadata, write_table

# -- metadata-only synthetic stores -------------------------------------------------------------


def _group(path, attrs, fmt=3):
    os.makedirs(path, exist_ok=True)
    if fmt == 3:
        with open(os.path.join(path, "zarr.json"), "w") as f:
            json.dump({"zarr_format": 3, "node_type": "group", "attributes": attrs}, f)
    else:
        with open(os.path.join(path, ".zgroup"), "w") as f:
            json.dump({"zarr_format": 2}, f)
        with open(os.path.join(path, ".zattrs"), "w") as f:
            json.dump(attrs, f)


def _array(path, shape, dtype="uint16", fmt=3):
    os.makedirs(path, exist_ok=True)
    if fmt == 3:
        meta = {"zarr_format": 3, "node_type": "array", "shape": list(shape), "data_type": dtype,
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(shape)}},
                "chunk_key_encoding": {"name": "default"}, "fill_value": 0, "codecs": [{"name": "bytes"}]}
        with open(os.path.join(path, "zarr.json"), "w") as f:
            json.dump(meta, f)
    else:
        meta = {"zarr_format": 2, "shape": list(shape), "chunks": list(shape), "dtype": np.dtype(dtype).str,
                "compressor": None, "fill_value": 0, "filters": None, "order": "C"}
        with open(os.path.join(path, ".zarray"), "w") as f:
            json.dump(meta, f)


def _wrap(block, fmt):
    if fmt == 3:
        return {"ome": {"version": "0.5", **block}}
    return {k: ([dict(v[0], version="0.4")] if k == "multiscales" else v) for k, v in block.items()}


def make_image(path, *, fmt=3, axes="cyx", shape=(2, 64, 48), channels=("DAPI", "GFP"), scale=None,
               units=None, kv=None, tags=None, description=None, rois=None, labels=(), name=None):
    scale = scale or [1.0] * len(axes)
    units = units or {}
    axis_list = [{"name": a, "type": {"c": "channel", "t": "time"}.get(a, "space"),
                  **({"unit": units[a]} if a in units else {})} for a in axes]
    block = {
        "multiscales": [{"name": name, "axes": axis_list,
                         "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}]}],
        "omero": {"channels": [{"label": c, "color": "FFFFFF"} for c in channels]},
    }
    if name is None:
        del block["multiscales"][0]["name"]
    attrs = _wrap(block, fmt)
    meta = {}
    if kv:
        meta["key_values"] = kv
    if tags:
        meta["tags"] = list(tags)
    if description:
        meta["description"] = description
    attrs["ngffstore"] = {"metadata": meta, "provenance": [
        {"operation": "write_image", "started": "2024-03-01T10:00:00+00:00", "finished": "2024-03-01T10:00:05+00:00"}]}
    if rois is not None:
        attrs["ngffstore"]["rois"] = rois
    _group(path, attrs, fmt)
    _array(os.path.join(path, "0"), shape, fmt=fmt)
    if labels:
        _group(os.path.join(path, "labels"), _wrap({"labels": list(labels)}, fmt) if fmt == 3 else {"labels": list(labels)}, fmt)
    return path


def make_plate(path, *, fmt=3, wells=("A/1", "A/2", "B/1"), fields=2, name="P001", kv=None):
    well_list = [{"path": w, "rowIndex": ord(w[0]) - 65, "columnIndex": int(w.split("/")[1]) - 1} for w in wells]
    block = {"plate": {"name": name, "rows": [{"name": r} for r in sorted({w[0] for w in wells})],
                       "columns": [{"name": c} for c in sorted({w.split("/")[1] for w in wells})], "wells": well_list}}
    attrs = {"ome": {"version": "0.5", **block}} if fmt == 3 else block
    if kv:
        attrs["ngffstore"] = {"metadata": {"key_values": kv}}
    _group(path, attrs, fmt)
    for w in wells:
        _group(os.path.join(path, w.split("/")[0]), {}, fmt)
        wblock = {"well": {"images": [{"path": str(f)} for f in range(fields)]}}
        _group(os.path.join(path, w), {"ome": {"version": "0.5", **wblock}} if fmt == 3 else wblock, fmt)
        for f in range(fields):
            make_image(os.path.join(path, w, str(f)), fmt=fmt, channels=("DAPI", "Cy5"))
    return path


@pytest.fixture
def collection(tmp_path):
    root = str(tmp_path / "coll")
    make_image(f"{root}/a.zarr", kv={"strain": "BY4741", "exposure_ms": 10, "temp": 30.5}, tags=["good"],
               scale=[1, 0.5, 0.5], units={"y": "micrometer", "x": "micrometer"}, name="alpha",
               rois={"count": 7, "counts": {"nucleus": 5, "cell": 2}}, labels=("cells", "nuclei"))
    make_image(f"{root}/b.zarr", fmt=2, axes="tczyx", shape=(3, 1, 5, 32, 32), channels=("GFP",),
               kv={"strain": "BY4742", "exposure_ms": 250, "Objective NA": 1.4}, tags=["good", "review"],
               scale=[2.0, 1, 0.3, 0.1, 0.1], units={"t": "second", "z": "micrometer"})
    make_image(f"{root}/sub/deeper/c.zarr", channels=("DAPI", "mCherry"), kv={"strain": "BY4741", "exposure_ms": "n/a"},
               description="a DAPI stain of the wild type")
    make_plate(f"{root}/plates/p1.zarr", kv={"screen": "S1", "strain": "BY4741"})
    os.makedirs(f"{root}/not-zarr/tiffs")
    with open(f"{root}/not-zarr/tiffs/x.tif", "wb") as f:
        f.write(b"II*\x00")
    return root


def _paths(frame):
    return sorted(frame["path"])


# -- building -----------------------------------------------------------------------------------


def test_full_build_rows(collection):
    report = build_index(collection)
    assert report.mode == "full" and report.rows == 3 + 6 and not report.problems
    assert os.path.isfile(os.path.join(collection, INDEX_FILE))
    df = pd.read_parquet(os.path.join(collection, INDEX_FILE)).set_index("path")
    a = df.loc["a.zarr"]
    assert a["name"] == "alpha" and a["kind"] == "image" and a["axes"] == "cyx"
    assert list(a["shape"]) == [2, 64, 48] and a["dtype"] == "uint16" and a["zarr_format"] == 3
    assert (a["size_c"], a["size_y"], a["size_x"], a["size_z"]) == (2, 64, 48, 1)
    assert a["pixel_size_x"] == 0.5 and a["unit_x"] == "micrometer"
    assert list(a["channels"]) == ["DAPI", "GFP"] and list(a["labels"]) == ["cells", "nuclei"]
    assert list(a["tags"]) == ["good"] and a["kv.strain"] == "BY4741" and a["kv.exposure_ms"] == "10"
    assert a["roi_count"] == 7 and a["rois.nucleus"] == 5 and a["rois.cell"] == 2
    assert a["created"] == pd.Timestamp("2024-03-01T10:00:00Z")
    b = df.loc["b.zarr"]
    assert b["zarr_format"] == 2 and b["ngff_version"] == "0.4" and b["size_t"] == 3 and b["size_z"] == 5
    assert b["time_increment"] == 2.0 and b["unit_t"] == "second" and b["pixel_size_z"] == 0.3
    assert b["kv.Objective NA"] == 1.4 and pd.isna(b["roi_count"]) and pd.isna(b["rois.nucleus"])
    assert df.loc["sub/deeper/c.zarr", "description"].startswith("a DAPI")
    field = df.loc["plates/p1.zarr/A/2/1"]
    assert field["kind"] == "plate-field" and field["plate"] == "P001" and field["plate_path"] == "plates/p1.zarr"
    assert (field["well"], field["row"], field["column"], field["field"]) == ("A2", "A", "2", 1)
    assert field["kv.screen"] == "S1"  # inherited from the plate
    assert not any(p.startswith("not-zarr") for p in df.index)


def test_real_images_and_tables_are_indexed(tmp_path):
    root = str(tmp_path / "coll")
    data = np.zeros((2, 3, 40, 40), dtype=np.uint8)
    ngffstore.write_image(data, f"{root}/v3.zarr", axes="czyx", channels=["DAPI", "GFP"], scale="2,0.5,0.5",
                          units={"z": "µm", "y": "µm", "x": "µm"}, progress=False)
    ngffstore.write_image(data[0], f"{root}/v2.zarr", axes="zyx", ngff_version="0.4", progress=False)
    write_table(pd.DataFrame({"a": [1, 2]}), f"{root}/v3.zarr", name="cells")
    build_index(root)
    res = search(root, 'channel == "DAPI"')
    assert _paths(res) == ["v3.zarr"]
    row = res.iloc[0]
    assert list(row["shape"]) == [2, 3, 40, 40] and row["pixel_size_z"] == 2 and row["unit_z"] == "micrometer"
    assert list(row["tables"]) == ["cells"]
    assert _paths(search(root, "zarr_format == 2 and size_z == 3")) == ["v2.zarr"]


# -- incremental updates ------------------------------------------------------------------------


def test_incremental_update_reads_only_what_changed(tmp_path):
    root = str(tmp_path / "coll")
    for i in range(40):
        make_image(f"{root}/img{i:02d}.zarr", kv={"i": i})
    full = build_index(root)
    assert full.objects_read >= 40 * 2
    write_metadata({"strain": "new"}, f"{root}/img07.zarr")
    write_metadata(None, f"{root}/img31.zarr", tags=["t"])
    report = build_index(root)
    assert report.mode == "incremental" and report.nodes_refreshed == 2 and report.fragments_applied == 2
    # index + marker + 2 fragments + per node: group, level 0, labels, parent (well?) check
    assert report.objects_read <= 4 + 2 * 4 and report.listings == 1
    res = search(root, 'strain == "new" or tags == "t"')
    assert _paths(res) == ["img07.zarr", "img31.zarr"]
    again = build_index(root)
    assert again.mode == "current" and again.objects_read <= 2


def test_new_removed_and_relabelled_nodes(collection):
    build_index(collection)
    make_image(f"{collection}/new.zarr", channels=("BF",))
    notify(f"{collection}/new.zarr", operation="write_image", zarr_format=3)
    shutil.rmtree(f"{collection}/b.zarr")
    notify(f"{collection}/b.zarr", operation="delete")
    _group(f"{collection}/a.zarr/labels", {"ome": {"version": "0.5", "labels": ["cells", "nuclei", "vesicles"]}})
    notify(f"{collection}/a.zarr/labels/vesicles", operation="write_labels")  # a label node -> its image
    report = build_index(collection)
    assert report.mode == "incremental" and not report.problems
    df = search(collection, "").set_index("path")
    assert "new.zarr" in df.index and "b.zarr" not in df.index
    assert list(df.loc["a.zarr", "labels"]) == ["cells", "nuclei", "vesicles"]
    assert len(df) == 3 + 6


def test_plate_metadata_is_inherited_and_refreshed(collection):
    build_index(collection)
    write_metadata({"compound": "DMSO"}, f"{collection}/plates/p1.zarr")
    write_metadata(None, f"{collection}/plates/p1.zarr/B/1", tags=["edge"])
    write_metadata({"compound": "X"}, f"{collection}/plates/p1.zarr/A/1/0")
    build_index(collection)
    df = search(collection, 'kind == "plate-field"').set_index("path")
    assert (df["kv.compound"] == "DMSO").sum() == 5 and df.loc["plates/p1.zarr/A/1/0", "kv.compound"] == "X"
    assert _paths(search(collection, 'tags == "edge"')) == ["plates/p1.zarr/B/1/0", "plates/p1.zarr/B/1/1"]
    assert _paths(search(collection, 'well in ["B1"] and field == 1')) == ["plates/p1.zarr/B/1/1"]


def test_value_types_change_between_updates(tmp_path):
    root = str(tmp_path / "coll")
    make_image(f"{root}/a.zarr", kv={"n": 1})
    make_image(f"{root}/b.zarr", kv={"n": 2})
    build_index(root)
    assert pd.api.types.is_integer_dtype(search(root, "")["kv.n"])
    write_metadata({"n": "two"}, f"{root}/b.zarr")
    write_metadata({"m": True}, f"{root}/a.zarr", remove_keys=["n"])
    build_index(root)
    df = search(root, "").set_index("path")
    assert df.loc["b.zarr", "kv.n"] == "two" and pd.isna(df.loc["a.zarr", "kv.n"])
    assert _paths(search(root, "m == true")) == ["a.zarr"]


def test_unreadable_nodes_are_reported_not_fatal(collection):
    with open(f"{collection}/a.zarr/zarr.json", "w") as f:
        f.write("{broken")
    report = build_index(collection)
    assert report.rows == 8 and any("a.zarr" in p for p in report.problems)
    assert "skipped" in report.to_text()


# -- the journal --------------------------------------------------------------------------------


def test_notify_finds_every_root_above(tmp_path):
    outer = str(tmp_path / "outer")
    inner = f"{outer}/inner"
    make_image(f"{inner}/img.zarr")
    assert notify(f"{inner}/img.zarr") == []  # no index yet: nothing written
    assert not os.path.exists(f"{outer}/{JOURNAL}")
    build_index(outer)
    build_index(inner)
    assert notify(f"{inner}/img.zarr", operation="x") == [inner, outer]
    for root, rel in ((inner, "img.zarr"), (outer, "inner/img.zarr")):
        (name,) = os.listdir(f"{root}/{JOURNAL}")
        with open(f"{root}/{JOURNAL}/{name}") as f:
            body = json.load(f)
        assert body["path"] == rel and body["operation"] == "x"
    assert notify(f"{inner}/img.zarr", root=inner) == [inner]


def test_old_fragments_are_collected_after_the_grace_period(collection):
    build_index(collection)
    write_metadata(None, f"{collection}/a.zarr", tags=["x"])
    write_metadata(None, f"{collection}/b.zarr", tags=["y"])
    first = build_index(collection)  # applies both; keeps the fragments (grace)
    assert first.fragments_applied == 2 and first.fragments_removed == 0
    assert len(os.listdir(f"{collection}/{JOURNAL}")) == 2
    second = build_index(collection, grace=0)
    assert second.mode == "current" and second.fragments_removed == 2
    assert os.listdir(f"{collection}/{JOURNAL}") == []
    assert _paths(search(collection, 'tags in ["x", "y"]')) == ["a.zarr", "b.zarr"]


def test_slow_update_refuses_to_publish(collection, monkeypatch):
    build_index(collection)
    before = os.path.getmtime(f"{collection}/{INDEX_FILE}")
    write_metadata(None, f"{collection}/a.zarr", tags=["x"])
    clock = iter([0.0, 100.0, 100.0])
    from ngffstore.index import _store

    monkeypatch.setattr(_store.time, "monotonic", lambda: next(clock))
    with pytest.raises(index.IndexUpdateError, match="grace"):
        build_index(collection, grace=60)
    assert os.path.getmtime(f"{collection}/{INDEX_FILE}") == before


# -- staleness ----------------------------------------------------------------------------------


def test_stale_index_is_reported_and_folded_in(collection):
    build_index(collection)
    write_metadata({"strain": "changed"}, f"{collection}/b.zarr")
    status = index_status(collection)
    assert not status.current and status.pending == ("b.zarr",) and "older than the store" in status.to_text()
    res = search(collection, 'strain == "changed"')  # read from the store, not yet compacted
    assert _paths(res) == ["b.zarr"] and res.status.pending == ("b.zarr",)
    with pytest.warns(StaleIndexWarning, match="1 change"):
        table, st = load_index(collection, max_merge=0)
    assert "changed" not in table.column("kv.strain").to_pylist() and st.pending_changes == 1
    build_index(collection)
    assert index_status(collection).current


def test_changes_nobody_journaled_are_found_by_check(collection):
    build_index(collection)
    assert check_index(collection).current
    make_image(f"{collection}/b.zarr", fmt=2, kv={"strain": "edited by hand"})  # no notify()
    make_image(f"{collection}/extra.zarr")
    check = check_index(collection)
    assert not check.current and check.changed == ("b.zarr",) and check.added == ("extra.zarr",)
    assert "--rebuild" in check.to_text()
    build_index(collection, rebuild=True)
    assert check_index(collection).current
    assert _paths(search(collection, 'strain == "edited by hand"')) == ["b.zarr"]


def test_no_index(tmp_path):
    with pytest.raises(IndexNotFoundError, match="ngffstore index"):
        search(str(tmp_path), "")
    assert not index_status(str(tmp_path)).exists
    with pytest.raises(ngffstore.StoreNotFoundError, match="nothing is stored at"):
        build_index(str(tmp_path / "typo"))
    assert not os.path.exists(tmp_path / "typo")


# -- search -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("s") / "coll")
    make_image(f"{root}/a.zarr", kv={"strain": "BY4741", "exposure_ms": 10, "temp": 30.5}, tags=["good"],
               rois={"count": 7, "counts": {"nucleus": 5, "cell": 2}}, labels=("cells",))
    make_image(f"{root}/b.zarr", fmt=2, axes="tczyx", shape=(3, 1, 5, 32, 32), channels=("GFP",),
               kv={"strain": "BY4742", "exposure_ms": 250, "Objective NA": 1.4}, tags=["good", "review"])
    make_image(f"{root}/c.zarr", channels=("DAPI", "mCherry"), kv={"strain": "BY4741", "exposure_ms": "n/a"},
               description="Wild type, DAPI")
    make_plate(f"{root}/p.zarr", wells=("A/1",), fields=1, kv={"strain": "BY4742"})
    build_index(root)
    return root


@pytest.mark.parametrize(
    "expression, expected",
    [
        ('channel == "DAPI" and strain == "BY4741"', ["a.zarr", "c.zarr"]),
        ('channels == "GFP"', ["a.zarr", "b.zarr"]),
        ('channel != "DAPI"', ["b.zarr"]),  # lists: no element is DAPI
        ('"Cy5" in channels', ["p.zarr/A/1/0"]),
        ("exposure_ms > 100", ["b.zarr"]),  # numbers inside text columns compare as numbers
        ("kv.exposure_ms <= 10", ["a.zarr"]),
        ("10 >= exposure_ms", ["a.zarr"]),
        ("temp == 30.5", ["a.zarr"]),
        ("`Objective NA` >= 1.4", ["b.zarr"]),
        ('`kv.Objective NA` < 2 or size_t > 1', ["b.zarr"]),
        ('strain in ["BY4742", "other"]', ["b.zarr", "p.zarr/A/1/0"]),
        ('strain not in ["BY4742"]', ["a.zarr", "c.zarr"]),
        ('tags contains "REV"', ["b.zarr"]),
        ('description contains "wild"', ["c.zarr"]),
        ('not tags == "good"', ["c.zarr", "p.zarr/A/1/0"]),
        ("rois.nucleus >= 5", ["a.zarr"]),
        ("roi_count == null", ["b.zarr", "c.zarr", "p.zarr/A/1/0"]),
        ("labels != null", ["a.zarr"]),
        ('(kind = "plate-field" or size_z > 1) and not (well == "B1")', ["b.zarr", "p.zarr/A/1/0"]),
        ('created >= "2024-03-01" and updated < "2024-03-02T00:00:00Z"', ["a.zarr", "b.zarr", "c.zarr", "p.zarr/A/1/0"]),
        ("size_x > 40 AND size_y = 64", ["a.zarr", "c.zarr", "p.zarr/A/1/0"]),
        ("plate == \"P001\" and well == 'A1'", ["p.zarr/A/1/0"]),
        ("dtype == \"uint16\" and name == \"a\"", ["a.zarr"]),
        ('name contains "p001"', ["p.zarr/A/1/0"]),
    ],
)
def test_search_expressions(indexed, expression, expected):
    assert _paths(search(indexed, expression)) == expected


@pytest.mark.parametrize(
    "expression, column, message",
    [
        ('channel == ', 12, "expected a value after '=='"),
        ('channel == "DAPI" and', 22, "expected a column name"),
        ('(strain == "x"', 15, "expected ')' to close the '(' at column 1"),
        ('strain == "x")', 14, "expected 'and', 'or'"),
        ('strain = "unterminated', 10, "not closed"),
        ("strain ~ 'x'", 8, "unexpected character '~'"),
        ("strain == BY4741", 11, "put text in quotes"),
        ("size_x > 1 and and", 16, "found the keyword 'and'"),
        ("strain in 'x'", 11, "expected a list"),
        ("strain in []", 12, "the list is empty"),
        ("strain", 7, "expected an operator"),
        ("size_x == size_y", 11, "not with another column"),
        ("tags contains 3", 6, "put it in quotes"),
        ("(" * 100 + "a == 1" + ")" * 100, 66, "nested too deeply"),
        ("size_x > \"big\"", 8, "holds numbers"),
        ("size_x contains \"1\"", 8, "'contains' works on text"),
        ('created > "not a date"', 9, "not a date"),
        ("name < null", 6, "only == and != compare with null"),
    ],
)
def test_bad_expressions_point_at_the_column(indexed, expression, column, message):
    with pytest.raises(ExpressionError) as info:
        search(indexed, expression)
    error = info.value
    assert error.position == column, str(error)
    assert message in str(error) and f"at column {column}" in str(error)
    assert "\n" not in str(error)
    assert error.caret().splitlines()[1].index("^") == column + 1  # two spaces of indent
    assert isinstance(error, ValueError) and isinstance(error, ngffstore.ValidationError)


def test_empty_expressions(indexed):
    assert len(search(indexed, "  ")) == len(search(indexed, None)) == 4
    with pytest.raises(ExpressionError, match="at column 1: the expression is empty"):
        parse_expression(" ")


def test_unknown_column_lists_the_available_ones(indexed):
    with pytest.raises(UnknownColumnError) as info:
        search(indexed, 'size_x > 1 and stran == "BY4741"')
    text = str(info.value)
    assert "unknown column 'stran' at column 16" in text and "did you mean 'strain'" in text
    assert "available columns:" in text and "kv.strain" in text and "channels" in text
    with pytest.raises(UnknownColumnError, match="unknown column 'nope'"):
        search(indexed, "", columns=["name", "nope"])


def test_parser_never_evaluates_python():
    for text in ["__import__('os').system('true')", "a == 1; import os", "a == (lambda: 1)()"]:
        with pytest.raises(ExpressionError):
            parse_expression(text)


def test_columns_limit_and_result_type(indexed):
    res = search(indexed, "size_c >= 1", columns="name, strain,channel", limit=2)
    assert list(res.columns) == ["path", "url", "name", "kv.strain", "channels"] and len(res) == 2
    assert isinstance(res, SearchResult) and res.root == indexed
    sub = res[res["name"] != ""]
    assert isinstance(sub, SearchResult) and sub.root == indexed
    assert res.iloc[0]["url"] == os.path.join(indexed, res.iloc[0]["path"])


def test_rows_open_as_images(tmp_path):
    root = str(tmp_path / "coll")
    ngffstore.write_image(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64), f"{root}/img.zarr", progress=False)
    write_metadata({"strain": "BY4741"}, f"{root}/img.zarr")
    build_index(root)
    res = search(root, 'strain == "BY4741"')
    image = res.open(0)
    assert tuple(image.to_dask(0).shape) == (64, 64)
    assert len(list(res.images())) == 1


# -- S3 -----------------------------------------------------------------------------------------


def test_index_and_search_on_s3(s3_server, s3_bucket, s3_options, tmp_path):
    import fsspec

    local = str(tmp_path / "coll")
    for i in range(8):
        make_image(f"{local}/img{i}.zarr", kv={"strain": "BY4741" if i % 2 else "BY4742"})
    make_plate(f"{local}/plate.zarr", wells=("A/1",), fields=1)
    fs = fsspec.filesystem("s3", **s3_options)
    fs.put(local, f"{s3_bucket}/coll", recursive=True)
    root = f"s3://{s3_bucket}/coll"
    report = build_index(root, storage_options=s3_options)
    assert report.rows == 9 and report.mode == "full"
    write_metadata({"strain": "mutant"}, f"{root}/img3.zarr", storage_options=s3_options)
    write_metadata(None, f"{root}/plate.zarr/A/1/0", tags=["hit"], storage_options=s3_options)
    res = search(root, 'strain == "mutant"', storage_options=s3_options)  # folded in from the journal
    assert _paths(res) == ["img3.zarr"] and res.iloc[0]["url"] == f"{root}/img3.zarr"
    with s3_server.count() as log:
        report = build_index(root, storage_options=s3_options)
    assert report.mode == "incremental" and report.nodes_refreshed == 2
    reads = log.keys("GET") + log.keys("HEAD")
    unchanged = [f"coll/img{i}.zarr/" for i in range(8) if i != 3]
    assert not [k for k in reads if any(k.startswith(u) for u in unchanged)], log.summary()
    assert len(reads) <= 4 + 2 * 5, log.summary()
    assert log.count("LIST") == 1 and log.count("PUT") == 1, log.summary()  # the journal; the index
    assert _paths(search(root, 'tags == "hit"', storage_options=s3_options)) == ["plate.zarr/A/1/0"]
    assert index_status(root, storage_options=s3_options).current


# -- concurrency --------------------------------------------------------------------------------


def _writer(root: str, images: list[str], rounds: int) -> None:
    for r in range(rounds):
        for name in images:
            write_metadata({"round": r, "writer": name}, f"{root}/{name}")


def _compactor(root: str, stop: object) -> None:
    while not stop.is_set():  # type: ignore[attr-defined]
        build_index(root)
        time.sleep(0.01)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_concurrent_writers_and_compactions_lose_nothing(tmp_path):
    root = str(tmp_path / "coll")
    names = [f"img{i}.zarr" for i in range(6)]
    for name in names:
        make_image(f"{root}/{name}")
    build_index(root)
    # separate processes sharing nothing but the folder; "fork" starts them in milliseconds
    # (spawn re-imports numpy/pandas/dask per child: seconds each on a busy machine)
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    rounds = 20
    writers = [ctx.Process(target=_writer, args=(root, names[i::3], rounds)) for i in range(3)]
    compactor = ctx.Process(target=_compactor, args=(root, stop))
    compactor.start()
    for w in writers:
        w.start()
    updates = 0
    while any(w.is_alive() for w in writers):  # a second compactor, in this process
        build_index(root)
        updates += 1
        time.sleep(0.01)
    for w in writers:
        w.join(60)
    stop.set()
    compactor.join(60)
    assert [w.exitcode for w in writers] == [0, 0, 0] and compactor.exitcode == 0
    build_index(root)
    df = search(root, "").set_index("path")
    assert df.loc[names, "kv.round"].tolist() == [rounds - 1] * len(names)
    assert df.loc[names, "kv.writer"].tolist() == names
    assert index_status(root).current and updates >= 1


def test_anonymous_search_of_a_public_bucket(s3_server, s3_anon_options, tmp_path):
    import uuid

    import fsspec

    local = str(tmp_path / "coll")
    make_image(f"{local}/a.zarr", kv={"strain": "BY4741"})
    make_image(f"{local}/b.zarr", kv={"strain": "W303"})
    writer = s3_server.public_writer_options
    prefix = f"{s3_server.public_bucket}/{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("s3", **writer).put(local, prefix, recursive=True)
    root = f"s3://{prefix}"
    build_index(root, storage_options=writer)  # the publisher indexes once...
    res = search(root, 'strain == "W303"', storage_options=s3_anon_options)  # ...anyone searches
    assert _paths(res) == ["b.zarr"] and res.status.current


def test_index_touch_is_a_deprecated_alias_of_journal_notify(tmp_path):
    make_image(f"{tmp_path}/img.zarr")
    build_index(str(tmp_path))
    with pytest.warns(DeprecationWarning, match=r"ngffstore.index.touch is deprecated; use ngffstore.journal.notify"):
        assert index.touch(f"{tmp_path}/img.zarr") == [str(tmp_path)]
    assert len(os.listdir(f"{tmp_path}/{JOURNAL}")) == 1
