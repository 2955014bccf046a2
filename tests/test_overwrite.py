"""Overwrite never leaves nothing: ``convert --overwrite`` and ``labels add --overwrite`` write the
new version beside the old one and switch to it with one document write. Killed (SIGKILL) at any
moment, a reader sees the old version or the new one, whole."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import tifffile
from test_resume import _env, _levels, _run

import ngffstore
from ngffstore import multiscale


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ow")
    rng = np.random.default_rng(9)
    old = rng.integers(0, 1000, (2, 1024, 1024), dtype=np.uint16)
    new = rng.integers(2000, 3000, (2, 1024, 1024), dtype=np.uint16)
    tifffile.imwrite(folder / "old.tif", old, metadata={"axes": "CYX"})
    tifffile.imwrite(folder / "new.tif", new, metadata={"axes": "CYX"})
    lab_old = (rng.integers(0, 3, (1024, 1024))).astype(np.uint8)
    lab_new = (rng.integers(3, 6, (1024, 1024))).astype(np.uint8)
    tifffile.imwrite(folder / "lab_old.tif", lab_old)
    tifffile.imwrite(folder / "lab_new.tif", lab_new)
    return folder


def _kill_when_marked(args: list[str], env: dict, url: str, timeout: float = 120.0) -> None:
    """Run the CLI and kill it (SIGKILL) as soon as its first block marker appears: a moment
    that is surely before the switch of the group document (markers only exist while writing)."""
    import subprocess
    import sys
    import time

    progress = os.path.join(url, multiscale.PROGRESS_DIR)
    proc = subprocess.Popen([sys.executable, "-m", "ngffstore", *args, "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if any(name.endswith(".json") for _, _, names in os.walk(progress) for name in names):
            break
        time.sleep(0.002)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)


def _same_as(levels, reference) -> bool:
    return len(levels) == len(reference) and all(np.array_equal(a, b) for a, b in zip(levels, reference))


def test_convert_overwrite_killed_leaves_old_or_new(tmp_path, inputs):
    env = _env()
    opts = ["--chunks", "256", "--memory-target", "1MiB"]
    ref_old, ref_new = str(tmp_path / "ref_old.zarr"), str(tmp_path / "ref_new.zarr")
    assert _run(["convert", str(inputs / "old.tif"), ref_old, *opts], env).returncode == 0
    assert _run(["convert", str(inputs / "new.tif"), ref_new, *opts], env).returncode == 0
    old, new = _levels(ref_old), _levels(ref_new)
    rnd = random.Random(5)
    seen = set()
    for attempt in range(6):
        url = str(tmp_path / f"img{attempt}.zarr")
        assert _run(["convert", str(inputs / "old.tif"), url, *opts], env).returncode == 0
        if attempt % 2:  # at a random moment
            _run(["convert", str(inputs / "new.tif"), url, *opts, "--overwrite"], env,
                 kill_after=rnd.uniform(0.5, 6.0))
        else:  # surely before the switch: at the first block marker
            _kill_when_marked(["convert", str(inputs / "new.tif"), url, *opts, "--overwrite"], env, url)
        got = _levels(url)
        assert _same_as(got, old) or _same_as(got, new), f"attempt {attempt}: neither old nor new"
        seen.add("old" if _same_as(got, old) else "new")
        # a rerun of the overwrite completes it, and leaves no old level behind
        assert _run(["convert", str(inputs / "new.tif"), url, *opts, "--overwrite"], env).returncode == 0
        assert _same_as(_levels(url), new)
        image = ngffstore.open_image(url)
        paths = {ds.path for ds in image.multiscale.datasets}
        assert sorted(os.listdir(url)) == sorted(paths | {"zarr.json"})
    assert "old" in seen  # at least one kill hit the window before the switch


def test_labels_overwrite_killed_leaves_old_or_new(tmp_path, inputs):
    env = _env()
    url = str(tmp_path / "img.zarr")
    assert _run(["convert", str(inputs / "old.tif"), url, "--chunks", "256"], env).returncode == 0
    old_l = tifffile.imread(inputs / "lab_old.tif")
    new_l = tifffile.imread(inputs / "lab_new.tif")
    rnd = random.Random(6)
    for attempt in range(4):
        assert _run(["labels", "add", url, str(inputs / "lab_old.tif"), "--name", "cells", "--overwrite",
                     "--memory-target", "1MiB"], env).returncode == 0
        _run(["labels", "add", url, str(inputs / "lab_new.tif"), "--name", "cells", "--overwrite",
              "--memory-target", "1MiB"], env, kill_after=rnd.uniform(1.0, 5.0))
        labels = ngffstore.open_labels(url, "cells")
        level0 = np.asarray(labels.to_dask(0).compute())
        assert np.array_equal(level0, old_l) or np.array_equal(level0, new_l), f"attempt {attempt}"
        for i in range(1, len(labels.multiscale.datasets)):
            labels.to_dask(i).compute()  # every level is whole and readable
    assert ngffstore.list_labels(url) == ["cells"]


def test_overwrite_api_switches_paths_and_deletes_old(tmp_path):
    url = str(tmp_path / "img.zarr")
    a = np.random.default_rng(1).integers(0, 100, (600, 600), dtype=np.uint16)
    ngffstore.write_image(a, url, progress=False)
    first = [ds.path for ds in ngffstore.open_image(url).multiscale.datasets]
    ngffstore.write_image(a + 1, url, overwrite=True, progress=False)
    second = [ds.path for ds in ngffstore.open_image(url).multiscale.datasets]
    assert not set(first) & set(second)
    assert np.array_equal(_levels(url)[0], a + 1)
    assert sorted(os.listdir(url)) == sorted(set(second) | {"zarr.json"})
    assert not os.path.exists(os.path.join(url, multiscale.PROGRESS_DIR))


def test_overwrite_on_s3_switches_and_cleans(s3_bucket, s3_options):
    url = f"s3://{s3_bucket}/img.zarr"
    a = np.random.default_rng(2).integers(0, 100, (600, 600), dtype=np.uint16)
    ngffstore.write_image(a, url, storage_options=s3_options, progress=False)
    ngffstore.write_image(a + 1, url, overwrite=True, storage_options=s3_options, progress=False)
    assert np.array_equal(_levels(url, s3_options)[0], a + 1)
    image = ngffstore.open_image(url, storage_options=s3_options)
    keep = {ds.path for ds in image.multiscale.datasets} | {"zarr.json"}
    fs = image.location.fs
    fs.invalidate_cache()
    tops = {p.split("/img.zarr/", 1)[1].split("/")[0] for p in fs.find(image.location.path)}
    assert tops == keep
