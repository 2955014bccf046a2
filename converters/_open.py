"""``open_source``: find an input's format (from its content, then its suffix) and open it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ngffstore.errors import InputError, InputNotFoundError
from ngffstore.storage import Location, storage_errors

from ._io import open_binary, resolve, suffix
from .base import Source

# the readers are imported when a file of their format is opened: opening a TIFF loads neither
# the CZI, slide, bioio nor PNG readers (nor, for a small one read whole, dask)

SMALL_BYTES = 64 * 2**20
"""Images below this size are read whole by ``convert`` (``load_below``): no dask graph to build."""

READERS = ("auto", "tifffile", "czi", "openslide", "bioio")
"""Values of ``open_source(reader=...)``: ``auto`` finds the format; the others force a reader."""

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
    ".czi",
)
"""File name suffixes :func:`open_source` reads (a Zarr array is found by its metadata); with
OpenSlide or bioio installed, whatever they read too (``ngffstore formats``)."""

# Suffixes of formats read by an optional reader: the extra (and plugin) that reads them.
NEEDS_EXTRA = {
    ".czi": "ngffstore[czi]",
    ".mrxs": "ngffstore[openslide]",
    ".vms": "ngffstore[openslide]",
    ".vmu": "ngffstore[openslide]",
    ".svslide": "ngffstore[openslide]",
    ".nd2": "ngffstore[bioio] bioio-nd2",
    ".lif": "ngffstore[bioio] bioio-lif",
    ".dv": "ngffstore[bioio] bioio-dv",
    ".r3d": "ngffstore[bioio] bioio-dv",
    ".sld": "ngffstore[bioio] bioio-sldy",
    ".ims": "ngffstore[bioio] bioio-imaris",
    ".vsi": "ngffstore[bioio] bioio-bioformats",
    ".lsm": "ngffstore[bioio] bioio-tifffile",
    ".oib": "ngffstore[bioio] bioio-bioformats",
    ".oif": "ngffstore[bioio] bioio-bioformats",
}

_MAGIC = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x93NUMPY", "npy"),
    (b"ZISRAWFILE", "czi"),
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
    ".czi": "czi",
}
_FORMAT_NAMES = {
    "czi": "Zeiss CZI",
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
    reader: str | None = None,
    load_below: int | None = None,
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
    reader
        ``auto`` (default): ngffstore's own readers by content (TIFF and whole-slide TIFFs with
        tifffile, CZI with pylibCZIrw, PNG, JPEG, .npy, Zarr), then OpenSlide, then a bioio
        plugin that claims the file. ``tifffile``, ``czi``, ``openslide`` or ``bioio`` (or
        ``bioio:<plugin>``) force one reader.
    load_below
        Read an image (level 0 of a TIFF series) whose pixels take fewer bytes than this into
        memory now: ``data`` is then a numpy array and no dask is imported (the command line's
        ``convert`` passes :data:`SMALL_BYTES`). Default: always lazy.

    Returns
    -------
    Source
        ``data`` is a lazy dask array whose graph reopens the input by URL (it pickles), or a
        numpy array (``load_below``).

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
    kind, size = _stat(location)
    if kind == "directory" or kind is None:
        if _is_zarr(location):
            from .arrays import open_zarr

            _single_image(series, where)
            return open_zarr(location, axes=axes)
        if kind is None:
            raise InputNotFoundError(f"{where}: no such file; check the path")
        raise InputError(
            f"{where} is a folder, not an image file or a Zarr array; "
            f"give a file ({', '.join(SUPPORTED_SUFFIXES)})"
        )
    if size == 0:
        raise InputError(f"{where} is an empty file; re-copy or re-export it")
    forced = _parse_reader(reader)
    if forced is not None:
        return _open_with(forced, location, series=series, axes=axes, load_below=load_below)
    kind = _sniff(location)
    if kind is None:
        return _open_optional(location, series=series, axes=axes)
    if kind == "tiff":
        from .tiff import open_tiff

        return open_tiff(location, series=series, axes=axes, load_below=load_below)
    if kind == "czi":
        from .czi import open_czi

        return open_czi(location, series=series, axes=axes)
    _single_image(series, where)
    if kind == "npy":
        from .arrays import open_npy

        return open_npy(location, axes=axes)
    from .planar import open_planar

    return open_planar(location, kind=kind, axes=axes)


def _stat(location: Location) -> tuple[str | None, int | None]:
    """``(kind, size)`` of what is at ``location``: ``"file"``, ``"directory"`` or None (nothing).

    One ``stat`` locally, one ``info`` call remotely (a HEAD; a LIST only for a prefix).
    """
    with storage_errors(location, "read"):
        if location.is_local:
            try:
                st = os.stat(location.path)
            except (FileNotFoundError, NotADirectoryError):
                return None, None
            import stat as _stat_mod

            return ("directory" if _stat_mod.S_ISDIR(st.st_mode) else "file"), st.st_size
        try:
            info = location.fs.info(location.path)
        except FileNotFoundError:
            return None, None
    kind = "directory" if info.get("type") == "directory" else "file"
    return kind, int(info.get("size") or 0)


def _is_zarr(location: Location) -> bool:
    """Whether a Zarr node (v2 or v3) is at ``location``: its document, one or a few GETs."""
    from ngffstore.nodes import try_read_node

    return try_read_node(location) is not None


def _parse_reader(reader: str | None) -> str | None:
    if reader in (None, "auto"):
        return None
    if not isinstance(reader, str) or (reader not in READERS and not reader.startswith("bioio:")):
        raise InputError(f"unknown reader {reader!r}; use one of {', '.join(READERS)} (or bioio:<plugin>)")
    return reader


def _open_with(
    reader: str, location: Location, *, series: int | None, axes: str | None, load_below: int | None
) -> Source:
    if reader == "tifffile":
        from .tiff import open_tiff

        return open_tiff(location, series=series, axes=axes, load_below=load_below)
    if reader == "czi":
        from .czi import open_czi

        return open_czi(location, series=series, axes=axes)
    if reader == "openslide":
        from .openslide_source import open_openslide

        source = open_openslide(location, series=series)
        return source if axes is None else _refuse_axes(location, "OpenSlide")
    from .bioio_source import open_bioio

    plugin = reader.partition(":")[2] or None
    return open_bioio(location, series=series, axes=axes, plugin=plugin)


def _refuse_axes(location: Location, what: str) -> Source:
    raise InputError(f"{location.url}: {what} slides are RGB (c, y, x); leave out --axes")


def _open_optional(location: Location, *, series: int | None, axes: str | None) -> Source:
    """A file none of ngffstore's own readers knows: OpenSlide, then a bioio plugin."""
    from .bioio_source import find_plugin, open_bioio
    from .openslide_source import detect as detect_openslide
    from .openslide_source import open_openslide

    if detect_openslide(location) is not None:
        if axes is not None:
            _refuse_axes(location, "OpenSlide")
        return open_openslide(location, series=series)
    if find_plugin(location) is not None:
        return open_bioio(location, series=series, axes=axes)
    ext = suffix(location)
    expected = _SUFFIX_FORMATS.get(ext)
    if expected is None:
        extra = NEEDS_EXTRA.get(ext)
        if extra is not None:
            raise InputError(
                f"{location.url}: no installed reader reads {ext} files; install one with "
                f"pip install {extra} (ngffstore formats lists what this installation reads)"
            )
        raise InputError(
            f"{location.url}: unsupported format {ext or '(no suffix)'!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)} files and Zarr arrays, and what "
            "`ngffstore formats` lists (pip install 'ngffstore[bioio]' with a bioio plugin adds more)"
        )
    with open_binary(location) as f, storage_errors(location, "read"):
        head = f.read(16)
    raise InputError(
        f"{location.url} is not a valid {_FORMAT_NAMES[expected]} file (it starts with "
        f"{head[:8]!r}); check that it was not renamed or damaged"
    )


def _sniff(location: Location) -> str | None:
    """The format from the file's first bytes (None: none of ngffstore's own formats)."""
    with open_binary(location) as f, storage_errors(location, "read"):
        head = f.read(16)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _single_image(series: int | None, where: str) -> None:
    if series not in (None, 0):
        raise InputError(
            f"{where} holds a single image; --series applies to multi-series TIFF "
            "files only, leave it out"
        )
