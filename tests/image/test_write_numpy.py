"""The writer's numpy path (no dask) stores the same bytes as its dask path."""

from __future__ import annotations

import os
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest

import ngffstore
from ngffstore import multiscale


def _objects(url: str) -> dict[str, bytes]:
    """Every stored chunk object and level array document (not the group document, which
    holds the provenance's times), by key."""
    out = {}
    for folder, _, files in os.walk(url):
        for name in files:
            path = os.path.join(folder, name)
            key = os.path.relpath(path, url)
            if key in ("zarr.json", ".zattrs", ".zgroup"):
                continue
            with open(path, "rb") as fh:
                out[key] = fh.read()
    return out


CASES = [
    # shape, dtype, axes, chunks, memory target (several blocks and passes), extra options
    ((700, 900), np.uint16, "yx", 128, 2**17, {}),
    ((2, 5, 301, 257), np.uint8, "czyx", 64, 2**16, {"downsample_z": True}),
    ((3, 640, 480), np.uint8, "cyx", 128, 2**17, {}),
    ((1, 2, 3, 200, 300), np.float32, "tczyx", 100, 2**18, {"ngff_version": "0.4"}),
    ((513, 1025), np.int16, "yx", 256, 2**20, {"method": "max", "compression": "blosc-lz4"}),
    ((400, 400), np.uint16, "yx", 64, 2**16, {"shards": 128}),
]


@pytest.mark.parametrize(("shape", "dtype", "axes", "chunks", "target", "extra"), CASES)
def test_numpy_and_dask_paths_store_identical_bytes(tmp_path, monkeypatch, shape, dtype, axes, chunks, target, extra):
    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind == "f":
        a = rng.normal(100, 30, shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
        a[..., : shape[-2] // 3, :] = 0  # empty chunks too
    common = dict(axes=axes, chunks=chunks, min_size=32, memory_target=target, progress=False, **extra)

    calls = {"threads": 0, "dask": 0}
    run_threads, run_dask = multiscale._run_threads, multiscale._run_dask

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(multiscale, "_run_threads", counting("threads", run_threads))
    monkeypatch.setattr(multiscale, "_run_dask", counting("dask", run_dask))
    ngffstore.write_image(a, str(tmp_path / "np.zarr"), **common)
    assert calls["dask"] == 0 and calls["threads"] >= 1
    ngffstore.write_image(da.from_array(a, chunks=37), str(tmp_path / "dask.zarr"), **common)
    assert calls["dask"] >= 1
    stored_np, stored_dask = _objects(str(tmp_path / "np.zarr")), _objects(str(tmp_path / "dask.zarr"))
    assert stored_np.keys() == stored_dask.keys()
    assert len(stored_np) > 4
    for key in stored_np:
        assert stored_np[key] == stored_dask[key], key


def test_numpy_data_written_without_dask(tmp_path):
    """The pyramid engine writes a numpy array without importing dask (the small-image path of
    ``ngffstore convert``)."""
    code = f"""
import sys
import numpy as np
from ngffstore import multiscale
from ngffstore.codecs import Compression
from ngffstore.pyramid import level_factors
from ngffstore.storage import Location

a = np.arange(700 * 900, dtype=np.uint16).reshape(700, 900) % 4099
spec = multiscale.PyramidSpec.build(
    shape=a.shape, dtype=a.dtype, axes="yx", factors=level_factors(a.shape, "yx", min_size=64),
    chunks=(128, 128), shards=None, compression=Compression(), zarr_format=3, method="mean")
location = Location.parse({str(tmp_path / "img.zarr")!r})
multiscale.create_arrays(location, spec)
result = multiscale.write_pyramid(a, location, spec, memory_target=2**17, progress=False, sample_planes=4)
assert len(result.sizes) > 30 and result.sample is not None
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed", "tqdm"))
assert not loaded, loaded
"""
    subprocess.run([sys.executable, "-c", code], check=True)
