"""``open_source``: find an input's format (from its content, then its suffix) and open it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ngffstore.errors import InputError, InputNotFoundError
from ngffstore.storage import Location, storage_errors

from ._io import file_size, open_binary, resolve, suffix
from .arrays import open_npy, open_zarr
from .base import Source
from .planar import open_planar
from .tiff import open_tiff

SUPPORTED_SUFFIXES = (
    ".tif",
    ".tiff",
    ".ome.tif",
    ".ome.tiff",
    ".btf",
    ".tf8",
    ".png",
    ".jpg",
    ".jpeg",
    ".npy",
    ".zarr",
)
"""File name suffixes :func:`open_source` reads (a Zarr array is found by its metadata)."""

_MAGIC = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x93NUMPY", "npy"),
)
_SUFFIX_FORMATS = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".ome.tif": "tiff",
    ".ome.tiff": "tiff",
    ".ome.btf": "tiff",
    ".btf": "tiff",
    ".tf8": "tiff",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".npy": "npy",
    ".zarr": "zarr",
}
_FORMAT_NAMES = {
    "tiff": "TIFF",
    "png": "PNG",
    "jpeg": "JPEG",
    "npy": "NumPy .npy",
    "zarr": "Zarr array",
}


def open_source(
    path_or_url: str | os.PathLike[str],
    *,
    series: int | None = None,
    axes: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Source:
    """Open an input image lazily: a dask array plus what the file says about it.

    Parameters
    ----------
    path_or_url
        A local path or fsspec URL (``s3://``, ``https://``, ``file://``...) of a TIFF (incl.
        BigTIFF, OME-TIFF, ImageJ), PNG, JPEG or ``.npy`` file, or of a Zarr (v2/v3) array.
    series
        Which image of a multi-series TIFF to open (default 0).
    axes
        One letter from ``tczyx`` per dimension of the input, in the input's order
        (case-insensitive, e.g. ``"zyx"``, ``"YXC"``); overrides inference. The data are
        transposed to canonical ``tczyx`` order.
    storage_options
        fsspec options for URLs (credentials, endpoint).

    Returns
    -------
    Source
        ``data`` is a lazy dask array whose graph reopens the input by URL (it pickles).

    Raises
    ------
    InputNotFoundError
        Nothing exists at ``path_or_url``.
    AxesError
        The axes cannot be inferred, or ``axes`` does not fit the input.
    InputError
        The input is a folder, empty, truncated, corrupt, or of an unsupported format.
    """
    location = resolve(path_or_url, storage_options)
    where = location.url
    if _is_zarr(location):
        _single_image(series, where)
        return open_zarr(location, axes=axes)
    with storage_errors(location, "read"):
        fs = location.fs
        if not fs.exists(location.path):
            raise InputNotFoundError(f"{where}: no such file; check the path")
        if fs.isdir(location.path):
            raise InputError(
                f"{where} is a folder, not an image file or a Zarr array; "
                f"give a file ({', '.join(SUPPORTED_SUFFIXES)})"
            )
    if file_size(location) == 0:
        raise InputError(f"{where} is an empty file; re-copy or re-export it")
    kind = _sniff(location)
    if kind == "tiff":
        return open_tiff(location, series=series, axes=axes)
    _single_image(series, where)
    if kind == "npy":
        return open_npy(location, axes=axes)
    return open_planar(location, kind=kind, axes=axes)


def _is_zarr(location: Location) -> bool:
    return any(location.exists(key) for key in ("zarr.json", ".zarray", ".zgroup"))


def _sniff(location: Location) -> str:
    """The format from the file's first bytes; a clear error when they match no format."""
    with open_binary(location) as f, storage_errors(location, "read"):
        head = f.read(16)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    expected = _SUFFIX_FORMATS.get(suffix(location))
    if expected is None:
        raise InputError(
            f"{location.url}: unsupported format {suffix(location) or '(no suffix)'!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)} files and Zarr arrays"
        )
    raise InputError(
        f"{location.url} is not a valid {_FORMAT_NAMES[expected]} file (it starts with "
        f"{head[:8]!r}); check that it was not renamed or damaged"
    )


def _single_image(series: int | None, where: str) -> None:
    if series not in (None, 0):
        raise InputError(
            f"{where} holds a single image; --series applies to multi-series TIFF "
            "files only, leave it out"
        )
