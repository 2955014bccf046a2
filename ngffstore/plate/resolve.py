"""Checking a plate input before anything is written: names, duplicates, files, shapes.

Every field's image is opened lazily (file headers only, no pixels) and every problem is
collected, so one :class:`~ngffstore.plate.inputs.PlateInputError` lists all offenders.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputNotFoundError, NgffStoreError
from ..image.options import canonical, parse_axes
from .inputs import FieldPlanes, PlateField, PlateInput, describe_field, unique
from .names import (
    infer_layout,
    natural_key,
    outside_kind,
    parse_column,
    parse_names,
    parse_row,
    well_name,
)

OPEN_THREADS = 16


@dataclass(kw_only=True)
class ResolvedField:
    """A checked field: its place in the plate and its lazily readable image."""

    row: str
    column: str
    fid: Any
    acquisition: int | None
    source: Any
    """A ``converters.Source`` (files) or a numpy/dask/Zarr array."""
    axes: str
    """Canonical axes (``tczyx`` order) of the image as written."""
    shape: tuple[int, ...]
    dtype: str
    channels: tuple[str, ...] | None
    where: str
    inputs: list[str] = field(default_factory=list)
    path: str = ""
    """The field's path in its well (``0``, ``1``, ...), set by :func:`assign_paths`."""
    array_axes: str | None = None
    """The axes to give ``write_image`` (arrays only; a Source carries its own)."""

    @property
    def well(self) -> str:
        return f"{self.row}/{self.column}"

    @property
    def label(self) -> str:
        return describe_field(self.row, self.column, self.fid, self.acquisition)

    @property
    def layout(self) -> str:
        return f"{self.axes} {'x'.join(map(str, self.shape))} {self.dtype}"


@dataclass(kw_only=True)
class Resolved:
    fields: list[ResolvedField]
    rows: list[str]
    columns: list[str]
    acquisitions: list[dict[str, Any]] | None
    problems: list[tuple[str, str]]


def resolve(
    plate_input: PlateInput,
    *,
    rows: Any = None,
    columns: Any = None,
    acquisitions: Any = None,
    axes: str | None = None,
) -> Resolved:
    """Check ``plate_input`` and open every field's image (headers only)."""
    problems = list(plate_input.problems)
    named: list[tuple[PlateField, str, str, Any]] = []
    for f in plate_input.fields:
        try:
            row, column = parse_row(f.row), parse_column(f.column)
        except NgffStoreError as exc:
            problems.append(("values that do not parse", f"{f.where or 'a field'}: {exc}"))
            continue
        fid = f.field
        if isinstance(fid, str) and fid.strip().isdigit():
            fid = int(fid)
        named.append((f, row, column, fid))

    # duplicates (builders report theirs while grouping; fields given directly are checked here)
    seen: dict[tuple[str, str, Any, Any], str] = {}
    kept = []
    for f, row, column, fid in named:
        key = (row, column, fid, f.acquisition)
        if key in seen:
            problems.append(("duplicated fields", f"{describe_field(row, column, fid, f.acquisition)} ({seen[key]} and {f.where})"))
            continue
        seen[key] = f.where
        kept.append((f, row, column, fid))

    # rows and columns
    try:
        row_names = parse_names(rows, "row") if rows is not None else None
        column_names = parse_names(columns, "column") if columns is not None else None
    except NgffStoreError as exc:
        problems.append(("plate layout", str(exc)))
        row_names = column_names = None
    wells = unique((row, column) for _, row, column, _ in kept)
    layout_known = row_names is not None and column_names is not None
    # infer only what was not given (a given side counts as its first name)
    probe = [("A" if row_names else r, "1" if column_names else c) for r, c in wells]
    try:
        inferred_rows, inferred_columns = infer_layout(probe) if wells and not layout_known else ([], [])
    except NgffStoreError as exc:  # a well beyond the largest standard plate (a typo: ZZ99)
        problems.append(("wells outside every standard plate", str(exc)))
        inferred_rows, inferred_columns = [], []
    row_names = row_names or inferred_rows
    column_names = column_names or inferred_columns
    outside = [] if not (row_names and column_names) else [
        well_name(r, c) for r, c in wells if r not in row_names or c not in column_names
    ]
    if outside:
        problems.append(
            (outside_kind(row_names, column_names), ", ".join(outside))
        )

    acq_list, acq_problems = _acquisitions(acquisitions, [f.acquisition for f, *_ in kept])
    problems.extend(acq_problems)
    single_acq = acq_list[0]["id"] if acq_list and len(acq_list) == 1 else None

    opened = _open_all(kept, plate_input.storage_options, axes, problems)
    fields = []
    for (f, row, column, fid), result in zip(kept, opened):
        if result is None:
            continue
        source, faxes, shape, dtype, channels, inputs, array_axes = result
        fields.append(
            ResolvedField(
                row=row, column=column, fid=fid,
                acquisition=f.acquisition if f.acquisition is not None else single_acq,
                source=source, axes=faxes, shape=shape, dtype=dtype, channels=channels,
                where=f.where, inputs=inputs, array_axes=array_axes,
            )
        )
    _check_consistent(fields, problems)
    if not fields and not problems:
        problems.append(("empty plate", "no fields were given"))
    return Resolved(fields=fields, rows=row_names, columns=column_names, acquisitions=acq_list, problems=problems)


def _acquisitions(given: Any, used: Sequence[int | None]) -> tuple[list[dict[str, Any]] | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    used_ids = sorted({a for a in used if a is not None})
    if given is None:
        return ([{"id": int(a)} for a in used_ids] or None), problems
    out = []
    for i, item in enumerate(given):
        if isinstance(item, Mapping):
            entry = {k: v for k, v in item.items() if v is not None}
        else:
            entry = {"id": item}
        if not isinstance(entry.get("id"), int) or isinstance(entry.get("id"), bool) or entry["id"] < 0:
            problems.append(("acquisitions", f"entry {i} needs an integer id >= 0, not {entry.get('id')!r}"))
            continue
        out.append(entry)
    ids = [e["id"] for e in out]
    dup = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dup:
        problems.append(("acquisitions", f"ids given more than once: {', '.join(map(str, dup))}"))
    unknown = [a for a in used_ids if a not in ids]
    if unknown:
        problems.append(
            ("fields with acquisitions the plate does not list", ", ".join(map(str, unknown)))
        )
    return out or None, problems


# -- opening images --------------------------------------------------------------------------

_Opened = tuple[Any, str, tuple[int, ...], str, "tuple[str, ...] | None", list[str], "str | None"]


def _open_all(
    kept: Sequence[tuple[PlateField, str, str, Any]],
    storage_options: Mapping[str, Any] | None,
    axes: str | None,
    problems: list[tuple[str, str]],
) -> list[_Opened | None]:
    files: list[str] = []
    for f, *_ in kept:
        if isinstance(f.source, FieldPlanes):
            files.extend(f.source.files)
        elif isinstance(f.source, (str, os.PathLike)):
            files.append(os.fspath(f.source))
    files = unique(files)
    sources: dict[str, Any] = {}
    errors: dict[str, NgffStoreError] = {}

    def open_one(path: str) -> None:
        import converters

        try:
            sources[path] = converters.open_source(path, axes=axes, storage_options=storage_options)
        except NgffStoreError as exc:
            errors[path] = exc

    if files:
        with ThreadPoolExecutor(min(OPEN_THREADS, len(files))) as pool:
            list(pool.map(open_one, files))
    missing = [p for p in files if isinstance(errors.get(p), InputNotFoundError)]
    if missing:
        problems.append(("missing files", ", ".join(missing)))
    for p in files:
        if p in errors and p not in missing:
            problems.append(("unreadable files", str(errors[p])))
    values = _plane_values([f.source for f, *_ in kept if isinstance(f.source, FieldPlanes)])
    out: list[_Opened | None] = []
    for f, row, column, fid in kept:
        label = describe_field(row, column, fid, f.acquisition)
        try:
            if isinstance(f.source, FieldPlanes):
                out.append(_stack(f.source, values[f.source.axes], sources, label, problems))
            elif isinstance(f.source, (str, os.PathLike)):
                src = sources.get(os.fspath(f.source))
                out.append(_from_source(src) if src is not None else None)
            elif _is_source(f.source):
                out.append(_from_source(f.source))
            else:
                out.append(_from_array(f.source, axes))
        except NgffStoreError as exc:
            problems.append(("unusable images", f"{label}: {exc}"))
            out.append(None)
    return out


def _is_source(obj: Any) -> bool:
    return hasattr(obj, "data") and hasattr(obj, "axes") and hasattr(obj, "inputs")


def _from_source(src: Any) -> _Opened:
    axes_c, order = canonical(src.axes)
    shape = tuple(int(src.data.shape[i]) for i in order)
    names = tuple(src.channel_names) if src.channel_names else None
    return (src, axes_c, shape, str(np.dtype(src.data.dtype)), names, list(src.inputs or []), None)


def _from_array(data: Any, axes: str | None) -> _Opened:
    from ..image.write import as_dask

    arr = as_dask(data)
    given = parse_axes(axes, arr.ndim)
    axes_c, order = canonical(given)
    shape = tuple(int(arr.shape[i]) for i in order)
    return (data, axes_c, shape, str(np.dtype(arr.dtype)), None, [], given)


def _plane_values(all_planes: Sequence[FieldPlanes]) -> dict[str, list[list[Any]]]:
    """The values of each stacking axis over the whole plate, in stacking order: numbers sorted,
    channel names in order of first appearance. Every field must have every combination."""
    out: dict[str, list[list[Any]]] = {}
    for axes in unique(p.axes for p in all_planes):
        group = [p for p in all_planes if p.axes == axes]
        values = []
        for i, a in enumerate(axes):
            vals = unique(k[i] for p in group for k, _ in p.planes)
            if a != "c" or all(isinstance(v, int) for v in vals):
                vals = sorted(vals, key=natural_key)
            values.append(vals)
        out[axes] = values
    return out


def _stack(
    planes: FieldPlanes,
    values: Sequence[Sequence[Any]],
    sources: Mapping[str, Any],
    label: str,
    problems: list[tuple[str, str]],
) -> _Opened | None:
    """One lazy image from a field's plane files, stacked along ``planes.axes`` (t, c, z)."""
    import dask.array as da

    from converters import Source

    opened = [(key, path, sources[path]) for key, path in planes.planes if path in sources]
    if len(opened) < len(planes.planes):
        return None  # reported as missing or unreadable
    first = opened[0][2]
    layouts = {(s.axes, tuple(s.data.shape), str(s.data.dtype)) for _, _, s in opened}
    if len(layouts) > 1:
        desc = sorted(f"{a} {'x'.join(map(str, sh))} {dt}" for a, sh, dt in layouts)
        problems.append(("fields whose plane files differ in shape or dtype", f"{label} ({' / '.join(desc)})"))
        return None
    clash = [a for a in planes.axes if a in first.axes]
    if clash:
        problems.append(
            ("plane files that already have the axis the layout stacks along",
             f"{label}: {os.path.basename(opened[0][1])} has axes {first.axes}, the layout adds {''.join(clash)}")
        )
        return None
    by_key = {k: s for k, _, s in opened}
    lacking = [
        " ".join(f"{_axis_word(a)} {v}" for a, v in zip(planes.axes, combo))
        for combo in itertools.product(*values)
        if combo not in by_key
    ]
    if lacking:
        problems.append(("fields with missing planes", f"{label} lacks {', '.join(lacking[:4])}"
                         + (f" (+{len(lacking) - 4})" if len(lacking) > 4 else "")))
        return None

    def build(level: int, prefix: tuple[Any, ...]) -> Any:
        if level == len(values):
            return by_key[prefix].data
        return da.stack([build(level + 1, prefix + (v,)) for v in values[level]])

    data = build(0, ())
    axes = planes.axes + first.axes
    # a single z or t plane needs no axis; a single channel keeps its name
    for i in reversed(range(len(planes.axes))):
        if planes.axes[i] != "c" and len(values[i]) == 1:
            data = data[(slice(None),) * i + (0,)]
            axes = axes[:i] + axes[i + 1:]
    axes_c, order = canonical(axes)
    if axes_c != axes:
        data = data.transpose(order)
    channel_names: list[str] | None = None
    channel_colors: list[str | None] | None = None
    if "c" in planes.axes:
        ci = planes.axes.index("c")
        channel_names, channel_colors = [], []
        for v in values[ci]:
            src = next(s for k, _, s in opened if k[ci] == v)  # every field has every plane
            own = src.channel_names or []
            channel_names.append(own[0] if len(own) == 1 else (f"channel {v}" if isinstance(v, int) else str(v)))
            colors = src.channel_colors or []
            channel_colors.append(colors[0] if len(colors) == 1 else None)
        if not any(channel_colors):
            channel_colors = None
    elif first.channel_names:
        channel_names, channel_colors = list(first.channel_names), first.channel_colors
    inputs = [p for _, p, _ in opened]
    src = Source(
        data=data, axes=axes_c, scale=dict(first.scale), units=dict(first.units),
        channel_names=channel_names, channel_colors=channel_colors, name=first.name,
        metadata=dict(first.metadata), inputs=inputs,
    )
    return _from_source(src)


def _axis_word(axis: str) -> str:
    return {"c": "channel", "z": "z", "t": "t"}[axis]


def _check_consistent(fields: Sequence[ResolvedField], problems: list[tuple[str, str]]) -> None:
    """Every field must have the same axes, shape, dtype (and channel names, when named)."""
    if len(fields) < 2:
        return
    counts = Counter(f.layout for f in fields)
    common, n = counts.most_common(1)[0]
    odd = [f for f in fields if f.layout != common]
    if odd:
        problems.append(
            (f"fields whose shape or dtype differs from the other {n} ({common})",
             ", ".join(f"{f.label} ({f.layout})" for f in odd))
        )
        return
    named = [f for f in fields if f.channels]
    if named:
        names = Counter(f.channels for f in named)
        common_names, n = names.most_common(1)[0]
        odd = [f for f in named if f.channels != common_names]
        if odd:
            problems.append(
                (f"fields whose channels differ from the other {n} ({','.join(common_names or ())})",
                 ", ".join(f"{f.label} ({','.join(f.channels or ())})" for f in odd))
            )


def assign_paths(fields: Sequence[ResolvedField]) -> int:
    """Set each field's path in its well: ``0, 1, ...`` in the order of (acquisition, field id)
    over the whole plate, so one path is the same field in every well. Returns the largest
    number of fields in a well (NGFF ``field_count``)."""
    keys = sorted(
        unique((f.acquisition if f.acquisition is not None else -1, f.fid) for f in fields),
        key=lambda k: (k[0], natural_key(k[1])),
    )
    index = {k: i for i, k in enumerate(keys)}
    per_well: Counter[str] = Counter()
    for f in fields:
        f.path = str(index[(f.acquisition if f.acquisition is not None else -1, f.fid)])
        per_well[f.well] += 1
    return max(per_well.values(), default=0)


__all__ = ["Resolved", "ResolvedField", "assign_paths", "resolve"]
