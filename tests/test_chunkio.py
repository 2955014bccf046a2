"""Chunks encoded by ngffstore read back through zarr exactly as zarr's own writes do."""

from __future__ import annotations

import os
from pathlib import Path

import numcodecs
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


# -- byte for byte against zarr's own encoder, empty chunks included ----------------------------

#: (name, zarr 2 compressor, zarr 3 compressor) for every compressor chunkio encodes itself
CODECS = {
    "zstd": (lambda: numcodecs.Zstd(level=3), lambda: zarr.codecs.ZstdCodec(level=3)),
    "blosc-lz4-shuffle": (lambda: numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
                          lambda: zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")),
    "blosc-zstd-bitshuffle": (lambda: numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE),
                              lambda: zarr.codecs.BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")),
    "gzip": (lambda: numcodecs.GZip(level=2), lambda: zarr.codecs.GzipCodec(level=2)),
    "none": (lambda: None, lambda: None),
}
#: (dtype, fill value): integers, NaN fill, and the two float zeros (told apart bit for bit)
FILLS = [("uint16", 0), ("float32", float("nan")), ("float32", 0.0), ("float64", -0.0)]
LAYOUTS = ["v2", "v3", "v3-sharded"]
SHAPE, CHUNKS, SHARDS = (5, 40, 50), (2, 16, 16), (2, 32, 32)


def _parity_array(location: Location, name: str, *, layout: str, codec: str, endian: str, dtype: str,
                  fill: float, config: dict | None = None):
    v2, v3 = CODECS[codec]
    kwargs: dict = {"config": config} if config is not None else {}
    if layout == "v2":
        np_dtype = np.dtype(dtype).newbyteorder("<" if endian == "little" else ">")
        compressor = v2()
        return zarr.create_array(
            location.zarr_store(), name=name, shape=SHAPE, chunks=CHUNKS, dtype=np_dtype, fill_value=fill,
            zarr_format=2, compressors=[compressor] if compressor is not None else None,
            chunk_key_encoding={"name": "v2", "separator": "/"}, **kwargs,
        )
    compressor = v3()
    if layout == "v3-sharded":
        kwargs["shards"] = SHARDS
    return zarr.create_array(
        location.zarr_store(), name=name, shape=SHAPE, chunks=CHUNKS, dtype=dtype, fill_value=fill,
        zarr_format=3, serializer=zarr.codecs.BytesCodec(endian=endian),
        compressors=[compressor] if compressor is not None else None, **kwargs,
    )


def _parity_data(dtype: str, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Two versions of an array: the second empties some chunks of the first and fills one.

    Chunks (2, 16, 16), shards (2, 32, 32), shape (5, 40, 50): every axis ends in an edge chunk.
    """
    rng = np.random.default_rng(7)
    first = rng.integers(1, 4000, size=SHAPE).astype(dtype)
    if first.dtype.kind == "f":
        first[1, 20:30, 20:30] = np.nan  # NaN inside a chunk with data
    first[0:2, 0:16, 0:16] = fill  # an empty chunk inside a shard with data
    first[2:4, 0:32, 0:32] = fill  # an empty shard (four empty chunks)
    first[4:5, 32:40, 48:50] = fill  # the corner edge chunk: empty once padded with the fill
    if first.dtype.kind == "f":
        other_zero = -0.0 if not np.signbit(fill) else 0.0  # NaN fill: -0.0 is data too
        first[2:4, 32:40, 0:16] = other_zero  # zarr compares float zeros bit for bit: stored
    second = first.copy()
    second[0:2, 16:32, 16:32] = fill  # data -> empty: its object goes
    second[0:2, 32:40, 32:50] = fill  # a whole edge shard -> empty
    second[0:2, 0:16, 0:16] = 1  # empty -> data
    return first, second


def _gzip_mtime_cleared(data: bytes, *, sharded: bool) -> bytes:
    """``data`` with the MTIME field of its gzip member(s) zeroed: the one byte range a gzip
    encoder fills with the clock (each inner chunk of a shard, found through the shard index)."""
    out = bytearray(data)
    if not sharded:
        starts = [0]
    else:
        n = int(np.prod([s // c for s, c in zip(SHARDS, CHUNKS)]))
        index = np.frombuffer(data[-(16 * n + 4):-4], dtype="<u8").reshape(n, 2)
        starts = [int(o) for o, _ in index if o != 2**64 - 1]
    for start in starts:
        assert out[start : start + 3] == b"\x1f\x8b\x08"
        out[start + 4 : start + 8] = bytes(4)
    return bytes(out)


def _objects(root: Path, *, gzip: str | None = None) -> dict[str, bytes]:
    """Every chunk object below ``root`` (not the metadata documents), by key; ``gzip`` (the
    layout of a gzip-compressed array): with the gzip members' timestamps cleared."""
    objects = {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name not in (".zarray", ".zattrs", "zarr.json")
    }
    if gzip is not None:
        objects = {k: _gzip_mtime_cleared(v, sharded=gzip == "v3-sharded") for k, v in objects.items()}
    return objects


def _unit(layout: str) -> tuple[int, ...]:
    return SHARDS if layout == "v3-sharded" else CHUNKS


def _grid(layout: str) -> int:
    return int(np.prod([-(-s // u) for s, u in zip(SHAPE, _unit(layout))]))


def _key(layout: str, coords: tuple[int, ...]) -> str:
    return "/".join(map(str, coords)) if layout == "v2" else "c/" + "/".join(map(str, coords))


def _write_both(location: Location, ours, theirs, data: np.ndarray, *, upto: int | None = None, **writer) -> None:
    """``data`` (or its first ``upto`` planes) written by ChunkWriter into ``ours`` and by zarr into ``theirs``."""
    part = data if upto is None else data[:upto]
    w = ChunkWriter.for_array(location, ours.path, ours, **writer)
    w.write((0, 0, 0), part)
    w.sync()
    theirs[: part.shape[0]] = part


@pytest.mark.parametrize("dtype,fill", FILLS, ids=[f"{d}-fill{f}" for d, f in FILLS])
@pytest.mark.parametrize("endian", ["little", "big"])
@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_objects_equal_zarr_writes_and_emptied_chunks_are_deleted(
    tmp_path: Path, layout: str, codec: str, endian: str, dtype: str, fill: float
) -> None:
    """Every stored object is byte for byte what zarr stores, for every codec, byte order and
    layout; chunks that are empty (fill everywhere, NaN for a NaN fill, padding included) are
    absent exactly where zarr leaves them absent, also after a rewrite empties stored chunks."""
    location = Location(str(tmp_path / "p.zarr"), {})
    spec = {"layout": layout, "codec": codec, "endian": endian, "dtype": dtype, "fill": fill}
    ours = _parity_array(location, "ours", **spec)
    theirs = _parity_array(location, "theirs", **spec)
    writer = ChunkWriter.for_array(location, "ours", ours)
    assert writer.fast == (layout != "v3-sharded")
    if writer.fast:
        assert writer.stored_dtype == np.dtype(dtype).newbyteorder("<" if endian == "little" else ">")
    first, second = _parity_data(dtype, fill)
    _write_both(location, ours, theirs, first)
    gz = layout if codec == "gzip" else None
    before_ours, before_theirs = _objects(tmp_path / "p.zarr" / "ours", gzip=gz), _objects(tmp_path / "p.zarr" / "theirs", gzip=gz)
    assert before_ours == before_theirs
    assert _key(layout, (1, 0, 0)) not in before_ours  # the empty shard (z 2:4, y and x 0:32)
    if layout == "v3-sharded":
        assert _key(layout, (0, 0, 0)) in before_ours  # one empty inner chunk: the shard stays
    else:
        assert _key(layout, (0, 0, 0)) not in before_ours and _key(layout, (2, 2, 3)) not in before_ours
        if np.dtype(dtype).kind == "f":
            assert _key(layout, (1, 2, 0)) in before_ours  # the other float zero is data
    _write_both(location, ours, theirs, second, upto=2)  # rewrite z 0:2 only
    after_ours, after_theirs = _objects(tmp_path / "p.zarr" / "ours", gzip=gz), _objects(tmp_path / "p.zarr" / "theirs", gzip=gz)
    assert after_ours == after_theirs
    gone = {_key(layout, (0, 1, 1))} if layout == "v3-sharded" else {_key(layout, (0, 1, 1)), _key(layout, (0, 2, 3))}
    assert gone <= set(before_ours) and not gone & set(after_ours)  # emptied by the rewrite: deleted
    np.testing.assert_array_equal(zarr.open_array(location.zarr_store(), path="ours", mode="r")[:],
                                  np.concatenate([second[:2], first[2:]]))
    assert not list((tmp_path / "p.zarr").rglob("*.tmp"))


@pytest.mark.parametrize("dtype,fill", FILLS, ids=[f"{d}-fill{f}" for d, f in FILLS])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_write_empty_chunks_stores_every_chunk_like_zarr(tmp_path: Path, layout: str, dtype: str, fill: float) -> None:
    """With write_empty_chunks (the array's config, as zarr reads it) every chunk is stored,
    empty ones (and empty inner chunks of a shard) included, byte for byte as zarr stores them."""
    location = Location(str(tmp_path / "w.zarr"), {})
    spec = {"layout": layout, "codec": "zstd", "endian": "little", "dtype": dtype, "fill": fill,
            "config": {"write_empty_chunks": True}}
    ours = _parity_array(location, "ours", **spec)
    theirs = _parity_array(location, "theirs", **spec)
    first, second = _parity_data(dtype, fill)
    _write_both(location, ours, theirs, first)
    _write_both(location, ours, theirs, second, upto=2)
    stored = _objects(tmp_path / "w.zarr" / "ours")
    assert stored == _objects(tmp_path / "w.zarr" / "theirs")
    assert len(stored) == _grid(layout)  # nothing skipped, nothing deleted


def test_write_empty_chunks_from_zarr_config_and_keyword(tmp_path: Path) -> None:
    """``write_empty_chunks`` comes from the keyword, else the array's config, which zarr takes
    from ``zarr.config['array.write_empty_chunks']`` when the array object is made."""
    location = Location(str(tmp_path / "c.zarr"), {})
    data = np.zeros((32, 32), dtype="uint8")
    data[:16, :16] = 5

    def stored(array, **kw) -> int:
        writer = ChunkWriter.for_array(location, array.path, array, **kw)
        return len(writer.write((0, 0), data))

    default = zarr.create_array(location.zarr_store(), name="d", shape=(32, 32), chunks=(16, 16), dtype="uint8")
    assert stored(default) == 1
    assert stored(default, write_empty_chunks=True) == 4
    with zarr.config.set({"array.write_empty_chunks": True}):
        configured = zarr.create_array(location.zarr_store(), name="g", shape=(32, 32), chunks=(16, 16), dtype="uint8")
    assert stored(configured) == 4
    assert stored(configured, write_empty_chunks=False) == 1
    assert sorted(_objects(tmp_path / "c.zarr" / "g")) == ["c/0/0"]  # the rewrite deleted the other three


def test_known_empty_writer_deletes_nothing(tmp_path: Path) -> None:
    """A writer told its array is new skips the delete of empty chunks (a stale object stays)."""
    location = Location(str(tmp_path / "k.zarr"), {})
    array = zarr.create_array(location.zarr_store(), name="a", shape=(16, 32), chunks=(16, 16), dtype="uint8")
    full = np.ones((16, 32), dtype="uint8")
    ChunkWriter.for_array(location, "a", array).write((0, 0), full)
    ChunkWriter.for_array(location, "a", array, known_empty=True).write((0, 0), np.zeros_like(full))
    assert sorted(_objects(tmp_path / "k.zarr" / "a")) == ["c/0/0", "c/0/1"]
    ChunkWriter.for_array(location, "a", array).write((0, 0), np.zeros_like(full))
    assert _objects(tmp_path / "k.zarr" / "a") == {}


def test_deferred_writes_and_deletes_keep_their_order(tmp_path: Path) -> None:
    """Deferred (local) writers apply renames and deletes in the order they were asked for."""
    location = Location(str(tmp_path / "o.zarr"), {})
    array = zarr.create_array(location.zarr_store(), name="a", shape=(16, 16), chunks=(16, 16), dtype="uint8")
    writer = ChunkWriter.for_array(location, "a", array, deferred=True)
    writer.write((0, 0), np.ones((16, 16), dtype="uint8"))
    writer.write((0, 0), np.zeros((16, 16), dtype="uint8"))
    writer.sync()
    assert _objects(tmp_path / "o.zarr" / "a") == {}
    writer.write((0, 0), np.zeros((16, 16), dtype="uint8"))
    writer.write((0, 0), np.full((16, 16), 2, dtype="uint8"))
    writer.sync()
    np.testing.assert_array_equal(zarr.open_array(location.zarr_store(), path="a", mode="r")[:], 2)
    assert not list((tmp_path / "o.zarr").rglob("*.tmp"))


@pytest.mark.parametrize("layout", ["v3", "v3-sharded"])
def test_s3_rewrite_as_fill_is_one_delete_per_object_no_probe(s3_server, s3_bucket: str, s3_options: dict,
                                                                 layout: str) -> None:
    location = Location(f"s3://{s3_bucket}/d.zarr", s3_options)
    spec = {"layout": layout, "codec": "zstd", "endian": "little", "dtype": "float32", "fill": float("nan")}
    array = _parity_array(location, "a", **spec)
    data = np.arange(np.prod(SHAPE), dtype="float32").reshape(SHAPE)
    ChunkWriter.for_array(location, "a", array).write((0, 0, 0), data)
    emptied = data.copy()
    emptied[0:2] = np.nan  # the first row of objects becomes all fill
    units = -(-SHAPE[1] // _unit(layout)[1]) * -(-SHAPE[2] // _unit(layout)[2])
    with s3_server.count() as log:
        sizes = ChunkWriter.for_array(location, "a", array).write((0, 0, 0), emptied[:2])
    assert sizes == {}
    assert log.count("DELETE", prefix="d.zarr/a/c/0/") == units == len(log), log.summary()
    assert log.count("HEAD") == 0 and log.count("LIST") == 0, log.summary()
    back = zarr.open_array(Location(f"s3://{s3_bucket}/d.zarr", s3_options).zarr_store(), path="a", mode="r")
    np.testing.assert_array_equal(back[:], emptied)
    with s3_server.count() as log:
        ChunkWriter.for_array(location, "a", array, known_empty=True).write((2, 0, 0), emptied[2:4] * np.nan)
    assert len(log) == 0, log.summary()  # a new array's empty chunks cost no request


@pytest.mark.parametrize("write_empty", [False, True])
def test_zarr2_filters_are_encoded_by_zarr_and_match_its_writes(tmp_path: Path, write_empty: bool) -> None:
    """A zarr 2 array with filters goes through zarr's own write path too, empty chunks included."""
    location = Location(str(tmp_path / "f2.zarr"), {})
    kwargs = {"filters": [numcodecs.Delta(dtype="<u2")], "config": {"write_empty_chunks": write_empty}}
    ours = _create(location, "ours", zarr_format=2, compression="zstd", **kwargs)
    theirs = _create(location, "theirs", zarr_format=2, compression="zstd", **kwargs)
    writer = ChunkWriter.for_array(location, "ours", ours)
    assert not writer.fast and writer.write_empty_chunks == write_empty
    data = _image(ours.shape)
    writer.write((0, 0, 0), data)
    theirs[:] = data
    stored = _objects(tmp_path / "f2.zarr" / "ours")
    assert stored == _objects(tmp_path / "f2.zarr" / "theirs")
    assert ("0/0/0" in stored) == write_empty  # the all-zero chunk


_NAN_PAYLOAD = np.array([0x7FC00001], dtype="<u4").view("<f4")[0]  # a NaN with other bits than np.nan
FILL_CASES = [
    ("uint16", 0, [[0, 0], [0, 1], [1, 1]]),
    ("int8", -3, [[-3, -3], [-3, 0]]),
    ("bool", False, [[False, False], [False, True]]),
    ("bool", True, [[True, True], [True, False]]),
    ("<f4", 0.0, [[0.0, 0.0], [0.0, -0.0], [-0.0, -0.0], [0.0, np.nan]]),
    (">f8", -0.0, [[-0.0, -0.0], [0.0, -0.0], [0.0, 0.0]]),
    ("<f2", 0.0, [[0.0, 0.0], [0.0, -0.0]]),
    ("<f4", np.nan, [[np.nan, np.nan], [np.nan, _NAN_PAYLOAD], [np.nan, 0.0], [0.0, 0.0]]),
    ("<f4", 1.5, [[1.5, 1.5], [1.5, np.nan], [1.5, 2.0]]),
    ("<c8", complex(np.nan, 0), [[complex(np.nan, 0)] * 2, [complex(np.nan, 1), complex(0, np.nan)], [0j, 0j]]),
    ("<c8", 0j, [[0j, 0j], [0j, complex(-0.0, 0)], [0j, 1j]]),
    ("S2", b"", [[b"", b""], [b"", b"a"]]),
]


@pytest.mark.parametrize("dtype,fill,chunks", FILL_CASES, ids=[f"{d}-{f}" for d, f, _ in FILL_CASES])
def test_empty_chunk_rule_is_zarrs(dtype: str, fill, chunks: list) -> None:
    """The emptiness test agrees with zarr's own (``NDBuffer.all_equal``, what its writes use)
    on every case: float zeros bit for bit, NaN payloads, byte orders, strided chunks."""
    from zarr.core.buffer.cpu import NDBuffer

    from ngffstore.chunkio import _fill_test

    fill_0d = np.asarray(fill, dtype=dtype)
    is_fill = _fill_test(fill_0d)
    outcomes = []
    for values in chunks:
        chunk = np.asarray(values, dtype=dtype)
        strided = np.repeat(chunk, 2)[::2]  # the same values, not contiguous
        zarr_says = NDBuffer.from_numpy_array(chunk).all_equal(fill_0d[()])
        assert is_fill(chunk) == zarr_says == is_fill(strided), values
        outcomes.append(zarr_says)
    assert outcomes[0] and not all(outcomes)  # each case has an empty chunk and a non-empty one


@pytest.mark.parametrize("available", [True, False])
def test_sync_of_many_files_is_one_syncfs_before_and_after_the_renames(tmp_path: Path, monkeypatch,
                                                                      available: bool) -> None:
    """A deferred writer with many chunk files makes them durable with syncfs (one call before the
    renames, one after); without syncfs (not Linux) it syncs file by file and folder by folder."""
    from ngffstore import chunkio

    location = Location(str(tmp_path / "o.zarr"), {})
    array = zarr.create_array(location.zarr_store(), name="a", shape=(64, 64), chunks=(8, 8), dtype="uint8")
    calls: list[str] = []
    real_syncfs, real_fdatasync, real_fsync = chunkio._syncfs, os.fdatasync, os.fsync

    def syncfs(path: str) -> bool:
        # what is on disk when it is called: no chunk renamed yet before the first call
        placed = [p for p in (tmp_path / "o.zarr" / "a").rglob("*") if p.is_file() and p.suffix != ".tmp"]
        calls.append(f"syncfs:{len(placed) - 1}")  # the array's zarr.json left out
        return real_syncfs(path) if available else False

    monkeypatch.setattr(chunkio, "_syncfs", syncfs)
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append("fdatasync"), real_fdatasync(fd))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    writer = ChunkWriter.for_array(location, "a", array, deferred=True)
    data = np.arange(64 * 64, dtype="uint8").reshape(64, 64) | 1
    writer.write((0, 0), data)
    writer.sync()
    np.testing.assert_array_equal(zarr.open_array(location.zarr_store(), path="a", mode="r")[:], data)
    assert not list((tmp_path / "o.zarr").rglob("*.tmp"))
    if available:
        assert calls == ["syncfs:0", "syncfs:64"]
    else:  # 64 files and 8 folders (one per chunk row)
        assert calls == ["syncfs:0"] + ["fdatasync"] * 64 + ["fsync"] * 8


def test_sync_of_few_files_stays_per_file(tmp_path: Path, monkeypatch) -> None:
    from ngffstore import chunkio

    location = Location(str(tmp_path / "o.zarr"), {})
    array = zarr.create_array(location.zarr_store(), name="a", shape=(16, 16), chunks=(8, 16), dtype="uint8")
    monkeypatch.setattr(chunkio, "_syncfs", lambda path: pytest.fail("syncfs for two files"))
    writer = ChunkWriter.for_array(location, "a", array, deferred=True)
    writer.write((0, 0), np.ones((16, 16), dtype="uint8"))
    writer.sync()
    assert len(_objects(tmp_path / "o.zarr" / "a")) == 2
