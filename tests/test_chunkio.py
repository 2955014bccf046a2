"""Chunks encoded by ngffstore read back through zarr exactly as zarr's own writes do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from ngffstore.chunkio import ChunkWriter
from ngffstore.codecs import Compression
from ngffstore.storage import Location

COMPRESSIONS = ["zstd:3", "blosc-lz4:5", "blosc-zstd:1", "gzip:2", "none"]


def _create(location: Location, name: str, *, zarr_format: int, compression: str, dtype: str = "uint16",
            shape: tuple[int, ...] = (3, 70, 90), chunks: tuple[int, ...] = (2, 32, 32), **kwargs):
    comp = Compression.parse(compression)
    if zarr_format == 2:
        kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
    return zarr.create_array(
        location.zarr_store(), name=name, shape=shape, dtype=dtype, chunks=chunks,
        compressors=comp.zarr_compressors(zarr_format, np.dtype(dtype).itemsize), fill_value=0,
        zarr_format=zarr_format, **kwargs,
    )


def _image(shape: tuple[int, ...], dtype: str = "uint16") -> np.ndarray:
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4000, size=shape).astype(dtype)
    data[:, :32, :32] = 0  # whole chunks equal to the fill value are not stored
    return data


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_chunks_read_back_like_zarr_writes(tmp_path: Path, zarr_format: int, compression: str) -> None:
    location = Location(str(tmp_path / "store.zarr"), {})
    ours = _create(location, "ours", zarr_format=zarr_format, compression=compression)
    theirs = _create(location, "theirs", zarr_format=zarr_format, compression=compression)
    data = _image(ours.shape)
    writer = ChunkWriter.for_array(location, "ours", ours)
    assert writer is not None
    writer.write((0, 0, 0), data[:2])  # a full row of chunks, edge chunks padded
    writer.write((2, 32, 0), data[2:, 32:])  # an edge region
    writer.write((2, 0, 0), data[2:, :32])
    theirs[:] = data
    reopened = zarr.open_array(location.zarr_store(), path="ours", mode="r")
    np.testing.assert_array_equal(reopened[:], data)
    stored = sorted(p.relative_to(tmp_path / "store.zarr" / "ours") for p in (tmp_path / "store.zarr" / "ours").rglob("*")
                    if p.is_file() and not p.name.startswith((".z", "zarr.json")))
    expected = sorted(p.relative_to(tmp_path / "store.zarr" / "theirs") for p in (tmp_path / "store.zarr" / "theirs").rglob("*")
                      if p.is_file() and not p.name.startswith((".z", "zarr.json")))
    assert stored == expected  # same keys, and the all-zero chunks are absent from both


def test_big_endian_array_dtype_is_stored_as_declared(tmp_path: Path) -> None:
    location = Location(str(tmp_path / "be.zarr"), {})
    array = _create(location, "a", zarr_format=2, compression="zstd", dtype=">u2")
    data = _image(array.shape)
    ChunkWriter.for_array(location, "a", array).write((0, 0, 0), data)
    np.testing.assert_array_equal(zarr.open_array(location.zarr_store(), path="a", mode="r")[:], data)


def test_float_with_nan_fill_and_bool(tmp_path: Path) -> None:
    location = Location(str(tmp_path / "f.zarr"), {})
    array = zarr.create_array(location.zarr_store(), name="f", shape=(40, 40), chunks=(16, 16),
                              dtype="float32", fill_value=np.nan)
    data = np.full((40, 40), np.nan, dtype="float32")
    data[20:, 20:] = 1.5
    ChunkWriter.for_array(location, "f", array).write((0, 0), data)
    back = zarr.open_array(location.zarr_store(), path="f", mode="r")[:]
    np.testing.assert_array_equal(back, data)


def test_misaligned_region_is_refused(tmp_path: Path) -> None:
    location = Location(str(tmp_path / "m.zarr"), {})
    array = _create(location, "a", zarr_format=3, compression="zstd")
    writer = ChunkWriter.for_array(location, "a", array)
    with pytest.raises(ValueError, match="not aligned"):
        writer.write((0, 16, 0), np.zeros((2, 32, 32), dtype="uint16"))
    with pytest.raises(ValueError, match="not aligned"):
        writer.write((0, 0, 0), np.zeros((2, 20, 32), dtype="uint16"))


@pytest.mark.parametrize("extra", [{"shards": (2, 64, 64)}, {"filters": [zarr.codecs.TransposeCodec(order=(0, 2, 1))]}])
def test_other_codec_chains_are_encoded_by_zarr_and_match_its_writes(tmp_path: Path, extra: dict) -> None:
    """Sharded (and transposed) arrays: the objects are encoded by zarr's codec pipeline and
    put by ngffstore (atomically), byte for byte what zarr itself stores."""
    location = Location(str(tmp_path / "s.zarr"), {})
    ours = _create(location, "ours", zarr_format=3, compression="zstd", **extra)
    theirs = _create(location, "theirs", zarr_format=3, compression="zstd", **extra)
    writer = ChunkWriter.for_array(location, "ours", ours)
    assert not writer.fast
    data = _image(ours.shape)
    unit = ours.shards or ours.chunks
    sizes = writer.write((0, 0, 0), data[: unit[0]])
    sizes.update(writer.write((unit[0], 0, 0), data[unit[0]:]))
    theirs[:] = data
    np.testing.assert_array_equal(zarr.open_array(location.zarr_store(), path="ours", mode="r")[:], data)
    root = tmp_path / "s.zarr"
    for key, size in sizes.items():
        mine = (root / key).read_bytes()
        assert len(mine) == size
        assert mine == (root / key.replace("ours/", "theirs/", 1)).read_bytes()
    stored = sorted(str(p.relative_to(root / "theirs")) for p in (root / "theirs").rglob("*") if p.is_file() and p.name != "zarr.json")
    assert sorted(k.removeprefix("ours/") for k in sizes) == stored
    assert not [p for p in root.rglob("*.tmp")]  # no temporary file left behind


def test_writes_to_local_and_s3(store_url: tuple[str, dict]) -> None:
    url, options = store_url
    location = Location(f"{url}/chunks.zarr", options)
    array = _create(location, "a", zarr_format=3, compression="blosc-lz4")
    data = _image(array.shape)
    ChunkWriter.for_array(location, "a", array).write((0, 0, 0), data)
    np.testing.assert_array_equal(zarr.open_array(location.zarr_store(), path="a", mode="r")[:], data)
