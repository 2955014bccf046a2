"""Small faults of issue 16 item 8: the index's grace period and --check output, and a corrupt
chunk read without asyncio's "Task was destroyed but it is pending!" (examples and demo: in
tests/test_examples.py and tests/test_demo_collection.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ngffstore.cli import main
from ngffstore.errors import InputError
from ngffstore.image import write_image
from ngffstore.index import INDEX_FILE, JOURNAL, build_index
from ngffstore.journal import notify


@pytest.fixture
def collection(tmp_path):
    """A collection of two small images, indexed, with two journal fragments applied and kept."""
    root = tmp_path / "coll"
    for name in ("a.ome.zarr", "b.ome.zarr"):
        write_image(np.arange(64 * 48, dtype=np.uint16).reshape(64, 48), str(root / name), axes="yx",
                    progress=False, scheduler="synchronous")
    build_index(str(root))
    for name in ("a.ome.zarr", "b.ome.zarr"):
        notify(str(root / name))
    report = build_index(str(root))
    assert report.fragments_applied == 2 and report.fragments_removed == 0
    return root


def _files(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def _fragments(root: Path) -> list[str]:
    return sorted(os.listdir(root / JOURNAL))


@pytest.mark.parametrize("grace", [-5.0, -0.001, float("nan")])
def test_negative_or_nan_grace_is_refused_before_anything_is_touched(collection, grace):
    before = _files(collection)
    assert len(_fragments(collection)) == 2
    with pytest.raises(InputError, match="grace"):
        build_index(str(collection), grace=grace)
    assert _files(collection) == before


@pytest.mark.parametrize("text", ["-5", "nan", "-0.5"])
def test_cli_negative_grace_is_one_line_and_keeps_the_journal(collection, capsys, text):
    before = _files(collection)
    code = main(["index", str(collection), "--grace", text])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("ngffstore index: error: grace (--grace)"), err
    assert _files(collection) == before and len(_fragments(collection)) == 2


def test_grace_zero_still_collects_applied_fragments(collection, capsys):
    assert main(["index", str(collection), "--grace", "0"]) == 0
    assert "2 old fragment(s) removed" in capsys.readouterr().out
    assert _fragments(collection) == []


def test_grace_with_check_or_status_is_refused(collection, capsys):
    for mode in ("--check", "--status"):
        assert main(["index", str(collection), mode, "--grace", "5"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and "--grace applies to an update" in err and err.count("\n") == 1


def test_check_errors_go_to_stderr(collection, tmp_path, capsys):
    # current: the answer on stdout, exit 0
    assert main(["index", str(collection), "--check"]) == 0
    out, err = capsys.readouterr()
    assert "matches the store" in out and err == ""
    # out of date (a node nobody journaled): the differences on stderr, exit 1
    write_image(np.ones((32, 32), np.uint8), str(collection / "c.ome.zarr"), axes="yx", progress=False,
                scheduler="synchronous")
    assert main(["index", str(collection), "--check"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "older than the store" in err and "c.ome.zarr" in err
    # no index at all: one error line on stderr, exit 1, for --check and --status
    (tmp_path / "bare").mkdir()
    for mode in ("--check", "--status"):
        assert main(["index", str(tmp_path / "bare"), mode]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("ngffstore index: error: no index at") and err.count("\n") == 1
    assert not (tmp_path / "bare" / INDEX_FILE).exists()


def test_check_json_stays_on_stdout(collection, capsys):
    write_image(np.ones((32, 32), np.uint8), str(collection / "c.ome.zarr"), axes="yx", progress=False,
                scheduler="synchronous")
    assert main(["index", str(collection), "--check", "--json"]) == 1
    out, err = capsys.readouterr()
    import json

    doc = json.loads(out)
    assert doc["current"] is False and doc["added"] == ["c.ome.zarr"] and err == ""


# -- a corrupt chunk: one error line, no orphaned asyncio tasks -------------------------------------


def _corrupt_image(url: str, storage_options=None) -> None:
    """A 3 x 512 x 512 image in 64 x 64 chunks (192 chunks at level 0) whose first chunk is garbage."""
    import fsspec

    rng = np.random.default_rng(0)
    data = rng.integers(0, 60000, (3, 512, 512), dtype=np.uint16)
    write_image(data, url, axes="cyx", chunks=64, progress=False, scheduler="synchronous",
                storage_options=storage_options)
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    with fs.open(f"{path}/0/c/0/0/0", "wb") as f:
        f.write(bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))


def _tasks_in_flight_on_zarrs_loop() -> int:
    from zarr.core.sync import sync

    async def count() -> int:
        import asyncio

        me = asyncio.current_task()
        return sum(1 for t in asyncio.all_tasks() if t is not me and not t.done())

    return sync(count())


def test_window_of_a_corrupt_chunk_is_one_line_without_asyncio_noise(tmp_path):
    """Run as a user would: the error line, exit 1, and no "Task was destroyed" at exit."""
    import subprocess
    import sys

    url = str(tmp_path / "img.ome.zarr")
    _corrupt_image(url)
    argv = ["window", url, "--x", "0", "--y", "0", "--width", "512", "--height", "512", "--level", "0",
            "-o", str(tmp_path / "w.tif")]
    proc = subprocess.run([sys.executable, "-m", "ngffstore", *argv], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Task was destroyed" not in proc.stderr and "never awaited" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot decode chunk 0/c/0/0/0" in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "w.tif").exists()


@pytest.mark.parametrize("where", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_failed_read_leaves_no_task_running(where, tmp_path, request):
    from ngffstore.errors import ReadError
    from ngffstore.image import open_image

    if where == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        so = request.getfixturevalue("s3_options")
        url = f"s3://{bucket}/img.ome.zarr"
    else:
        so, url = None, str(tmp_path / "img.ome.zarr")
    _corrupt_image(url, so)
    image = open_image(url, storage_options=so)
    for _ in range(3):
        with pytest.raises(ReadError, match=r"cannot decode chunk 0/c/0/0/0"):
            image.window(x=0, y=0, width=512, height=512, level=0).data.compute(scheduler="synchronous")
        assert _tasks_in_flight_on_zarrs_loop() == 0
    # the reads of good chunks still work afterwards
    good = image.window(x=64, y=64, width=64, height=64, level=0).data.compute(scheduler="synchronous")
    assert good.shape[-2:] == (64, 64) and good.any()
