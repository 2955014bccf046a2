"""Concurrent writers lose nothing, readers never see a torn document, a rerun of an append is
not repeated — with real processes running the real CLI, on a local folder and on moto S3.

Each writer is a separate Python process that runs ``ngffstore.cli.main(argv)`` (what the
``ngffstore`` command runs). The processes import everything first and then wait for one "go"
file, so that their read-modify-writes really overlap (process start-up takes about a second,
the write itself milliseconds: started plainly, they would mostly take turns).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Any

import fsspec
import numpy as np
import pytest

import ngffstore

# One process imports ngffstore once, then, round after round, forks one child per command of
# the round; each child waits for the round's "go" file and runs the CLI's main(argv) with its
# stdout/stderr in files of its own. The parent prints the children's pids (one JSON line) and,
# when they are done, their exit codes (another line).
ZYGOTE = textwrap.dedent(
    """
    import json, os, sys, time, traceback
    spec = json.loads(sys.argv[1])
    from ngffstore.cli import main
    for name in spec["imports"]:
        __import__(name)
    for r, commands in enumerate(spec["rounds"]):
        go = f"{spec['folder']}/go.{r}"
        pids = []
        for i, argv in enumerate(commands):
            pid = os.fork()
            if pid == 0:
                for fd, suffix in ((1, "out"), (2, "err")):
                    name = f"{spec['folder']}/{r}.{i}.{suffix}"
                    os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
                while not os.path.exists(go):
                    time.sleep(0.001)
                try:
                    code = main(argv)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
                except BaseException:
                    traceback.print_exc()
                    code = 1
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code or 0)
            pids.append(pid)
        print(json.dumps(pids), flush=True)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        print(json.dumps(codes), flush=True)
    """
)

READER = textwrap.dedent(
    """
    import json, os, sys
    stop, doc, url = sys.argv[1:4]
    from ngffstore.metadata import read_metadata
    reads = 0
    open(f"{stop}.ready", "w").close()
    while not os.path.exists(stop):
        with open(doc, "rb") as f:
            json.loads(f.read())  # a torn zarr.json raises here
        read_metadata(url)
        reads += 1
    print(reads)
    """
)


class Together:
    """Rounds of processes running ``ngffstore`` commands at the same moment (see ZYGOTE)."""

    def __init__(self, rounds: list[list[list[Any]]], tmp_path: Any, env: dict[str, str] | None = None) -> None:
        self.folder = str(tmp_path / f"run-{uuid.uuid4().hex[:8]}")
        os.makedirs(self.folder)
        commands = [c for r in rounds for c in r]
        imports = ["ngffstore.metadata"]
        if any(c[0] == "rois" for c in commands):
            imports += ["ngffstore.rois._store", "converters.rois"]
        if any(str(a).startswith("s3://") for c in commands for a in c):
            imports.append("s3fs")
        spec = {
            "folder": self.folder,
            "imports": imports,
            "rounds": [[[str(a) for a in c] for c in r] for r in rounds],
        }
        self.round = -1
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, json.dumps(spec)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )

    def start(self) -> list[int]:
        """The pids of the next round's processes, ready and waiting."""
        self.round += 1
        line = self.proc.stdout.readline()
        assert line, self.proc.communicate(timeout=60)[1]
        return json.loads(line)

    def release(self) -> None:
        open(f"{self.folder}/go.{self.round}", "w").close()

    def results(self) -> list[tuple[int, str, str]]:
        """``(exit code, stdout, stderr)`` of each process of the round, once all are done."""
        line = self.proc.stdout.readline()
        assert line, self.proc.communicate(timeout=60)[1]
        results = []
        for i, code in enumerate(json.loads(line)):
            base = f"{self.folder}/{self.round}.{i}"
            with open(f"{base}.out") as fo, open(f"{base}.err") as fe:
                results.append((code, fo.read(), fe.read()))
        return results

    def close(self) -> None:
        _, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err

def run_rounds(rounds: list[list[list[Any]]], tmp_path: Any, env: dict[str, str] | None = None) -> list[list[tuple[int, str, str]]]:
    """Run the rounds one after the other, the commands of a round at the same moment."""
    run = Together(rounds, tmp_path, env)
    out = []
    for _ in rounds:
        run.start()
        run.release()
        out.append(run.results())
    run.close()
    return out


def run_together(commands: list[list[Any]], tmp_path: Any, env: dict[str, str] | None = None) -> list[tuple[int, str, str]]:
    return run_rounds([commands], tmp_path, env)[0]


def assert_all_ok(results: list[tuple[int, str, str]]) -> None:
    """Every process exited 0 — or said in one line that it met a conflict it could not resolve."""
    for code, _out, err in results:
        if code != 0:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "other writers" in lines[0], err
        else:
            assert "Traceback" not in err, err
    assert [code for code, _, _ in results].count(0) == len(results), [r[2] for r in results]


def cli(*argv: Any) -> str:
    """One command run in this process (for the checks made between and after the races)."""
    import contextlib
    import io

    from ngffstore.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    assert code == 0, err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = str(tmp_path_factory.mktemp("tpl") / "img.zarr")
    ngffstore.write_image(np.zeros((64, 64), np.uint8), url, axes="yx", progress=False)
    return url


@pytest.fixture
def image(template: str, tmp_path: Any) -> str:
    import shutil

    shutil.copytree(template, tmp_path / "ds" / "cells.ome.zarr")
    return str(tmp_path / "ds" / "cells.ome.zarr")


@pytest.fixture
def s3_image(template: str, s3_env: dict[str, str], s3_bucket: str, s3_options: dict[str, Any]) -> str:
    fs = fsspec.filesystem("s3", **s3_options)
    fs.put(template, f"{s3_bucket}/ds/cells.ome.zarr", recursive=True)
    return f"s3://{s3_bucket}/ds/cells.ome.zarr"


def key_values(url: str) -> dict[str, Any]:
    return dict(ngffstore.read_metadata(url).key_values)


def wkt_file(path: Any, n: int, offset: int = 0) -> str:
    """``n`` small squares, one WKT per line."""
    rows = []
    for i in range(n):
        x, y = (i * 3 + offset) % 60, (i * 7 + offset) % 60
        rows.append(f"POLYGON (({x} {y}, {x + 2} {y}, {x + 2} {y + 2}, {x} {y + 2}, {x} {y}))")
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")
    return str(path)


def stored_parquet(image: str) -> set[str]:
    root = os.path.join(image, "rois")
    out = set()
    for folder, _dirs, files in os.walk(root):
        out.update(os.path.relpath(os.path.join(folder, f), image) for f in files if f.endswith(".parquet"))
    return out


def referenced_parquet(image: str) -> set[str]:
    from ngffstore.rois import read_rois_attrs

    return {f.path for lay in read_rois_attrs(image).layers.values() for f in lay.files}


# -------------------------------------------------------------------------------------------------
# lost updates
# -------------------------------------------------------------------------------------------------
def test_eight_concurrent_meta_set_lose_nothing_locally(image: str, tmp_path: Any) -> None:
    results = run_together([["meta", "set", image, f"key_{i}=value_{i}"] for i in range(8)], tmp_path)
    assert_all_ok(results)
    assert key_values(image) == {f"key_{i}": f"value_{i}" for i in range(8)}
    history = ngffstore.read_provenance(image)
    assert sum(r.operation == "write_metadata" for r in history) == 8


def test_eight_concurrent_meta_set_lose_nothing_on_s3(s3_image: str, tmp_path: Any, s3_options: dict[str, Any]) -> None:
    results = run_together([["meta", "set", s3_image, f"key_{i}=value_{i}"] for i in range(8)], tmp_path, dict(os.environ))
    assert_all_ok(results)
    meta = ngffstore.read_metadata(s3_image, storage_options=s3_options)
    assert dict(meta.key_values) == {f"key_{i}": f"value_{i}" for i in range(8)}


def test_two_loops_of_twenty_writers(image: str, tmp_path: Any) -> None:
    loops = [[["meta", "set", image, f"k{loop}_{i}=v{i}"] for i in range(20)] for loop in range(2)]
    for results in run_rounds(loops, tmp_path):
        assert_all_ok(results)
    assert key_values(image) == {f"k{loop}_{i}": f"v{i}" for loop in range(2) for i in range(20)}


def test_four_concurrent_layer_imports(image: str, tmp_path: Any) -> None:
    files = [wkt_file(tmp_path / f"l{i}.wkt", 50 + i, offset=i) for i in range(4)]
    results = run_together(
        [["rois", "import", image, files[i], "--layer", f"layer{i}"] for i in range(4)], tmp_path
    )
    assert_all_ok(results)
    listed = json.loads(cli("rois", "list", image, "--json"))
    assert sorted(listed["layers"]) == [f"layer{i}" for i in range(4)]
    for i in range(4):
        out = cli("rois", "export", image, "--layer", f"layer{i}", "--format", "wkt")
        assert len(out.strip().splitlines()) == 50 + i
    assert stored_parquet(image) == referenced_parquet(image)  # no orphan files


def test_meta_set_during_rois_import_both_survive(image: str, tmp_path: Any) -> None:
    rounds = [
        [
            ["rois", "import", image, wkt_file(tmp_path / f"r{rep}.wkt", 40, offset=rep), "--layer", f"run{rep}"],
            ["meta", "set", image, f"rep_{rep}=done"],
        ]
        for rep in range(5)
    ]
    for results in run_rounds(rounds, tmp_path):
        assert_all_ok(results)
    from ngffstore.rois import read_rois_attrs

    assert sorted(read_rois_attrs(image).layers) == [f"run{rep}" for rep in range(5)]
    assert key_values(image) == {f"rep_{rep}": "done" for rep in range(5)}
    assert stored_parquet(image) == referenced_parquet(image)


def test_reader_never_sees_a_torn_document(image: str, tmp_path: Any) -> None:
    stop = str(tmp_path / "stop")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, stop, os.path.join(image, "zarr.json"), image],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not os.path.exists(stop + ".ready") and reader.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    results = run_together([["meta", "set", image, f"key_{i}=value_{i}"] for i in range(12)], tmp_path)
    open(stop, "w").close()
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0 and err == "", err  # no JSONDecodeError, no traceback
    assert int(out) > 0
    assert_all_ok(results)
    assert len(key_values(image)) == 12


# -------------------------------------------------------------------------------------------------
# an append is not repeated
# -------------------------------------------------------------------------------------------------
def layer_count(image: str, layer: str) -> int:
    from ngffstore.rois import read_rois_attrs

    return read_rois_attrs(image).layers[layer].count


def test_append_rerun_after_success_is_a_no_op(image: str, tmp_path: Any) -> None:
    first = wkt_file(tmp_path / "a.wkt", 30)
    more = wkt_file(tmp_path / "b.wkt", 20, offset=5)
    cli("rois", "import", image, first, "--layer", "cells")
    out = cli("rois", "import", image, more, "--layer", "cells", "--append")
    assert out.startswith("added 20 ROIs") and layer_count(image, "cells") == 50
    again = cli("rois", "import", image, more, "--layer", "cells", "--append")
    assert again.startswith("nothing to do: these 20 ROIs were already added to layer 'cells'")
    assert layer_count(image, "cells") == 50
    # the same file with another term is other ROIs: it is added
    cli("rois", "import", image, more, "--layer", "cells", "--append", "--term", "late")
    assert layer_count(image, "cells") == 70
    assert stored_parquet(image) == referenced_parquet(image)
    history = [r for r in ngffstore.read_provenance(image) if r.operation == "write_rois"]
    assert len(history) == 3  # the no-op left no record


@pytest.mark.parametrize("delay", [0.15, 0.6, 1.2])
def test_append_killed_then_rerun_adds_once(image: str, tmp_path: Any, delay: float) -> None:
    base = wkt_file(tmp_path / "base.wkt", 10)
    big = wkt_file(tmp_path / "big.wkt", 20_000, offset=1)
    cli("rois", "import", image, base, "--layer", "cells")
    run = Together([[["rois", "import", image, big, "--layer", "cells", "--append"]]], tmp_path)
    (pid,) = run.start()
    run.release()
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):  # finished first
        os.kill(pid, signal.SIGKILL)
    ((code, _, err),) = run.results()
    run.close()
    assert code in (-9, 0), err  # killed, or it finished first
    killed_count = layer_count(image, "cells")
    assert killed_count in (10, 20_010)  # before or after the commit, never in between
    rerun = cli("rois", "import", image, big, "--layer", "cells", "--append")
    assert layer_count(image, "cells") == 20_010
    assert rerun.startswith("nothing to do" if killed_count == 20_010 else "added 20000 ROIs")
    # what the killed run left (a Parquet file no document points at) is gone after the rerun
    assert stored_parquet(image) == referenced_parquet(image)
    ids = cli("rois", "export", image, "--layer", "cells", "--format", "csv").splitlines()[1:]
    assert len(ids) == len({line.split(",")[0] for line in ids}) == 20_010


# -------------------------------------------------------------------------------------------------
# request budget
# -------------------------------------------------------------------------------------------------
def test_meta_set_on_s3_costs_at_most_five_requests(s3_image: str, s3_server: Any, capsys: Any) -> None:
    from ngffstore.cli import main

    assert main(["meta", "set", s3_image, "warm=up"]) == 0  # s3fs set up, credentials found
    with s3_server.count() as log:
        assert main(["meta", "set", s3_image, "strain=BY4741"]) == 0
    assert len(log) <= 5, log.summary()
    assert log.count("HEAD") == 0 and log.count("LIST") == 0, log.summary()
    assert log.count("PUT", key=s3_image.split("/", 3)[3] + "/zarr.json") == 1, log.summary()
    # under a collection index the journal fragment is one more PUT: the index marker is looked
    # for in each folder from the image up to the bucket (index.find_roots, one GET each), so
    # here (s3://bucket/ds/cells.ome.zarr, index at ds) it is 6 requests: GET + PUT of zarr.json,
    # 3 marker GETs, 1 fragment PUT
    assert main(["index", s3_image.rsplit("/", 1)[0]]) == 0
    with s3_server.count() as log:
        assert main(["meta", "set", s3_image, "strain=W303"]) == 0
    assert log.count("HEAD") == 0 and log.count("LIST") == 0, log.summary()
    assert log.count("PUT") == 2 and log.count("GET") == 4 and len(log) == 6, log.summary()
    capsys.readouterr()


def test_append_killed_between_data_and_document(image: str, tmp_path: Any) -> None:
    """Killed at the worst moment (its Parquet file written, the document not yet): the rerun
    adds the ROIs once and removes the file the killed run left."""
    cli("rois", "import", image, wkt_file(tmp_path / "base.wkt", 10), "--layer", "cells")
    more = wkt_file(tmp_path / "more.wkt", 500, offset=3)
    folder = os.open(image, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # the local conditional write waits for this lock
        run = Together([[["rois", "import", image, more, "--layer", "cells", "--append"]]], tmp_path)
        (pid,) = run.start()
        run.release()
        deadline = time.monotonic() + 60
        while not any(n.endswith(".tmp") for n in os.listdir(image)):  # at the commit, waiting
            assert time.monotonic() < deadline and run.proc.poll() is None
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        ((code, _, _),) = run.results()
        run.close()
    finally:
        os.close(folder)
    assert code == -9 and layer_count(image, "cells") == 10
    (leftover,) = stored_parquet(image) - referenced_parquet(image)
    out = cli("rois", "import", image, more, "--layer", "cells", "--append")
    assert out.startswith("added 500 ROIs") and layer_count(image, "cells") == 510
    assert leftover not in stored_parquet(image)
    assert stored_parquet(image) == referenced_parquet(image)
    assert "nothing to do" in cli("rois", "import", image, more, "--layer", "cells", "--append")
