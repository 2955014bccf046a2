"""``ngffstore meta | provenance | index | search`` from the command line, locally and on S3."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import ngffstore
from ngffstore.cli import main


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("tpl") / "img.zarr")
    ngffstore.write_image(np.zeros((2, 32, 32), np.uint8), url, axes="cyx", channels=["DAPI", "GFP"], progress=False)
    return url


@pytest.fixture
def coll(template, tmp_path):
    import shutil

    root = tmp_path / "coll"
    for name in ("a.zarr", "b.zarr"):
        shutil.copytree(template, root / name)
    return str(root)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_meta_verbs(coll, capsys, tmp_path):
    img = f"{coll}/a.zarr"
    code, out, _ = run(capsys, "meta", "set", img, "strain=BY4741", "exposure=12.5", "note=a=b")
    assert code == 0 and "strain    BY4741" in out
    code, out, _ = run(capsys, "meta", "set", img, "--typed", "n=3", "flag=true", "--remove", "note")
    code, out, _ = run(capsys, "meta", "get", img, "--json")
    assert json.loads(out)["key_values"] == {"strain": "BY4741", "exposure": "12.5", "n": 3, "flag": True}
    assert run(capsys, "meta", "tag", img, "good", "review")[1].strip() == "tags: good, review"
    assert run(capsys, "meta", "tag", img, "review", "--remove")[1].strip() == "tags: good"
    assert "description: wild type" in run(capsys, "meta", "describe", img, "wild type")[1]
    csv = tmp_path / "cells.csv"
    csv.write_text("cell,area\n1,2.5\n2,3.5\n")
    code, out, _ = run(capsys, "meta", "attach-table", img, "cells", csv)
    assert code == 0 and "2 rows, 2 columns -> tables/cells.parquet" in out
    assert run(capsys, "meta", "table", img, "cells")[1] == "cell,area\n1,2.5\n2,3.5\n"
    assert json.loads(run(capsys, "meta", "table", img, "cells", "--format", "json")[1])[1] == {"cell": 2, "area": 3.5}
    code, out, _ = run(capsys, "meta", "get", img)
    assert "description  wild type" in out and "tags         good" in out and "cells  2 rows" in out

    code, out, _ = run(capsys, "provenance", img)
    assert code == 0 and out.startswith("#1 ") and "write_image" in out and "attach_table" in out
    records = json.loads(run(capsys, "provenance", img, "--json", "--last", "2")[1])
    assert [r["operation"] for r in records] == ["write_metadata", "attach_table"]
    assert records[1]["inputs"][0]["path"] == str(csv)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["meta", "set", "{img}", "novalue"], "'novalue' is not KEY=VALUE"),
        (["meta", "set", "{img}", "a=b", "k="], "'k=' has no value: give one (k=VALUE), or remove the key with 'ngffstore meta set URL --remove k'"),
        (["meta", "set", "{img}", "k=  "], "has no value"),
        (["meta", "set", "{img}"], "give KEY=VALUE pairs"),
        (["meta", "set", "{coll}/missing.zarr", "a=b"], "no Zarr group at"),
        (["meta", "attach-table", "{img}", "../up", "x.csv"], "is not allowed"),
        (["meta", "attach-table", "{img}", "t", "{coll}/none.csv"], "no such file"),
        (["meta", "table", "{img}", "nope"], "no table 'nope'"),
        (["search", "{coll}", "strain == 'x'"], "no index at"),
    ],
)
def test_meta_errors_are_one_line(coll, capsys, argv, message):
    img = f"{coll}/a.zarr"
    code, out, err = run(capsys, *[a.format(img=img, coll=coll) for a in argv])
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"ngffstore {argv[0]}: error: ") and message in line


def test_existing_table_needs_overwrite(coll, capsys, tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    assert run(capsys, "meta", "attach-table", f"{coll}/a.zarr", "t", csv)[0] == 0
    code, _, err = run(capsys, "meta", "attach-table", f"{coll}/a.zarr", "t", csv)
    assert code == 1 and "--overwrite" in err
    first = sorted(os.listdir(f"{coll}/a.zarr/tables"))
    csv.write_text("a\n2\n")
    code, out, _ = run(capsys, "meta", "attach-table", f"{coll}/a.zarr", "t", csv, "--overwrite")
    assert code == 0
    # the new data went to a fresh name (the committed file is never overwritten); the old one is gone
    path = out.strip().rsplit(" -> ", 1)[1]
    assert path.startswith("tables/t.") and path != "tables/t.parquet"
    assert sorted(os.listdir(f"{coll}/a.zarr/tables")) == sorted({"zarr.json", path.split("/")[1]})
    assert first == ["t.parquet", "zarr.json"]
    assert run(capsys, "meta", "table", f"{coll}/a.zarr", "t")[1] == "a\n2\n"
    with open(f"{coll}/a.zarr/tables/zarr.json") as f:
        assert json.load(f)["attributes"]["ngffstore"]["tables"] == {"t": path.split("/")[1]}


def test_empty_value_is_refused_and_nothing_written(coll, capsys):
    img = f"{coll}/a.zarr"
    with open(f"{img}/zarr.json", "rb") as f:
        before = f.read()
    code, out, err = run(capsys, "meta", "set", img, "a=b", "k=")
    assert code == 1 and out == "" and "--remove k" in err
    with open(f"{img}/zarr.json", "rb") as f:
        assert f.read() == before
    assert run(capsys, "meta", "set", img, "k=v")[0] == 0
    assert run(capsys, "meta", "set", img, "--remove", "k")[0] == 0
    assert json.loads(run(capsys, "meta", "get", img, "--json")[1]) == {}


def test_index_and_search(coll, capsys):
    run(capsys, "meta", "set", f"{coll}/a.zarr", "strain=BY4741")
    run(capsys, "meta", "tag", f"{coll}/b.zarr", "bad")
    code, out, _ = run(capsys, "index", coll)
    assert code == 0 and "rows      2   (built from a crawl" in out
    code, out, err = run(capsys, "search", coll, 'channel == "DAPI" and strain == "BY4741"')
    assert code == 0 and "a.zarr" in out and "b.zarr" not in out and "BY4741" in out
    assert "1 match(es)" in err
    code, out, _ = run(capsys, "search", coll, "", "--format", "csv", "--columns", "name,tags,shape")
    assert out.splitlines() == [
        "path,url,name,tags,shape",
        f"a.zarr,{coll}/a.zarr,img,,2;32;32",
        f"b.zarr,{coll}/b.zarr,img,bad,2;32;32",
    ]
    code, out, _ = run(capsys, "search", coll, 'tags == "bad"', "--format", "json")
    (hit,) = json.loads(out)
    assert hit["path"] == "b.zarr" and hit["channels"] == ["DAPI", "GFP"] and hit["shape"] == [2, 32, 32]
    assert hit["kv.strain"] is None and hit["created"].endswith("+00:00")
    assert len(json.loads(run(capsys, "search", coll, "", "--limit", "1", "--format", "json")[1])) == 1

    # a change after the index was built: reported by --status, folded into search, then compacted
    run(capsys, "meta", "set", f"{coll}/b.zarr", "strain=BY4742")
    code, out, _ = run(capsys, "index", coll, "--status")
    assert code == 1 and "older than the store: 1 change(s)" in out and "b.zarr" in out
    code, out, err = run(capsys, "search", coll, 'strain == "BY4742"')
    assert "b.zarr" in out and "were read from the store" in err
    code, out, _ = run(capsys, "index", coll, "--json")
    report = json.loads(out)
    assert report["mode"] == "incremental" and report["nodes_refreshed"] == 1
    assert run(capsys, "index", coll, "--status")[0] == 0

    # a change nobody journaled: only --check finds it; --rebuild fixes it
    with open(f"{coll}/a.zarr/zarr.json") as f:
        doc = json.load(f)
    doc["attributes"]["ngffstore"]["metadata"]["key_values"]["strain"] = "by hand"
    with open(f"{coll}/a.zarr/zarr.json", "w") as f:
        json.dump(doc, f)
    code, _, err = run(capsys, "index", coll, "--check")  # a failed check is reported on stderr
    assert code == 1 and "1 changed: a.zarr" in err and "--rebuild" in err
    assert run(capsys, "index", coll, "--rebuild")[0] == 0
    assert run(capsys, "index", coll, "--check")[0] == 0
    assert "a.zarr" in run(capsys, "search", coll, 'strain == "by hand"')[1]


def test_search_errors(coll, capsys):
    run(capsys, "index", coll)
    expression = 'channel == "DAPI" and (size_x > '
    code, out, err = run(capsys, "search", coll, expression)
    lines = err.splitlines()
    assert code == 1 and out == ""
    assert lines[0] == "  " + expression
    assert lines[1] == "  " + " " * len(expression) + "^"  # the end, where a value is missing
    assert lines[2].startswith(f"ngffstore search: error: bad search expression at column {len(expression) + 1}")
    code, _, err = run(capsys, "search", coll, "chanel == 'DAPI'")
    assert code == 1 and "unknown column 'chanel'" in err and "did you mean 'channels'" in err
    code, _, err = run(capsys, "search", coll, "", "--columns", "name,bogus")
    assert code == 1 and "unknown column 'bogus'" in err and "available columns" in err


def test_cli_on_s3(template, s3_env, s3_bucket, s3_options, capsys):
    import fsspec

    fs = fsspec.filesystem("s3", **s3_options)
    for name in ("a.zarr", "b.zarr"):
        fs.put(template, f"{s3_bucket}/coll/{name}", recursive=True)
    root = f"s3://{s3_bucket}/coll"
    # credentials and the endpoint come from the environment (s3_env); the flag works too
    assert run(capsys, "meta", "set", f"{root}/a.zarr", "strain=BY4741")[0] == 0
    assert run(capsys, "meta", "tag", f"{root}/b.zarr", "s3", "--endpoint-url", s3_env["AWS_ENDPOINT_URL"])[0] == 0
    code, out, _ = run(capsys, "index", root)
    assert code == 0 and "rows      2" in out
    code, out, _ = run(capsys, "search", root, 'strain == "BY4741" or tags == "s3"', "--format", "json")
    assert sorted(h["url"] for h in json.loads(out)) == [f"{root}/a.zarr", f"{root}/b.zarr"]
    assert "write_metadata" in run(capsys, "provenance", f"{root}/a.zarr")[1]
    assert json.loads(run(capsys, "meta", "get", f"{root}/b.zarr", "--json")[1]) == {"tags": ["s3"]}


def test_cli_on_s3_with_bad_credentials(template, s3_bucket, s3_options, capsys, monkeypatch, s3_server):
    import fsspec

    fs = fsspec.filesystem("s3", **s3_options)
    fs.put(template, f"{s3_bucket}/coll/a.zarr", recursive=True)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.credentials.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    try:
        code, _, err = run(capsys, "meta", "get", f"s3://{s3_bucket}/coll/a.zarr", "--endpoint-url", s3_server.endpoint_url)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert code == 2 and "access denied" in err and len(err.strip().splitlines()) == 1
