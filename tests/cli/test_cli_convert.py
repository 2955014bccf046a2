"""`ngffstore convert`, `info` and `demo` from the command line: local, S3 and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from ngffstore.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ome_tiff(tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, (2, 5, 300, 260), dtype=np.uint16)
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(
        path, data, ome=True, photometric="minisblack",
        metadata={"axes": "CZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 1.5,
                  "Channel": {"Name": ["DAPI", "GFP"]}},
    )
    return path, data


def test_convert_ome_tiff_then_info(tmp_path, capsys, ome_tiff):
    path, data = ome_tiff
    out = tmp_path / "stack.ome.zarr"
    code, stdout, err = run(capsys, "convert", path, out, "--chunks", "128", "--min-size", "64")
    assert code == 0, err
    assert "DAPI, GFP" in stdout
    group = zarr.open_group(str(out), mode="r")
    assert np.array_equal(group["0"][...], data)
    code, stdout, _ = run(capsys, "info", out, "--json")
    info = json.loads(stdout)
    assert info["axes"] == "czyx"
    assert info["units"] == {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    assert [lv["shape"] for lv in info["levels"]] == [[2, 5, 300, 260], [2, 5, 150, 130], [2, 5, 75, 65], [2, 5, 38, 33]]
    assert info["levels"][0]["scale"] == [1.0, 1.5, 0.2, 0.2]
    assert info["channels"] == ["DAPI", "GFP"]
    assert info["bytes_stored"] > 0


def test_convert_options(tmp_path, capsys, ome_tiff):
    path, _ = ome_tiff
    out = tmp_path / "o.zarr"
    code, _, err = run(capsys, "convert", path, out, "--ngff-version", "0.4", "--pixel-size", "2,0.5,0.5",
                       "--channel-names", "a,b", "--compression", "gzip:4", "--levels", "2",
                       "--scheduler", "synchronous", "--name", "sample")
    assert code == 0, err
    attrs = json.loads(Path(out / ".zattrs").read_text())
    ms = attrs["multiscales"][0]
    assert ms["version"] == "0.4" and ms["name"] == "sample" and len(ms["datasets"]) == 2
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [1, 2, 0.5, 0.5]
    assert [c["label"] for c in attrs["omero"]["channels"]] == ["a", "b"]
    assert json.loads(Path(out / "0" / ".zarray").read_text())["compressor"]["id"] == "gzip"


def test_convert_npy_with_axes_and_shards(tmp_path, capsys):
    data = np.arange(3 * 400 * 300, dtype=np.uint16).reshape(3, 400, 300)
    np.save(tmp_path / "a.npy", data)
    out = tmp_path / "a.zarr"
    code, _, err = run(capsys, "convert", tmp_path / "a.npy", out)
    assert code == 1 and "axes" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "convert", tmp_path / "a.npy", out, "--axes", "zyx", "--chunks", "1,64,64",
                       "--shards", "1,256,256")
    assert code == 0, err
    meta = json.loads(Path(out / "0" / "zarr.json").read_text())
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [1, 256, 256]
    assert np.array_equal(zarr.open_array(str(out / "0"))[...], data)


def test_bad_input_one_line_nonzero_exit(tmp_path, capsys, ome_tiff):
    path, _ = ome_tiff
    cases = {}
    cases["missing"] = run(capsys, "convert", tmp_path / "nope.tif", tmp_path / "o1.zarr")
    text = tmp_path / "notes.tif"
    text.write_text("this is not an image\n")
    cases["not an image"] = run(capsys, "convert", text, tmp_path / "o2.zarr")
    truncated = tmp_path / "cut.ome.tif"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cases["truncated"] = run(capsys, "convert", truncated, tmp_path / "o3.zarr")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    cases["empty"] = run(capsys, "convert", empty, tmp_path / "o4.zarr")
    cases["directory"] = run(capsys, "convert", tmp_path, tmp_path / "o5.zarr")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases["unwritable destination"] = run(capsys, "convert", path, blocker / "out.zarr")
    for what, (code, stdout, err) in cases.items():
        assert code != 0, what
        lines = err.strip().splitlines()
        assert len(lines) == 1, (what, err)
        assert lines[0].startswith("ngffstore convert: error: "), (what, err)
        assert "Traceback" not in err
    assert "nope.tif" in cases["missing"][2]
    for i in range(1, 5):
        assert not (tmp_path / f"o{i}.zarr").exists()


def test_existing_output_needs_overwrite(tmp_path, capsys, ome_tiff):
    path, _ = ome_tiff
    out = tmp_path / "o.zarr"
    assert run(capsys, "convert", path, out)[0] == 0
    before = (out / "zarr.json").read_bytes()
    code, _, err = run(capsys, "convert", path, out, "--channel-names", "x,y")
    assert code == 1 and "--overwrite" in err
    assert (out / "zarr.json").read_bytes() == before
    code, _, err = run(capsys, "convert", path, out, "--channel-names", "x,y", "--overwrite")
    assert code == 0, err
    assert b'"x"' in (out / "zarr.json").read_bytes()


def test_unknown_url_and_not_ngff(tmp_path, capsys):
    code, _, err = run(capsys, "info", tmp_path / "missing.zarr")
    assert code == 1 and "no Zarr group" in err
    zarr.create_group(str(tmp_path / "plain.zarr"))
    code, _, err = run(capsys, "info", tmp_path / "plain.zarr")
    assert code == 1 and "not an OME-NGFF image" in err


def test_demo(tmp_path, capsys):
    code, out, err = run(capsys, "demo", tmp_path / "demo", "--size", "300")
    assert code == 0, err
    assert "DAPI, Membrane, Spots" in out and "try:" in out
    assert (tmp_path / "demo" / "cells.ome.zarr" / "zarr.json").exists()
    from ome_zarr_models.v05.image import Image

    Image.from_zarr(zarr.open_group(str(tmp_path / "demo" / "cells.ome.zarr"), mode="r"))


# -- S3 -----------------------------------------------------------------------------------------


def test_convert_to_s3_with_env_credentials(tmp_path, capsys, ome_tiff, s3_bucket, s3_env, s3_options):
    path, data = ome_tiff
    url = f"s3://{s3_bucket}/images/stack.ome.zarr"
    code, stdout, err = run(capsys, "convert", path, url, "--chunks", "128")
    assert code == 0, err
    code, stdout, err = run(capsys, "info", url)
    assert code == 0, err
    assert "DAPI, GFP" in stdout
    group = zarr.open_group(zarr.storage.FsspecStore.from_url(url, storage_options=s3_options, read_only=True), mode="r")
    assert np.array_equal(group["0"][...], data)
    code, _, err = run(capsys, "convert", path, url)
    assert code == 1 and "--overwrite" in err


def test_s3_wrong_credentials(tmp_path, capsys, ome_tiff, s3_bucket, s3_env, s3_server, monkeypatch):
    path, _ = ome_tiff
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    url = f"s3://{s3_bucket}/stack.ome.zarr"
    code, _, err = run(capsys, "convert", path, url)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "access denied" in err and "Traceback" not in err
    assert s3_server.auth.client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
    code, _, err = run(capsys, "info", url)
    assert code == 2 and "access denied" in err


def test_s3_anonymous_read_of_public_bucket(tmp_path, capsys, ome_tiff, s3_server):
    path, _ = ome_tiff
    url = f"s3://{s3_server.public_bucket}/open/stack.ome.zarr"
    import converters
    import ngffstore

    ngffstore.write_image(converters.open_source(str(path)), url, storage_options=s3_server.public_writer_options,
                          overwrite=True, progress=False)
    code, out, err = run(capsys, "info", url, "--anon", "--endpoint-url", s3_server.public_endpoint_url)
    assert code == 0, err
    assert "DAPI, GFP" in out


def test_command_line_imports_dask_without_xarray_which_still_works(tmp_path):
    """The CLI skips dask's xarray/scipy hooks (startup time, memory); both still import later."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from ngffstore.cli import main\n"
        "heavy = [m for m in ('xarray', 'pandas', 'pyarrow', 'scipy') if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        f"assert main(['demo', {str(tmp_path / 'demo')!r}]) == 0\n"
        "import xarray, scipy.ndimage, dask.array as da\n"
        f"from ngffstore import open_image\n"
        f"image = open_image({str(tmp_path / 'demo' / 'cells.ome.zarr')!r})\n"
        "assert image.to_xarray().dims[-2:] == ('y', 'x')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
