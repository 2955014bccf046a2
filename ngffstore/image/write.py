"""``write_image``: numpy, dask, Zarr or converter sources -> a multiscale OME-NGFF image."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np

from .. import provenance
from ..codecs import Compression
from ..errors import InputError, NgffStoreError, OutputExistsError
from ..multiscale import (
    DEFAULT_MEMORY_TARGET,
    PyramidSpec,
    clear_progress,
    create_arrays,
    write_pyramid,
)
from ..ngff import (
    SUPPORTED_VERSIONS,
    Channel,
    Dataset,
    Multiscale,
    Omero,
    Window,
    default_color,
    make_axes,
    normalize_color,
    normalize_unit,
    wrap_ome,
)
from ..nodes import exists_anything, read_attrs, write_group_attrs
from ..pyramid import level_factors, level_scales, parse_method
from ..storage import Location
from .options import (
    canonical,
    default_chunks,
    parse_axes,
    parse_block_shape,
    parse_scale,
    resolve_shards,
)

log = logging.getLogger("ngffstore")


def as_dask(data: Any) -> da.Array:
    """A dask view of numpy, dask, Zarr or array-like ``data`` (no copy)."""
    if isinstance(data, da.Array):
        return data
    if hasattr(data, "chunks") and hasattr(data, "shape") and hasattr(data, "dtype"):
        chunks = data.chunks if isinstance(data.chunks, tuple) and all(
            isinstance(c, int) for c in data.chunks
        ) else "auto"
        return da.from_array(data, chunks=chunks)
    arr = np.asarray(data)
    return da.from_array(arr, chunks=arr.shape or 1)


def _is_source(data: Any) -> bool:
    return hasattr(data, "data") and hasattr(data, "axes") and hasattr(data, "inputs")


def _check_dtype(dtype: np.dtype) -> None:
    if dtype.kind not in "buif":
        raise InputError(
            f"pixel type {dtype} is not supported; use bool, integer or float data "
            "(convert complex or structured data first)"
        )


def _channels(
    given: Sequence[Any] | None, colors: Sequence[Any] | None, n: int
) -> list[tuple[str, str]]:
    names = list(given) if given is not None else [None] * n
    if len(names) != n:
        raise InputError(f"{len(names)} channel names given for {n} channels; give one per channel")
    colors = list(colors) if colors is not None else [None] * n
    out = []
    for i, nm in enumerate(names):
        if isinstance(nm, Channel):
            out.append((nm.label, nm.color))
            continue
        if isinstance(nm, Mapping):
            label, color = nm.get("label"), nm.get("color")
        else:
            label, color = nm, colors[i] if i < len(colors) else None
        out.append((str(label) if label not in (None, "") else f"channel {i}",
                    normalize_color(color) or default_color(i, n)))
    return out


SAMPLE_PLANES = 4


def _windows(location: Location, spec: PyramidSpec, axes: str) -> list[Window]:
    """Display windows from the smallest level, at most a few t/z planes of it (a sample).

    The sample is bounded (``SAMPLE_PLANES`` evenly spaced t and z indices each), so a long
    time-lapse costs no more memory or time than a short one.
    """
    import zarr

    arr = zarr.open_array(location.zarr_store(), path=spec.levels[-1].path, mode="r")
    selection: list[Any] = []
    for name, n in zip(axes, arr.shape):
        if name in "tz" and n > SAMPLE_PLANES:
            selection.append(np.unique(np.linspace(0, n - 1, SAMPLE_PLANES).round().astype(int)))
        else:
            selection.append(slice(None))
    sample = np.asarray(arr.get_orthogonal_selection(tuple(selection)))
    dtype = sample.dtype
    c = axes.find("c")
    planes = [sample] if c < 0 else [np.take(sample, i, axis=c) for i in range(sample.shape[c])]
    out = []
    for plane in planes:
        values = plane.astype(np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            lo = hi = 0.0
        else:
            lo, hi = np.percentile(values, [0.1, 99.9])
        if dtype.kind in "ui":
            info = np.iinfo(dtype)
            vmin, vmax = float(info.min), float(info.max)
            lo, hi = float(np.floor(lo)), float(np.ceil(hi))
        elif dtype.kind == "b":
            vmin, vmax, lo, hi = 0.0, 1.0, 0.0, 1.0
        else:
            vmin = float(values.min()) if values.size else 0.0
            vmax = float(values.max()) if values.size else 1.0
        if hi <= lo:
            hi = lo + 1
        out.append(Window(start=lo, end=hi, min=min(vmin, lo), max=max(vmax, hi)))
    return out


def _existing(location: Location) -> tuple[str, int | None, dict[str, Any]]:
    """``("empty"|"in-progress"|"occupied", zarr_format, attrs)`` for the destination."""
    if not exists_anything(location):
        return "empty", None, {}
    try:
        zarr_format, attrs = read_attrs(location)
    except NgffStoreError:
        return "occupied", None, {}
    if "writing" in (attrs.get("ngffstore") or {}):
        return "in-progress", zarr_format, attrs
    return "occupied", zarr_format, attrs


def prepare_destination(
    location: Location, *, overwrite: bool, fingerprint: str, zarr_format: int, operation: str
) -> bool:
    """Make ``location`` ready for a write; return True when an interrupted write can resume.

    A complete node (or anything else) is replaced only with ``overwrite``. An interrupted
    ngffstore write of the same inputs and options is resumed; one of different inputs is
    cleared first.
    """
    state, found_format, attrs = _existing(location)
    resume = False
    if state == "in-progress" and not overwrite:
        previous = attrs["ngffstore"]["writing"]
        if previous.get("fingerprint") == fingerprint and found_format == zarr_format:
            log.info("resuming the interrupted write at %s", location.url)
            resume = True
        else:
            log.info("clearing an interrupted write with other options at %s", location.url)
            location.remove()
    elif state == "occupied":
        if not overwrite:
            raise OutputExistsError(
                f"{location.url} already exists; pass overwrite=True (--overwrite) to replace it "
                "or choose another destination"
            )
        location.remove()
    if not resume:
        write_group_attrs(
            location,
            zarr_format,
            {"ngffstore": {"writing": {"fingerprint": fingerprint, "operation": operation,
                                       "started": provenance.now()}}},
        )
    return resume


def write_image(
    data: Any,
    url: str | Location,
    *,
    axes: str | None = None,
    scale: Any = None,
    units: Mapping[str, str] | None = None,
    translation: Any = None,
    channels: Sequence[Any] | None = None,
    name: str | None = None,
    chunks: Any = None,
    shards: Any = None,
    compression: str | Compression = "zstd",
    min_size: int = 256,
    levels: int | None = None,
    downsample_z: bool = False,
    method: str = "mean",
    ngff_version: str = "0.5",
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    scheduler: Any = None,
    progress: bool | None = None,
    memory_target: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    stored_bytes: bool | None = None,
):
    """Write ``data`` as a multiscale OME-NGFF image at ``url`` (a path or ``s3://`` URL).

    Parameters
    ----------
    data
        numpy array, dask array, Zarr array or a ``converters.Source`` (whose axes, pixel sizes,
        channels and metadata are used unless given here).
    axes
        Axis letters from ``tczyx`` (inferred for 2-D and 5-D data). Written in t, c, z, y, x order.
    scale, units, translation
        Physical pixel size per axis (``{"y": 0.1, "x": 0.1}``, ``"1,0.1,0.1"`` or one number for
        y and x), NGFF unit names per axis, and the level-0 offset.
    channels
        Channel names (or ``{"label", "color"}`` dicts), one per channel.
    chunks, shards
        Chunk and shard shapes (default chunks: 1024 along y/x, 1 elsewhere; shards need 0.5).
    compression
        ``zstd`` (default), ``zstd:LEVEL``, ``blosc-lz4``, ``blosc-zstd``, ``gzip`` or ``none``.
    min_size, levels, downsample_z, method
        Levels halve y/x (and z with ``downsample_z``) until the longest y/x edge is at most
        ``min_size``, or stop at ``levels`` levels; ``method`` is mean, nearest, mode, min or max.
    ngff_version
        ``"0.5"`` (Zarr v3, default) or ``"0.4"`` (Zarr v2).
    scheduler
        ``"threads"`` (default), ``"processes"``, ``"synchronous"``, a dask.distributed address or
        ``Client``.
    memory_target
        Bytes of image data one task holds at once (default 32 MiB).
    stored_bytes
        Whether the returned summary counts the bytes stored (a listing of every chunk); by
        default only on local disk.

    Returns
    -------
    ImageSummary
        What was written (levels, shapes, chunks, bytes).
    """
    from .info import image_info

    started = provenance.now()
    location = Location.parse(url, storage_options)
    inputs: list[str] = []
    channel_colors = None
    extra_metadata: dict[str, Any] = {}
    if _is_source(data):
        src = data
        axes = axes or src.axes
        scale = scale if scale is not None else (src.scale or None)
        units = units if units is not None else (src.units or None)
        channels = channels if channels is not None else src.channel_names
        channel_colors = src.channel_colors
        name = name or src.name
        extra_metadata = dict(src.metadata or {})
        inputs = list(src.inputs or [])
        data = src.data
    array = as_dask(data)
    _check_dtype(array.dtype)
    if not 2 <= array.ndim <= 5:
        raise InputError(f"images have 2 to 5 dimensions; this data has shape {array.shape}")
    if 0 in array.shape:
        raise InputError(f"the data is empty (shape {array.shape})")
    given_axes = parse_axes(axes, array.ndim)
    axes_c, order = canonical(given_axes)
    if axes_c != given_axes:
        array = array.transpose(order)
    shape = tuple(int(s) for s in array.shape)

    if ngff_version not in SUPPORTED_VERSIONS:
        raise InputError(f"NGFF version {ngff_version!r} is not supported; use 0.5 or 0.4")
    zarr_format = 3 if ngff_version == "0.5" else 2
    method = parse_method(method)
    compression = Compression.parse(compression)
    chunk_shape = default_chunks(axes_c, shape, parse_block_shape(chunks, axes_c, shape, "chunk size"))
    if shards is not None and zarr_format == 2:
        raise InputError("shards need Zarr v3: use NGFF 0.5 (--ngff-version 0.5) or drop --shards")
    shard_shape = resolve_shards(axes_c, shape, chunk_shape, parse_block_shape(shards, axes_c, shape, "shard size"))
    scale_map = parse_scale(scale, axes_c)
    unit_map: dict[str, str] = {}
    for k, v in (units or {}).items():
        if v in (None, ""):
            continue
        u = normalize_unit(v)
        if u is None:
            raise InputError(f"unknown unit {v!r} for axis {k}; use an NGFF unit such as micrometer or second")
        unit_map[str(k).lower()] = u
    translation_map = parse_scale(translation, axes_c) if translation is not None else {}
    factors = level_factors(shape, axes_c, min_size=min_size, downsample_z=downsample_z, max_levels=levels)
    spec = PyramidSpec.build(
        shape=shape, dtype=array.dtype, axes=axes_c, factors=factors, chunks=chunk_shape,
        shards=shard_shape, compression=compression, zarr_format=zarr_format, method=method,
    )
    n_channels = shape[axes_c.index("c")] if "c" in axes_c else 1
    channel_list = _channels(channels, channel_colors, n_channels)

    resumable = [provenance.describe_input(p) for p in inputs] if inputs else None
    fingerprint = spec.fingerprint(resumable if resumable else __import__("uuid").uuid4().hex)
    resume = prepare_destination(
        location, overwrite=overwrite, fingerprint=fingerprint, zarr_format=zarr_format,
        operation="write_image",
    )
    create_arrays(location, spec, only_missing=resume)
    write_pyramid(
        array, location, spec, scheduler=scheduler, progress=progress,
        memory_target=memory_target or DEFAULT_MEMORY_TARGET, resume=resume,
    )

    scale0 = tuple(scale_map.get(a, 1.0) for a in axes_c)
    scales = level_scales(scale0, factors)
    translation0 = tuple(translation_map.get(a, 0.0) for a in axes_c) if translation_map else None
    datasets = []
    for i, (lv, sc) in enumerate(zip(spec.levels, scales)):
        tr = None
        if translation0 is not None or i > 0:
            # pixel centres of a downsampled level sit half a (new) pixel further in
            base = translation0 or (0.0,) * len(axes_c)
            tr = tuple(b + (s - s0) / 2 for b, s, s0 in zip(base, sc, scale0))
            if not any(tr):
                tr = None
        datasets.append(Dataset(path=lv.path, scale=sc, translation=tr))
    image_name = name or location.name.removesuffix(".zarr").removesuffix(".ome")
    multiscale = Multiscale(
        axes=make_axes(axes_c, unit_map),
        datasets=tuple(datasets),
        name=image_name,
        type=method,
        metadata={"description": f"{method} downsampling by ngffstore", "method": "ngffstore.pyramid.downsample",
                  "kwargs": {"method": method, "downsample_z": downsample_z}},
    )
    windows = _windows(location, spec, axes_c)
    omero = Omero(
        channels=tuple(Channel(label=lbl, color=col, window=w) for (lbl, col), w in zip(channel_list, windows)),
        name=image_name,
    )
    attrs = wrap_ome({"multiscales": [multiscale.to_dict(ngff_version)], "omero": omero.to_dict(ngff_version)}, ngff_version)
    store_block: dict[str, Any] = {}
    kv = dict(extra_metadata)
    kv.update(metadata or {})
    if kv:
        store_block["metadata"] = {"key_values": {str(k): v for k, v in kv.items()}}
    attrs["ngffstore"] = store_block
    attrs = provenance.append(
        attrs,
        provenance.record(
            "write_image",
            {
                "axes": axes_c, "shape": shape, "dtype": str(array.dtype), "scale": scale_map,
                "units": unit_map, "chunks": chunk_shape, "shards": shard_shape,
                "compression": str(compression), "min_size": min_size, "levels": len(spec.levels),
                "downsample_z": downsample_z, "method": method, "ngff_version": ngff_version,
            },
            inputs=inputs,
            started=started,
        ),
    )
    write_group_attrs(location, zarr_format, attrs)
    clear_progress(location)
    from .. import index  # pyarrow, only needed here

    index.touch(location, operation="write_image", zarr_format=zarr_format)
    # counting the bytes stored lists every object: cheap on disk, not worth it on object storage
    return image_info(location, stored_bytes=location.is_local if stored_bytes is None else stored_bytes)
