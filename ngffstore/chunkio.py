"""Writing whole chunks of a zarr array by encoding them directly.

The pyramid engine writes regions aligned on the chunk grid, so every chunk is written whole and
once. For plain arrays — zarr 3 with the ``bytes`` codec and at most one compressor (zstd, blosc,
gzip), or zarr 2 with a compressor and no filters — a chunk's stored object is just the
compressor applied to its C-order bytes (edge chunks padded with the fill value). Encoding that
with numcodecs and putting the bytes in the store skips zarr's per-chunk machinery (an event-loop
round trip, a thread hand-off and a full comparison against the fill value for every chunk),
which costs as much as the compression of a small chunk. Chunks equal to the fill value are not
stored, as zarr does by default.

Arrays with any other codec chain (sharding, transpose, filters, checksums) are written by zarr.
The tests read what this module writes back through zarr and compare it with zarr's own writes.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .storage import Location

_BATCH_BYTES = 64 * 2**20  # object stores: put encoded chunks concurrently, at most this much at once


def _numcodec_v3(codec: Any) -> Any:
    """The numcodecs codec equal to a zarr 3 bytes-to-bytes codec, or ``None`` if there is none."""
    import numcodecs

    doc = codec.to_dict()
    name, config = doc["name"], dict(doc.get("configuration", {}))
    if name == "zstd":
        return numcodecs.Zstd(level=config.get("level", 0), checksum=config.get("checksum", False))
    if name == "gzip":
        return numcodecs.GZip(level=config.get("level", 5))
    if name == "blosc":
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}.get(config.get("shuffle"), None)
        if shuffle is None:
            return None
        return numcodecs.Blosc(
            cname=config.get("cname", "zstd"),
            clevel=config.get("clevel", 5),
            shuffle=shuffle,
            blocksize=config.get("blocksize", 0),
        )
    return None


class ChunkWriter:
    """Stores whole chunks of one array: encoded with numcodecs, put as objects."""

    def __init__(
        self,
        *,
        location: Location,
        path: str,
        array: Any,
        stored_dtype: np.dtype,
        compressor: Any,
    ) -> None:
        self.location = location
        self.path = path
        self.shape = tuple(array.shape)
        self.chunks = tuple(array.chunks)
        self.encode_key = array.metadata.encode_chunk_key
        self.stored_dtype = stored_dtype
        self.compressor = compressor
        self.fill_value = np.asarray(array.fill_value, dtype=array.dtype)
        self._dirs: set[str] = set()

    @classmethod
    def for_array(cls, location: Location, path: str, array: Any) -> ChunkWriter | None:
        """A writer for ``array`` (at ``path`` below ``location``), or ``None`` when zarr must write it."""
        meta = array.metadata
        if meta.zarr_format == 3:
            codecs = list(meta.codecs)
            if not codecs or type(codecs[0]).__name__ != "BytesCodec" or len(codecs) > 2:
                return None
            dtype = np.dtype(array.dtype)
            endian = codecs[0].to_dict().get("configuration", {}).get("endian")
            if dtype.itemsize > 1 and endian in ("little", "big"):
                dtype = dtype.newbyteorder("<" if endian == "little" else ">")
            compressor = None
            if len(codecs) == 2:
                compressor = _numcodec_v3(codecs[1])
                if compressor is None:
                    return None
        else:
            if meta.filters or meta.order != "C":
                return None
            dtype = np.dtype(meta.dtype.to_native_dtype())
            compressor = meta.compressor
        if dtype.hasobject or dtype.kind in "SUV":
            return None
        return cls(location=location, path=path, array=array, stored_dtype=dtype, compressor=compressor)

    def encode(self, chunk: np.ndarray) -> bytes | None:
        """The stored bytes of one chunk (already full-size), or ``None`` if it equals the fill value."""
        fill = self.fill_value
        if chunk.flat[0] == fill and (not chunk.any() if fill == 0 else bool(np.all(chunk == fill))):
            return None
        chunk = np.ascontiguousarray(chunk, dtype=self.stored_dtype)
        if self.compressor is None:
            return chunk.tobytes()
        return bytes(self.compressor.encode(chunk))

    def write(self, start: Sequence[int], data: np.ndarray) -> None:
        """Store ``data`` at ``start``, a corner on the chunk grid; ``data`` ends on it or at the edge."""
        for s, c, n, size in zip(start, self.chunks, data.shape, self.shape):
            if s % c or ((s + n) % c and s + n != size):
                raise ValueError(f"region at {tuple(start)} of shape {data.shape} is not aligned on chunks {self.chunks}")
        first = [s // c for s, c in zip(start, self.chunks)]
        counts = [-(-n // c) for n, c in zip(data.shape, self.chunks)]
        batch: dict[str, bytes] = {}
        pending = 0
        for offset in itertools.product(*(range(n) for n in counts)):
            sel = tuple(slice(o * c, (o + 1) * c) for o, c in zip(offset, self.chunks))
            chunk = data[sel]
            if chunk.shape != self.chunks:
                full = np.full(self.chunks, self.fill_value, dtype=data.dtype)
                full[tuple(slice(0, n) for n in chunk.shape)] = chunk
                chunk = full
            payload = self.encode(chunk)
            if payload is None:
                continue
            key = f"{self.path}/{self.encode_key(tuple(f + o for f, o in zip(first, offset)))}"
            if self.location.is_local:
                self._put_local(key, payload)
                continue
            batch[self.location.key(key)] = payload
            pending += len(payload)
            if pending >= _BATCH_BYTES:
                self.location.fs.pipe(batch)
                batch, pending = {}, 0
        if batch:
            self.location.fs.pipe(batch)

    def _put_local(self, key: str, payload: bytes) -> None:
        target = os.path.join(self.location.path, *key.split("/"))
        self._make_folder(os.path.dirname(target))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def _make_folder(self, folder: str) -> None:
        """``os.makedirs(folder, exist_ok=True)``, one ``mkdir`` when the parent is known to exist.

        Nested chunk keys give most chunks a folder of their own, so this runs once per chunk.
        """
        if folder in self._dirs:
            return
        parent = os.path.dirname(folder)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        try:
            os.mkdir(folder)
        except FileExistsError:
            pass
        self._dirs.add(folder)
