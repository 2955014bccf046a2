"""TIFF, BigTIFF, OME-TIFF and ImageJ hyperstacks -> :class:`Source`, read lazily.

Level 0 of one series is read through tifffile's Zarr store (``series.aszarr``); dask chunks
are whole groups of the file's own tiles, strips or planes, so each piece of the file is decoded
once. Contiguous, uncompressed data (local or remote) are read in runs of whole rows instead, and
a level 0 held in one tiled page (whole-slide images) tile by tile (:mod:`converters._tiles`).
Pyramidal files give their level 0 only. Truncation is detected when the file is opened.

Axis inference (when no ``axes`` is given) starts from tifffile's axes letters:

- ``T``, ``C``, ``Z``, ``Y``, ``X`` map to ``t``, ``c``, ``z``, ``y``, ``x``; the samples of a
  pixel (``S``, e.g. RGB) become ``c`` (merged with ``C`` when both are longer than 1);
- dimensions of length 1 are dropped, except ``y`` and ``x``, and ``c`` when the OME-XML names or
  colours its channels;
- one dimension of unknown meaning (``Q``, ``I``, ...: pages of a plain multi-page TIFF) becomes
  ``z`` (or ``t`` or ``c``, the first one still free); two or more raise :class:`AxesError`.

Pixel sizes come from the OME-XML, else from ImageJ metadata, else from the resolution tags
(with a centimeter, inch, millimeter or micrometer unit; 72 and 96 dpi are screen defaults, not a
calibration, and are ignored). The name is the OME image name (unless it is tifffile's
placeholder ``Image0``), else the file name without its suffix.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING, Any

import numpy as np
import tifffile

from ngffstore.errors import AxesError, InputError, NgffStoreError
from ngffstore.ngff import normalize_color, normalize_unit
from ngffstore.storage import Location

from ._common import apply_axes, example_axes, make_source, shape_text, to_canonical
from ._io import (
    READ_CHUNK_BYTES,
    ContiguousArray,
    FileArray,
    file_size,
    native,
    open_binary,
    short,
    stem,
    strip_chunks,
)
from ._ome import parse_ome
from ._tiles import TileArray, tiled_page
from .base import Attachment, Source
from .wsi import Slide, describe_slide

if TYPE_CHECKING:
    import dask.array as da

TARGET_CHUNK_BYTES = READ_CHUNK_BYTES
"""Dask chunks grow (by whole tiles, strips or planes) up to about this many bytes."""

_LETTERS = {"T": "t", "C": "c", "Z": "z", "Y": "y", "X": "x", "S": "c"}
_RESUNIT_MICROMETERS = {2: 25_400.0, 3: 10_000.0, 4: 1_000.0, 5: 1.0}
_SCREEN_DPI = (72.0, 96.0)
_RGBA_NAMES = ["R", "G", "B", "A"]
_RGBA_COLORS: list[str | None] = ["FF0000", "00FF00", "0000FF", "FFFFFF"]
_PLACEHOLDER_NAME = re.compile(r"Image\d+")  # tifffile's name for an unnamed OME image
_TAGS = {
    "Software": "software",
    "DateTime": "datetime",
    "Make": "camera_make",
    "Model": "camera_model",
    "Artist": "artist",
}


def open_tiff(
    location: Location, *, series: int | None = None, axes: str | None = None, load_below: int | None = None
) -> Source:
    """Open level 0 of one series of a TIFF file as a lazy :class:`Source`.

    Parameters
    ----------
    location
        The file (local path or fsspec URL).
    series
        Index of the series (image) in the file; default 0.
    axes
        One letter from ``tczyx`` per dimension of the series (as tifffile reports its shape, or
        without its length-1 dimensions), overriding inference; the data are transposed to
        ``tczyx`` order.
    load_below
        Read a series whose pixels take fewer bytes than this now, whole (``data`` is a numpy
        array; no dask, no Zarr store). Slides are always lazy.
    """
    where = location.url
    pixels = None
    with _tifffile(location) as (tf, log):
        info = _inspect(tf, series, location)
        slide = describe_slide(tf, info.index)
        if slide is None and load_below is not None and prod(info.shape) * info.file_dtype.itemsize < load_below:
            pixels = _read_whole(tf, info, where)
        else:
            _add_layout(tf, info, where)
        _check_log(log, where)
    if slide is not None:
        info.scale.update(slide.scale)
        info.units.update({a: "micrometer" for a in slide.scale})
        info.metadata.update(slide.metadata)
    if pixels is not None:
        return _source(pixels, info, axes, where)
    reader: FileArray
    if info.contiguous_offset is not None:
        reader = ContiguousArray(location, info.contiguous_offset, info.shape, info.file_dtype)
        rows_after = info.axes.index("Y")  # one row of one plane is contiguous in the file
        file_chunks = tuple(n if i > rows_after else 1 for i, n in enumerate(info.shape))
    elif info.tiled:
        # one tiled page: read tile by tile; interleaved samples (RGB) presented planar, so
        # that tiles are placed in c, y, x order as they are decoded (no transpose afterwards)
        samples_axis = info.axes.endswith("YXS")
        planar = axes is None and samples_axis and info.shape[-1] > 1
        reader = TileArray(location, info.index, info.shape, info.file_dtype,
                           samples_axis=samples_axis, planar=planar)
        file_chunks = info.file_chunks
        if planar:
            info.axes, info.shape = info.axes[:-3] + "SYX", reader.shape
            file_chunks = (*file_chunks[:-3], file_chunks[-1], *file_chunks[-3:-1])
    else:
        reader = TiffArray(location, info.index, info.shape, info.file_dtype)
        file_chunks = info.file_chunks
    if info.tiled:  # the pyramid writer's strips (see strip_chunks)
        chunks = strip_chunks(info.axes, info.shape, file_chunks, reader.dtype.itemsize)
    else:
        chunks = layout_chunks(
            info.axes, info.shape, file_chunks, reader.dtype.itemsize, TARGET_CHUNK_BYTES
        )
    if slide is not None:
        _check_decodes(reader, where)
    source = _source(reader.to_dask(chunks, info.index), info, axes, where)
    if slide is not None:
        _add_slide(source, slide, location)
    return source


def _source(data: Any, info: _SeriesInfo, axes: str | None, where: str) -> Source:
    """The Source of a series' level 0 (a dask or numpy array in the file's axis order)."""
    if axes is None:
        data, canonical = _infer_axes(data, info.axes, keep_c=info.keep_c, where=where)
    else:
        plane = [i for i, a in enumerate(info.axes) if a in "YX"]
        data, canonical = apply_axes(data, axes, where, keep=plane)
    return make_source(
        data,
        canonical,
        where=where,
        name=info.name,
        scale=info.scale,
        units=info.units,
        channel_names=info.channel_names,
        channel_colors=info.channel_colors,
        metadata=info.metadata,
    )


def _read_whole(tf: tifffile.TiffFile, info: _SeriesInfo, where: str) -> np.ndarray:
    """Level 0 of the series decoded now, with every length-1 dimension kept, native byte order."""
    try:
        pixels = tf.series[info.index].asarray(level=0, squeeze=False)
    except Exception as exc:  # decoders raise many types for damaged data
        raise InputError(
            f"cannot read {where}: {short(exc)}; the file may be truncated or corrupt, re-copy it"
        ) from exc
    if tuple(pixels.shape) != info.shape:
        pixels = pixels.reshape(info.shape)
    return pixels.astype(native(pixels.dtype), copy=False)


def _check_decodes(reader: FileArray, where: str) -> None:
    """Decode the first tile of a slide now: a slide whose tiles cannot be decoded (missing JPEG
    tables, an unsupported codec) fails before anything is written."""
    try:
        reader[tuple(slice(0, 1) for _ in reader.shape)]
    except InputError as exc:
        raise InputError(
            f"cannot decode the tiles of {where}: {short(exc.__cause__ or exc)}; "
            "the slide is damaged or uses a compression this installation cannot decode"
        ) from exc


def _add_slide(source: Source, slide: Slide, location: Location) -> None:
    """Display windows of brightfield RGB and the slide's associated images."""
    if slide.rgb8 and source.axes.endswith("cyx") and source.data.shape[-3] == 3:
        source.channel_windows = [(0.0, 255.0)] * 3
    for name, index, shape, dtype in slide.associated:
        reader = TiffArray(location, index, shape, dtype)
        data = reader.to_dask(reader.shape, index)
        while data.ndim > 2 and data.shape[0] == 1:
            data = data[0]
        if data.ndim == 3 and data.shape[-1] == 1:
            data = data[..., 0]
        source.attachments.append(Attachment(name=name, data=data, description=f"series {index}"))


class TiffArray(FileArray):
    """Level 0 of series ``index`` of a TIFF file, with every length-1 dimension kept."""

    prefix = "tiff"

    def __init__(self, location: Location, index: int, shape: tuple[int, ...], dtype: Any) -> None:
        super().__init__(location, shape, dtype)
        self.index = index

    def _open(self) -> tuple[Any, Any]:
        handle = None if self.location.is_local else open_binary(self.location)
        tf = tifffile.TiffFile(handle or self.location.path, name=self.location.name)
        # maxworkers > 1 decodes chunks off zarr's event-loop thread, so dask threads overlap.
        import zarr

        store = tf.series[self.index].aszarr(level=0, squeeze=False, maxworkers=2, read_only=True)
        array = zarr.open_array(store, mode="r")

        def close() -> None:
            store.close()
            tf.close()
            if handle is not None:
                handle.close()

        return array, close


# -- opening and inspecting ----------------------------------------------------------------------


@dataclass(kw_only=True)
class _SeriesInfo:
    index: int
    axes: str
    shape: tuple[int, ...]
    file_dtype: np.dtype  # in the file's byte order
    file_chunks: tuple[int, ...]
    name: str
    contiguous_offset: int | None = None  # where contiguous, uncompressed data start
    tiled: bool = False  # level 0 is one tiled page, read tile by tile (see _tiles)
    keep_c: bool = False
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    channel_names: list[str] | None = None
    channel_colors: list[str | None] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _tifffile(location: Location) -> Iterator[tuple[tifffile.TiffFile, _Collect]]:
    """The open TiffFile and tifffile's log; any tifffile failure becomes an InputError."""
    log = _Collect()
    logger = logging.getLogger("tifffile")
    logger.addHandler(log)
    handle = None
    try:
        handle = None if location.is_local else open_binary(location)
        with tifffile.TiffFile(handle or location.path, name=location.name) as tf:
            yield tf, log
    except NgffStoreError:
        raise
    except Exception as exc:  # tifffile raises many types for a damaged file
        raise InputError(
            f"cannot read {location.url} as TIFF: {short(exc)}; "
            "check that the file is a complete, valid TIFF"
        ) from exc
    finally:
        logger.removeHandler(log)
        if handle is not None:
            handle.close()


def _check_log(log: _Collect, where: str) -> None:
    # tifffile logs (does not raise) an IFD or tag offset past the end of the file, then returns
    # fewer pages or drops the OME-XML: the file is truncated.
    for record in log.records:
        if record.levelno >= logging.ERROR and "offset" in record.getMessage():
            raise InputError(
                f"{where} is truncated or corrupt: it points to data past its end; "
                "re-copy or re-export the file"
            )


def _inspect(tf: tifffile.TiffFile, series: int | None, location: Location) -> _SeriesInfo:
    where = location.url
    index = _select_series(tf, series, where)
    s = tf.series[index]
    _check_complete(s, file_size(location), where)
    shape = tuple(int(n) for n in s.get_shape(False))
    axes = s.get_axes(False)
    if len(axes) != len(shape):
        raise InputError(
            f"{where}: series {index} has axes {axes!r} but shape {shape}; re-export the file"
        )
    base = stem(location)
    info = _SeriesInfo(
        index=index,
        axes=axes,
        shape=shape,
        file_dtype=np.dtype(tf.byteorder + s.dtype.char),
        file_chunks=shape,
        name=base if index == 0 else f"{base}_{index}",
    )
    if s.dataoffset is not None and s.keyframe.is_memmappable:
        info.contiguous_offset = s.dataoffset
    elif (page := tiled_page(s)) is not None:
        length, width, samples = page.shaped[2:]
        plane = (length, width, samples) if axes.endswith("YXS") else (length, width)
        info.tiled = (
            axes.endswith(("YXS", "YX"))
            and shape[-len(plane):] == plane
            and prod(shape[: -len(plane)]) == 1
            and (samples == 1 or axes.endswith("YXS"))
        )
    _describe(tf, s, info)
    return info


def _add_layout(tf: tifffile.TiffFile, info: _SeriesInfo, where: str) -> None:
    """The shape and chunks of level 0 as tifffile's Zarr store presents them (for a lazy read)."""
    import zarr

    store = tf.series[info.index].aszarr(level=0, squeeze=False, read_only=True)
    try:
        array = zarr.open_array(store, mode="r")
        shape, info.file_chunks = tuple(array.shape), tuple(array.chunks)
    finally:
        store.close()
    if shape != info.shape:  # the Zarr view is what is read
        if len(shape) != len(info.axes):
            raise InputError(
                f"{where}: series {info.index} has axes {info.axes!r} but shape {shape}; re-export the file"
            )
        info.shape = shape


def _select_series(tf: tifffile.TiffFile, series: Any, where: str) -> int:
    count = len(tf.series)
    if count == 0:
        raise InputError(f"{where} holds no image data; check that the TIFF file is complete")
    try:
        index = 0 if series is None else operator.index(series)
    except TypeError:
        index = -1
    if 0 <= index < count:
        return index
    listing = ", ".join(f"{i}: {_series_text(s)}" for i, s in enumerate(tf.series[:20]))
    more = f", ... ({count} in all)" if count > 20 else ""
    raise InputError(
        f"{where} has no series {series!r}; it has {count} ({listing}{more}); "
        f"choose one with --series {'0' if count == 1 else f'0..{count - 1}'}"
    )


def _series_text(s: tifffile.TiffPageSeries) -> str:
    name = f"'{s.name}' " if s.name else ""
    return f"{name}{'x'.join(map(str, s.shape))} {s.dtype} {s.axes}"


def _check_complete(s: tifffile.TiffPageSeries, size: int, where: str) -> None:
    """Raise if level 0's data end past the end of the file (first and last page checked)."""
    if s.dataoffset is not None:
        end = s.dataoffset + s.nbytes
    else:
        pages = [page for page in (s[0], s[len(s) - 1]) if page is not None]
        if len(pages) < 2:
            raise InputError(
                f"{where} is truncated or corrupt: image pages are missing; "
                "re-copy or re-export the file"
            )
        end = max(
            (
                offset + count
                for page in pages
                for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False)
            ),
            default=0,
        )
    if end > size:
        raise InputError(
            f"{where} is truncated: its image data end at byte {end} but the file has {size} "
            "bytes; re-copy or re-export the file"
        )


# -- metadata ------------------------------------------------------------------------------------


def _describe(tf: tifffile.TiffFile, s: tifffile.TiffPageSeries, info: _SeriesInfo) -> None:
    """Fill names, scales, units, channels and key-values: resolution < ImageJ < OME-XML."""
    page = s.keyframe
    n_channels = prod(n for a, n in zip(info.axes, info.shape, strict=True) if a in "CS")
    samples = page.samplesperpixel
    rgb = (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)
    if page.photometric in rgb and samples in (3, 4) and n_channels == samples:
        info.channel_names = _RGBA_NAMES[:samples]
        info.channel_colors = _RGBA_COLORS[:samples]
    info.metadata.update(_tag_values(page))
    _resolution(page, info)
    if tf.is_imagej and tf.imagej_metadata:
        _imagej(tf.imagej_metadata, page, info, n_channels)
    ome = None
    if s.kind == "ome" and tf.ome_metadata:
        position = sum(1 for other in tf.series[: info.index] if other.kind == "ome")
        ome = parse_ome(tf.ome_metadata, position)
    if ome is not None:
        if ome.name and not _PLACEHOLDER_NAME.fullmatch(ome.name):
            info.name = ome.name
        info.scale.update(ome.scale)
        info.units.update(ome.units)
        if ome.channel_names and len(ome.channel_names) == n_channels:
            info.channel_names = ome.channel_names
        if ome.channel_colors and len(ome.channel_colors) == n_channels:
            info.channel_colors = ome.channel_colors
        info.keep_c = ome.has_channel_info
        info.metadata.update(ome.metadata)


def _tag_values(page: Any) -> dict[str, Any]:
    values = {}
    for tag, key in _TAGS.items():
        value = page.tags.valueof(tag)
        if isinstance(value, str) and value.strip():
            values[key] = value.strip()
    return values


def _resolution(page: Any, info: _SeriesInfo) -> None:
    unit = _RESUNIT_MICROMETERS.get(int(page.resolutionunit))
    xres, yres = page.resolution
    if unit is None or xres <= 0 or yres <= 0:
        return
    if unit == _RESUNIT_MICROMETERS[2] and xres == yres and xres in _SCREEN_DPI:
        return
    info.scale.update(x=unit / xres, y=unit / yres)
    info.units.update(x="micrometer", y="micrometer")


def _imagej(ij: dict[str, Any], page: Any, info: _SeriesInfo, n_channels: int) -> None:
    unit = normalize_unit(str(ij.get("unit", "")).replace("\\u00B5", "µ"))
    xres, yres = page.resolution
    if unit and xres > 0 and yres > 0:
        info.scale.update(x=1.0 / xres, y=1.0 / yres)
        info.units.update(x=unit, y=unit)
    if unit and float(ij.get("spacing", 0) or 0) > 0:
        info.scale["z"] = float(ij["spacing"])
        info.units["z"] = unit
    if float(ij.get("finterval", 0) or 0) > 0:
        info.scale["t"] = float(ij["finterval"])
        info.units["t"] = normalize_unit(ij.get("tunit")) or "second"
    luts = ij.get("LUTs")
    if isinstance(luts, list) and len(luts) == n_channels:
        info.channel_colors = [normalize_color(tuple(np.asarray(lut)[:, -1])) for lut in luts]


# -- axes and chunks -----------------------------------------------------------------------------


def _infer_axes(
    data: da.Array, tiff_axes: str, *, keep_c: bool, where: str
) -> tuple[da.Array, str]:
    kept = [
        i
        for i, (a, n) in enumerate(zip(tiff_axes, data.shape, strict=True))
        if n > 1 or a in "YX" or (a == "C" and keep_c)
    ]
    data = data[tuple(slice(None) if i in kept else 0 for i in range(data.ndim))]
    letters = [_LETTERS.get(tiff_axes[i], "?") for i in kept]
    unknown = [i for i, a in enumerate(letters) if a == "?"]
    free = [a for a in "ztc" if a not in letters]
    if len(unknown) > 1 or (unknown and not free):
        visible = "".join(tiff_axes[i] for i in kept)
        raise AxesError(
            f"{where}: cannot tell what the dimensions of shape {shape_text(data.shape)} "
            f"(TIFF axes {visible!r}) are; give them with --axes, e.g. "
            f"--axes {example_axes(data.ndim)}"
        )
    if unknown:
        letters[unknown[0]] = free[0]
    if letters.count("c") == 2:
        data, letters = _merge_channels(data, letters)
    return to_canonical(data, "".join(letters))


def _merge_channels(data: da.Array, letters: list[str]) -> tuple[da.Array, list[str]]:
    """Merge two ``c`` dimensions (channels and samples) into one, channel-major."""
    first = letters.index("c")
    second = letters.index("c", first + 1)
    order = [i for i in range(len(letters)) if i != second]
    order.insert(first + 1, second)
    data = data.transpose(order)
    shape = data.shape
    data = data.reshape(shape[:first] + (shape[first] * shape[first + 1],) + shape[first + 2 :])
    return data, [letters[i] for i in order if i != second]


def layout_chunks(
    axes: str,
    shape: tuple[int, ...],
    file_chunks: tuple[int, ...],
    itemsize: int,
    target: int,
) -> tuple[int, ...]:
    """Dask chunks made of whole file chunks, up to about ``target`` bytes.

    Grows y and x first (doubling the shorter one), then takes whole planes along the other
    axes, innermost first.
    """
    chunks = list(file_chunks)

    def room() -> int:
        return target // (prod(chunks) * itemsize)

    plane = [i for i, a in enumerate(axes) if a in "YX"]
    while room() >= 2:
        growable = [i for i in plane if chunks[i] < shape[i]]
        if not growable:
            break
        i = min(growable, key=lambda j: chunks[j])
        chunks[i] = min(shape[i], chunks[i] * 2)
    for i in reversed(range(len(shape))):
        if i in plane or chunks[i] >= shape[i]:
            continue
        factor = room()
        if factor < 2:
            break
        chunks[i] = min(shape[i], chunks[i] * factor)
        if chunks[i] < shape[i]:
            break
    return tuple(chunks)
