"""Resume is exact or refuses: ``ngffstore convert`` killed (SIGKILL) at random moments and rerun
with other options ends pixel-identical to a clean conversion at every level; finished blocks
whose chunks were damaged after their marker are rewritten."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import ngffstore
from ngffstore import multiscale
from ngffstore.storage import Location

ROOT = Path(__file__).resolve().parents[1]


def _levels(url: str, options: dict | None = None) -> list[np.ndarray]:
    image = ngffstore.open_image(url, storage_options=options)
    return [np.asarray(image.to_dask(i).compute()) for i in range(len(image.multiscale.datasets))]


def _run(args: list[str], env: dict, kill_after: float | None = None) -> subprocess.CompletedProcess | None:
    cmd = [sys.executable, "-m", "ngffstore", *args, "--no-progress"]
    if kill_after is None:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return None


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


@pytest.fixture(scope="module")
def input_tiff(tmp_path_factory):
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("in") / "img.tif"
    y = np.linspace(0, 3000, 1024)[:, None]
    data = (rng.integers(0, 800, (2, 1024, 1024)) + y).astype(np.uint16)
    data[:, :300, :300] = 0  # whole chunks of fill value: not stored
    tifffile.imwrite(path, data, metadata={"axes": "CYX"})
    return path


OPTIONS = [
    ["--memory-target", "2MiB", "--chunks", "256"],
    ["--memory-target", "8MiB", "--chunks", "256"],
    ["--memory-target", "1MiB", "--chunks", "128"],
    ["--memory-target", "4MiB", "--chunks", "512", "--compression", "blosc-lz4"],
]


def _check_rerun(result: subprocess.CompletedProcess, args: list[str], env: dict) -> None:
    if result.returncode != 0:  # refused: one line saying why, then --overwrite works
        lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        again = _run([*args, "--overwrite"], env)
        assert again.returncode == 0, again.stderr


def test_killed_convert_reruns_with_other_options_are_exact_locally(tmp_path, input_tiff):
    env = _env()
    clean = str(tmp_path / "clean.ome.zarr")
    assert _run(["convert", str(input_tiff), clean, *OPTIONS[0]], env).returncode == 0
    expected = _levels(clean)
    started = time.perf_counter()
    _run(["convert", str(input_tiff), str(tmp_path / "timing.ome.zarr"), *OPTIONS[1]], env)
    duration = time.perf_counter() - started
    rnd = random.Random(16)
    for attempt in range(10):
        url = str(tmp_path / f"out{attempt}.ome.zarr")
        first, second = rnd.sample(OPTIONS, 2)
        # the first kill anywhere in the run (start-up included), then a second one, then a rerun
        _run(["convert", str(input_tiff), url, *first], env, kill_after=rnd.uniform(0.5, duration))
        _run(["convert", str(input_tiff), url, *first], env, kill_after=rnd.uniform(0.5, duration))
        result = _run(["convert", str(input_tiff), url, *second], env)
        _check_rerun(result, ["convert", str(input_tiff), url, *second], env)
        got = _levels(url)
        assert len(got) == len(expected)
        for level, (a, b) in enumerate(zip(got, expected)):
            assert np.array_equal(a, b), f"attempt {attempt} ({first} then {second}): level {level} differs"
        assert not os.path.exists(os.path.join(url, multiscale.PROGRESS_DIR))


def test_killed_convert_on_s3_reruns_exactly(tmp_path, input_tiff, s3_server, s3_bucket, s3_env):
    env = _env()
    clean = f"s3://{s3_bucket}/clean.ome.zarr"
    assert _run(["convert", str(input_tiff), clean, *OPTIONS[0]], env).returncode == 0
    expected = _levels(clean)
    rnd = random.Random(3)
    for attempt in range(3):
        url = f"s3://{s3_bucket}/out{attempt}.ome.zarr"
        first, second = OPTIONS[attempt % 2], OPTIONS[(attempt + 1) % 2]
        _run(["convert", str(input_tiff), url, *first], env, kill_after=rnd.uniform(2.0, 5.0))
        result = _run(["convert", str(input_tiff), url, *(first if attempt == 2 else second)], env)
        _check_rerun(result, ["convert", str(input_tiff), url, *second], env)
        for level, (a, b) in enumerate(zip(_levels(url), expected)):
            assert np.array_equal(a, b), f"attempt {attempt}: level {level} differs"


def _interrupted(tmp_path, url: str, options: dict | None, after: int, monkeypatch) -> np.ndarray:
    """A write_image of a .npy input that fails after ``after`` blocks; returns the input."""
    a = np.random.default_rng(4).integers(1, 4000, (512, 512), dtype=np.uint16)
    path = str(tmp_path / "input.npy")
    np.save(path, a)
    real = multiscale.write_block
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(multiscale, "write_block", failing)
    with pytest.raises(RuntimeError):
        ngffstore.write_image(_source(path), url, chunks=64, min_size=64, memory_target=64 * 64 * 2 * 4,
                              scheduler="synchronous", progress=False, storage_options=options)
    monkeypatch.setattr(multiscale, "write_block", real)
    return a


def _source(path: str):
    import dask.array as da

    from converters import Source

    return Source(data=da.from_array(np.load(path, mmap_mode="r"), chunks=(64, 64)), axes="yx",
                  inputs=[path], name="input")


def _plan():
    from ngffstore.codecs import Compression
    from ngffstore.pyramid import level_factors

    factors = level_factors((512, 512), "yx", min_size=64, downsample_z=False, max_levels=None)
    spec = multiscale.PyramidSpec.build(shape=(512, 512), dtype="uint16", axes="yx", factors=factors,
                                        chunks=(64, 64), shards=None, compression=Compression.parse("zstd"),
                                        zarr_format=3, method="mean")
    return [(p, spec.levels[p.first].shape) for p in multiscale.plan_passes(spec, 64 * 64 * 2 * 4)]


def _marked_chunks(location: Location) -> list[str]:
    keys = []
    for name in sorted(multiscale.done_blocks(location)):
        found = location.fs.find(location.key(multiscale.PROGRESS_DIR))
        for path in found:
            if path.endswith("/" + name):
                keys.extend(json.loads(location.fs.cat_file(path))["sizes"])
    return keys


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_damaged_chunks_of_finished_blocks_are_rewritten(tmp_path, monkeypatch, backend, request):
    if backend == "local":
        url, options = str(tmp_path / "img.ome.zarr"), None
    else:
        bucket = request.getfixturevalue("s3_bucket")
        url, options = f"s3://{bucket}/img.ome.zarr", request.getfixturevalue("s3_options")
    a = _interrupted(tmp_path, url, options, 6, monkeypatch)
    location = Location.parse(url, options)
    keys = _marked_chunks(location)
    assert len(keys) >= 3
    truncated, removed = keys[0], keys[1]
    data = location.read_bytes(truncated)
    location.put(truncated, data[: len(data) // 2])  # a half-written chunk under a marker
    location.delete(removed)  # a chunk lost after its marker
    real, calls = multiscale.write_block, {"n": 0}

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(multiscale, "write_block", counting)
    ngffstore.write_image(_source(str(tmp_path / "input.npy")), url, chunks=64, min_size=64,
                          memory_target=64 * 64 * 2 * 4, scheduler="synchronous", progress=False,
                          storage_options=options)
    monkeypatch.setattr(multiscale, "write_block", real)
    total = sum(len(p.grid(lv)) for p, lv in _plan())
    # the 6 finished blocks are skipped, except the one or two whose chunks were damaged
    assert total - 6 < calls["n"] <= total - 4
    levels = _levels(url, options)
    assert np.array_equal(levels[0], a)
    clean = str(tmp_path / "clean.ome.zarr")
    ngffstore.write_image(a, clean, chunks=64, min_size=64, progress=False)
    for got, want in zip(levels, _levels(clean)):
        assert np.array_equal(got, want)
    arr = zarr.open_array(location.zarr_store(read_only=True), path="0", mode="r")
    assert np.array_equal(arr[:], a)
