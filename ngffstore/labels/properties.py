"""Per-label properties (``image-label.properties``): from a CSV, a DataFrame, a mapping or entries."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from .colors import _VALUE_COLUMNS, _frame_rows, _read_text, parse_label_value

Properties = dict[int, dict[str, Any]]


def _jsonable(value: Any, where: str) -> Any:
    """A JSON value for one property cell; None for an empty cell (NaN, None, "")."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise InputError(f"{where}: infinite values cannot be stored as JSON")
        return value
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _entry(value_key: str | None, row: Mapping[str, Any], where: str) -> tuple[int, dict[str, Any]]:
    if value_key is None:
        raise InputError(f"{where}: no 'label-value' column; the properties table needs one")
    value = parse_label_value(row[value_key], where)
    props: dict[str, Any] = {}
    for k, v in row.items():
        if k == value_key:
            continue
        key = str(k).strip()
        if not key or key.lower().startswith("unnamed:"):
            continue
        if key == "label-value":
            raise InputError(f"{where}: a property may not be called 'label-value'")
        cell = _jsonable(v, f"{where}, column {key!r}")
        if cell is not None and not (isinstance(cell, str) and cell == ""):
            props[key] = cell
    return value, props


def _value_key(columns: Iterable[str]) -> str | None:
    cols = list(columns)
    for name in _VALUE_COLUMNS:
        for c in cols:
            if str(c).strip().lower() == name:
                return c
    return None


def parse_properties(
    properties: Any, *, storage_options: Mapping[str, Any] | None = None
) -> Properties:
    """Properties per label value from any accepted form.

    ``properties`` may be the path/URL of a CSV with a ``label-value`` column (every other column
    is a property), a pandas DataFrame (a ``label-value`` column or an integer index), a mapping
    ``{value: {name: value}}`` or a list of NGFF ``{"label-value": ..., ...}`` entries. Empty
    cells are left out of their label's entry.
    """
    if properties is None:
        return {}
    if isinstance(properties, (str, os.PathLike)):
        return read_properties_csv(properties, storage_options=storage_options)
    rows: list[dict[str, Any]]
    if hasattr(properties, "to_dict") and hasattr(properties, "columns"):
        rows = _frame_rows(properties)
        where = "properties"
    elif isinstance(properties, Mapping):
        out: Properties = {}
        for key, props in properties.items():
            value = parse_label_value(key, "properties")
            if not isinstance(props, Mapping):
                raise InputError(f"properties[{value}] must be a mapping of property names to values")
            _, entry = _entry("label-value", {"label-value": value, **dict(props)}, f"properties[{value}]")
            out[value] = entry
        return out
    elif isinstance(properties, Iterable):
        rows = []
        for i, row in enumerate(properties):
            if not isinstance(row, Mapping):
                raise InputError(f"properties[{i}] must be a mapping with a 'label-value', not {row!r}")
            rows.append(dict(row))
        where = "properties"
    else:
        raise InputError(
            f"properties must be a CSV path, a DataFrame, a mapping or a list of entries, not {type(properties).__name__}"
        )
    return _from_rows(rows, where)


def _from_rows(rows: list[dict[str, Any]], where: str) -> Properties:
    out: Properties = {}
    for i, row in enumerate(rows):
        value, props = _entry(_value_key(row), row, f"{where} row {i + 1}")
        if value in out:
            raise InputError(f"{where}: label value {value} appears more than once (row {i + 1})")
        out[value] = props
    return out


def read_properties_csv(
    path: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None
) -> Properties:
    """Properties from a CSV with a header row: a ``label-value`` column and any other columns."""
    import io

    import pandas as pd

    where = os.fspath(path)
    text = _read_text(where, storage_options)
    if not text.strip():
        raise InputError(f"{where}: the properties file is empty; give a header with a label-value column")
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read the properties CSV {where}: {' '.join(str(exc).split())}") from None
    if _value_key(frame.columns) is None:
        raise InputError(
            f"{where}: no 'label-value' column (columns: {', '.join(map(str, frame.columns))}); "
            "the first row must name the columns"
        )
    return _from_rows([{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")], where)


__all__ = ["Properties", "parse_properties", "read_properties_csv"]
