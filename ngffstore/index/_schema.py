"""The index's Arrow schema: fixed columns, then ``kv.<key>`` and ``rois.<term>`` columns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_TS = pa.timestamp("us", tz="UTC")
FIXED_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("plate", pa.string()),
        ("plate_path", pa.string()),
        ("well", pa.string()),
        ("row", pa.string()),
        ("column", pa.string()),
        ("field", pa.int64()),
        ("ngff_version", pa.string()),
        ("zarr_format", pa.int64()),
        ("axes", pa.string()),
        ("shape", pa.list_(pa.int64())),
        ("dtype", pa.string()),
        ("levels", pa.int64()),
        ("size_t", pa.int64()),
        ("size_c", pa.int64()),
        ("size_z", pa.int64()),
        ("size_y", pa.int64()),
        ("size_x", pa.int64()),
        ("pixel_size_x", pa.float64()),
        ("pixel_size_y", pa.float64()),
        ("pixel_size_z", pa.float64()),
        ("unit_x", pa.string()),
        ("unit_y", pa.string()),
        ("unit_z", pa.string()),
        ("time_increment", pa.float64()),
        ("unit_t", pa.string()),
        ("channels", pa.list_(pa.string())),
        ("labels", pa.list_(pa.string())),
        ("tags", pa.list_(pa.string())),
        ("description", pa.string()),
        ("tables", pa.list_(pa.string())),
        ("roi_count", pa.int64()),
        ("created", _TS),
        ("updated", _TS),
        ("indexed", _TS),
        ("digest", pa.int64()),
    ]
)
FIXED_COLUMNS = tuple(FIXED_SCHEMA.names)
KV_PREFIX = "kv."
ROI_PREFIX = "rois."


def _infer(values: Sequence[Any]) -> pa.DataType:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def rows_to_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """An Arrow table with the fixed columns, then ``kv.<key>`` and ``rois.<term>`` columns."""
    arrays = [pa.array([r.get(name) for r in rows], type=FIXED_SCHEMA.field(name).type) for name in FIXED_COLUMNS]
    names = list(FIXED_COLUMNS)
    keys = sorted({k for r in rows for k in (r.get("_kv") or {})})
    for key in keys:
        values = [(r.get("_kv") or {}).get(key) for r in rows]
        dtype = _infer(values)
        if pa.types.is_string(dtype):
            values = [_as_text(v) for v in values]
        elif pa.types.is_floating(dtype):
            values = [float(v) if v is not None else None for v in values]
        arrays.append(pa.array(values, type=dtype))
        names.append(KV_PREFIX + key)
    terms = sorted({t for r in rows for t in (r.get("_rois") or {})})
    for term in terms:
        values = [
            (r["_rois"].get(term, 0) if r.get("_rois") is not None else None) for r in rows
        ]
        arrays.append(pa.array(values, type=pa.int64()))
        names.append(ROI_PREFIX + term)
    return pa.Table.from_arrays(arrays, names=names)


def _common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(f(a) for f in numeric) and any(f(b) for f in numeric):
        return pa.float64()
    return pa.string()


def _cast(column: pa.ChunkedArray, dtype: pa.DataType) -> pa.ChunkedArray:
    if column.type == dtype:
        return column
    if pa.types.is_string(dtype) and pa.types.is_boolean(column.type):
        return pc.if_else(column, pa.scalar("true"), pa.scalar("false"))
    return pc.cast(column, dtype)


def concat_tables(tables: Sequence[pa.Table]) -> pa.Table:
    """Concatenate index tables whose ``kv.``/``rois.`` columns differ (missing -> null;
    clashing types -> float64 for numbers, else text)."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return rows_to_table([])
    names: dict[str, pa.DataType] = {}
    for t in tables:
        for f in t.schema:
            names[f.name] = _common_type(names[f.name], f.type) if f.name in names else f.type
    extra = sorted(n for n in names if n not in FIXED_COLUMNS)
    order = list(FIXED_COLUMNS) + extra
    pieces = []
    for t in tables:
        cols = []
        for name in order:
            if name in t.column_names:
                cols.append(_cast(t.column(name), names[name]))
            elif name.startswith(ROI_PREFIX) and "roi_count" in t.column_names:
                # rows with an ROI summary but not this term have 0 of it
                counts = t.column("roi_count")
                cols.append(pc.if_else(pc.is_null(counts), pa.scalar(None, pa.int64()), pa.scalar(0, pa.int64())))
            else:
                cols.append(pa.nulls(t.num_rows, names[name]))
        pieces.append(pa.Table.from_arrays(cols, names=order))
    return pa.concat_tables(pieces)


def drop_prefixes(table: pa.Table, prefixes: Iterable[str]) -> pa.Table:
    prefixes = list(prefixes)
    if not prefixes or table.num_rows == 0:
        return table
    if "" in prefixes:
        return table.slice(0, 0)
    paths = table.column("path")
    drop = None
    for p in prefixes:
        hit = pc.or_(pc.equal(paths, p), pc.starts_with(paths, p + "/"))
        drop = hit if drop is None else pc.or_(drop, hit)
    return table.filter(pc.invert(drop))


def prune_unused(table: pa.Table) -> pa.Table:
    """Drop ``kv.``/``rois.`` columns that no row uses any more."""
    keep = [
        n for n in table.column_names
        if n in FIXED_COLUMNS or table.column(n).null_count < table.num_rows
    ]
    return table.select(keep) if len(keep) != table.num_columns else table
