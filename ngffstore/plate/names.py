"""Plate coordinates: row and column names, well names (``B03``, ``r02c03``), plate formats.

Rows are letters (``A`` .. ``Z``, then ``AA`` .. ``AF`` on 1536-well plates); a row given as a
number is 1-based (``2`` and ``r02`` are row ``B``). Columns are numbers written without zero
padding (``03`` is column ``3``), as in the NGFF examples. A well is named by its row and column
(``B03``, ``B3``, ``b03``, ``r02c03``, ``B/3``, ``B_03``); its path in the plate is ``B/3``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

#: (rows, columns) of the standard plate formats, smallest first.
PLATE_FORMATS: tuple[tuple[int, int], ...] = (
    (2, 3), (3, 4), (4, 6), (6, 8), (8, 12), (16, 24), (32, 48),
)

_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_WELL = re.compile(r"^\s*([A-Za-z]{1,2})[\s_/-]?0*(\d{1,3})\s*$")
_RC_WELL = re.compile(r"^\s*[rR]0*(\d{1,3})\s*[cC]0*(\d{1,3})\s*$")
_NUMBER = re.compile(r"^\s*0*(\d+)\s*$")


def row_letters(index: int) -> str:
    """The row name of a 0-based row index: 0 -> ``A``, 25 -> ``Z``, 26 -> ``AA``."""
    if index < 0:
        raise ValueError(f"a row index is 0 or more, not {index}")
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def row_index(name: str) -> int:
    """The 0-based index of a letter row name: ``A`` -> 0, ``AA`` -> 26."""
    n = 0
    for ch in name.upper():
        n = n * 26 + (ord(ch) - ord("A") + 1)
    return n - 1


def parse_row(value: Any) -> str:
    """A row name from ``B``, ``b``, ``2`` or ``r02`` (numbers are 1-based); InputError if none."""
    if isinstance(value, bool):
        raise InputError(f"{value!r} is not a row name; use a letter (B) or a 1-based number (2)")
    if isinstance(value, int):
        if value < 1:
            raise InputError(f"row {value} is not valid: numbered rows start at 1 (1 = A)")
        return row_letters(value - 1)
    text = str(value).strip()
    if re.fullmatch(r"[A-Za-z]{1,2}", text):
        return text.upper()
    m = re.fullmatch(r"[rR]?0*(\d{1,3})", text)
    if m and int(m.group(1)) >= 1:
        return row_letters(int(m.group(1)) - 1)
    raise InputError(f"{text!r} is not a row name; use a letter (B) or a 1-based number (2)")


def parse_column(value: Any) -> str:
    """A column name from ``3``, ``03``, ``c03`` or an int: the number without zero padding."""
    if isinstance(value, bool):
        raise InputError(f"{value!r} is not a column name; use a number such as 3")
    if isinstance(value, int):
        if value < 0:
            raise InputError(f"column {value} is not valid; use a number such as 3")
        return str(value)
    text = str(value).strip()
    m = re.fullmatch(r"[cC]?0*(\d{1,4})", text)
    if m:
        return str(int(m.group(1)))
    if _ALNUM.match(text):  # non-numeric column names exist in the wild; keep them as they are
        return text
    raise InputError(f"{text!r} is not a column name; use a number such as 3")


def parse_well(value: Any) -> tuple[str, str]:
    """``(row, column)`` from ``B03``, ``B3``, ``r02c03``, ``B/3``, ``B_03`` or a pair."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return parse_row(value[0]), parse_column(value[1])
    text = str(value)
    m = _WELL.match(text)
    if m:
        return m.group(1).upper(), str(int(m.group(2)))
    m = _RC_WELL.match(text)
    if m and int(m.group(1)) >= 1:
        return row_letters(int(m.group(1)) - 1), str(int(m.group(2)))
    raise InputError(f"{text!r} is not a well name; use e.g. B03, B3, r02c03 or B/3")


def well_name(row: str, column: str) -> str:
    """``B03``-style display name (columns padded to two digits)."""
    return f"{row}{column.zfill(2) if column.isdigit() else column}"


def natural_key(value: Any) -> tuple[Any, ...]:
    """Sort key that orders numbers numerically and text naturally (``s2`` < ``s10``)."""
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int):
        return (0, value)
    parts = re.split(r"(\d+)", str(value))
    return (1, tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts if p != ""))


def row_key(name: str) -> tuple[int, Any]:
    """Rows in plate order: A..Z, AA..; numeric or other names after them."""
    if name.isalpha():
        return (0, row_index(name))
    return (1, natural_key(name))


def column_key(name: str) -> tuple[int, Any]:
    return (0, int(name)) if name.isdigit() else (1, natural_key(name))


def parse_names(spec: Any, kind: str) -> list[str]:
    """Row or column names from a count (``8``), a range (``A-H``, ``1-12``), a comma-separated
    text (``A,B,C``) or a list. ``kind`` is ``"row"`` or ``"column"``."""
    parse = parse_row if kind == "row" else parse_column
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 1:
            raise InputError(f"a plate has at least one {kind}, not {spec}")
        return [row_letters(i) for i in range(spec)] if kind == "row" else [str(i + 1) for i in range(spec)]
    if isinstance(spec, str):
        text = spec.strip()
        if _NUMBER.match(text):
            return parse_names(int(text), kind)
        m = re.fullmatch(r"\s*([A-Za-z0-9]+)\s*-\s*([A-Za-z0-9]+)\s*", text)
        if m:
            first, last = parse(m.group(1)), parse(m.group(2))
            if kind == "row" and first.isalpha() and last.isalpha():
                a, b = row_index(first), row_index(last)
                if a <= b:
                    return [row_letters(i) for i in range(a, b + 1)]
            elif first.isdigit() and last.isdigit() and int(first) <= int(last):
                return [str(i) for i in range(int(first), int(last) + 1)]
            raise InputError(f"cannot read the {kind} range {spec!r}: give first-last in order, e.g. A-H or 1-12")
        items: Sequence[Any] = [p for p in text.split(",") if p.strip()]
    else:
        items = list(spec)
    names = [parse(v) for v in items]
    if not names:
        raise InputError(f"no {kind} names given")
    seen = set()
    for n in names:
        if n in seen:
            raise InputError(f"{kind} {n!r} is given twice")
        seen.add(n)
    return names


def infer_layout(wells: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Rows and columns of the smallest standard plate (6 .. 1536 wells) that holds ``wells``.

    Wells with non-standard names (non-letter rows, non-numeric columns) give just the names
    found, in plate order.

    Raises
    ------
    InputError
        A well lies outside the largest standard plate (1536 wells: rows A-AF, columns 1-48),
        e.g. a typo such as ``ZZ99``: a plate that large is only made from explicit rows and
        columns (``rows=``/``columns=``, ``--rows``/``--columns``).
    """
    wells = list(wells)
    rows = {r for r, _ in wells}
    cols = {c for _, c in wells}
    if all(r.isalpha() for r in rows) and all(c.isdigit() and int(c) >= 1 for c in cols):
        need_r = max((row_index(r) + 1 for r in rows), default=1)
        need_c = max((int(c) for c in cols), default=1)
        for n_r, n_c in PLATE_FORMATS:
            if need_r <= n_r and need_c <= n_c:
                return [row_letters(i) for i in range(n_r)], [str(i + 1) for i in range(n_c)]
        big_r, big_c = PLATE_FORMATS[-1]
        outside = sorted(
            (well_name(r, c) for r, c in set(wells) if row_index(r) >= big_r or int(c) > big_c),
            key=natural_key,
        )
        shown = ", ".join(outside[:8]) + (f" (+{len(outside) - 8})" if len(outside) > 8 else "")
        raise InputError(
            f"well(s) {shown} lie outside the largest standard plate ({big_r * big_c} wells: rows "
            f"A-{row_letters(big_r - 1)}, columns 1-{big_c}): fix the well names, or give the plate's "
            "rows and columns (--rows/--columns) for a custom plate"
        )
    return sorted(rows, key=row_key), sorted(cols, key=column_key)


def describe_names(names: Sequence[str]) -> str:
    """``A-H`` for a contiguous run of names, else the list (shortened)."""
    if not names:
        return "none"
    if len(names) >= 2:
        if all(n.isalpha() for n in names):
            idx = [row_index(n) for n in names]
            if idx == list(range(idx[0], idx[0] + len(idx))):
                return f"{names[0]}-{names[-1]}"
        if all(n.isdigit() for n in names):
            idx = [int(n) for n in names]
            if idx == list(range(idx[0], idx[0] + len(idx))):
                return f"{names[0]}-{names[-1]}"
    text = ",".join(names[:12])
    return text + (f",... ({len(names)})" if len(names) > 12 else "")


def outside_kind(rows: Sequence[str], columns: Sequence[str]) -> str:
    """The heading of the "wells outside the plate" problem."""
    return f"wells outside the plate's rows {describe_names(rows)} and columns {describe_names(columns)}"


def check_name(name: str, what: str) -> str:
    if not _ALNUM.match(name):
        raise InputError(f"{what} {name!r} must be letters and digits only (an NGFF rule)")
    return name



@dataclass(frozen=True, kw_only=True)
class FieldRef:
    """One ``well.images`` entry: the field's path in the well and its acquisition."""

    path: str
    acquisition: int | None = None


def field_slots(images: Mapping[str, Sequence[FieldRef]]) -> list[str]:
    """Every field path used in the plate, in natural order: a field's place in a well's grid."""
    paths = {im.path for ims in images.values() for im in ims}
    return sorted(paths, key=natural_key)

__all__ = [
    "PLATE_FORMATS",
    "FieldRef",
    "column_key",
    "describe_names",
    "field_slots",
    "infer_layout",
    "natural_key",
    "parse_column",
    "parse_names",
    "parse_row",
    "parse_well",
    "row_index",
    "row_key",
    "row_letters",
    "well_name",
]
