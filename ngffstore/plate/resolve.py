"""Checking a plate input before anything is written: names, duplicates, files, shapes.

Every field's image is an array or a :class:`~ngffstore.source.Source` (a builder's input that
names files opens them first, headers only, through :meth:`PlateInput.opened`) and every
problem is collected, so one :class:`~ngffstore.plate.inputs.PlateInputError` lists all
offenders.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import plugins
from .._deprecated import REMOVED_IN, warn_deprecated
from ..errors import NgffStoreError
from ..image.options import canonical, parse_axes
from ..source import Source
from .inputs import PlateField, PlateInput, describe_field, unique
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
    """A :class:`~ngffstore.source.Source` or a numpy/dask/Zarr array."""
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
    plate_input = _open_files(plate_input, axes)
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

    opened = _open_all(kept, axes, problems)
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
    axes: str | None,
    problems: list[tuple[str, str]],
) -> list[_Opened | None]:
    out: list[_Opened | None] = []
    for f, row, column, fid in kept:
        label = describe_field(row, column, fid, f.acquisition)
        try:
            out.append(_from_source(f.source) if isinstance(f.source, Source) else _from_array(f.source, axes))
        except NgffStoreError as exc:
            problems.append(("unusable images", f"{label}: {exc}"))
            out.append(None)
    return out


def _from_source(src: Source) -> _Opened:
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


def _names_files(source: Any) -> bool:
    """Whether a field's source is a file (a path, or a converters' layout object such as plane
    files) rather than an array or a Source."""
    if isinstance(source, (str, os.PathLike)):
        return True
    return not isinstance(source, Source) and not hasattr(source, "shape") and not hasattr(source, "__array__")


def _open_files(plate_input: PlateInput, axes: str | None) -> PlateInput:
    """Fields that name files opened by the input converters (deprecated: open them first, e.g.
    with ``converters.plate``'s builders or ``converters.open_source``)."""
    plate_input = plate_input.opened(axes=axes)
    if any(_names_files(f.source) for f in plate_input.fields):
        warn_deprecated(
            "write_plate() with file paths as field sources is deprecated; give Sources "
            "(converters.open_source(path)) or a converters.plate builder's input "
            f"(removed in {REMOVED_IN})",
            stacklevel=4,  # write_plate's caller
        )
        plate_input = plugins.converters().open_plate_fields(plate_input, axes=axes)
    return plate_input


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
