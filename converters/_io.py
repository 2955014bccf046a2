"""Reaching inputs: locations, file headers, and array-likes that reopen their file per process.

Dask graphs built by the converters hold a :class:`FileArray` (a URL plus what is needed to read
it), never an open handle: each process opens the file on its first read, so the graphs pickle
and run on ``dask.distributed`` workers.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from math import prod
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from ngffstore.errors import InputError, InputNotFoundError, NgffStoreError
from ngffstore.storage import Location, storage_errors

if TYPE_CHECKING:
    import dask.array as da

READ_CHUNK_BYTES = 4 * 2**20
"""File inputs become dask chunks of about this many bytes (whole tiles, strips or rows). The
pyramid writer reads several into each block, one at a time, so small chunks keep its memory
low (converting an 8192^2 image, 24 MiB less at the peak than with 8 MiB chunks); dask's
per-chunk overhead is still small at this size."""

STRIP_ROWS = 1024
STRIP_COLUMNS = 4096
STRIP_MAX_BYTES = 32 * 2**20
"""Tiled slides and mosaics (a tiled TIFF page, a CZI scene) become dask chunks of whole tiles
up to ``STRIP_ROWS`` x ``STRIP_COLUMNS`` pixels (every sample of a pixel in one chunk). The
pyramid writer reads its first pass in strips one stored chunk high (1024 rows by default)
across blocks ``4096 * 2**k`` columns wide, so such a chunk is exactly one strip: one dask call
per strip, returned as is, where chunks of 1024 x 1024 took four calls and a copy into the
strip. dask's cost per call is several milliseconds and grows with the number of chunks in the
graph: reading the first 8192 rows of a 40,000^2 RGB JPEG slide in the writer's strips took
4.3-5.3 CPU s per GB with 1024 x 1024 chunks, 2.7-2.9 with 1024 x 4096 (decoding its tiles
alone: 1.3-1.7)."""


def strip_chunks(axes: str, shape: tuple[int, ...], file_chunks: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Dask chunks of whole ``file_chunks`` (tiles) up to ``STRIP_ROWS`` rows (axis ``Y``) and
    ``STRIP_COLUMNS`` columns (axis ``X``), narrower when a chunk would exceed
    ``STRIP_MAX_BYTES``; the other axes keep their file chunks."""
    chunks = list(file_chunks)
    y, x = axes.index("Y"), axes.index("X")
    for axis, most in ((y, STRIP_ROWS), (x, STRIP_COLUMNS)):
        tile = max(1, file_chunks[axis])
        chunks[axis] = min(shape[axis], max(tile, most // tile * tile))
    while prod(chunks) * itemsize > STRIP_MAX_BYTES and chunks[x] > file_chunks[x]:
        chunks[x] = max(file_chunks[x], chunks[x] // 2 // file_chunks[x] * file_chunks[x])
    return tuple(chunks)


# Longest suffixes first, so ``.ome.tif`` wins over ``.tif``.
_KNOWN_SUFFIXES = (
    ".ome.tiff",
    ".ome.tif",
    ".ome.btf",
    ".tiff",
    ".tif",
    ".btf",
    ".tf8",
    ".jpeg",
    ".jpg",
    ".png",
    ".npy",
    ".zarr",
)


def resolve(path_or_url: Any, storage_options: Mapping[str, Any] | None) -> Location:
    """The :class:`Location` of an input path or URL."""
    try:
        text = os.fspath(path_or_url)
    except TypeError:
        raise InputError(f"{path_or_url!r} is not a path or URL; give a file path") from None
    if not text:
        raise InputNotFoundError("empty input path; give a file path or URL")
    return Location.parse(text, storage_options)


def stem(location: Location) -> str:
    """The file name without its format suffix (``a.ome.tif`` -> ``a``)."""
    name = location.name
    lowered = name.lower()
    for suffix in _KNOWN_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return posixpath.splitext(name)[0] or name


def suffix(location: Location) -> str:
    """The format suffix of the file name, lower case (``.ome.tif``, ``.png``), or ``""``."""
    lowered = location.name.lower()
    for known in _KNOWN_SUFFIXES:
        if lowered.endswith(known):
            return known
    return posixpath.splitext(lowered)[1]


def open_binary(location: Location) -> IO[bytes]:
    """The input opened for binary reading (a local file or an fsspec file)."""
    with storage_errors(location, "read"):
        if location.is_local:
            return open(location.path, "rb")  # the caller closes it
        return location.fs.open(location.path, "rb")


def file_size(location: Location) -> int:
    with storage_errors(location, "read"):
        if location.is_local:
            return os.path.getsize(location.path)
        return int(location.fs.size(location.path))


def file_token(location: Location) -> str:
    """A token that changes when the file does (size and, locally, modification time)."""
    from dask.base import tokenize

    if location.is_local:
        stat = os.stat(location.path)
        return tokenize(location.url, stat.st_size, stat.st_mtime_ns)
    return tokenize(location.url, dict(location.storage_options), file_size(location))


def short(exc: BaseException) -> str:
    """An exception as one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."


def native(dtype: np.dtype) -> np.dtype:
    """``dtype`` in the machine's byte order (big-endian TIFFs decode to big-endian arrays)."""
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


class FileArray(ABC):
    """An array-like over one file: ``shape``, ``dtype`` and ``__getitem__`` for dask.

    The file is opened on the first read in each process and closed when the object is
    collected. Pickling keeps only the constructor's state, never the open handle.
    """

    prefix = "file"

    def __init__(self, location: Location, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.location = location
        self.shape = tuple(int(n) for n in shape)
        self.dtype = native(np.dtype(dtype))
        self._lock = threading.Lock()
        self._array: Any = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @abstractmethod
    def _open(self) -> tuple[Any, Callable[[], None]]:
        """Open the file: an indexable array and a function that closes it."""

    def _opened(self) -> Any:
        with self._lock:
            if self._array is None:
                array, close = self._open()
                weakref.finalize(self, close)
                self._array = array
            return self._array

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            # readers return fresh arrays: converted (byte order) only when needed, never copied
            return np.asarray(self._opened()[key], dtype=self.dtype)
        except NgffStoreError:
            raise
        except Exception as exc:  # any decoder failure is a bad file, not a bug of the caller
            raise InputError(
                f"cannot read {self.location.url}: {short(exc)}; "
                "the file may be truncated or corrupt, re-copy or re-export it"
            ) from exc

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        state["_array"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def to_dask(self, chunks: tuple[int, ...], *token: Any) -> da.Array:
        """A dask array reading ``chunks`` of this file; ``token`` distinguishes views of it."""
        import dask.array as da
        from dask.base import tokenize

        name = f"{self.prefix}-{tokenize(file_token(self.location), chunks, *token)}"
        meta = np.empty((0,) * self.ndim, dtype=self.dtype)
        return da.from_array(self, chunks=chunks, name=name, asarray=False, fancy=False, meta=meta)


class ContiguousArray(FileArray):
    """Uncompressed data stored contiguously (C or Fortran order) at ``offset`` of a file.

    A region is read with one positioned read per run of whole rows (``os.preadv`` locally,
    ranged GETs on object stores, fetched concurrently), straight into the result. Nothing is
    memory-mapped, so pages of the file never count towards the reader's memory.
    """

    prefix = "contiguous"

    def __init__(
        self,
        location: Location,
        offset: int,
        shape: tuple[int, ...],
        dtype: Any,
        *,
        fortran_order: bool = False,
    ) -> None:
        super().__init__(location, shape, dtype)
        self.offset = int(offset)
        self.file_dtype = np.dtype(dtype)
        self.fortran_order = fortran_order

    def _open(self) -> tuple[Any, Callable[[], None]]:
        if self.location.is_local:
            fd = os.open(self.location.path, os.O_RDONLY)
            return _RunReader(self, _LocalRanges(fd)), lambda: os.close(fd)
        return _RunReader(self, _RemoteRanges(self.location)), _nothing


def _nothing() -> None:
    """Nothing to close."""


class _LocalRanges:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read_into(self, runs: list[tuple[int, memoryview]]) -> None:
        for offset, view in runs:
            done = 0
            while done < len(view):
                n = os.preadv(self.fd, [view[done:]], offset + done)
                if n <= 0:
                    raise EOFError(f"file ends before byte {offset + len(view)}")
                done += n


class _RemoteRanges:
    def __init__(self, location: Location) -> None:
        self.location = location

    def read_into(self, runs: list[tuple[int, memoryview]]) -> None:
        path = self.location.path
        with storage_errors(self.location, "read"):
            parts = self.location.fs.cat_ranges(
                [path] * len(runs), [o for o, _ in runs], [o + len(v) for o, v in runs]
            )
        for (_, view), part in zip(runs, parts):
            if isinstance(part, BaseException):
                raise part
            if len(part) != len(view):
                raise EOFError(f"file ends before byte {len(view)} of a run")
            view[:] = part


class _RunReader:
    """``__getitem__`` over a :class:`ContiguousArray`: whole rows read, columns sliced after."""

    def __init__(self, array: ContiguousArray, ranges: Any) -> None:
        self.array = array
        self.ranges = ranges

    def __getitem__(self, key: Any) -> np.ndarray:
        a = self.array
        shape = a.shape[::-1] if a.fortran_order else a.shape
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (len(shape) - len(key))
        if a.fortran_order:
            key = key[::-1]
        # what to read per axis (a range), and how to pick the selection out of it afterwards
        read: list[tuple[int, int]] = []
        pick: list[Any] = []
        for i, (k, n) in enumerate(zip(key, shape)):
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                if step > 0 and i < len(shape) - 1:
                    read.append((start, max(start, stop)))
                    pick.append(slice(0, max(0, stop - start), step))
                else:  # whole rows are read; negative steps pick from the whole axis
                    read.append((0, n))
                    empty = not len(range(start, stop, step))
                    pick.append(slice(0, 0) if empty else slice(start, stop if stop >= 0 else None, step))
            else:
                j = int(k) + (n if int(k) < 0 else 0)
                if not 0 <= j < n:
                    raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
                read.append((j, j + 1) if i < len(shape) - 1 else (0, n))
                pick.append(0 if i < len(shape) - 1 else j)
        out = np.empty([hi - lo for lo, hi in read], dtype=a.file_dtype)
        if out.size:
            # axes after k are read whole, so each index of the axes before k is one run
            k = len(shape) - 1
            while k > 0 and read[k] == (0, shape[k]):
                k -= 1
            itemsize = a.file_dtype.itemsize
            strides = [itemsize * prod(shape[i + 1:]) for i in range(len(shape))]
            run = (read[k][1] - read[k][0]) * strides[k]
            flat = out.reshape(-1).view(np.uint8)
            runs = []
            for n, lead in enumerate(itertools.product(*(range(lo, hi) for lo, hi in read[:k]))):
                start = a.offset + sum(i * s for i, s in zip(lead, strides)) + read[k][0] * strides[k]
                runs.append((start, memoryview(flat[n * run:(n + 1) * run])))
            self.ranges.read_into(runs)
        result = out[tuple(pick)]
        return result.T if a.fortran_order else result
