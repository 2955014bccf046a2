"""Metadata (key-values, tags, description, tables) and provenance on images, plates and wells."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ngffstore
from ngffstore import provenance
from ngffstore.errors import (
    InputError,
    InputNotFoundError,
    NotNgffError,
    OutputExistsError,
    StoreNotFoundError,
    ValidationError,
)
from ngffstore.metadata import (
    Metadata,
    attach_table,
    read_metadata,
    read_table,
    write_metadata,
    write_table,
)
from ngffstore.provenance import ProvenanceRecord, read_provenance


def _image(url, *, version="0.5", **kw):
    data = np.arange(2 * 40 * 30, dtype=np.uint16).reshape(2, 40, 30)
    ngffstore.write_image(data, url, axes="cyx", channels=["DAPI", "GFP"], ngff_version=version, progress=False, **kw)
    return url


def _load(path):
    with open(path) as f:
        return json.load(f)


def _dump(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f)


def _attrs(url):
    if os.path.exists(os.path.join(url, "zarr.json")):
        return _load(os.path.join(url, "zarr.json"))["attributes"]
    return _load(os.path.join(url, ".zattrs"))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One v3 and one v2 image written once; tests copy them (write_image costs ~0.3 s)."""
    base = tmp_path_factory.mktemp("templates")
    return {"0.5": _image(str(base / "v3.zarr")), "0.4": _image(str(base / "v2.zarr"), version="0.4")}


@pytest.fixture
def image(template, tmp_path):
    import shutil

    url = str(tmp_path / "img.zarr")
    shutil.copytree(template["0.5"], url)
    return url


@pytest.fixture
def image_v2(template, tmp_path):
    import shutil

    url = str(tmp_path / "img2.zarr")
    shutil.copytree(template["0.4"], url)
    return url


# -- key-values, tags, description -------------------------------------------------------------


def test_write_and_read_round_trip(image):
    meta = write_metadata(
        {"strain": "BY4741", "exposure_ms": 12.5, "n": 3, "ok": True},
        image,
        tags=["good", "screen-1"],
        description="first pass",
    )
    assert meta == read_metadata(image)
    assert dict(meta.key_values) == {"strain": "BY4741", "exposure_ms": 12.5, "n": 3, "ok": True}
    assert meta.tags == ("good", "screen-1")
    assert meta.description == "first pass"
    block = _attrs(image)["ngffstore"]["metadata"]
    assert block == {"key_values": {"strain": "BY4741", "exposure_ms": 12.5, "n": 3, "ok": True},
                     "tags": ["good", "screen-1"], "description": "first pass"}


def test_writes_merge_and_remove(image):
    write_metadata({"a": "1", "b": "2"}, image, tags=["x", "y"])
    meta = write_metadata(
        {"b": "3", "c": "4"},
        image,
        tags=["y", "z"],
        remove_keys=["a"],
        remove_tags=["x"],
    )
    assert dict(meta.key_values) == {"b": "3", "c": "4"}
    assert meta.tags == ("y", "z")
    meta = write_metadata(None, image, description="")
    assert meta.description is None


def test_ngff_attributes_are_untouched(image, image_v2):
    for url in (image, image_v2):
        before = _attrs(url)
        write_metadata({"k": "v"}, url, tags=["t"])
        after = _attrs(url)
        ngff_keys = [k for k in before if k != "ngffstore"]
        assert ngff_keys and all(after[k] == before[k] for k in ngff_keys)
        assert after["ngffstore"]["provenance"][:-1] == before["ngffstore"]["provenance"]
    doc = _load(os.path.join(image, "zarr.json"))
    assert doc["zarr_format"] == 3 and doc["node_type"] == "group"
    # the image still opens and validates as OME-NGFF
    from ngffstore.validation import validate

    for url in (image, image_v2):
        assert validate(url).ok
    assert ngffstore.image_info(image).channels == ("DAPI", "GFP")


def test_converter_key_values_are_kept(tmp_path):
    url = _image(str(tmp_path / "img.zarr"), metadata={"objective": "60x/1.4 Oil"})
    meta = write_metadata({"strain": "BY4741"}, url)
    assert dict(meta.key_values) == {"objective": "60x/1.4 Oil", "strain": "BY4741"}


def test_consolidated_v2_copy_is_updated(image_v2):
    zmeta = {"zarr_consolidated_format": 1, "metadata": {".zattrs": _attrs(image_v2), ".zgroup": {"zarr_format": 2}}}
    _dump(zmeta, os.path.join(image_v2, ".zmetadata"))
    write_metadata(None, image_v2, tags=["t"])
    stored = _load(os.path.join(image_v2, ".zmetadata"))["metadata"][".zattrs"]
    assert stored == _attrs(image_v2)


def test_unchanged_write_writes_nothing(image):
    write_metadata({"a": "1"}, image)
    n = len(read_provenance(image))
    write_metadata({"a": "1"}, image, tags=[])
    assert len(read_provenance(image)) == n


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"key_values": {"": "x"}}, "key is empty"),
        ({"key_values": {"a\nb": "x"}}, "control characters"),
        ({"key_values": {"a": [1, 2]}}, "values are text, numbers or true/false"),
        ({"key_values": {"a": None}}, "values are text"),
        ({"key_values": {"a": float("nan")}}, "no number"),
        ({"tags": [""]}, "tag is empty"),
        ({"tags": [3]}, "must be text"),
        ({"description": 5}, "description must be text"),
    ],
)
def test_bad_metadata_is_refused(image, kwargs, match):
    before = _attrs(image)
    with pytest.raises(ValidationError, match=match):
        write_metadata(kwargs.pop("key_values", None), image, **kwargs)
    assert _attrs(image) == before


def test_not_a_node(tmp_path, image):
    with pytest.raises(StoreNotFoundError, match="no Zarr group"):
        write_metadata(None, str(tmp_path / "missing.zarr"), tags=["x"])
    with pytest.raises(NotNgffError, match="not a group"):
        write_metadata(None, os.path.join(image, "0"), tags=["x"])
    plain = tmp_path / "plain.zarr"
    plain.mkdir()
    (plain / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
    with pytest.raises(NotNgffError, match="not an OME-NGFF image, plate or well"):
        write_metadata(None, str(plain), tags=["x"])


def test_node_being_written_is_refused(image):
    doc = _load(os.path.join(image, "zarr.json"))
    doc["attributes"]["ngffstore"]["writing"] = {"fingerprint": "x"}
    _dump(doc, os.path.join(image, "zarr.json"))
    with pytest.raises(ValidationError, match="being written"):
        write_metadata(None, image, tags=["x"])


def _plate(root, *, fmt=3):
    """A metadata-only plate with wells A/1 and B/2, one field each."""
    def group(path, attrs):
        os.makedirs(path, exist_ok=True)
        if fmt == 3:
            _dump({"zarr_format": 3, "node_type": "group", "attributes": attrs}, os.path.join(path, "zarr.json"))
        else:
            _dump({"zarr_format": 2}, os.path.join(path, ".zgroup"))
            _dump(attrs, os.path.join(path, ".zattrs"))

    wrap = (lambda b: {"ome": {"version": "0.5", **b}}) if fmt == 3 else (lambda b: b)
    wells = [{"path": "A/1", "rowIndex": 0, "columnIndex": 0}, {"path": "B/2", "rowIndex": 1, "columnIndex": 1}]
    group(root, wrap({"plate": {"name": "P1", "rows": [{"name": "A"}, {"name": "B"}],
                                "columns": [{"name": "1"}, {"name": "2"}], "wells": wells}}))
    for w in wells:
        group(os.path.join(root, w["path"].split("/")[0]), {})
        group(os.path.join(root, w["path"]), wrap({"well": {"images": [{"path": "0"}]}}))
    return root


def test_metadata_on_plate_and_well(tmp_path):
    plate = _plate(str(tmp_path / "plate.zarr"))
    write_metadata({"screen": "S1"}, plate, tags=["plate-tag"])
    write_metadata({"compound": "DMSO"}, os.path.join(plate, "A", "1"))
    assert dict(read_metadata(plate).key_values) == {"screen": "S1"}
    assert dict(read_metadata(os.path.join(plate, "A", "1")).key_values) == {"compound": "DMSO"}
    assert _attrs(plate)["ome"]["plate"]["name"] == "P1"
    with pytest.raises(NotNgffError):
        write_metadata(None, os.path.join(plate, "A"), tags=["row groups are no nodes"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kv=st.dictionaries(
        st.text(st.characters(min_codepoint=32, blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
            lambda k: k.strip() == k and k.strip() and "\x7f" not in k
        ),
        st.one_of(st.text(max_size=20), st.integers(-(2**53), 2**53), st.booleans(),
                  st.floats(allow_nan=False, allow_infinity=False)),
        max_size=6,
    ),
    tags=st.lists(st.sampled_from(["a", "b", "ç", "long tag", "x-1"]), max_size=4),
)
def test_key_values_round_trip(image, kv, tags):
    write_metadata(kv, image, tags=tags)
    meta = read_metadata(image)
    for k, v in kv.items():
        assert meta.key_values[k] == v and type(meta.key_values[k]) is type(v)
    assert set(tags) <= set(meta.tags)


# -- tables -------------------------------------------------------------------------------------


def test_attach_csv_tsv_parquet_and_frames(image, tmp_path):
    csv = tmp_path / "cells.csv"
    csv.write_text("cell,area,label\n1,10.5,a\n2,11.0,b\n3,9.25,c\n")
    info = write_table(str(csv), image, name="cells")
    assert info.path == "tables/cells.parquet" and info.rows == 3
    assert dict(info.columns) == {"cell": "int64", "area": "double", "label": "string"}
    assert os.path.isfile(os.path.join(image, "tables", "cells.parquet"))
    frame = read_table(image, "cells")
    assert frame["area"].tolist() == [10.5, 11.0, 9.25] and frame["label"].tolist() == ["a", "b", "c"]

    tsv = tmp_path / "acq.tsv"
    tsv.write_text("t\texposure\n0\t10\n1\t20\n")
    write_table(str(tsv), image, name="acquisition")
    assert read_table(image, "acquisition")["exposure"].tolist() == [10, 20]

    df = pd.DataFrame({"x": [1, 2], "y": ["u", "v"]})
    pq_path = tmp_path / "t.parquet"
    df.to_parquet(pq_path)
    write_table(str(pq_path), image, name="from-parquet")
    write_table(df, image, name="from-frame")
    pd.testing.assert_frame_equal(read_table(image, "from-frame"), df)
    pd.testing.assert_frame_equal(read_table(image, "from-parquet"), df)
    assert sorted(read_metadata(image).tables) == ["acquisition", "cells", "from-frame", "from-parquet"]
    # the image is still a valid image, and zarr lists its members as before
    import zarr

    group = zarr.open_group(image, mode="r")
    members = dict(group.members())  # no warning: tables/ is a (plain) Zarr group
    assert isinstance(members["tables"], zarr.Group) and isinstance(members["0"], zarr.Array)
    assert sorted(members["tables"].attrs["ngffstore"]["tables"]) == sorted(read_metadata(image).tables)


def test_table_provenance_records_the_input(image, tmp_path):
    csv = tmp_path / "cells.csv"
    csv.write_text("a,b\n1,2\n")
    write_table(str(csv), image, name="cells")
    rec = read_provenance(image)[-1]
    assert rec.operation == "attach_table" and rec.parameters["name"] == "cells"
    (item,) = rec.inputs
    assert item["path"] == str(csv) and item["size"] == csv.stat().st_size
    assert len(item["sha256"]) == 64 and "mtime" in item


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 200, "a..b"])
def test_table_names_cannot_escape(image, name):
    # the rule of every file-like name (ROI layers too): a user's input, InputError
    with pytest.raises(InputError, match="not allowed"):
        write_table(pd.DataFrame({"a": [1]}), image, name=name)


def test_table_errors(image, tmp_path):
    write_table(pd.DataFrame({"a": [1]}), image, name="t")
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_table(pd.DataFrame({"a": [2]}), image, name="t")
    write_table(pd.DataFrame({"a": [2]}), image, name="t", overwrite=True)
    assert read_table(image, "t")["a"].tolist() == [2]
    with pytest.raises(InputNotFoundError):
        write_table(str(tmp_path / "missing.csv"), image, name="u")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable PARQUET"):
        write_table(str(bad), image, name="u")
    with pytest.raises(InputError, match="unknown table format"):
        write_table(str(tmp_path / "x.xlsx"), image, name="u")
    with pytest.raises(StoreNotFoundError, match="tables: t"):
        read_table(image, "nope")


# -- provenance ---------------------------------------------------------------------------------


def test_every_metadata_write_appends_a_record(image):
    n = len(read_provenance(image))
    write_metadata({"a": "1"}, image)
    write_metadata(None, image, tags=["t"])
    history = read_provenance(image)
    assert len(history) == n + 2
    rec = history[-1]
    assert rec.operation == "write_metadata" and dict(rec.parameters) == {"tags": ["t"]}
    assert rec.software == "ngffstore" and rec.version == ngffstore.__version__
    assert rec.host and rec.id and rec.target == image
    assert rec.started <= rec.finished
    raw = _attrs(image)["ngffstore"]["provenance"][-1]
    assert raw["packages"]["zarr"] and raw["python"]
    assert history[0].operation == "write_image"


def test_record_command_and_inputs(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("hello")
    provenance.set_command(["ngffstore", "convert", str(f), "out.zarr"])
    try:
        rec = provenance.record("convert", {"x": np.int64(3), "s": {1, 2}, "nan": float("nan")}, inputs=[str(f), str(tmp_path)])
    finally:
        provenance.set_command(None)
    assert rec["command"][:2] == ["ngffstore", "convert"]
    assert rec["parameters"] == {"x": 3, "s": [1, 2], "nan": None}
    assert rec["inputs"][0]["size"] == 5 and rec["inputs"][1]["kind"] == "folder"
    json.dumps(rec, allow_nan=False)
    again = ProvenanceRecord.from_dict(rec)
    assert again.to_dict() == rec
    assert "convert" in again.to_text(1)


def test_lenient_reading_of_foreign_records():
    rec = ProvenanceRecord.from_dict({"operation": "segment", "software": "cellpose", "ended": "2024-01-01T00:00:00",
                                      "inputs": ["a.tif"], "gpu": True})
    assert rec.finished == "2024-01-01T00:00:00" and rec.inputs == ({"path": "a.tif"},)
    assert rec.extra == {"gpu": True}
    assert provenance.history({"ngffstore": {"provenance": "garbage"}}) == []


# -- S3 -----------------------------------------------------------------------------------------


def test_metadata_on_s3(template, s3_bucket, s3_options, tmp_path):
    import fsspec

    url = f"s3://{s3_bucket}/coll/img.zarr"
    fs = fsspec.filesystem("s3", **s3_options)
    fs.put(template["0.5"], f"{s3_bucket}/coll/img.zarr", recursive=True)
    write_metadata({"strain": "BY4741"}, url, tags=["s3"], storage_options=s3_options)
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,x\n")
    write_table(str(csv), url, name="t", storage_options=s3_options)
    meta = read_metadata(url, storage_options=s3_options)
    assert dict(meta.key_values) == {"strain": "BY4741"} and meta.tags == ("s3",)
    assert read_table(url, "t", storage_options=s3_options)["b"].tolist() == ["x"]
    assert [r.operation for r in read_provenance(url, storage_options=s3_options)][-2:] == [
        "write_metadata", "attach_table",
    ]
    # a remote input is described by what the object store says about it
    fs.put(str(csv), f"{s3_bucket}/t.csv")
    item = provenance.describe_input(f"s3://{s3_bucket}/t.csv", s3_options)
    assert item["size"] == csv.stat().st_size and "etag" in item and "mtime" in item


def test_metadata_class_round_trip():
    meta = Metadata.from_dict({"key_values": {"a": 1}, "tags": ["x"], "description": "d",
                               "tables": {"t": {"path": "tables/t.parquet", "rows": 2, "columns": [{"name": "c", "type": "int64"}]}}})
    assert Metadata.from_dict(meta.to_dict()) == meta
    assert "t  2 rows" in meta.to_text()


def test_update_group_creates_and_updates_without_losing_a_name(store_url):
    """The helper for registries kept in a group of their own (labels/, tables/, plate wells):
    8 writers adding a name at once to a group that does not exist yet lose none."""
    from concurrent.futures import ThreadPoolExecutor

    from ngffstore.metadata import update_group
    from ngffstore.nodes import read_group
    from ngffstore.storage import Location

    url, options = store_url
    group = Location.parse(f"{url}/labels", options)

    def add(name):
        def change(attrs):
            names = list(attrs.get("labels") or [])
            return None if name in names else {**attrs, "labels": [*names, name]}

        update_group(group, 3, change, what="list a label in")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, [f"l{i}" for i in range(8)]))
    add("l0")  # already listed: nothing written
    node = read_group(group)
    assert sorted(node.attributes["labels"]) == [f"l{i}" for i in range(8)]
    assert node.document["node_type"] == "group"


def test_old_argument_orders_work_with_a_deprecation_warning(image, tmp_path):
    """write_metadata(url, key_values=...) and attach_table(url, name, table) keep working until 0.3."""
    with pytest.warns(DeprecationWarning, match=r"write_metadata\(url, key_values\) is deprecated"):
        meta = write_metadata(image, key_values={"old": "order"}, tags=["kept"])
    assert meta.key_values["old"] == "order" and "kept" in meta.tags
    with pytest.warns(DeprecationWarning, match=r"use ngffstore.write_table\(table, url, name=...\)"):
        info = attach_table(image, "legacy", pd.DataFrame({"a": [1, 2]}))
    assert info.rows == 2 and read_table(image, "legacy")["a"].tolist() == [1, 2]


def test_list_and_remove_tables(image):
    from ngffstore.metadata import list_tables, remove_table

    write_table(pd.DataFrame({"a": [1]}), image, name="one")
    write_table(pd.DataFrame({"b": [2]}), image, name="two")
    assert list(list_tables(image)) == ["one", "two"]
    path = list_tables(image)["one"].path
    remove_table(image, "one")
    assert list(list_tables(image)) == ["two"] and not os.path.exists(os.path.join(image, path))
    assert read_table(image, "two")["b"].tolist() == [2]
    assert read_provenance(image)[-1].operation == "remove_table"
    with pytest.raises(StoreNotFoundError, match=r"no table 'one' .*tables: two"):
        remove_table(image, "one")
    remove_table(image, "two")
    assert list_tables(image) == {}
    # the tables group lists what the attributes list
    with open(os.path.join(image, "tables", "zarr.json")) as f:
        doc = json.load(f)
    assert doc["attributes"]["ngffstore"]["tables"] == {}
