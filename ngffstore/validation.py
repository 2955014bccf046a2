"""Validate OME-NGFF 0.4 / 0.5 stores: the official JSON schemas plus the rules they cannot express.

:func:`validate` walks a store from its root group: images, label images (``labels/``), plates
(plate -> wells -> field images), wells and bioformats2raw containers (series images and the
``OME/`` group). Each node is checked against the schema of the version it declares (``strict_*``
with ``strict=True``), then against rules that need code (array existence, dimensionality,
``dimension_names``, shapes against scales, axis order and units, label dtypes and values, plate
paths). Only metadata is read (``zarr.json``, ``.zgroup``, ``.zarray``, ``.zattrs``), never chunks.

Every finding is a :class:`Problem` with the node path (``/`` is the validated URL); malformed
metadata is reported, never raised. :func:`validate_attrs` runs the same checks on one attribute
document without a store.

Severities: ``error`` for MUST-level rules, ``warning`` for SHOULD-level ones (unit names, label
scales that differ from the image's); ``strict=True`` turns those SHOULD-level warnings into errors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import zarr.errors

from . import _schemas
from .errors import InputError, NgffStoreError, ReadError, StoreNotFoundError, ValidationError
from .image._zarrio import node_gets
from .ngff import SPACE_UNITS, SUPPORTED_VERSIONS, TIME_UNITS
from .nodes import Node, try_read_node
from .paths import unsafe_reason
from .storage import Location

Severity = Literal["error", "warning"]
NodeKind = Literal["image", "label", "labels", "plate", "well", "bf2raw", "ome"]
KINDS: tuple[str, ...] = ("image", "label", "labels", "plate", "well", "bf2raw", "ome")

_WHAT = {
    "image": "an image",
    "label": "a label image",
    "labels": "a labels group",
    "plate": "a plate",
    "well": "a well",
    "bf2raw": "a bioformats2raw container",
    "ome": "a bioformats2raw OME group",
}


# -- report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One finding: the node ``path`` (``/`` = the validated URL), what is wrong, how bad."""

    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


@dataclass
class ValidationReport:
    """The result of :func:`validate`: every problem found, and the NGFF nodes visited."""

    url: str
    strict: bool = False
    problems: list[Problem] = field(default_factory=list)
    nodes: dict[str, str] = field(default_factory=dict)
    """``{"/A/1/0": "image 0.5", ...}``: each node identified, with its kind and version."""
    documents_read: int = 0
    """Metadata documents requested (one GET each)."""
    objects_checked: int = 0
    """Stored chunk objects fetched and decoded (``data=True``)."""

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def summary(self) -> str:
        """One line: the verdict and the counts."""
        n_err, n_warn = len(self.errors), len(self.warnings)
        verdict = "valid" if self.ok else "INVALID"
        data = f", {self.objects_checked} chunk objects decoded" if self.objects_checked else ""
        return (
            f"{self.url}: {verdict} OME-NGFF ({len(self.nodes)} nodes checked{data}, "
            f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)})"
        )

    def __str__(self) -> str:
        return "\n".join([*(str(p) for p in self.problems), self.summary()])

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able values (``ngffstore validate --json``)."""
        return {
            "url": self.url, "ok": self.ok, "nodes": self.nodes,
            "chunk_objects_decoded": self.objects_checked,
            "problems": [{"path": p.path, "severity": p.severity, "message": p.message} for p in self.problems],
        }

    def raise_for_errors(self) -> None:
        """Raise :class:`ValidationError` (one line, naming the first error) unless :attr:`ok`."""
        if not self.ok:
            first = self.errors[0]
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise ValidationError(
                f"{self.url} is not valid OME-NGFF: {first.path}: {first.message}{more}; "
                "run `ngffstore validate` for the full list"
            )


class _Sink:
    """Collects the problems of one node path."""

    def __init__(self, path: str, strict: bool, problems: list[Problem]) -> None:
        self.path = path
        self.strict = strict
        self.problems = problems

    def error(self, message: str) -> None:
        self.problems.append(Problem(self.path, message, "error"))

    def warn(self, message: str) -> None:
        self.problems.append(Problem(self.path, message, "warning"))

    def should(self, message: str) -> None:
        """A SHOULD-level rule: a warning, or an error in strict mode."""
        self.problems.append(Problem(self.path, message, "error" if self.strict else "warning"))


# -- small helpers ---------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_integral(v: Any) -> bool:
    return _is_int(v) or (isinstance(v, float) and v.is_integer())


def _safe_relpath(p: Any) -> bool:
    """A relative path that stays inside its group: :func:`ngffstore.paths.unsafe_reason`
    (no ``..``/``.``/empty segment, not absolute, no URL scheme or drive, no backslash or
    control character)."""
    return unsafe_reason(p) is None


def _unsafe(p: Any) -> str:
    """`` (why)`` for a path that is not safe, to end a message."""
    reason = unsafe_reason(p)
    return f" ({reason})" if reason else ""


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def _display(path: str) -> str:
    return "/" + path.strip("/")


def _short_exc(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _dtype_name(dtype: Any) -> str:
    try:
        return np.dtype(dtype).name
    except (TypeError, ValueError):
        return str(dtype)


def _dtype_is_integer(dtype: Any) -> bool | None:
    """True/False for an integer dtype, None when it cannot be told."""
    try:
        return bool(np.issubdtype(np.dtype(dtype), np.integer))
    except (TypeError, ValueError):
        return None


def _fmt(v: float) -> str:
    return f"{v:g}"


# -- attribute-level checks (no store needed) ------------------------------------------------


@dataclass
class _Axis:
    name: str
    type: str | None


@dataclass
class _Level:
    path: str | None
    scale: tuple[float, ...] | None


@dataclass
class _Multiscale:
    axes: list[_Axis] | None
    levels: list[_Level]

    @property
    def names(self) -> list[str] | None:
        return [a.name for a in self.axes] if self.axes is not None else None


@dataclass
class _Plate:
    wells: list[str]
    field_count: int | None
    acquisitions: set[int] | None


def _category(axis_type: str | None) -> str:
    return axis_type if axis_type in ("space", "time", "channel") else "custom"


def _check_axes(axes: Any, where: str, sink: _Sink) -> list[_Axis] | None:
    """Order, counts, unique names and units of ``axes`` (None when the schema flags its shape)."""
    if not isinstance(axes, list) or not all(
        isinstance(a, Mapping) and isinstance(a.get("name"), str) for a in axes
    ):
        return None
    parsed = [
        _Axis(a["name"], a.get("type") if isinstance(a.get("type"), str) else None) for a in axes
    ]
    names = [a.name for a in parsed]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        sink.error(f"{where}.axes: axis names must be unique; repeated: {', '.join(repeated)}")
    cats = [_category(a.type) for a in parsed]
    n_space = cats.count("space")
    if not 2 <= n_space <= 3:
        sink.error(f"{where}.axes: there must be 2 or 3 axes of type 'space'; found {n_space}")
    if cats.count("time") > 1:
        sink.error(
            f"{where}.axes: at most one axis of type 'time' is allowed; found {cats.count('time')}"
        )
    n_other = cats.count("channel") + cats.count("custom")
    if n_other > 1:
        sink.error(
            f"{where}.axes: at most one axis of type 'channel' or a custom type is allowed; "
            f"found {n_other}"
        )
    rank = {"time": 0, "channel": 1, "custom": 1, "space": 2}
    ranks = [rank[c] for c in cats]
    if ranks != sorted(ranks):
        sink.error(
            f"{where}.axes: axes must be ordered time, then channel or custom, then space; "
            f"got {','.join(names)} ({','.join(a.type or '-' for a in parsed)})"
        )
    for axis, raw in zip(parsed, axes):
        unit = raw.get("unit")
        if unit is None:
            continue
        if not isinstance(unit, str):
            sink.error(f"{where}.axes: unit of axis {axis.name!r} must be a string, not {unit!r}")
        elif axis.type == "space" and unit not in SPACE_UNITS:
            sink.should(
                f"{where}.axes: unit {unit!r} of space axis {axis.name!r} "
                "is not an NGFF space unit "
                "(e.g. 'micrometer', 'nanometer')"
            )
        elif axis.type == "time" and unit not in TIME_UNITS:
            sink.should(
                f"{where}.axes: unit {unit!r} of time axis {axis.name!r} is not an NGFF time unit "
                "(e.g. 'second', 'millisecond')"
            )
    return parsed


def _check_transforms(
    cts: Any, where: str, n_axes: int | None, sink: _Sink
) -> tuple[float, ...] | None:
    """One scale then at most one translation, each with one value per axis; returns the scale."""
    if not isinstance(cts, list):
        return None
    types = [t.get("type") if isinstance(t, Mapping) else None for t in cts]
    if cts and types not in (["scale"], ["scale", "translation"]):
        sink.error(
            f"{where}.coordinateTransformations: must be exactly one 'scale', optionally followed "
            f"by one 'translation'; got {types}"
        )
    scale: tuple[float, ...] | None = None
    for t in cts:
        if not isinstance(t, Mapping) or t.get("type") not in ("scale", "translation"):
            continue
        key = t["type"]
        values = t.get(key)
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            continue  # the schema reports it
        if n_axes is not None and len(values) != n_axes:
            sink.error(
                f"{where}.coordinateTransformations: {key} has {len(values)} values "
                f"but there are {n_axes} axes"
            )
        if key == "scale" and scale is None:
            if any(v <= 0 for v in values):
                sink.error(
                    f"{where}.coordinateTransformations: scale values must be positive; "
                    f"got {values}"
                )
            scale = tuple(float(v) for v in values)
    return scale


def _check_scale_order(ms: _Multiscale, where: str, sink: _Sink) -> None:
    """Scales never decrease from one level to the next (highest resolution first)."""
    previous: tuple[int, tuple[float, ...]] | None = None
    for j, level in enumerate(ms.levels):
        if level.scale is None:
            continue
        if previous is not None and len(previous[1]) == len(level.scale):
            i, before = previous
            names = (
                ms.names
                if ms.names and len(ms.names) == len(before)
                else [str(k) for k in range(len(before))]
            )
            smaller = [
                f"{names[k]} {_fmt(a)} -> {_fmt(b)}"
                for k, (a, b) in enumerate(zip(before, level.scale))
                if b < a * (1 - 1e-9)
            ]
            if smaller:
                sink.error(
                    f"{where}.datasets: the scale decreases from level {i} to level {j} "
                    f"({'; '.join(smaller)}); levels must go from the highest to the lowest "
                    "resolution"
                )
        previous = (j, level.scale)


def _check_multiscales(block: Mapping[str, Any], sink: _Sink) -> list[_Multiscale]:
    """Code-level rules of every ``multiscales`` entry; returns what the store checks need."""
    entries = block.get("multiscales")
    if not isinstance(entries, list):
        return []
    out: list[_Multiscale] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            continue
        where = f"multiscales[{i}]"
        axes = _check_axes(entry.get("axes"), where, sink)
        n_axes = len(axes) if axes is not None else None
        levels: list[_Level] = []
        datasets = entry.get("datasets")
        seen: set[str] = set()
        for j, ds in enumerate(datasets if isinstance(datasets, list) else []):
            if not isinstance(ds, Mapping):
                levels.append(_Level(None, None))
                continue
            path = ds.get("path")
            if isinstance(path, str):
                if not _safe_relpath(path):
                    sink.error(
                        f"{where}.datasets[{j}].path {path!r} must be a relative path "
                        f"inside the group{_unsafe(path)}"
                    )
                    path = None
                elif path in seen:
                    sink.error(
                        f"{where}.datasets[{j}].path {path!r} is used by more than one level"
                    )
                else:
                    seen.add(path)
            else:
                path = None
            scale = _check_transforms(
                ds.get("coordinateTransformations"), f"{where}.datasets[{j}]", n_axes, sink
            )
            levels.append(_Level(path, scale))
        if "coordinateTransformations" in entry:
            _check_transforms(entry["coordinateTransformations"], where, n_axes, sink)
        ms = _Multiscale(axes, levels)
        _check_scale_order(ms, where, sink)
        out.append(ms)
    return out


def _check_image_label(block: Mapping[str, Any], version: str, sink: _Sink) -> None:
    """``image-label``: present; ``colors``/``properties`` label-values integer and unique."""
    il = block.get("image-label")
    if il is None:
        if version == "0.4":  # the 0.5 schema already requires it
            sink.error("no 'image-label' metadata: a label image must have it")
        return
    if not isinstance(il, Mapping):
        return
    for key in ("colors", "properties"):
        entries = il.get(key)
        if not isinstance(entries, list):
            continue
        first: dict[float, int] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not _is_number(entry.get("label-value")):
                continue  # the schema reports it
            value = entry["label-value"]
            if key == "colors" and not _is_integral(value):  # the schema only says "number"
                sink.error(f"image-label.colors[{i}].label-value {value!r} is not an integer")
            if float(value) in first:
                sink.error(
                    f"image-label.{key}: label-value {value!r} appears more than once "
                    f"(entries {first[float(value)]} and {i})"
                )
            else:
                first[float(value)] = i


def _names(items: Any) -> list[str | None] | None:
    if not isinstance(items, list):
        return None
    return [
        it.get("name") if isinstance(it, Mapping) and isinstance(it.get("name"), str) else None
        for it in items
    ]


def _check_plate(block: Mapping[str, Any], sink: _Sink) -> _Plate:
    """Well paths = row name + '/' + column name, indices in range, unique paths and ids."""
    plate = block.get("plate")
    if not isinstance(plate, Mapping):
        return _Plate([], None, None)
    rows, columns = _names(plate.get("rows")), _names(plate.get("columns"))
    wells: list[str] = []
    wells_raw = plate.get("wells")
    for i, well in enumerate(wells_raw if isinstance(wells_raw, list) else []):
        if not isinstance(well, Mapping) or not isinstance(well.get("path"), str):
            continue
        path = well["path"]
        where = f"plate.wells[{i}]"
        if path in wells:
            sink.error(f"{where}: well path {path!r} is listed more than once")
            continue
        row = col = None
        for key, names, what in (("rowIndex", rows, "rows"), ("columnIndex", columns, "columns")):
            index = well.get(key)
            if not isinstance(index, int) or isinstance(index, bool) or names is None:
                continue
            if not 0 <= index < len(names):
                sink.error(
                    f"{where}: {key} {index} is out of range (the plate has {len(names)} {what})"
                )
            elif key == "rowIndex":
                row = names[index]
            else:
                col = names[index]
        if row is not None and col is not None and path != f"{row}/{col}":
            sink.error(
                f"{where}: path {path!r} does not match its row {row!r} and column {col!r} "
                f"(expected {row + '/' + col!r}: row name, '/', column name)"
            )
        if _safe_relpath(path):
            wells.append(path)
        else:
            sink.error(f"{where}: path {path!r} must be a relative path inside the plate{_unsafe(path)}")
    acquisitions: set[int] | None = None
    acq_raw = plate.get("acquisitions")
    if isinstance(acq_raw, list):
        acquisitions = set()
        for i, acq in enumerate(acq_raw):
            if isinstance(acq, Mapping) and _is_int(acq.get("id")):
                if acq["id"] in acquisitions:
                    sink.error(f"plate.acquisitions[{i}]: id {acq['id']} is not unique")
                acquisitions.add(acq["id"])
    field_count = plate.get("field_count") if _is_int(plate.get("field_count")) else None
    return _Plate(wells, field_count, acquisitions)


def _check_well(block: Mapping[str, Any], sink: _Sink) -> list[tuple[str, int | None]]:
    """Unique, safe field paths; returns ``(path, acquisition)`` pairs."""
    well = block.get("well")
    images = well.get("images") if isinstance(well, Mapping) else None
    out: list[tuple[str, int | None]] = []
    for i, image in enumerate(images if isinstance(images, list) else []):
        if not isinstance(image, Mapping) or not isinstance(image.get("path"), str):
            continue
        path = image["path"]
        if not _safe_relpath(path):
            sink.error(
                f"well.images[{i}]: path {path!r} must be a relative path inside the well{_unsafe(path)}"
            )
        elif any(path == p for p, _ in out):
            sink.error(f"well.images[{i}]: field path {path!r} is listed more than once")
        else:
            acq = image.get("acquisition")
            out.append((path, acq if _is_int(acq) else None))
    return out


def _check_labels_list(block: Mapping[str, Any], sink: _Sink) -> list[str]:
    """The ``labels`` list of a labels group (no schema covers it)."""
    labels = block.get("labels")
    if not isinstance(labels, list):
        sink.error(f"'labels' must be a list of label image names, not {type(labels).__name__}")
        return []
    names: list[str] = []
    for i, name in enumerate(labels):
        if not isinstance(name, str) or not _safe_relpath(name):
            sink.error(
                f"labels[{i}]: {name!r} is not a relative path inside the labels group{_unsafe(name)}"
            )
        elif name in names:
            sink.error(f"labels[{i}]: {name!r} is listed more than once")
        else:
            names.append(name)
    return names


def _unwrap(attrs: Mapping[str, Any], version: str) -> Mapping[str, Any]:
    """The NGFF block: ``attrs["ome"]`` in 0.5, the attributes themselves in 0.4."""
    if version == "0.4":
        return attrs
    ome = attrs.get("ome")
    return ome if isinstance(ome, Mapping) else {}


def _schema_check(attrs: Mapping[str, Any], kind: str, version: str, sink: _Sink) -> None:
    if kind == "labels":
        return  # no schema exists for the labels group
    name = _schemas.schema_name(kind, strict=sink.strict)
    for err in _schemas.schema_errors(attrs, version, name):
        sink.error(f"{name}.schema: {_schemas.describe(err)}")


def _unsupported(version: Any) -> str:
    return (
        f"NGFF version {version!r} is not supported: ngffstore validates versions "
        f"{' and '.join(SUPPORTED_VERSIONS)}"
    )


def validate_attrs(
    attrs: Mapping[str, Any],
    kind: str,
    version: str,
    *,
    strict: bool = False,
    path: str = "/",
) -> list[Problem]:
    """Check one attribute document (0.4: the ``.zattrs`` object; 0.5: ``zarr.json["attributes"]``).

    ``kind`` is one of :data:`KINDS`. Runs the schema of ``kind`` for ``version`` (``strict_*``
    when ``strict``) and the code-level rules that need no arrays: axis order/counts/units,
    transformation lengths, scale order, label-value integers and uniqueness, plate well paths and
    indices, unique field and label names. A label image's ``multiscales`` are checked with
    ``kind="image"``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown node kind {kind!r}; expected one of {', '.join(KINDS)}")
    sink = _Sink(path, strict, [])
    if version not in SUPPORTED_VERSIONS:
        sink.error(_unsupported(version))
        return sink.problems
    if not isinstance(attrs, Mapping):
        sink.error(f"the attributes must be a JSON object, not {type(attrs).__name__}")
        return sink.problems
    try:
        _schema_check(attrs, kind, version, sink)
        _attr_checks(_unwrap(attrs, version), kind, version, sink)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        sink.error(f"malformed metadata ({type(exc).__name__}: {_short_exc(exc)})")
    return sink.problems


def _attr_checks(block: Mapping[str, Any], kind: str, version: str, sink: _Sink) -> Any:
    if kind == "image":
        return _check_multiscales(block, sink)
    if kind == "label":
        return _check_image_label(block, version, sink)
    if kind == "plate":
        return _check_plate(block, sink)
    if kind == "well":
        return _check_well(block, sink)
    if kind == "labels":
        return _check_labels_list(block, sink)
    return None


# -- store walking ---------------------------------------------------------------------------


@dataclass
class _Node:
    """What a store path holds, read from its metadata documents only."""

    path: str
    kind: Literal["group", "array", "missing", "invalid"]
    zarr_format: int | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    shape: tuple[int, ...] | None = None
    dtype: Any = None
    dimension_names: tuple[str | None, ...] | None = None
    issue: str | None = None
    """Why zarr cannot open the node (it is then described from its raw metadata)."""
    document: Mapping[str, Any] = field(default_factory=dict)
    """The node's ``zarr.json`` (v3) or ``.zgroup``/``.zarray`` (v2) as read."""


@dataclass
class _Ctx:
    """What a child node knows about its parent."""

    version: str
    image: _ImageInfo | None = None
    plate: _Plate | None = None


@dataclass
class _ImageInfo:
    ms: _Multiscale
    arrays: list[_Node | None]

    @property
    def shape0(self) -> tuple[int, ...] | None:
        first = self.arrays[0] if self.arrays else None
        return first.shape if first is not None else None


_ZARR_OPEN_ERRORS = (
    zarr.errors.BaseZarrError,
    KeyError,
    TypeError,
    ValueError,
    NotImplementedError,
    AttributeError,
    IndexError,
)


def _ints(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, list) and all(_is_int(v) for v in value):
        return tuple(value)
    return None


def _kind_of(block: Mapping[str, Any]) -> str | None:
    if "plate" in block:
        return "plate"
    if "well" in block:
        return "well"
    if "bioformats2raw.layout" in block:
        return "bf2raw"
    if "multiscales" in block:
        return "label" if "image-label" in block else "image"
    if "image-label" in block:
        return "label"
    if "labels" in block:
        return "labels"
    if "series" in block:
        return "ome"
    return None


def _document_issue(exc: ReadError, location: Location) -> str:
    """A corrupt document's problem, named relative to its node."""
    text = str(exc)
    prefix = location.url.rstrip("/") + "/"
    return text.removeprefix(prefix)


def _describe(path: str, want: str, node: Node) -> _Node:
    """A :class:`_Node` from a node document; arrays are checked with zarr's metadata models."""
    attrs = node.attributes
    doc = node.document
    fmt = node.zarr_format
    if node.node_type == "group":
        if fmt == 2 and not doc:
            return _Node(path, "group", 2, attrs,
                         issue="has .zattrs but no .zgroup (or .zarray): not a valid Zarr v2 node")
        return _Node(path, "group", fmt, attrs, document=doc)
    if node.node_type != "array":
        return _Node(path, "invalid", fmt, attrs,
                     issue=f"zarr.json has an unknown node_type {node.node_type!r}")
    shape = _ints(doc.get("shape"))
    names = doc.get("dimension_names") if fmt == 3 else None
    dims = tuple(names) if isinstance(names, list) else None
    raw_dtype = doc.get("data_type") if fmt == 3 else doc.get("dtype")
    try:
        meta = _array_metadata(fmt, doc)
    except _ZARR_OPEN_ERRORS as exc:
        return _Node(path, "array", fmt, attrs, shape, raw_dtype, dims, document=doc,
                     issue=f"zarr cannot open it ({_short_exc(exc)})" if want == "array" else None)
    try:
        dtype: Any = meta.dtype.to_native_dtype()
    except AttributeError:
        dtype = raw_dtype
    return _Node(path, "array", fmt, attrs, tuple(meta.shape), dtype, dims, document=doc)


def _array_metadata(zarr_format: int, doc: Mapping[str, Any]) -> Any:
    """zarr's metadata model of an array document (raises what zarr raises for a bad one)."""
    from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata

    doc = dict(doc)
    if zarr_format == 3:
        doc.setdefault("attributes", {})
        return ArrayV3Metadata.from_dict(doc)
    if doc.get("filters") == []:
        doc["filters"] = None
    return ArrayV2Metadata.from_dict(doc)


class _Walker:
    """Visits the nodes below one store root, appending problems to one report."""

    def __init__(
        self, location: Location, report: ValidationReport, *, data: int | None = None,
        seed: int | None = None,
    ) -> None:
        import random

        self.location = location
        self.report = report
        self.strict = report.strict
        self.data = data
        """``--data``: objects to decode per level (0: all); None: metadata only."""
        self.rng = random.Random(seed)
        self.zarr_format: int | None = None
        """The Zarr format of the validated root, passed down to every node below it."""
        self.gets = 0
        """Documents requested (see :func:`ngffstore.image._zarrio.node_gets`)."""

    def sink(self, path: str) -> _Sink:
        return _Sink(_display(path), self.strict, self.report.problems)

    # -- reading metadata ---------------------------------------------------------------
    def open(self, path: str, want: Literal["group", "array"], *, optional: bool = False) -> _Node:
        """The node at ``path`` from its documents, read through the node layer.

        One GET per document (v3: ``zarr.json``), in the Zarr format of the validated root once
        it is known. The other format is tried only to explain a node that must exist but was
        not found (an error path), never for ``optional`` nodes (``labels``, numbered series).
        """
        location = self.location.child(path) if path else self.location
        fmt = self.zarr_format
        try:
            node = try_read_node(location, zarr_format=fmt)
        except ReadError as exc:
            return _Node(path, "invalid", fmt, issue=_document_issue(exc, location))
        self.gets += node_gets(node, fmt)
        if node is None and fmt is not None and not optional:
            try:
                node = try_read_node(location, zarr_format=5 - fmt)
            except ReadError:
                node = None
        if node is None:
            return _Node(path, "missing")
        if self.zarr_format is None:
            self.zarr_format = node.zarr_format
        return _describe(path, want, node)

    # -- dispatch ---------------------------------------------------------------------
    def visit(
        self,
        path: str,
        *,
        expect: str | None = None,
        ctx: _Ctx | None = None,
        node: _Node | None = None,
    ) -> Any:
        """Validate the group at ``path`` as whatever NGFF node its attributes declare."""
        sink = self.sink(path)
        what = _WHAT.get(expect or "", "an OME-NGFF node")
        node = node or self.open(path, "group")
        if node.kind == "missing":
            sink.error(
                f"does not exist, but it should be {what}" if expect else "no Zarr group here"
            )
            return None
        if node.kind == "array":
            sink.error(f"is a Zarr array, but {what} must be a Zarr group")
            return None
        if node.issue:
            sink.error(node.issue)
        if node.kind == "invalid":
            return None
        found = self.identify(node, sink, expect, ctx)
        if found is None:
            return None
        kind, version, block = found
        self.report.nodes[_display(path)] = f"{kind} {version}"
        try:
            return self.dispatch(node, kind, version, block, sink, ctx)
        except NgffStoreError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            sink.error(f"malformed metadata ({type(exc).__name__}: {_short_exc(exc)})")
            return None

    def identify(
        self, node: _Node, sink: _Sink, expect: str | None, ctx: _Ctx | None
    ) -> tuple[str, str, Mapping[str, Any]] | None:
        """``(kind, version, ngff block)``, or None after reporting why it cannot be checked."""
        attrs = node.attrs
        wrapped = isinstance(attrs.get("ome"), Mapping)
        block: Mapping[str, Any] = attrs["ome"] if wrapped else attrs
        kind = _kind_of(block)
        if kind is None:
            if expect:
                sink.error(
                    f"not an OME-NGFF node: no {expect} metadata in the attributes, "
                    f"but it should be {_WHAT[expect]}"
                )
            else:
                sink.error("not an OME-NGFF node: the group attributes hold no OME-NGFF metadata")
            return None
        if expect == "label" and kind == "image":
            kind = "label"  # the label checks report the missing image-label
        if expect and kind != expect:
            sink.error(f"holds {kind} metadata, but it should be {_WHAT[expect]}")
            return None

        if wrapped:
            version = block.get("version")
            if version is None:
                version = "0.5"
                if kind == "labels":  # no schema covers the labels group
                    sink.warn("no 'ome.version' in the labels group; assuming 0.5")
        else:
            versions = _versions_04(block)
            if len(versions) > 1:
                sink.error(
                    f"inconsistent NGFF versions in one group: {', '.join(sorted(versions))}"
                )
                return None
            version = versions.pop() if versions else None
            if version is None:
                version = "0.4"
                if kind in ("image", "label", "plate", "well"):
                    sink.warn("no NGFF version in the metadata; validating it as 0.4")
        version = str(version)
        if version not in SUPPORTED_VERSIONS:
            sink.error(_unsupported(version))
            return None
        if wrapped and version == "0.4":
            sink.error("NGFF 0.4 metadata must sit directly in the attributes, not under 'ome'")
            return None
        if not wrapped and version != "0.4":
            sink.error(f"NGFF {version} metadata must sit under the 'ome' key of the attributes")
            return None
        if version == "0.5" and node.zarr_format == 2:
            sink.error(
                "NGFF 0.5 metadata in a Zarr v2 group: NGFF 0.5 requires Zarr v3 (zarr.json)"
            )
        elif version == "0.4" and node.zarr_format == 3:
            sink.error("NGFF 0.4 metadata in a Zarr v3 group: NGFF 0.4 requires Zarr v2 (.zattrs)")
        if ctx is not None and ctx.version != version:
            sink.error(f"NGFF version {version} differs from its parent's version {ctx.version}")
        return kind, version, block

    def dispatch(
        self,
        node: _Node,
        kind: str,
        version: str,
        block: Mapping[str, Any],
        sink: _Sink,
        ctx: _Ctx | None,
    ) -> Any:
        if kind == "image":
            info = self.image(node, version, block, sink)
            self.labels_of(node.path, version, info)
            return info
        if kind == "label":
            return self.label(node, version, block, sink, ctx)
        if kind == "labels":
            _schema_check(node.attrs, "labels", version, sink)
            parent = ctx.image if ctx is not None else None
            for name in _check_labels_list(block, sink):
                self.visit(_join(node.path, name), expect="label", ctx=_Ctx(version, image=parent))
            return None
        if kind == "plate":
            return self.plate(node, version, block, sink)
        if kind == "well":
            return self.well(node, version, block, sink, ctx)
        if kind == "bf2raw":
            return self.bf2raw(node, version, sink)
        if kind == "ome":
            _schema_check(node.attrs, "ome", version, sink)
            series = block.get("series")
            if not node.path:
                sink.warn(
                    "this is the OME group of a bioformats2raw container: validate the "
                    "container root to check its series images"
                )
            return [s for s in series if isinstance(s, str)] if isinstance(series, list) else []
        raise AssertionError(kind)

    # -- images -----------------------------------------------------------------------
    def image(
        self, node: _Node, version: str, block: Mapping[str, Any], sink: _Sink
    ) -> _ImageInfo | None:
        """Schema, multiscales rules, every level's array, and omero channels."""
        _schema_check(node.attrs, "image", version, sink)
        info: _ImageInfo | None = None
        for i, ms in enumerate(_check_multiscales(block, sink)):
            arrays = self.levels(node, ms, f"multiscales[{i}]", sink)
            if info is None:
                info = _ImageInfo(ms, arrays)
        self.omero(block, info, sink)
        return info

    def levels(self, node: _Node, ms: _Multiscale, where: str, sink: _Sink) -> list[_Node | None]:
        names = ms.names
        arrays: list[_Node | None] = []
        for j, level in enumerate(ms.levels):
            arrays.append(self.level_array(node, j, level, names, where, sink))
        self.level_consistency(ms, arrays, where, sink)
        if self.data is not None:
            self.check_data(node, ms, arrays, where, sink)
        return arrays

    def check_data(
        self, node: _Node, ms: _Multiscale, arrays: list[_Node | None], where: str, sink: _Sink
    ) -> None:
        """``--data``: decode the levels' stored objects (see :mod:`ngffstore._chunkcheck`)."""
        from ._chunkcheck import check_levels

        levels = []
        for level, arr in zip(ms.levels, arrays):
            if arr is None or arr.issue or level.path is None:
                break  # the levels after a broken one cannot be compared with it
            levels.append((level.path, arr.document))
        if not levels:
            return
        location = self.location.child(node.path) if node.path else self.location
        found = check_levels(
            location, arrays[0].zarr_format or 3, levels, sample=self.data or None, rng=self.rng
        )
        self.report.objects_checked += found.checked
        for message in found.errors:
            sink.error(f"{where}: {message}")
        for message in found.warnings:
            sink.warn(f"{where}: {message}")

    def level_array(
        self, node: _Node, j: int, level: _Level, names: list[str] | None, where: str, sink: _Sink
    ) -> _Node | None:
        if level.path is None:
            return None
        label = f"{where}.datasets[{j}] {level.path!r}"
        arr = self.open(_join(node.path, level.path), "array")
        if arr.kind == "missing":
            sink.error(f"{label}: the dataset (level {j}) does not exist")
            return None
        if arr.kind == "group":
            sink.error(f"{label}: the dataset (level {j}) is a Zarr group, not an array")
            return None
        if arr.issue:
            sink.error(f"{label}: {arr.issue}")
        if arr.kind == "invalid":
            return None
        if node.zarr_format and arr.zarr_format != node.zarr_format:
            sink.error(
                f"{label}: a Zarr v{arr.zarr_format} array inside a Zarr v{node.zarr_format} group"
            )
        if names is not None and arr.shape is not None and len(arr.shape) != len(names):
            sink.error(
                f"{label}: the array has {len(arr.shape)} dimensions (shape {list(arr.shape)}) "
                f"but the image has {len(names)} axes ({','.join(names)})"
            )
        if names is not None and arr.dimension_names is not None and any(arr.dimension_names):
            dims = list(arr.dimension_names)
            if len(dims) != len(names) or any(
                d is not None and d != n for d, n in zip(dims, names)
            ):
                sink.error(
                    f"{label}: the array's dimension_names {dims} differ from the axes {names}"
                )
        for key in ("dimension_names", "_ARRAY_DIMENSIONS"):
            value = arr.attrs.get(key)
            if names is not None and isinstance(value, list) and value != names:
                sink.warn(
                    f"{label}: the array attribute {key!r} = {value} differs from the axes {names}"
                )
        return arr

    def level_consistency(
        self, ms: _Multiscale, arrays: list[_Node | None], where: str, sink: _Sink
    ) -> None:
        """One dtype for all levels; each level's shape agrees with its scale and level 0's."""
        typed = [
            (ms.levels[j].path, _dtype_name(a.dtype))
            for j, a in enumerate(arrays)
            if a is not None and a.dtype is not None
        ]
        if len({name for _, name in typed}) > 1:
            sink.error(
                f"{where}: the levels have different data types: "
                + ", ".join(f"{p}: {name}" for p, name in typed)
            )
        names = ms.names
        if names is None or not arrays or arrays[0] is None:
            return
        shape0, scale0 = arrays[0].shape, ms.levels[0].scale
        n = len(names)
        if shape0 is None or scale0 is None or len(shape0) != n or len(scale0) != n:
            return
        for j in range(1, len(arrays)):
            arr, scale = arrays[j], ms.levels[j].scale
            if (
                arr is None
                or arr.shape is None
                or scale is None
                or len(arr.shape) != n
                or len(scale) != n
            ):
                continue
            wrong = []
            for k in range(n):
                if scale[k] <= 0 or scale0[k] <= 0:
                    continue
                expected = shape0[k] * scale0[k] / scale[k]
                low, high = math.floor(expected + 1e-6), math.ceil(expected - 1e-6)
                if not low <= arr.shape[k] <= high:
                    options = str(low) if low == high else f"{low} or {high}"
                    wrong.append(
                        f"axis {names[k]!r} has {arr.shape[k]} pixels, expected {options} "
                        f"({shape0[k]} x {_fmt(scale0[k])} / {_fmt(scale[k])})"
                    )
            if wrong:
                sink.error(
                    f"{where}.datasets[{j}] {ms.levels[j].path!r}: "
                    f"the shape {list(arr.shape)} does "
                    f"not match the scale {[_fmt(s) for s in scale]} against level 0 "
                    f"(shape {list(shape0)}): {'; '.join(wrong)}"
                )

    def omero(self, block: Mapping[str, Any], info: _ImageInfo | None, sink: _Sink) -> None:
        omero = block.get("omero")
        channels = omero.get("channels") if isinstance(omero, Mapping) else None
        if not isinstance(channels, list) or info is None or info.ms.axes is None:
            return
        shape0 = info.shape0
        if shape0 is None or len(shape0) != len(info.ms.axes):
            return
        c_axes = [k for k, a in enumerate(info.ms.axes) if a.type == "channel"]
        if c_axes:
            size = shape0[c_axes[0]]
            if len(channels) != size:
                sink.error(
                    f"omero.channels: {len(channels)} channels, but the channel axis "
                    f"{info.ms.axes[c_axes[0]].name!r} has size {size}"
                )
        elif len(channels) != 1:
            sink.warn(
                f"omero.channels: {len(channels)} channels, but the image has no channel axis"
            )

    def labels_of(self, image_path: str, version: str, info: _ImageInfo | None) -> None:
        """Validate the image's ``labels/`` group, if there is one."""
        path = _join(image_path, "labels")
        node = self.open(path, "group", optional=True)
        if node.kind == "missing":
            return
        self.visit(path, expect="labels", ctx=_Ctx(version, image=info), node=node)

    def label(
        self, node: _Node, version: str, block: Mapping[str, Any], sink: _Sink, ctx: _Ctx | None
    ) -> _ImageInfo | None:
        """A label image: an image, plus image-label, integer dtype, levels like its image's."""
        info = self.image(node, version, block, sink)
        _schema_check(node.attrs, "label", version, sink)
        _check_image_label(block, version, sink)
        if info is None:
            return None
        for level, arr in zip(info.ms.levels, info.arrays):
            if arr is not None and _dtype_is_integer(arr.dtype) is False:
                sink.error(
                    f"dataset {level.path!r}: label data type {_dtype_name(arr.dtype)} "
                    "is not an integer type"
                )
        parent = ctx.image if ctx is not None else None
        if parent is None:
            return info
        n_label, n_image = len(info.ms.levels), len(parent.ms.levels)
        if n_label != n_image:
            sink.error(f"the label image has {n_label} levels, but its image has {n_image}")
        names, parent_names = info.ms.names, parent.ms.names
        if names is None or parent_names is None:
            return info
        for j in range(min(n_label, n_image)):
            mine, theirs = info.ms.levels[j].scale, parent.ms.levels[j].scale
            if (
                mine is None
                or theirs is None
                or len(mine) != len(names)
                or len(theirs) != len(parent_names)
            ):
                continue
            other = dict(zip(parent_names, theirs))
            differ = [
                f"{n} {_fmt(s)} vs {_fmt(other[n])}"
                for n, s in zip(names, mine)
                if n in other and not math.isclose(s, other[n], rel_tol=1e-6)
            ]
            if differ:
                sink.should(
                    f"level {j}: the label scale differs from the image's ({'; '.join(differ)})"
                )
        return info

    # -- plates and containers --------------------------------------------------------
    def plate(self, node: _Node, version: str, block: Mapping[str, Any], sink: _Sink) -> _Plate:
        _schema_check(node.attrs, "plate", version, sink)
        if "bioformats2raw.layout" in block:
            _schema_check(node.attrs, "bf2raw", version, sink)
        plate = _check_plate(block, sink)
        for well in plate.wells:
            self.visit(_join(node.path, well), expect="well", ctx=_Ctx(version, plate=plate))
        return plate

    def well(
        self, node: _Node, version: str, block: Mapping[str, Any], sink: _Sink, ctx: _Ctx | None
    ) -> None:
        _schema_check(node.attrs, "well", version, sink)
        fields = _check_well(block, sink)
        plate = ctx.plate if ctx is not None else None
        if plate is not None:
            if plate.field_count is not None and len(fields) > plate.field_count:
                sink.error(
                    f"the well has {len(fields)} fields, more than the plate's field_count "
                    f"{plate.field_count}"
                )
            if plate.acquisitions is not None:
                for path, acq in fields:
                    if acq is not None and acq not in plate.acquisitions:
                        sink.error(
                            f"field {path!r} refers to acquisition {acq}, which the plate "
                            "does not list"
                        )
        for path, _ in fields:
            self.visit(_join(node.path, path), expect="image", ctx=_Ctx(version))

    def bf2raw(self, node: _Node, version: str, sink: _Sink) -> None:
        """The series images listed in ``OME/`` (or numbered 0, 1, ... when there is no list)."""
        _schema_check(node.attrs, "bf2raw", version, sink)
        ome_path = _join(node.path, "OME")
        ome = self.open(ome_path, "group", optional=True)
        series: list[str] | None = None
        ome_block = ome.attrs.get("ome", ome.attrs)
        has_series = isinstance(ome_block, Mapping) and "series" in ome_block
        if ome.kind != "missing" and (ome.kind != "group" or has_series):  # series is optional
            series = self.visit(ome_path, expect="ome", ctx=_Ctx(version), node=ome)
        if series:
            for name in series:
                if _safe_relpath(name):
                    self.visit(_join(node.path, name), expect="image", ctx=_Ctx(version))
                else:
                    self.sink(ome_path).error(
                        f"series path {name!r} is not a relative path in the container{_unsafe(name)}"
                    )
            return
        index = 0
        while True:
            path = _join(node.path, str(index))
            child = self.open(path, "group", optional=True)
            if child.kind == "missing":
                break
            self.visit(path, expect="image", ctx=_Ctx(version), node=child)
            index += 1
        if index == 0:
            sink.error(
                "the bioformats2raw container has no series: no OME/series list and no image '0'"
            )


def _versions_04(block: Mapping[str, Any]) -> set[str]:
    """The distinct ``version`` values of a 0.4-style block's NGFF objects."""
    found: set[str] = set()
    multiscales = block.get("multiscales")
    for entry in multiscales if isinstance(multiscales, list) else []:
        if isinstance(entry, Mapping) and entry.get("version") is not None:
            found.add(str(entry["version"]))
    for key in ("plate", "well", "image-label"):
        obj = block.get(key)
        if isinstance(obj, Mapping) and obj.get("version") is not None:
            found.add(str(obj["version"]))
    return found


def validate(
    url: str | os.PathLike[str] | Location,
    *,
    storage_options: Mapping[str, Any] | None = None,
    strict: bool = False,
    data: bool = False,
    sample: int | None = None,
    seed: int | None = None,
) -> ValidationReport:
    """Validate the OME-NGFF node at ``url`` (local path or ``s3://``…) and everything below it.

    With ``data=True`` every stored object (chunk or shard) of every level of every image and
    label image is also fetched and decoded (``sample=N``: N objects per level, chosen at random,
    ``seed`` for a repeatable choice): a corrupt object, or one missing where the next coarser
    level has data, is an error naming its key.

    Raises :class:`StoreNotFoundError` when nothing exists at ``url`` (and the storage errors of
    :mod:`ngffstore.storage` for access problems); every rule violation is a :class:`Problem` in
    the returned report.
    """
    location = Location.parse(url, storage_options)
    if location.is_local and not os.path.exists(location.url):
        raise StoreNotFoundError(
            f"cannot validate {location.url}: no such file or folder; check the path"
        )
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
        raise InputError(f"sample {sample!r}: give a number of chunks per level, 1 or more")
    report = ValidationReport(url=location.url, strict=strict)
    walker = _Walker(
        location, report, data=(sample or 0) if data or sample is not None else None, seed=seed
    )
    root = walker.open("", "group")
    if root.kind == "missing":
        if not location.is_local:  # (locally the folder exists: checked above)
            raise StoreNotFoundError(
                f"cannot validate {location.url}: no Zarr group or array there (no zarr.json, "
                ".zgroup or .zattrs); check the URL"
                + ("" if location.is_local else " (a host that forbids listings answers 403 for a missing object)")
            )
        walker.sink("").error(
            "not an OME-NGFF node: there is no Zarr group here (no zarr.json, .zgroup or .zattrs)"
        )
        return report
    walker.visit("", node=root)
    report.documents_read = walker.gets
    return report


__all__ = ["KINDS", "Problem", "ValidationReport", "validate", "validate_attrs"]
