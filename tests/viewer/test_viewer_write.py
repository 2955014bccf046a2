"""``ngffstore view`` / ``write_viewer`` without a browser: the files it writes (locally and on S3),
where the page finds the collection, and the one-line refusals (no index, an image instead of a
collection, a codec the viewer lacks, an http:// root)."""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import ngffstore
from ngffstore.cli import main
from ngffstore.index import build_index
from ngffstore.viewer import V2_CODECS, V3_CODECS, UnviewableStoreError, write_viewer

JS = Path(ngffstore.__file__).parent / "viewer" / "js"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def small_collection(root, storage_options=None) -> str:
    url = str(root)
    data = np.arange(2 * 96 * 80, dtype=np.uint16).reshape(2, 96, 80)
    ngffstore.write_image(
        data, f"{url}/img.ome.zarr", axes="cyx", chunks=32, min_size=32, progress=False,
        storage_options=storage_options,
    )
    build_index(url, storage_options=storage_options)
    return url


def page_config(html: str) -> dict:
    match = re.search(r'<script id="ngffstore-viewer-config" type="application/json">(.*?)</script>', html)
    assert match is not None
    return json.loads(match.group(1))


def test_view_writes_the_page_script_and_stylesheet(tmp_path, capsys):
    root = small_collection(tmp_path / "coll")
    code, out, err = run(capsys, "view", root)
    assert code == 0, err
    assert "1 index rows" in out and "checked 1 images" in out
    html = (tmp_path / "coll" / "index.html").read_text()
    config = page_config(html)
    assert config["data"] == "." and config["index"] == "ngffstore-index.parquet" and config["title"] == "coll"
    script = re.search(r'<script src="(ngffstore-viewer\.js)\?v=([0-9a-f]{12})"', html)
    assert script is not None and f'href="ngffstore-viewer.css?v={script.group(2)}"' in html
    static = resources.files("ngffstore.viewer").joinpath("static")
    assert (tmp_path / "coll" / "ngffstore-viewer.js").read_bytes() == static.joinpath("viewer.js").read_bytes()
    assert (tmp_path / "coll" / "ngffstore-viewer.css").read_bytes() == static.joinpath("viewer.css").read_bytes()
    # rewriting replaces the three files, nothing else is touched
    before = sorted(p.name for p in (tmp_path / "coll").iterdir())
    assert run(capsys, "view", root, "--title", "My <study>")[0] == 0
    assert sorted(p.name for p in (tmp_path / "coll").iterdir()) == before
    html = (tmp_path / "coll" / "index.html").read_text()
    assert "<title>My &lt;study&gt;</title>" in html and page_config(html)["title"] == "My <study>"


def test_view_out_folder_reads_the_collection_by_a_relative_path(tmp_path, capsys):
    root = small_collection(tmp_path / "data" / "coll")
    code, _out, _ = run(capsys, "view", root, "--out", tmp_path / "site" / "viewer")
    assert code == 0
    html = (tmp_path / "site" / "viewer" / "index.html").read_text()
    assert page_config(html)["data"] == "../../data/coll/"
    assert not (tmp_path / "data" / "coll" / "index.html").exists()
    report = write_viewer(root, out=str(tmp_path / "elsewhere"), data_url="https://example.org/study/", check=False)
    assert report.checked == 0 and report.data == "https://example.org/study/"
    assert page_config((tmp_path / "elsewhere" / "index.html").read_text())["data"] == "https://example.org/study/"


def test_view_refuses_what_is_not_a_collection(tmp_path, capsys):
    root = small_collection(tmp_path / "coll")
    for target, words in [
        (f"{root}/img.ome.zarr", ["is an image, not a collection", "ngffstore index"]),
        (tmp_path / "empty", ["no collection index", "ngffstore index"]),
        ("https://example.org/study", ["read-only over HTTP"]),
    ]:
        code, out, err = run(capsys, "view", target)
        assert code != 0 and out == ""
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert all(w in err for w in words), err
    assert not (tmp_path / "coll" / "img.ome.zarr" / "index.html").exists()
    assert not (tmp_path / "empty").exists()


def test_view_refuses_a_codec_the_viewer_lacks(tmp_path, capsys):
    root = small_collection(tmp_path / "coll")
    doc_path = tmp_path / "coll" / "img.ome.zarr" / "1" / "zarr.json"
    doc = json.loads(doc_path.read_text())
    doc["codecs"] = [c if c["name"] == "bytes" else {"name": "numcodecs.lzma", "configuration": {}} for c in doc["codecs"]]
    doc_path.write_text(json.dumps(doc))
    code, out, err = run(capsys, "view", root)
    assert code != 0 and out == "" and len(err.splitlines()) == 1, err
    assert "img.ome.zarr/1 is compressed with numcodecs.lzma" in err and "--no-check" in err and "zstd" in err
    assert not (tmp_path / "coll" / "index.html").exists()  # nothing written
    with pytest.raises(UnviewableStoreError):
        write_viewer(root)
    assert run(capsys, "view", root, "--no-check")[0] == 0
    assert (tmp_path / "coll" / "index.html").exists()


@pytest.mark.s3
def test_view_on_s3_writes_typed_objects(s3_bucket, s3_options, s3_server, s3_env, capsys, tmp_path):
    import s3fs

    root = small_collection(f"s3://{s3_bucket}/coll", storage_options=s3_options)
    with s3_server.count() as log:
        code, _out, err = run(capsys, "view", root, "--endpoint-url", s3_server.endpoint_url)
    assert code == 0, err
    assert sorted(log.keys("PUT")) == ["coll/index.html", "coll/ngffstore-viewer.css", "coll/ngffstore-viewer.js"]
    # reads: the index (its file, and the journal listed by the index module), the image's documents
    assert log.count("GET") <= 6, log.summary()
    fs = s3fs.S3FileSystem(**s3_options)
    types = {name: fs.info(f"{s3_bucket}/coll/{name}")["ContentType"] for name in
             ("index.html", "ngffstore-viewer.js", "ngffstore-viewer.css")}
    assert types == {
        "index.html": "text/html; charset=utf-8",
        "ngffstore-viewer.js": "text/javascript; charset=utf-8",
        "ngffstore-viewer.css": "text/css; charset=utf-8",
    }
    assert page_config(fs.cat(f"{s3_bucket}/coll/index.html").decode())["data"] == "."
    # a local collection, the viewer written to a bucket that serves it from elsewhere
    local = small_collection(tmp_path / "coll")
    code, _out, err = run(capsys, "view", local, "--out", f"s3://{s3_bucket}/site", "--endpoint-url",
                          s3_server.endpoint_url)
    assert code != 0 and "--data-url" in err  # no relative path from the bucket to the folder
    code, _out, err = run(capsys, "view", local, "--out", f"s3://{s3_bucket}/site", "--endpoint-url",
                          s3_server.endpoint_url, "--data-url", "https://data.example.org/coll/")
    assert code == 0, err
    html = fs.cat(f"{s3_bucket}/site/index.html").decode()
    assert page_config(html)["data"] == "https://data.example.org/coll/"


def test_codec_lists_match_the_script():
    source = (JS / "src" / "store.js").read_text()
    for name, expected in (("V3_CODECS", V3_CODECS), ("V2_CODECS", V2_CODECS)):
        match = re.search(rf"export const {name} = new Set\(\[(.*?)\]\)", source)
        assert match is not None
        assert set(re.findall(r'"([^"]+)"', match.group(1))) == set(expected)


def test_bundle_sources_and_build_live_in_the_package():
    package = json.loads((JS / "package.json").read_text())
    assert "esbuild" in package["scripts"]["build"] and "../static/viewer.js" in package["scripts"]["build"]
    lock = json.loads((JS / "package-lock.json").read_text())
    for dep in ("zarrita", "numcodecs", "hyparquet", "hyparquet-compressors", "ol", "fzstd", "esbuild"):
        assert f"node_modules/{dep}" in lock["packages"], dep
    assert (JS / ".gitignore").read_text().split() == ["node_modules/"]
    pyproject = (Path(ngffstore.__file__).parent.parent / "pyproject.toml").read_text()
    assert '"viewer/static/*"' in pyproject
    bundle = resources.files("ngffstore.viewer").joinpath("static", "viewer.js").read_text()
    assert "ngffstore-viewer-config" in bundle and len(bundle) > 100_000
    assert os.path.getsize(JS.parent / "static" / "viewer.css") > 1000
