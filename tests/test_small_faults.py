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
from ngffstore.index import INDEX_FILE, JOURNAL, build_index, touch


@pytest.fixture
def collection(tmp_path):
    """A collection of two small images, indexed, with two journal fragments applied and kept."""
    root = tmp_path / "coll"
    for name in ("a.ome.zarr", "b.ome.zarr"):
        write_image(np.arange(64 * 48, dtype=np.uint16).reshape(64, 48), str(root / name), axes="yx",
                    progress=False, scheduler="synchronous")
    build_index(str(root))
    for name in ("a.ome.zarr", "b.ome.zarr"):
        touch(str(root / name))
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
