"""What a plate is built from: fields (row, column, field, image) and the problems seen so far.

A :class:`PlateInput` holds the fields (each an array or a :class:`~ngffstore.source.Source`)
plus the problems a builder saw on the way, which :func:`~ngffstore.plate.write_plate` reports
together with its own checks in one :class:`PlateInputError`, before anything is written.
Builders that read layouts from files (CSV manifests, filename patterns, folder trees, plane
files) live with the input converters (``converters.plate``): their inputs open their files in
:meth:`PlateInput.opened`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .names import well_name

_MAX_LISTED = 6


# -- errors ----------------------------------------------------------------------------------


class PlateInputError(InputError):
    """The plate input has problems; nothing was written.

    ``str(error)`` is one line listing every offender, grouped by kind; :attr:`problems` holds
    them as ``"kind: offender"`` strings.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.grouped: dict[str, list[str]] = {}
        for kind, item in problems:
            self.grouped.setdefault(kind, []).append(item)
        self.problems = [f"{kind}: {item}" for kind, item in problems]
        super().__init__(_format(self.grouped))


def _format(grouped: Mapping[str, list[str]]) -> str:
    parts = []
    for kind, items in grouped.items():
        shown = items[:_MAX_LISTED]
        more = f" (and {len(items) - len(shown)} more)" if len(items) > len(shown) else ""
        parts.append(f"{kind}: {', '.join(shown)}{more}")
    n = sum(len(v) for v in grouped.values())
    return f"the plate input has {n} problem{'s' if n != 1 else ''}, nothing was written — " + "; ".join(parts)


# -- the input model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlateField:
    """One field of view: its well (``row``, ``column``), its id in the well, and its image.

    ``source`` is a :class:`~ngffstore.source.Source` or a numpy/dask/Zarr array (a file path
    still works for one release, through the input converters, with a DeprecationWarning). ``field`` is the instrument's field id (a number or text); fields are
    stored as ``0, 1, ...`` in the order of their ids. ``acquisition`` is an NGFF acquisition id.
    """

    row: Any
    column: Any
    field: Any
    source: Any
    acquisition: int | None = None
    where: str = ""
    """Where the field came from (a manifest line, a file), for messages."""


@dataclass(kw_only=True)
class PlateInput:
    """The fields a builder found, the problems it saw, and what to record as the input."""

    fields: list[PlateField]
    problems: list[tuple[str, str]] = field(default_factory=list)
    name: str | None = None
    inputs: list[str] = field(default_factory=list)
    storage_options: dict[str, Any] | None = None
    description: str = ""

    def __len__(self) -> int:
        return len(self.fields)

    def __iter__(self) -> Any:
        return iter(self.fields)

    def opened(self, *, axes: str | None = None) -> PlateInput:
        """This input with its fields ready to write (arrays or Sources). A plain input is;
        a builder's input that names files opens them here (headers only)."""
        return self

    def raise_problems(self) -> None:
        if self.problems:
            raise PlateInputError(self.problems)


def as_plate_input(fields: Any, storage_options: Mapping[str, Any] | None = None) -> PlateInput:
    """A :class:`PlateInput` from one, or from ``(row, column, field, source[, acquisition])``
    tuples, mappings or :class:`PlateField` objects."""
    if isinstance(fields, PlateInput):
        if storage_options and not fields.storage_options:
            fields.storage_options = dict(storage_options)
        return fields
    out: list[PlateField] = []
    for i, item in enumerate(fields):
        if isinstance(item, PlateField):
            out.append(item)
        elif isinstance(item, Mapping):
            missing = [k for k in ("field", "source") if k not in item]
            if "well" in item and ("row" not in item or "column" not in item):
                row, column = item["well"], None
            else:
                row, column = item.get("row"), item.get("column")
                if row is None or column is None:
                    missing.append("row/column (or well)")
            if missing:
                raise InputError(f"field {i}: missing {', '.join(missing)}; give row, column, field and source")
            out.append(PlateField(row, column, item["field"], item["source"], item.get("acquisition"), where=f"field {i}"))
        elif isinstance(item, (tuple, list)) and len(item) in (4, 5):
            out.append(PlateField(*item, where=f"field {i}"))  # type: ignore[misc]
        else:
            raise InputError(
                f"field {i} is {type(item).__name__}; give (row, column, field, source) tuples or PlateField"
            )
    return PlateInput(fields=out, storage_options=dict(storage_options) if storage_options else None)


def describe_field(row: str, column: str, fid: Any, acquisition: int | None = None) -> str:
    text = f"{well_name(row, column)} field {fid}"
    return text if acquisition is None else f"{text} (acquisition {acquisition})"


def unique(values: Iterable[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


__all__ = [
    "PlateField",
    "PlateInput",
    "PlateInputError",
    "as_plate_input",
    "describe_field",
]
