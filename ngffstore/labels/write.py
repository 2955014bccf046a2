"""``write_labels``, ``remove_labels``, ``list_labels``: label images under ``IMAGE/labels/NAME``.

Everything about the input is checked before anything is written (name, shape against the
image, integer values, existing label); the parent image's own metadata and arrays are never
written. The label node gets its NGFF metadata last, and only then is its name added to the
``labels`` group (a read-modify-write that keeps the other names).
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from typing import Any

import dask.array as da
import numpy as np

from .. import journal, parallel, provenance
from .._deprecated import warn_deprecated
from ..codecs import Compression
from ..errors import ConflictError, InputError, OutputExistsError, StoreNotFoundError
from ..image.options import parse_block_shape, resolve_shards
from ..image.write import _summary as written_summary
from ..image.write import as_dask, begin_node_write, finish_node_write, with_stored_bytes
from ..multiscale import (
    DEFAULT_MEMORY_TARGET,
    PyramidSpec,
    array_documents,
    create_arrays,
    delete_keys,
    write_pyramid,
)
from ..ngff import Dataset, Multiscale, ome_attrs, wrap_ome
from ..nodes import (
    exists_anything,
    read_attrs,
    try_read_node,
    update_attributes,
    write_group,
)
from ..paths import check_relative_path
from ..pyramid import parse_method
from ..source import Source
from ..storage import Location, storage_errors
from .colors import RGBA, label_colors, parse_colors
from .info import LabelsSummary
from .layout import LABELS_GROUP, check_name, read_listing
from .properties import parse_properties
from .read import open_labels

log = logging.getLogger("ngffstore")

#: Colours are generated for at most this many label values (the smallest ones); other values
#: keep their generated colour implicitly (:func:`~ngffstore.labels.colors.label_colors`).
MAX_GENERATED_COLORS = 10_000

# -- names and the labels group ----------------------------------------------------------------


def _with_names(attrs: dict[str, Any], zarr_format: int, version: str, names: list[str]) -> dict[str, Any]:
    """``attrs`` of the labels group listing ``names`` (where NGFF puts the list for the format)."""
    attrs = dict(attrs)
    if "ome" in attrs or (zarr_format == 3 and "labels" not in attrs):
        ome = dict(attrs.get("ome") or {})
        ome.setdefault("version", version)
        ome["labels"] = names
        attrs["ome"] = ome
        attrs.pop("labels", None)
    else:
        attrs["labels"] = names
    return attrs


def _names(attrs: dict[str, Any]) -> list[str]:
    names = ome_attrs(attrs)[1].get("labels")
    return [str(n) for n in names] if isinstance(names, list) else []


def _listed(attrs: dict[str, Any], zarr_format: int, version: str, name: str) -> dict[str, Any] | None:
    """``attrs`` of the labels group with ``name`` listed (None: already listed)."""
    names = _names(attrs)
    if name in names:
        return None
    return _with_names(attrs, zarr_format, version, [*names, name])


def _unlisted(attrs: dict[str, Any], zarr_format: int, version: str, name: str) -> dict[str, Any] | None:
    """``attrs`` of the labels group without ``name`` (None: not listed)."""
    names = _names(attrs)
    if name not in names:
        return None
    return _with_names(attrs, zarr_format, version, [n for n in names if n != name])


def _add_to_listing(image: Location, zarr_format: int, version: str, name: str) -> None:
    """Add ``name`` to the ``labels`` group: created if absent (a PUT only if absent), else a
    conditional read-modify-write that loses no concurrent writer's name."""
    group = image.child(LABELS_GROUP)
    node = try_read_node(group, zarr_format=zarr_format)
    if node is None:
        try:
            write_group(group, zarr_format, _listed({}, zarr_format, version, name) or {}, if_version=None)
            return
        except ConflictError:
            node = None  # created meanwhile by another writer: update it
    update_attributes(
        group, lambda attrs: _listed(attrs, zarr_format, version, name), zarr_format=zarr_format,
        node=node, what="add a label to the listing of",
    )


def list_labels(image_url: str | Location, *, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Names of the label images of the image at ``image_url``, as its ``labels`` group lists them."""
    image = Location.parse(image_url, storage_options)
    read_attrs(image)  # a clear error when the image itself is missing
    return read_listing(image)[2]


def remove_labels(
    image_url: str | Location, name: str, *, storage_options: Mapping[str, Any] | None = None
) -> None:
    """Delete the label image ``name`` and take it out of the ``labels`` listing.

    The name leaves the listing first, so a reader never finds a listed label half deleted; an
    empty ``labels`` group is removed as well.
    """
    check_name(name)
    image = Location.parse(image_url, storage_options)
    read_attrs(image)
    fmt, attrs, names = read_listing(image)
    target = image.child(LABELS_GROUP, name)
    if name not in names and not exists_anything(target):
        have = f"it has {', '.join(names)}" if names else "it has none"
        raise StoreNotFoundError(f"no label image {name!r} in {image.url}: {have}")
    remaining = [n for n in names if n != name]
    if name in names and fmt is not None:
        version = ome_attrs(attrs)[0] or ("0.5" if fmt == 3 else "0.4")
        node = update_attributes(  # conditional: a name another writer adds meanwhile is kept
            image.child(LABELS_GROUP), lambda a: _unlisted(a, fmt, version, name), zarr_format=fmt,
            what="remove a label from the listing of",
        )
        remaining = _names(node.attributes)
    target.remove()
    if not remaining and fmt is not None:
        group = image.child(LABELS_GROUP)
        fs = group.fs
        with storage_errors(group, "read"):
            try:
                children = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(group.path, detail=False, refresh=True)]
            except TypeError:  # filesystems without refresh=
                children = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(group.path, detail=False)]
            except FileNotFoundError:
                children = []
        if not [c for c in children if c not in ("zarr.json", ".zgroup", ".zattrs")]:
            group.remove()


# -- the input ---------------------------------------------------------------------------------


def _is_source(data: Any) -> bool:
    return isinstance(data, Source)


def _fit_axes(
    array: da.Array, axes: str | None, parent_axes: str, parent_shape: Mapping[str, int], where: str
) -> da.Array:
    """``array`` with the label axes (the parent's minus c), in the parent's order."""
    target = parent_axes.replace("c", "")
    if axes is None:
        if array.ndim == len(target):
            axes = target
        elif array.ndim == len(parent_axes):
            axes = parent_axes
        elif array.ndim < len(target):
            axes = target[len(target) - array.ndim :]
        else:
            raise InputError(
                f"the label has {array.ndim} dimensions (shape {tuple(array.shape)}) but the image "
                f"{where} has axes {parent_axes!r}: a label has the image's axes without c ({target!r})"
            )
    axes = axes.lower()
    if len(axes) != array.ndim or len(set(axes)) != len(axes) or any(a not in "tczyx" for a in axes):
        raise InputError(f"label axes {axes!r} do not name the {array.ndim} dimensions of shape {tuple(array.shape)}")
    index: list[Any] = []
    kept = []
    for i, a in enumerate(axes):
        if a in target:
            index.append(slice(None))
            kept.append(a)
        elif array.shape[i] == 1:
            index.append(0)
        elif a == "c":
            raise InputError(
                f"the label has {array.shape[i]} channels; a label image holds one value per pixel: "
                "write one label image per channel"
            )
        else:
            raise InputError(
                f"the label has a {a} axis ({array.shape[i]} long) that the image {where} "
                f"(axes {parent_axes!r}) does not have"
            )
    array = array[tuple(index)]
    for a in target:
        if a not in kept:
            if parent_shape[a] != 1:
                raise InputError(
                    f"the label has no {a} axis but the image {where} has {parent_shape[a]} {a} "
                    f"planes: give a label with axes {target!r}"
                )
            array = array[None]
            kept.insert(0, a)
    order = [kept.index(a) for a in target]
    if order != list(range(len(order))):
        array = array.transpose(order)
    return array


def _shape_text(axes: str, shape: Sequence[int]) -> str:
    return ", ".join(f"{a}={n}" for a, n in zip(axes, shape))


def _integer_labels(
    array: da.Array, *, cast: bool, where: str, scheduler: Any
) -> tuple[da.Array, str | None]:
    """``array`` as an integer dtype; ``(array, original dtype if cast)``."""
    kind = array.dtype.kind
    if kind in "iu":
        return array, None
    if kind == "b":
        return array.astype(np.uint8), str(array.dtype)
    if kind != "f":
        raise InputError(f"label data of type {array.dtype} cannot be used: labels are integers")
    if not cast:
        raise InputError(
            f"the label data {where} is floating point ({array.dtype}); labels are integers: "
            "pass cast=True (--cast) to store whole-number values as integers"
        )
    whole = da.all(da.isfinite(array) & (array == da.floor(array)))
    bar = parallel.make_bar(3, "checking label values", False)
    try:
        ok, lo, hi = parallel.compute([whole, array.min(), array.max()], scheduler=scheduler, bar=bar)
    finally:
        bar.close()
    if not bool(ok):
        raise InputError(
            f"the label data {where} has fractional or non-finite values; only whole numbers can be "
            "cast to integer labels (round or relabel them first)"
        )
    lo, hi = float(lo), float(hi)
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64) if lo >= 0 else (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return array.astype(dtype), str(array.dtype)
    raise InputError(f"the label values {where} ({lo:g} to {hi:g}) do not fit a 64-bit integer")


# -- the pyramid ---------------------------------------------------------------------------------


def _level_factors(shapes: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    out = []
    for prev, cur in itertools.pairwise(shapes):
        out.append(tuple(max(1, int(p / max(c, 1) + 0.5)) for p, c in zip(prev, cur)))
    return out


def _drop(values: Sequence[Any] | None, index: int) -> tuple[Any, ...] | None:
    if values is None:
        return None
    return tuple(v for i, v in enumerate(values) if i != index)


def _exists_message(target: Location) -> str:
    return (
        f"a label image named {target.name!r} already exists at {target.url}; pass overwrite=True "
        "(--overwrite) to replace it or choose another name"
    )


def _colors_entries(
    values: np.ndarray, given: dict[int, RGBA]
) -> tuple[list[dict[str, Any]], str]:
    generated = values[:MAX_GENERATED_COLORS]
    colors: dict[int, RGBA] = {}
    for v, rgba in zip(generated.tolist(), label_colors(generated).tolist()):
        colors[int(v)] = (rgba[0], rgba[1], rgba[2], rgba[3])
    note = "generated"
    if values.size > MAX_GENERATED_COLORS:
        note = f"generated for the {MAX_GENERATED_COLORS} smallest of {values.size} values"
        log.warning(
            "the label has %d values: colours are stored for the %d smallest only (the others keep "
            "their generated colour when displayed); pass colors= to choose them",
            values.size,
            MAX_GENERATED_COLORS,
        )
    if given:
        note = "given" if not colors else f"given, others {note}"
        colors.update(given)
    return [{"label-value": v, "rgba": list(colors[v])} for v in sorted(colors)], note


def write_labels(
    data: Any,
    url: str | Location,
    *_old_name: str,
    name: str | None = None,
    colors: Any = None,
    properties: Any = None,
    method: str = "mode",
    cast: bool = False,
    overwrite: bool = False,
    axes: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    memory_target: int | None = None,
    chunks: Any = None,
) -> LabelsSummary:
    """Write a label image ``name`` for the image at ``url`` (``IMAGE/labels/NAME``).

    Parameters
    ----------
    data
        numpy, dask or Zarr array, or a :class:`~ngffstore.source.Source`, of integer label values. Its
        shape must match the image's along every axis but c (a missing axis is allowed where the
        image has one plane); a channel axis of length 1 is dropped.
    url
        The parent image (also a plate field). It is read, never written.
    name
        The label name (keyword): a plain name, no ``/``, ``..`` or absolute path. The old
        order ``write_labels(data, image_url, name)`` still works until 0.3 with a
        ``DeprecationWarning``, and returns the opened :class:`~ngffstore.labels.Labels` as
        it used to.
    colors
        ``{value: colour}``, NGFF ``colors`` entries, a DataFrame or a CSV path
        (``label-value,r,g,b[,a]`` or ``label-value,#RRGGBB``). Values without a given colour get
        a generated one, stable per value (at most :data:`MAX_GENERATED_COLORS` are stored).
    properties
        Per-value properties: a CSV path or DataFrame with a ``label-value`` column, a mapping
        ``{value: {name: value}}`` or NGFF ``properties`` entries.
    method
        ``mode`` (default) or ``nearest``: both only ever keep values present in the source.
    cast
        Store floating-point input whose values are all whole numbers as the smallest integer
        type that holds them (checked chunk by chunk).
    overwrite
        Replace an existing label image of that name.
    axes
        Axis letters of a plain array when they are not the image's axes minus c.
    chunks
        Chunk shape (default: the image's level-0 chunks).
    scheduler, progress, memory_target
        As for :func:`~ngffstore.image.write.write_image`.

    Returns
    -------
    LabelsSummary
        What was written: the label image's levels, values, colours and properties (no read);
        ``open_labels(url, name)`` opens it for reading.

    Raises
    ------
    InputError
        Bad name, shape mismatch, non-integer labels, bad colours or properties.
    OutputExistsError
        A label image of that name exists and ``overwrite`` is not set.
    """
    if _old_name:
        if len(_old_name) > 1 or name is not None:
            raise TypeError("write_labels() takes 2 positional arguments (data, url) and name=")
        warn_deprecated(
            "write_labels(data, image_url, name) is deprecated; use write_labels(data, url, "
            "name=...), which returns a LabelsSummary (open_labels opens it) (removed in 0.3)"
        )
        _write_labels(
            data, url, _old_name[0], colors=colors, properties=properties, method=method,
            cast=cast, overwrite=overwrite, axes=axes, storage_options=storage_options,
            scheduler=scheduler, progress=progress, memory_target=memory_target, chunks=chunks,
        )
        return open_labels(url, _old_name[0], storage_options=storage_options)  # type: ignore[return-value]
    if name is None:
        raise TypeError("write_labels() missing the keyword argument name=")
    return _write_labels(
        data, url, name, colors=colors, properties=properties, method=method, cast=cast,
        overwrite=overwrite, axes=axes, storage_options=storage_options, scheduler=scheduler,
        progress=progress, memory_target=memory_target, chunks=chunks,
    )


def _write_labels(
    data_or_source: Any,
    image_url: str | Location,
    name: str,
    *,
    colors: Any,
    properties: Any,
    method: str,
    cast: bool,
    overwrite: bool,
    axes: str | None,
    storage_options: Mapping[str, Any] | None,
    scheduler: Any,
    progress: bool | None,
    memory_target: int | None,
    chunks: Any,
) -> LabelsSummary:
    started = provenance.now()
    name = check_name(name)
    image = _read_parent(Location.parse(image_url, storage_options))
    location = image.location
    where = f"for {location.url}"
    _, ome = ome_attrs(image.attrs)
    if "image-label" in ome:
        raise InputError(f"{location.url} is a label image; add labels to its parent image instead")
    parent_axes = image.axes
    if any(a not in "tczyx" for a in parent_axes):
        raise InputError(f"{location.url} has axes {parent_axes!r}; labels need t, c, z, y, x axes")
    method = parse_method(method, labels=True)

    inputs: list[str] = []
    if _is_source(data_or_source):
        src = data_or_source
        axes = axes or src.axes
        inputs = list(src.inputs or [])
        data_or_source = src.data
    array = as_dask(data_or_source)
    if array.ndim == 0 or 0 in array.shape:
        raise InputError(f"the label data is empty (shape {tuple(array.shape)})")
    levels = image.levels
    parent_shape = dict(zip(parent_axes, levels[0].shape))
    array = _fit_axes(array, axes, parent_axes, parent_shape, location.url)
    c = parent_axes.find("c")
    label_axes = parent_axes.replace("c", "")
    shape = tuple(int(s) for s in array.shape)
    expected = tuple(parent_shape[a] for a in label_axes)
    if shape != expected:
        raise InputError(
            f"the label has shape ({_shape_text(label_axes, shape)}) but the image {location.url} has "
            f"({_shape_text(label_axes, expected)}): a label must cover the image's pixel grid exactly"
        )

    target = location.child(LABELS_GROUP, name)
    existing = try_read_node(target, zarr_format=image.zarr_format)
    if not overwrite and existing is not None and "writing" not in (existing.attributes.get("ngffstore") or {}):
        raise OutputExistsError(_exists_message(target))  # before the input is read
    colors_given = parse_colors(colors, storage_options=storage_options)
    props_given = parse_properties(properties, storage_options=storage_options)
    array, cast_from = _integer_labels(array, cast=cast, where=where, scheduler=scheduler)

    # the pyramid: the image's levels (shapes, factors, scales), without c
    parent_shapes = [tuple(lv.shape[i] for i in range(len(parent_axes)) if i != c) for lv in levels]
    factors = _level_factors(parent_shapes)
    if method == "mode" and any(f > 2 for fs in factors for f in fs):
        raise InputError(
            f"the image {location.url} downsamples by more than 2 between levels; use method='nearest' "
            "(--method nearest) for its labels"
        )
    zarr_format = image.zarr_format
    version = image.version if image.version in ("0.4", "0.5") else ("0.5" if zarr_format == 3 else "0.4")
    chunk0 = tuple(levels[0].chunks[i] for i in range(len(parent_axes)) if i != c)
    given_chunks = parse_block_shape(chunks, label_axes, shape, "chunk size")
    chunk_shape = tuple(
        max(1, min(int(g if g is not None else d), n))
        for g, d, n in zip(given_chunks or (None,) * len(shape), chunk0, shape)
    )
    shard_shape = None
    if levels[0].shards and zarr_format == 3 and chunks is None:
        shards0 = tuple(levels[0].shards[i] for i in range(len(parent_axes)) if i != c)
        shard_shape = resolve_shards(label_axes, shape, chunk_shape, shards0)
    spec = PyramidSpec.build(
        shape=shape, dtype=array.dtype, axes=label_axes, factors=factors, chunks=chunk_shape,
        shards=shard_shape, compression=Compression.parse("zstd"), zarr_format=zarr_format,
        method=method,
    )
    crop = [lv.shape for lv in spec.levels] != parent_shapes
    for i, (mine, theirs) in enumerate(zip((lv.shape for lv in spec.levels), parent_shapes)):
        if any(not 0 <= m - t <= 1 for m, t in zip(mine, theirs)):
            raise InputError(
                f"level {i} of the image {location.url} ({_shape_text(label_axes, theirs)}) is not a whole-"
                "number downsampling of the level before; a label pyramid cannot match it"
            )

    described = [provenance.describe_input(p) for p in inputs] if inputs and not crop else None
    target_bytes = memory_target or DEFAULT_MEMORY_TARGET
    fingerprint = spec.fingerprint(
        [name, described, cast_from] if described else uuid.uuid4().hex, memory_target=target_bytes
    )
    write = begin_node_write(
        target, overwrite=overwrite, fingerprint=fingerprint, zarr_format=zarr_format,
        operation="write_labels", levels=len(spec.levels), exists_message=_exists_message(target),
        existing=existing, any_format=False,
    )
    spec = spec.with_paths(write.paths)
    write.written += create_arrays(target, spec)
    result = write_pyramid(
        array, target, spec, token=write.token, scheduler=scheduler, progress=progress,
        memory_target=target_bytes, resume=write.resume, values=True,
    )
    write.markers = result.markers
    sizes = dict(result.sizes)
    if crop:
        write.written += _crop_levels(target, spec, parent_shapes, sizes)

    values = result.values if result.values is not None else np.array([], dtype=spec.dtype)
    colors_entries, colors_note = _colors_entries(values, colors_given)
    present = set(values.tolist())
    missing = sorted(set(props_given) - present)
    if missing:
        log.warning("properties are given for %d label values absent from the label (e.g. %s)", len(missing), missing[:5])

    datasets = []
    for lv, ds in zip(spec.levels, image.multiscale.datasets):
        datasets.append(Dataset(path=lv.path, scale=_drop(ds.scale, c) or (), translation=_drop(ds.translation, c)))
    transforms = tuple(
        {k: (list(_drop(v, c) or ()) if k in ("scale", "translation") and isinstance(v, list) else v) for k, v in t.items()}
        for t in image.multiscale.coordinate_transformations
    )
    multiscale = Multiscale(
        axes=tuple(a for a in image.multiscale.axes if a.name != "c"),
        datasets=tuple(datasets),
        name=name,
        type=method,
        metadata={"description": f"{method} downsampling of labels by ngffstore (never invents values)",
                  "method": "ngffstore.pyramid.downsample", "kwargs": {"method": method}},
        coordinate_transformations=transforms,
    )
    image_label: dict[str, Any] = {}
    if version == "0.4":
        image_label["version"] = "0.4"
    if colors_entries:
        image_label["colors"] = colors_entries
    if props_given:
        image_label["properties"] = [{"label-value": v, **props_given[v]} for v in sorted(props_given)]
    image_label["source"] = {"image": "../../"}
    attrs = wrap_ome({"multiscales": [multiscale.to_dict(version)], "image-label": image_label}, version)
    stats = {"count": int(values.size)}
    if values.size:
        stats.update(min=values.min().item(), max=values.max().item())
    attrs["ngffstore"] = {"label_values": stats}
    attrs = provenance.append(
        attrs,
        provenance.record(
            "write_labels",
            {
                "name": name, "image": location.url, "axes": label_axes, "shape": shape,
                "dtype": str(array.dtype), "cast_from": cast_from, "method": method,
                "chunks": chunk_shape, "shards": shard_shape, "levels": len(spec.levels),
                "colors": colors_note, "properties": sorted({k for p in props_given.values() for k in p}),
                "ngff_version": version,
            },
            inputs=inputs,
            started=started,
            target=target.url,
        ),
    )
    attrs = with_stored_bytes(attrs, zarr_format, sum(sizes.values()) + write.written)
    finish_node_write(write, attrs)
    # the index has a row per image, labels included: journal the image (fewer ancestors to probe)
    journal.notify(location, operation="write_labels", zarr_format=zarr_format)
    _add_to_listing(location, zarr_format, version, name)
    summary = written_summary(target, spec, attrs, True)
    levels = summary.levels
    if crop:
        levels = tuple(replace(lv, shape=tuple(s)) for lv, s in zip(levels, parent_shapes))
    fields = {f.name: getattr(summary, f.name) for f in dataclass_fields(summary)}
    return LabelsSummary(
        **{**fields, "levels": levels},
        image=location.url,
        value_count=int(values.size),
        value_range=(values.min().item(), values.max().item()) if values.size else None,
        color_count=len(colors_entries),
        property_count=len(props_given),
    )


@dataclass(frozen=True, kw_only=True)
class _Level:
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None


@dataclass(frozen=True, kw_only=True)
class _Parent:
    """What a label write needs of its image: attributes and level shapes, read cheaply."""

    location: Location
    zarr_format: int
    version: str | None
    attrs: dict[str, Any]
    multiscale: Any
    levels: tuple[_Level, ...]

    @property
    def axes(self) -> str:
        return self.multiscale.axis_names


def _level_doc(location: Location, path: str, zarr_format: int, index: int) -> Any:
    """The zarr array of one level, built from its metadata document (one GET)."""
    from ..errors import ReadError
    from ..multiscale import _metadata

    name = "zarr.json" if zarr_format == 3 else ".zarray"
    raw = location.child(path).get(name)
    if raw is None:
        raise ReadError(
            f"level {index} ({path!r}) of {location.url} is missing: the image is incomplete; "
            "rewrite it or check it with 'ngffstore validate'"
        )
    try:
        meta = _metadata({name: raw})
    except Exception as exc:  # noqa: BLE001 - malformed or foreign metadata: one clear line
        raise ReadError(f"cannot use the metadata of level {index} ({path!r}) of {location.url}: {exc}") from None
    shards = None
    if zarr_format == 3 and meta.codecs and type(meta.codecs[0]).__name__ == "ShardingCodec":
        shards = tuple(int(s) for s in meta.chunk_grid.chunk_shape)
        chunks = tuple(int(c) for c in meta.codecs[0].chunk_shape)
    else:
        chunks = tuple(int(c) for c in (meta.chunk_grid.chunk_shape if zarr_format == 3 else meta.chunks))
    return _Level(shape=tuple(int(s) for s in meta.shape), chunks=chunks, shards=shards)


def _read_parent(location: Location) -> _Parent:
    """The image a label is written for: its group document and level 0's (2 GETs for Zarr v3).

    Lower levels' shapes follow from level 0's and the scale ratios; a level whose shape the
    ratio leaves ambiguous (an odd size: rounded up or down) has its document read (one GET).
    """
    from ..errors import NotNgffError
    from ..ngff import parse_image_attrs
    from ..nodes import read_group

    node = read_group(location)
    try:
        version, ms, _ = parse_image_attrs(node.attributes)
    except NotNgffError as exc:
        raise NotNgffError(f"{location.url}: {exc}") from None
    document = location.child("zarr.json" if node.zarr_format == 3 else ".zattrs").url
    paths = [
        check_relative_path(ds.path, document=document, what=f"multiscale dataset path (level {j})")
        for j, ds in enumerate(ms.datasets)
    ]
    levels = [_level_doc(location, paths[0], node.zarr_format, 0)]
    for i in range(1, len(paths)):
        prev, shape = levels[-1].shape, []
        for s, a, b in zip(prev, ms.datasets[i - 1].scale, ms.datasets[i].scale):
            f = b / a if a else 0.0
            if f < 1 or abs(f - round(f)) > 1e-6:
                shape = None
                break
            lo, hi = s // round(f), -(-s // round(f))
            if lo != hi:
                shape = None
                break
            shape.append(lo)
        if shape is None or len(shape) != len(prev):
            levels.append(_level_doc(location, paths[i], node.zarr_format, i))
        else:
            levels.append(_Level(shape=tuple(shape), chunks=levels[0].chunks, shards=levels[0].shards))
    return _Parent(location=location, zarr_format=node.zarr_format, version=version,
                   attrs=dict(node.attributes), multiscale=ms, levels=tuple(levels))


def _crop_levels(
    location: Location, spec: PyramidSpec, shapes: Sequence[tuple[int, ...]], sizes: dict[str, int]
) -> int:
    """Shrink levels written one pixel larger than the image's (floor-rounded pyramids): their
    array documents are rewritten with the image's shape and objects wholly outside it deleted
    (as zarr's resize does). ``sizes`` loses the deleted keys; returns the document bytes."""
    written = 0
    stale: list[str] = []
    for i, (lv, shape) in enumerate(zip(spec.levels, shapes)):
        if lv.shape == shape:
            continue
        for doc_name, data in array_documents(spec, i, shape).items():
            location.put(f"{lv.path}/{doc_name}", data)
            written += len(data)
        unit = lv.unit
        inside = [-(-n // u) for n, u in zip(shape, unit)]
        for key in [k for k in sizes if k.startswith(lv.path + "/")]:
            coords = _chunk_coords(key[len(lv.path) + 1 :], spec.zarr_format)
            if coords is not None and any(c >= n for c, n in zip(coords, inside)):
                stale.append(key)
                sizes.pop(key)
    delete_keys(location, stale)
    return written


def _chunk_coords(key: str, zarr_format: int) -> tuple[int, ...] | None:
    parts = key.split("/")
    if zarr_format == 3:
        if not parts or parts[0] != "c":
            return None
        parts = parts[1:]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return None


__all__ = ["MAX_GENERATED_COLORS", "list_labels", "remove_labels", "write_labels"]
