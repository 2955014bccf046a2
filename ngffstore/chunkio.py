"""Writing whole chunks of a zarr array: encoded here, stored as objects, sizes reported.

The pyramid engine writes regions aligned on the chunk grid (the shard grid of a sharded array),
so every stored object is written whole and once. For plain arrays — zarr 3 with the ``bytes``
codec and at most one compressor (zstd, blosc, gzip), or zarr 2 with a compressor and no filters
— an object is just the compressor applied to the chunk's C-order bytes (edge chunks padded with
the fill value), encoded with numcodecs: this skips zarr's per-chunk machinery (an event-loop
round trip, a thread hand-off and a full comparison against the fill value for every chunk).
Any other codec chain (sharding, transpose, filters, checksums) is encoded by the array's own
zarr codec pipeline, without its storage layer. Either way the bytes are put here:

* locally, atomically and durably: a temporary file in the chunk's folder, ``fdatasync``, then
  ``os.replace`` — a reader (or a resumed run) never finds a half-written chunk; the folders
  are synced by :meth:`ChunkWriter.sync` before a block's marker is written (the pyramid
  writer defers the ``fdatasync`` and rename of a block's chunks to that sync, see
  :meth:`ChunkWriter.for_array`);
* on object storage, one PUT per object (a PUT is atomic), several at once.

Empty chunks follow zarr 3 (``zarr.core.codec_pipeline`` and ``NDBuffer.all_equal``): a chunk
(shard) equal to the fill value everywhere — edge padding included, NaN equal to a NaN fill, and
a float fill of ``0.0`` or ``-0.0`` compared bit for bit, so ``-0.0`` is not empty under ``0.0`` —
is not stored, and whatever object was stored at its key is deleted (one DELETE, no probe), unless
``write_empty_chunks`` is true (the writer's keyword, by default the array's ``config``, itself by
default ``zarr.config['array.write_empty_chunks']``), in which case every chunk is stored. A
writer told its array is new (``known_empty``, the pyramid engine's fresh arrays) skips those
deletes. :meth:`ChunkWriter.write` returns the size of every object it stored, which resume
markers and ``stored_bytes`` record. The tests compare what this module stores with zarr's own
writes, byte for byte.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from .storage import Location

_BATCH_BYTES = 64 * 2**20  # object stores: put encoded chunks concurrently, at most this much at once
_DELETE_BATCH = 64  # object stores: DELETE requests sent at once

_scratch = threading.local()


def _scratch_chunk(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A buffer of one chunk, reused by every chunk this thread encodes.

    Encoding needs each chunk contiguous (a chunk of a block is a strided view) and edge chunks
    padded; copying into one buffer per thread instead of a new array per chunk keeps the
    allocator from holding on to a trail of chunk-sized blocks (peak RSS, not just speed).
    """
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    key = (shape, dtype.str)
    buf = buffers.get(key)
    if buf is None:
        buffers.clear()  # one array's chunks at a time: drop the buffers of another shape
        buf = buffers[key] = np.empty(shape, dtype=dtype)
    return buf


#: Files (and folders) a sync makes durable with ``syncfs`` rather than one call each.
SYNCFS_FROM = 8
_libc: Any = None


def _syncfs(path: str) -> bool:
    """``syncfs(2)`` of the file system holding ``path``: False where there is none (not Linux,
    no glibc), so the caller syncs file by file; an error of the call is raised."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
            _libc.syncfs  # noqa: B018  # present in glibc since 2.14
        except (OSError, AttributeError):
            _libc = False
    if _libc is False:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.syncfs(fd) != 0:
            import ctypes

            err = ctypes.get_errno()
            raise OSError(err, f"syncfs failed: {os.strerror(err)}", path)
    finally:
        os.close(fd)
    return True


_tmp_tags: dict[int, str] = {}
_tmp_count = itertools.count()


def _tmp_tag() -> str:
    """A name part no other writer uses at the same time: random per process (a forked worker
    gets its own), then a counter (a ``uuid4`` per chunk costs a system call for its entropy)."""
    pid = os.getpid()
    tag = _tmp_tags.get(pid)
    if tag is None:
        tag = _tmp_tags[pid] = uuid.uuid4().hex[:8]
    return f"{tag}{next(_tmp_count)}"


#: Make local chunk files durable (``fdatasync`` per file, then a sync of their folders) before a
#: block's marker says they are written. Only benchmarks turn it off, to measure what it costs.
DURABLE = True


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
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}.get(str(config.get("shuffle")), None)
        if shuffle is None:
            return None
        return numcodecs.Blosc(
            cname=config.get("cname", "zstd"),
            clevel=config.get("clevel", 5),
            shuffle=shuffle,
            blocksize=config.get("blocksize", 0),
            typesize=config.get("typesize"),
        )
    return None


def _fast_encoding(array: Any) -> tuple[np.dtype, Any] | None:
    """``(stored dtype, numcodecs compressor or None)`` when numcodecs alone encodes a chunk."""
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
    return dtype, compressor


class _KeptBytes:
    """A zarr byte setter for one object that is new (nothing to read) and kept, not stored."""

    def __init__(self) -> None:
        self.value: Any = None

    async def get(self, prototype: Any = None, byte_range: Any = None) -> None:
        return None

    async def set(self, value: Any) -> None:
        self.value = value

    async def delete(self) -> None:
        self.value = None

    async def set_if_not_exists(self, default: Any) -> None:
        if self.value is None:
            self.value = default


def _fill_test(fill: np.ndarray) -> Callable[[np.ndarray], bool]:
    """``is_fill(chunk)``: whether every element of a chunk equals ``fill`` (a 0-d array of the
    chunk's dtype), as zarr 3 decides it (``NDBuffer.all_equal``): a float fill of ``0.0`` or
    ``-0.0`` is compared bit for bit, NaN equals a NaN fill, anything else compares with ``==``.
    The tests look at the first element before the whole chunk (most chunks with data differ
    there) and allocate no chunk-sized array when the fill is zero.
    """
    dtype = fill.dtype
    if dtype.kind == "f" and fill == 0:
        if dtype.itemsize not in (2, 4, 8):  # float128 and the like: compare every element's bytes
            void = f"V{dtype.itemsize}"
            return lambda chunk: bool(
                np.all(np.ascontiguousarray(chunk, dtype=dtype).view(void) == fill.reshape(1).view(void)[0])
            )
        words = np.dtype(f"u{dtype.itemsize}")
        bits: dict[np.dtype, Any] = {}  # the fill's bit pattern in each byte order seen

        def is_fill_zero(chunk: np.ndarray) -> bool:
            if chunk.dtype.kind != "f" or chunk.dtype.itemsize != dtype.itemsize:
                chunk = chunk.astype(dtype)
            pattern = bits.get(chunk.dtype)
            if pattern is None:
                pattern = bits[chunk.dtype] = fill.astype(chunk.dtype).reshape(1).view(words)[0]
            as_words = chunk.view(words)  # same item size: a view, whatever the strides
            if as_words.flat[0] != pattern:
                return False
            return not as_words.any() if pattern == 0 else bool(np.all(as_words == pattern))

        return is_fill_zero
    if dtype.kind == "f" and np.isnan(fill):
        return lambda chunk: bool(np.isnan(chunk.flat[0])) and bool(np.isnan(chunk).all())
    if dtype.kind == "c":
        return lambda chunk: bool(np.array_equal(chunk, np.broadcast_to(fill, chunk.shape), equal_nan=True))
    if dtype.kind in "SUVOT":  # strings, records, objects: plain equality, as zarr compares them
        return lambda chunk: bool(np.array_equal(chunk, np.broadcast_to(fill, chunk.shape)))

    def is_fill(chunk: np.ndarray) -> bool:
        if chunk.flat[0] != fill:
            return False
        return not chunk.any() if fill == 0 else bool(np.all(chunk == fill))

    return is_fill


class ChunkWriter:
    """Stores whole chunks (shards, for a sharded array) of one array and reports their sizes."""

    def __init__(
        self,
        *,
        location: Location,
        path: str,
        array: Any,
        write_empty_chunks: bool | None = None,
        known_empty: bool = False,
    ) -> None:
        self.location = location
        self.path = path
        self.array = array
        self.shape = tuple(array.shape)
        meta = array.metadata
        # the stored object's grid: the shard grid of a sharded array, else the chunk grid
        self.chunks = tuple(meta.chunk_grid.chunk_shape) if meta.zarr_format == 3 else tuple(meta.chunks)
        self.encode_key = meta.encode_chunk_key
        dtype = np.dtype(array.dtype)
        # zarr 2 allows a null fill value; zarr then uses the data type's default (zero)
        fill = array.fill_value
        self.fill_value = np.zeros((), dtype=dtype) if fill is None else np.asarray(fill, dtype=dtype)
        self.write_empty_chunks = bool(array.config.write_empty_chunks if write_empty_chunks is None
                                       else write_empty_chunks)
        self.known_empty = known_empty
        self._is_fill = _fill_test(self.fill_value)
        fast = _fast_encoding(array)
        self.fast = fast is not None
        self.stored_dtype: np.dtype
        self.compressor: Any
        self.stored_dtype, self.compressor = fast if fast is not None else (dtype, None)
        self._dirs: set[str] = set()
        self._written_dirs: set[str] = set()
        self.deferred = False
        # (temporary file, target) awaiting sync(); a temporary file of None: delete the target
        self._pending: list[tuple[str | None, str]] = []

    @classmethod
    def for_array(
        cls,
        location: Location,
        path: str,
        array: Any,
        *,
        deferred: bool = False,
        write_empty_chunks: bool | None = None,
        known_empty: bool = False,
    ) -> ChunkWriter:
        """A writer for ``array`` (a zarr array, at ``path`` below ``location``).

        ``deferred`` (local files): chunks are written to their temporary files at once, but
        made durable and renamed into place by :meth:`sync` (which must follow), all together:
        the disk writes them back while later chunks are encoded, and a block waits for the
        disk once instead of once per chunk. Names still never point at unsynced data.

        ``write_empty_chunks``: store chunks equal to the fill value too (``None``: the array's
        ``config``, as zarr does). ``known_empty``: the array was just created and no key is
        written twice, so an empty chunk has nothing to delete (saves a DELETE per empty chunk
        on object storage).
        """
        writer = cls(location=location, path=path, array=array, write_empty_chunks=write_empty_chunks,
                     known_empty=known_empty)
        writer.deferred = deferred and DURABLE
        return writer

    def encode(self, chunk: np.ndarray, coords: Sequence[int] = ()) -> bytes | None:
        """The stored bytes of one chunk (already full-size), or ``None`` when it is not stored:
        it equals the fill value (and ``write_empty_chunks`` is false), or, sharded, every inner
        chunk does."""
        if not self.write_empty_chunks and self._is_fill(chunk):
            return None
        if self.fast:
            if not (chunk.flags.c_contiguous and chunk.dtype == self.stored_dtype):
                buf = _scratch_chunk(chunk.shape, self.stored_dtype)
                buf[...] = chunk
                chunk = buf
            if self.compressor is None:
                return chunk.tobytes()
            return bytes(self.compressor.encode(chunk))
        return self._encode_with_zarr(chunk, tuple(coords) or (0,) * chunk.ndim)

    def _encode_with_zarr(self, chunk: np.ndarray, coords: tuple[int, ...]) -> bytes | None:
        """The object zarr's own write of this chunk stores (``None``: zarr deletes its key).

        The chunk goes through the array's codec pipeline as ``Array.__setitem__`` sends it:
        only its part inside the array (so a sharded array's edge shard holds no inner chunks
        beyond the array, even with ``write_empty_chunks``), written whole, to a byte setter that
        keeps the result instead of storing it.
        """
        from zarr.core.array_spec import ArrayConfig
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.buffer.cpu import NDBuffer
        from zarr.core.sync import sync

        async_array = self.array._async_array
        config = ArrayConfig(order=async_array.config.order, write_empty_chunks=self.write_empty_chunks)
        spec = async_array.metadata.get_chunk_spec(coords, config, default_buffer_prototype())
        inside = tuple(slice(0, min(c, n - i * c)) for i, c, n in zip(coords, self.chunks, self.shape))
        kept = _KeptBytes()
        value = NDBuffer.from_ndarray_like(cast(Any, chunk[inside]))
        sync(async_array.codec_pipeline.write([(kept, spec, inside, inside, True)], value))
        return None if kept.value is None else kept.value.to_bytes()

    def write(self, start: Sequence[int], data: np.ndarray) -> dict[str, int]:
        """Store ``data`` at ``start``, a corner on the chunk grid; ``data`` ends on it or at the edge.

        ``data`` may reach past the array's shape (a level one pixel smaller than the pyramid
        computed, see ``LevelSpec.stored_shape``): objects entirely outside are not stored.
        Returns ``{key below the location: size}`` of every object stored; the keys of chunks
        not stored (see :meth:`encode`) are deleted, unless the writer is ``known_empty``.
        """
        for s, c, n, size in zip(start, self.chunks, data.shape, self.shape):
            if s % c or ((s + n) % c and s + n < size):
                raise ValueError(f"region at {tuple(start)} of shape {data.shape} is not aligned on chunks {self.chunks}")
        first = [s // c for s, c in zip(start, self.chunks)]
        counts = [-(-min(n, max(0, size - s)) // c) for s, n, c, size in zip(start, data.shape, self.chunks, self.shape)]
        batch: dict[str, bytes] = {}
        sizes: dict[str, int] = {}
        deletes: list[str] = []
        pending = 0
        for offset in itertools.product(*(range(n) for n in counts)):
            sel = tuple(slice(o * c, (o + 1) * c) for o, c in zip(offset, self.chunks))
            chunk = data[sel]
            if chunk.shape != self.chunks:
                full = _scratch_chunk(self.chunks, self.stored_dtype) if self.fast else np.empty(self.chunks, data.dtype)
                full[...] = self.fill_value
                full[tuple(slice(0, n) for n in chunk.shape)] = chunk
                chunk = full
            coords = tuple(f + o for f, o in zip(first, offset))
            payload = self.encode(chunk, coords)
            key = f"{self.path}/{self.encode_key(coords)}"
            if payload is None:
                if self.known_empty:
                    continue
                if self.location.is_local:
                    self._delete_local(key)
                else:
                    deletes.append(self.location.key(key))
                continue
            sizes[key] = len(payload)
            if self.location.is_local:
                self._put_local(key, payload)
                continue
            batch[self.location.key(key)] = payload
            pending += len(payload)
            if pending >= _BATCH_BYTES:
                self._pipe(batch)
                batch, pending = {}, 0
        if batch:
            self._pipe(batch)
        if deletes:
            self._delete_remote(deletes)
        return sizes

    def _pipe(self, batch: dict[str, bytes]) -> None:
        """One PUT per object, concurrently (no listing, no probe)."""
        fs = self.location.fs
        fs.pipe(batch)
        # pipe invalidates the listing cache of every key's folder itself

    def _delete_remote(self, paths: list[str]) -> None:
        """One DELETE per object (absent ones included: no probe), several at once."""
        fs = self.location.fs
        if not getattr(fs, "async_impl", False):
            for path in paths:
                try:
                    fs.rm_file(path)
                except FileNotFoundError:
                    pass
            return
        from fsspec.asyn import sync

        async def one(path: str) -> None:
            try:
                await fs._rm_file(path)
            except FileNotFoundError:
                pass

        async def every() -> None:
            for first in range(0, len(paths), _DELETE_BATCH):
                await asyncio.gather(*(one(p) for p in paths[first : first + _DELETE_BATCH]))

        sync(fs.loop, every)

    def _delete_local(self, key: str) -> None:
        target = os.path.join(self.location.path, *key.split("/"))
        if self.deferred:  # in order with the renames still pending
            self._pending.append((None, target))
            return
        self._remove(target)

    def _remove(self, target: str) -> None:
        try:
            os.remove(target)
        except FileNotFoundError:
            return
        self._written_dirs.add(os.path.dirname(target))

    def _put_local(self, key: str, payload: bytes) -> None:
        target = os.path.join(self.location.path, *key.split("/"))
        folder = os.path.dirname(target)
        self._make_folder(folder)
        tmp = os.path.join(folder, f".{os.path.basename(target)}.{_tmp_tag()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            if DURABLE and not self.deferred:
                os.fdatasync(fd)
        except BaseException:
            os.close(fd)
            os.remove(tmp)
            raise
        os.close(fd)
        if self.deferred:
            self._pending.append((tmp, target))
            return
        os.replace(tmp, target)
        self._written_dirs.add(folder)

    def sync(self) -> None:
        """Make the chunk files written so far durable and in place: deferred files synced and
        renamed, then their folders synced for the renames.

        Many files are made durable by one ``syncfs`` of their file system (Linux) before the
        renames and one after, instead of an ``fdatasync`` per file and an ``fsync`` per folder:
        each of those commits the file system's journal on its own (a 20000^2 slide has 1,600
        chunk files; one ``syncfs`` costs what 6-15 ``fdatasync`` calls cost).
        """
        pending, self._pending = self._pending, []
        files = [tmp for tmp, _ in pending if tmp is not None]
        whole = DURABLE and len(files) + len(self._written_dirs) >= SYNCFS_FROM and _syncfs(self.location.path)
        if not whole:
            for tmp in files:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fdatasync(fd)
                finally:
                    os.close(fd)
        for tmp, target in pending:
            if tmp is None:
                self._remove(target)
                continue
            os.replace(tmp, target)
            self._written_dirs.add(os.path.dirname(target))
        if not DURABLE or not self._written_dirs:
            self._written_dirs.clear()
            return
        if not (whole and _syncfs(self.location.path)):
            for folder in self._written_dirs:
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._written_dirs.clear()

    def discard(self) -> None:
        """Remove the temporary files of deferred chunks not synced (a failed block)."""
        pending, self._pending = self._pending, []
        for tmp, _ in pending:
            if tmp is None:
                continue
            try:
                os.remove(tmp)
            except OSError:
                pass

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
