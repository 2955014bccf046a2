"""``write_image``: numpy, dask, Zarr or converter sources -> a multiscale OME-NGFF image."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import journal, provenance
from ..codecs import Compression
from ..errors import InputError, OutputExistsError
from ..multiscale import (
    DEFAULT_MEMORY_TARGET,
    PROGRESS_DIR,
    PyramidSpec,
    clear_progress,
    create_arrays,
    delete_keys,
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
    ome_attrs,
    wrap_ome,
)
from ..nodes import Node, group_document, try_read_node, write_group
from ..pyramid import level_factors, level_scales, parse_method
from ..source import Source
from ..storage import Location, dump_json, storage_errors
from .options import (
    canonical,
    default_chunks,
    parse_axes,
    parse_block_shape,
    parse_scale,
    parse_translation,
    resolve_shards,
)

log = logging.getLogger("ngffstore")

if TYPE_CHECKING:
    import dask.array as da


def as_dask(data: Any) -> da.Array:
    """A dask view of numpy, dask, Zarr or array-like ``data`` (no copy)."""
    import dask.array as da

    if isinstance(data, da.Array):
        return data
    if hasattr(data, "chunks") and hasattr(data, "shape") and hasattr(data, "dtype"):
        chunks = data.chunks if isinstance(data.chunks, tuple) and all(
            isinstance(c, int) for c in data.chunks
        ) else "auto"
        return da.from_array(data, chunks=chunks)
    arr = np.asarray(data)
    return da.from_array(arr, chunks=arr.shape or 1)


#: Channels of a pixel read together (RGB, RGBA): a source chunk holding all of them is never split.
PIXEL_SAMPLES = 4


def as_array(data: Any) -> Any:
    """``data`` as the writer takes it: a numpy array for numpy and other in-memory data
    (lists, ``__array__`` objects; written without dask), else a dask view (dask, Zarr, HDF5 and
    other chunked arrays read on demand)."""
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "chunks") and hasattr(data, "shape") and hasattr(data, "dtype"):
        return as_dask(data)
    return np.asarray(data)


def _whole_axes(array: Any, axes: str) -> tuple[int, ...]:
    """Axes the writer's blocks hold whole: the channel axis of a source whose chunks hold
    every channel of a pixel (interleaved RGB, RGBA), so each source chunk is read once."""
    c = axes.find("c")
    if c < 0 or not 1 < array.shape[c] <= PIXEL_SAMPLES:
        return ()
    chunks = getattr(array, "chunks", None)
    if isinstance(chunks, tuple) and chunks and isinstance(chunks[c], tuple) and len(chunks[c]) == 1:
        return (c,)
    return ()


def _is_rgb8(dtype: np.dtype, channels: int) -> bool:
    """An 8-bit image of 3 or 4 channels (RGB, RGBA), whose bare ``zstd`` is level 1 (see
    :mod:`ngffstore.codecs`)."""
    return np.dtype(dtype).kind in "ui" and np.dtype(dtype).itemsize == 1 and channels in (3, 4)


def _is_source(data: Any) -> bool:
    return isinstance(data, Source)


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


def _percentiles(values: np.ndarray, q: Sequence[float]) -> list[float]:
    """``np.percentile(values, q)`` (linear method) of finite float64 values, bit for bit.

    numpy's own goes through ``np.unique``, which imports ``numpy.ma`` (40 ms of every small
    conversion); the order statistics and numpy's interpolation are repeated here instead.
    """
    n = values.size
    virtual = (n - 1) * np.true_divide(np.asarray(q, dtype=np.float64), 100)
    below = np.floor(virtual)
    lower, upper = below.astype(np.intp), (below + 1).astype(np.intp)
    last = virtual >= n - 1
    lower[last] = upper[last] = n - 1
    part = np.partition(values, sorted({int(i) for i in (*lower, *upper)}))
    a, b, t = part[lower], part[upper], virtual - below
    diff = b - a
    out = a + diff * t
    np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)  # numpy's _lerp
    return [float(v) for v in out]


def _windows(sample: np.ndarray, axes: str) -> list[Window]:
    """Display windows from a sample of the smallest level (at most ``SAMPLE_PLANES`` evenly
    spaced t and z planes, see :func:`~ngffstore.multiscale.sample_selection`), so a long
    time-lapse costs no more memory or time than a short one. The writer keeps the sample from
    the blocks it writes: no read.
    """
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
            lo, hi = _percentiles(values, [0.1, 99.9])
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


def _local_folder_used(location: Location) -> bool:
    """Locally, whether anything at all is at ``location`` (free; object storage would need a LIST)."""
    if not location.is_local:
        return False
    if os.path.isfile(location.url):
        return True
    return os.path.isdir(location.url) and bool(os.listdir(location.url))


_UNREAD: Any = object()


def _existing(location: Location, zarr_format: int | None, node: Any = _UNREAD) -> tuple[str, Node | None]:
    """``("empty"|"in-progress"|"occupied", node)`` for the destination: node documents only
    (GETs, no listing; locally the folder is looked at too). ``zarr_format`` None looks for
    both formats' documents; ``node``, when the caller has just read it, saves the GETs."""
    if node is _UNREAD:
        node = try_read_node(location, zarr_format=zarr_format)
    if node is None:
        return ("occupied" if _local_folder_used(location) else "empty"), None
    if node.is_group and "writing" in (node.attributes.get("ngffstore") or {}):
        return "in-progress", node
    return "occupied", node


def prepare_destination(
    location: Location, *, overwrite: bool, fingerprint: str, zarr_format: int, operation: str
) -> bool:
    """Make a container's ``location`` (a plate, an assembled collection) ready for a write;
    return True when an interrupted write can resume.

    A complete node (or anything else) is replaced only with ``overwrite``. An interrupted
    ngffstore write of the same inputs and options is resumed; one of different inputs is
    cleared first. Multiscale images and labels use :func:`begin_node_write`, which writes a
    replacement beside the old node instead of removing it first.
    """
    state, node = _existing(location, None)
    resume = False
    if state == "in-progress" and not overwrite:
        assert node is not None
        previous = node.attributes["ngffstore"]["writing"]
        if previous.get("fingerprint") == fingerprint and node.zarr_format == zarr_format:
            log.info("resuming the interrupted write at %s", location.url)
            resume = True
        else:
            log.info("clearing an interrupted write with other options at %s", location.url)
            location.remove()
    elif state == "in-progress":
        location.remove()
    elif state == "occupied":
        if not overwrite:
            raise OutputExistsError(
                f"{location.url} already exists; pass overwrite=True (--overwrite) to replace it "
                "or choose another destination"
            )
        location.remove()
    if not resume:
        write_group(
            location,
            zarr_format,
            {"ngffstore": {"writing": {"fingerprint": fingerprint, "operation": operation,
                                       "started": provenance.now()}}},
        )
    return resume


#: The progress document of an overwrite in progress (the old node's document stays untouched).
OVERWRITE_STATE = f"{PROGRESS_DIR}/overwrite.json"


@dataclass(kw_only=True)
class NodeWrite:
    """A multiscale node being written: where its level arrays go and how it is committed.

    ``replacing`` is the complete node an overwrite replaces: its document stays in place (and
    readers keep seeing it, whole) until :func:`finish_node_write` swaps in the new document with
    one atomic write; its data is deleted after that.
    """

    location: Location
    zarr_format: int
    token: str
    paths: tuple[str, ...]
    resume: bool
    replacing: Node | None = None
    written: int = 0  # bytes of documents written so far (arrays, state)
    markers: list[str] = field(default_factory=list)


def begin_node_write(
    location: Location,
    *,
    overwrite: bool,
    fingerprint: str,
    zarr_format: int,
    operation: str,
    levels: int,
    exists_message: str | None = None,
    known_empty: bool = False,
    existing: Any = _UNREAD,
    any_format: bool = True,
) -> NodeWrite:
    """Decide how the multiscale node at ``location`` is written (fresh, resumed, or beside an
    old version it will replace) and record that decision before any array is written.

    Costs the node's document GETs (none with ``known_empty``: a caller that has just created
    the parent knows nothing is there, and none when the caller passes the ``existing`` node it
    has just read) and one PUT; no listing, unless an interrupted write with other options must
    be cleared. ``any_format`` looks for a node of the other Zarr format too (3 more GETs when
    nothing is there); a label, whose format is its image's, does not need to.
    """
    node = None
    foreign = False
    if not known_empty:
        state, node = _existing(location, None if any_format else zarr_format, existing)
        foreign = state == "occupied" and node is None
    writing = (node.attributes.get("ngffstore") or {}).get("writing") if node is not None and node.is_group else None
    if writing is not None and not isinstance(writing, Mapping):
        writing = {}
    plain = tuple(str(i) for i in range(levels))
    if writing is not None:
        assert node is not None
        paths = writing.get("paths")
        if (
            not overwrite
            and writing.get("fingerprint") == fingerprint
            and node.zarr_format == zarr_format
            and isinstance(writing.get("token"), str)
            and isinstance(paths, list)
            and len(paths) == levels
        ):
            log.info("resuming the interrupted write at %s", location.url)
            return NodeWrite(location=location, zarr_format=zarr_format, token=writing["token"],
                             paths=tuple(map(str, paths)), resume=True)
        log.info("clearing an interrupted write with other options at %s", location.url)
        location.remove()
    elif node is not None or foreign:
        if not overwrite:
            raise OutputExistsError(
                exists_message
                or f"{location.url} already exists; pass overwrite=True (--overwrite) to replace it "
                "or choose another destination"
            )
        if node is not None and node.is_group and "multiscales" in ome_attrs(node.attributes)[1]:
            return _begin_overwrite(location, node, fingerprint=fingerprint, zarr_format=zarr_format,
                                    operation=operation, levels=levels)
        location.remove()  # not a multiscale node: nothing a reader could keep using
    token = uuid.uuid4().hex[:12]
    state = {"fingerprint": fingerprint, "operation": operation, "started": provenance.now(),
             "token": token, "paths": list(plain)}
    attrs = {"ngffstore": {"writing": state}}
    write_group(location, zarr_format, attrs)
    return NodeWrite(location=location, zarr_format=zarr_format, token=token, paths=plain, resume=False)


def _begin_overwrite(
    location: Location, node: Node, *, fingerprint: str, zarr_format: int, operation: str, levels: int
) -> NodeWrite:
    data = location.get(OVERWRITE_STATE)
    previous: dict[str, Any] = {}
    if data is not None:
        try:
            previous = dict(__import__("json").loads(data))
        except (ValueError, TypeError):
            previous = {}
    paths = previous.get("paths")
    if (
        previous.get("fingerprint") == fingerprint
        and previous.get("zarr_format") == zarr_format
        and isinstance(previous.get("token"), str)
        and isinstance(paths, list)
        and len(paths) == levels
    ):
        log.info("resuming the interrupted overwrite at %s", location.url)
        return NodeWrite(location=location, zarr_format=zarr_format, token=previous["token"],
                         paths=tuple(map(str, paths)), resume=True, replacing=node)
    if previous:  # an interrupted overwrite with other options: its arrays are not in use
        used = set(_dataset_paths(node))
        for p in paths or []:
            if isinstance(p, str) and p and p not in used and "/" not in p and not p.startswith("."):
                location.remove(p)
        location.remove(PROGRESS_DIR)
    token = uuid.uuid4().hex[:12]
    used = set(_dataset_paths(node))
    new_paths = tuple(f"{i}-{token[:8]}" for i in range(levels))
    assert not used & set(new_paths)
    state = {"fingerprint": fingerprint, "operation": operation, "started": provenance.now(),
             "token": token, "paths": list(new_paths), "zarr_format": zarr_format}
    body = dump_json(state)
    location.put(OVERWRITE_STATE, body)
    return NodeWrite(location=location, zarr_format=zarr_format, token=token, paths=new_paths,
                     resume=False, replacing=node, written=len(body))


def _dataset_paths(node: Node) -> list[str]:
    out = []
    for ms in ome_attrs(node.attributes)[1].get("multiscales") or []:
        if isinstance(ms, Mapping):
            for ds in ms.get("datasets") or []:
                if isinstance(ds, Mapping) and isinstance(ds.get("path"), str):
                    out.append(ds["path"])
    return out


def group_document_size(zarr_format: int, attrs: Mapping[str, Any]) -> int:
    """Bytes of the group document(s) :func:`~ngffstore.nodes.write_group` writes for ``attrs``."""
    size = len(dump_json(group_document(zarr_format, attrs)))
    if zarr_format == 2:
        size += len(dump_json({"zarr_format": 2}))
    return size


def with_stored_bytes(attrs: dict[str, Any], zarr_format: int, other_bytes: int) -> dict[str, Any]:
    """``attrs`` with ``ngffstore.stored_bytes``: ``other_bytes`` plus the group document itself."""
    block = dict(attrs.get("ngffstore") or {})
    total = other_bytes
    for _ in range(3):  # the number's own digits change the document's size: settle it
        block["stored_bytes"] = total
        attrs = {**attrs, "ngffstore": block}
        new_total = other_bytes + group_document_size(zarr_format, attrs)
        if new_total == total:
            break
        total = new_total
    return attrs


def finish_node_write(write: NodeWrite, attrs: Mapping[str, Any]) -> None:
    """Commit ``write``: one atomic write of the group document, then the progress markers and
    (for an overwrite) the old version's data are deleted."""
    location = write.location
    write_group(location, write.zarr_format, attrs)
    if write.replacing is None:
        clear_progress(location, write.markers)
        return
    keep = set(write.paths) | ({"zarr.json"} if write.zarr_format == 3 else {".zgroup", ".zattrs"})
    _delete_except(location, keep)


def _delete_except(location: Location, keep: set[str]) -> None:
    """Delete everything below ``location`` but the children named in ``keep`` (one LIST per page)."""
    with storage_errors(location, "write"):
        if location.is_local:
            for name in os.listdir(location.path):
                if name not in keep:
                    location.remove(name)
            return
        fs = location.fs
        base = location.path.rstrip("/") + "/"
        try:
            found = fs.find(location.path)
        except FileNotFoundError:
            found = []
        stale = [p[len(base):] for p in found if p.startswith(base) and p[len(base):].split("/", 1)[0] not in keep]
    delete_keys(location, stale)


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
    _known_empty: bool = False,
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
        ``zstd`` (default: level 3; level 1 for 8-bit RGB/RGBA, whose JPEG-born noise level 3
        compresses 2-7% better at 4x the time, see :mod:`ngffstore.codecs`), ``zstd:LEVEL``,
        ``blosc-lz4``, ``blosc-zstd``, ``gzip`` or ``none``.
    min_size, levels, downsample_z, method
        Levels halve y/x (and z with ``downsample_z``) until the longest y/x edge is at most
        ``min_size``, or stop at ``levels`` levels; ``method`` is mean, nearest, mode, min or max.
    ngff_version
        ``"0.5"`` (Zarr v3, default) or ``"0.4"`` (Zarr v2).
    scheduler
        ``"threads"`` (default), ``"processes"``, ``"synchronous"``, a dask.distributed address or
        ``Client``.
    memory_target
        Bytes of image data in one block, one task (default 32 MiB); a task works through its
        block in strips of whole chunk rows or planes, so it holds less at once.
    stored_bytes
        Whether the returned summary says the bytes stored (``False``: leave it out). The writer
        records them in the attributes (``ngffstore.stored_bytes``): no listing either way.

    Returns
    -------
    ImageSummary
        What was written (levels, shapes, chunks, bytes).
    """

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
    array = as_array(data)
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
    n_channels = shape[axes_c.index("c")] if "c" in axes_c else 1
    compression = Compression.parse(compression, rgb8=_is_rgb8(array.dtype, n_channels))
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
    translation_map = parse_translation(translation, axes_c) if translation is not None else {}
    factors = level_factors(shape, axes_c, min_size=min_size, downsample_z=downsample_z, max_levels=levels)
    spec = PyramidSpec.build(
        shape=shape, dtype=array.dtype, axes=axes_c, factors=factors, chunks=chunk_shape,
        shards=shard_shape, compression=compression, zarr_format=zarr_format, method=method,
        whole=_whole_axes(array, axes_c),
    )
    channel_list = _channels(channels, channel_colors, n_channels)

    resumable = [provenance.describe_input(p) for p in inputs] if inputs else None
    target = memory_target or DEFAULT_MEMORY_TARGET
    fingerprint = spec.fingerprint(
        [resumable, n_channels] if resumable else uuid.uuid4().hex, memory_target=target
    )
    write = begin_node_write(
        location, overwrite=overwrite, fingerprint=fingerprint, zarr_format=zarr_format,
        operation="write_image", levels=len(spec.levels), known_empty=_known_empty,
    )
    spec = spec.with_paths(write.paths)
    write.written += create_arrays(location, spec)
    result = write_pyramid(
        array, location, spec, token=write.token, scheduler=scheduler, progress=progress,
        memory_target=target, resume=write.resume, sample_planes=SAMPLE_PLANES,
    )
    write.markers = result.markers

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
    assert result.sample is not None
    windows = _windows(result.sample, axes_c)
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
    attrs = with_stored_bytes(attrs, zarr_format, result.chunk_bytes + write.written)
    finish_node_write(write, attrs)
    if not _known_empty:  # a plate journals itself once, after its last field
        journal.notify(location, operation="write_image", zarr_format=zarr_format)
    return _summary(location, spec, attrs, stored_bytes is not False)


def _summary(location: Location, spec: PyramidSpec, attrs: Mapping[str, Any], with_size: bool) -> Any:
    """The :class:`~ngffstore.image.info.ImageSummary` of what was just written (no read)."""
    from ..multiscale import level_array
    from ..ngff import parse_image_attrs
    from .info import ImageSummary, LevelSummary, _codecs

    version, ms, omero = parse_image_attrs(attrs)
    levels = []
    for i, (lv, ds) in enumerate(zip(spec.levels, ms.datasets)):
        levels.append(
            LevelSummary(
                path=lv.path, shape=lv.shape, chunks=lv.chunks, shards=lv.shards,
                dtype=str(np.dtype(spec.dtype)), scale=ds.scale, translation=ds.translation,
                compressors=_codecs(level_array(location, spec, i)),
            )
        )
    return ImageSummary(
        url=location.url, name=ms.name, version=version, zarr_format=spec.zarr_format,
        axes=ms.axis_names, units={a.name: a.unit for a in ms.axes if a.unit},
        channels=tuple(c.label for c in omero.channels) if omero else (), levels=tuple(levels),
        bytes_stored=int(attrs["ngffstore"]["stored_bytes"]) if with_size else None,
    )
