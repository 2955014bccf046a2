"""Reaching inputs: locations, file headers, and array-likes that reopen their file per process.

Dask graphs built by the converters hold a :class:`FileArray` (a URL plus what is needed to read
it), never an open handle: each process opens the file on its first read, so the graphs pickle
and run on ``dask.distributed`` workers.
"""

from __future__ import annotations

import os
import posixpath
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import IO, Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from ngffstore.errors import InputError, InputNotFoundError, NgffStoreError
from ngffstore.storage import Location, storage_errors

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
            # a copy, also of memory-mapped data: chunks must not pin the file's pages
            return np.array(self._opened()[key], dtype=self.dtype)
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
        name = f"{self.prefix}-{tokenize(file_token(self.location), chunks, *token)}"
        meta = np.empty((0,) * self.ndim, dtype=self.dtype)
        return da.from_array(self, chunks=chunks, name=name, asarray=False, fancy=False, meta=meta)
