"""ROIs given to ``write_rois`` as columns, and their validation (geometry, terms, ids)."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from ..errors import (
    InputError,
)
from ._model import (
    Ontology,
    check_term,
)

GEOMETRY_TYPES = {
    0: "Point",
    1: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


class RoiRepairWarning(UserWarning):
    """Invalid (e.g. self-intersecting) polygons were repaired with ``shapely.make_valid``."""


# ---------------------------------------------------------------------------------------------
# input normalisation
# ---------------------------------------------------------------------------------------------
@dataclass
class RoiInput:
    """ROIs as columns. ``terms`` is a list of lists or an Arrow ``list<string>`` array;
    ``properties`` holds one JSON object text (or None) per ROI; ``ids`` the input's ids."""

    geometry: np.ndarray
    terms: Any
    properties: list[str | None]
    property_keys: list[str]
    ids: Any
    terms_info: dict[str, dict[str, Any]]
    where: Any
    source: str | None


_RESERVED = frozenset(
    {
        "geometry",
        "terms",
        "term",
        "properties",
        "id",
        "layer",
        "kind",
        "author",
        "created",
        "source_id",
        "area",
    }
)


def as_input(rois: Any) -> RoiInput:
    """ROIs as columns, from a RoiSet, a DataFrame, geometries, WKT strings or dicts."""
    if isinstance(rois, pd.DataFrame):
        return _from_frame(rois)
    if hasattr(rois, "geometry") and hasattr(rois, "terms") and hasattr(rois, "properties"):
        # a converters.rois.RoiSet
        where = rois.where if callable(getattr(rois, "where", None)) else (lambda i: f"row {i}")
        source = getattr(rois, "source", None)
        prefix = f"{source}: " if source else ""
        table = getattr(rois, "property_table", None)
        if isinstance(table, pd.DataFrame):
            props, keys = _encode_columns(table, list(table.columns))
        else:
            props, keys = _encode_dicts(rois.properties)
        return RoiInput(
            _geometries(rois.geometry),
            rois.terms,
            props,
            keys,
            list(getattr(rois, "ids", None) or [None] * len(rois.geometry)),
            dict(getattr(rois, "terms_info", None) or {}),
            lambda i: prefix + where(i),
            source,
        )
    if isinstance(rois, (shapely.Geometry, str, Mapping)):
        rois = [rois]
    geometries: list[Any] = []
    terms: list[list[str]] = []
    dicts: list[Any] = []
    ids: list[Any] = []
    for item in rois:
        if isinstance(item, Mapping):
            geometries.append(item.get("geometry"))
            t = item.get("terms", item.get("term")) or []
            terms.append([t] if isinstance(t, str) else list(t))
            dicts.append(item.get("properties"))
            ids.append(item.get("id"))
        else:
            geometries.append(item)
            terms.append([])
            dicts.append(None)
            ids.append(None)
    props, keys = _encode_dicts(dicts)
    return RoiInput(
        _geometries(geometries), terms, props, keys, ids, {}, lambda i: f"ROI {i}", None
    )


def _from_frame(df: pd.DataFrame) -> RoiInput:
    if "geometry" not in df.columns:
        raise InputError("the ROI table has no 'geometry' column")
    n = len(df)
    geometry = _geometries(df["geometry"].to_numpy(dtype=object))
    if "terms" in df.columns:
        terms: Any = [
            [] if v is None or _isnan(v) else ([v] if isinstance(v, str) else [str(t) for t in v])
            for v in df["terms"]
        ]
    elif "term" in df.columns:
        col = pa.array(df["term"].to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        valid = pc.is_valid(col).to_numpy(zero_copy_only=False)
        offsets = np.concatenate([[0], np.cumsum(valid)]).astype(np.int32)
        terms = pa.ListArray.from_arrays(pa.array(offsets), col.drop_null())
    else:
        terms = pa.ListArray.from_arrays(
            pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string())
        )
    extra = [c for c in df.columns if c not in _RESERVED]
    if "properties" in df.columns:
        rows = []
        base = list(df["properties"])
        extra_values = {c: df[c].to_numpy(dtype=object) for c in extra}
        for i in range(n):
            p = dict(base[i]) if isinstance(base[i], Mapping) else {}
            for c in extra:
                v = extra_values[c][i]
                if v is not None and not _isnan(v):
                    p[str(c)] = v.item() if hasattr(v, "item") else v
            rows.append(p)
        props, keys = _encode_dicts(rows)
    else:
        props, keys = _encode_columns(df, extra)
    id_col = "source_id" if "source_id" in df.columns else ("id" if "id" in df.columns else None)
    ids: Any = [None] * n
    if id_col is not None:
        col = df[id_col]
        if col.dtype.kind in "iu":
            ids = col.to_numpy(dtype=np.int64)
        else:
            ids = [
                v if isinstance(v, str) else (int(v) if v is not None and not _isnan(v) else None)
                for v in col
            ]
    return RoiInput(geometry, terms, props, keys, ids, {}, lambda i: f"row {i}", None)


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _encode_dicts(dicts: Any) -> tuple[list[str | None], list[str]]:
    """One JSON object text per ROI (None when it has no properties) and the keys seen."""
    out: list[str | None] = []
    keys: dict[str, None] = {}
    for p in dicts:
        if not p:
            out.append(None)
            continue
        if not isinstance(p, Mapping):
            raise InputError(f"properties must be a mapping, not {type(p).__name__}")
        for k in p:
            keys.setdefault(str(k), None)
        out.append(json.dumps(p, allow_nan=False, default=_jsonable, separators=(",", ":")))
    return out, list(keys)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _encode_columns(df: pd.DataFrame, columns: list[str]) -> tuple[list[str | None], list[str]]:
    """JSON objects built column by column (numbers are formatted by numpy, round-trip exact);
    a missing value (None, NaN) leaves its key out."""
    n = len(df)
    if not columns:
        return [None] * n, []
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    for c in columns:
        prefix = json.dumps(str(c)) + ":"
        col = df[c]
        kind = col.dtype.kind if isinstance(col.dtype, np.dtype) else "O"
        if kind == "f":
            values = col.to_numpy()
            present = np.isfinite(values)
            text = values.astype(str)
        elif kind in "iu":
            values = col.to_numpy()
            present = np.ones(n, dtype=bool)
            text = values.astype(str)
        elif kind == "b":
            values = col.to_numpy()
            present = np.ones(n, dtype=bool)
            text = np.where(values, "true", "false")
        else:
            objs = col.to_numpy(dtype=object)
            present = ~col.isna().to_numpy(dtype=bool)
            text = np.array(
                [
                    json.dumps(v, allow_nan=False, default=_jsonable) if ok else ""
                    for v, ok in zip(objs, present)
                ],
                dtype=object,
            )
        pieces.append((np.char.add(prefix, text.astype(str)), present))
    if all(p.all() for _, p in pieces):
        joined = pieces[0][0]
        for text, _ in pieces[1:]:
            joined = np.char.add(np.char.add(joined, ","), text)
        return [f"{{{t}}}" for t in joined.tolist()], list(map(str, columns))
    out: list[str | None] = []
    texts = [t.tolist() for t, _ in pieces]
    masks = [p for _, p in pieces]
    for i in range(n):
        parts = [texts[k][i] for k in range(len(pieces)) if masks[k][i]]
        out.append("{" + ",".join(parts) + "}" if parts else None)
    return out, list(map(str, columns))


def _geometries(values: Any) -> np.ndarray:
    arr = values if isinstance(values, np.ndarray) else np.asarray(list(values), dtype=object)
    if arr.dtype != object:
        arr = arr.astype(object)
    if arr.ndim != 1:
        arr = np.asarray(list(values), dtype=object)
    other = ~shapely.is_geometry(arr)
    if other.any():
        arr = arr.copy()
        for i in np.flatnonzero(other):
            if isinstance(arr[i], str):
                try:
                    arr[i] = shapely.from_wkt(arr[i])
                except (shapely.errors.GEOSException, ValueError) as exc:
                    raise InputError(f"ROI {i}: invalid WKT: {exc}") from None
    return arr


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def check_geometries(inp: RoiInput, width: int, height: int, repair: bool) -> np.ndarray:
    geometry = inp.geometry
    n = len(geometry)
    if n == 0:
        return geometry
    is_geom = shapely.is_geometry(geometry)
    if not is_geom.all():
        i = int(np.flatnonzero(~is_geom)[0])
        raise InputError(f"{inp.where(i)}: not a geometry ({type(geometry[i]).__name__})")
    if shapely.has_z(geometry).any():
        geometry = shapely.force_2d(geometry)
    empty = shapely.is_empty(geometry)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InputError(f"{inp.where(i)}: the geometry is empty")
    type_ids = shapely.get_type_id(geometry)
    bad_type = ~np.isin(type_ids, list(GEOMETRY_TYPES))
    if bad_type.any():
        i = int(np.flatnonzero(bad_type)[0])
        raise InputError(f"{inp.where(i)}: unsupported geometry type {geometry[i].geom_type}")
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        counts = shapely.get_num_coordinates(geometry)
        owner = np.repeat(np.arange(n), counts)
        i = int(owner[np.flatnonzero(~np.isfinite(coords).all(axis=1))[0]])
        raise InputError(
            f"{inp.where(i)}: the geometry has coordinates that are not finite numbers"
        )
    valid = shapely.is_valid(geometry)
    if not valid.all():
        bad = np.flatnonzero(~valid)
        first = int(bad[0])
        reason = shapely.is_valid_reason(geometry[first])
        if not repair:
            raise InputError(
                f"{inp.where(first)}: invalid geometry ({reason}); fix it or import with repair "
                f"(the default){f'; {bad.size - 1} more invalid' if bad.size > 1 else ''}"
            )
        fixed = shapely.make_valid(geometry[bad], method="structure", keep_collapsed=False)
        gone = shapely.is_empty(fixed) | shapely.is_missing(fixed)
        if gone.any():
            i = int(bad[np.flatnonzero(gone)[0]])
            raise InputError(
                f"{inp.where(i)}: invalid geometry ({shapely.is_valid_reason(geometry[i])}) that has no area left once repaired"
            )
        geometry = geometry.copy()
        geometry[bad] = fixed
        warnings.warn(
            f"repaired {bad.size} invalid geometr{'y' if bad.size == 1 else 'ies'} with make_valid "
            f"(first: {inp.where(first)}: {reason})",
            RoiRepairWarning,
            stacklevel=3,
        )
    bounds = shapely.bounds(geometry)
    outside = (
        (bounds[:, 2] < 0) | (bounds[:, 3] < 0) | (bounds[:, 0] > width) | (bounds[:, 1] > height)
    )
    partly = ~outside & (
        (bounds[:, 0] < 0) | (bounds[:, 1] < 0) | (bounds[:, 2] > width) | (bounds[:, 3] > height)
    )
    if partly.any():
        frame = shapely.box(0, 0, width, height)
        idx = np.flatnonzero(partly)
        outside[idx] = ~shapely.intersects(geometry[idx], frame)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        b = bounds[i]
        raise InputError(
            f"{inp.where(i)}: the geometry (x {b[0]:g}..{b[2]:g}, y {b[1]:g}..{b[3]:g}) lies entirely "
            f"outside the image ({width} x {height} px at level 0, origin top left)"
            + (f"; {int(outside.sum()) - 1} more outside" if outside.sum() > 1 else "")
            + (
                ""
                if outside.sum() < n
                else "; are the coordinates in level-0 pixels? (Cytomine: --format cytomine)"
            )
        )
    return geometry


def check_roi_terms(inp: RoiInput, extra: Sequence[str], ontology: Ontology | None) -> pa.Array:
    """The ROIs' terms as a ``list<string>`` array: valid names, no duplicates in a row, the
    ``extra`` terms added to every row, and (with an ontology) every name known."""
    extra = [check_term(t) for t in extra]
    arr = _fast_terms(inp.terms) if not extra else None
    if arr is None:
        arr = pa.array(_slow_terms(inp, extra), type=pa.list_(pa.string()))
    if ontology is not None:
        used = set(pc.unique(pc.list_flatten(arr)).to_pylist())
        unknown = sorted(used - set(ontology.terms))
        if unknown:
            hit = pc.is_in(pc.list_flatten(arr), value_set=pa.array([unknown[0]]))
            first = int(
                pc.list_parent_indices(arr).to_numpy()[hit.to_numpy(zero_copy_only=False)][0]
            )
            known = ", ".join(sorted(ontology.terms)[:20]) or "none"
            raise InputError(
                f"{inp.where(first)}: unknown term {unknown[0]!r}"
                + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                + f": the ontology has {known}"
            )
    return arr


def _fast_terms(terms: Any) -> pa.Array | None:
    """The terms as Arrow when they are already clean (else None: take the slow, precise path)."""
    try:
        arr = terms if isinstance(terms, pa.Array) else pa.array(terms, type=pa.list_(pa.string()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    if arr.null_count:
        return None
    flat = pc.list_flatten(arr)
    if flat.null_count:
        return None
    uniq = pc.unique(flat)
    for name in uniq.to_pylist():
        try:
            if check_term(name) != name:
                return None
        except InputError:
            return None
    if len(flat):
        codes = pc.index_in(flat, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
        key = pc.list_parent_indices(arr).to_numpy().astype(np.int64) * len(uniq) + codes
        if len(np.unique(key)) != len(key):
            return None
    return arr


def _slow_terms(inp: RoiInput, extra: list[str]) -> list[list[str]]:
    terms = inp.terms.to_pylist() if isinstance(inp.terms, pa.Array) else inp.terms
    cache: dict[str, str] = {}
    out: list[list[str]] = []
    for i, ts in enumerate(terms):
        row: list[str] = []
        for t in ts or ():
            name = cache.get(t) if isinstance(t, str) else None
            if name is None:
                name = check_term(t, inp.where(i))
                cache[t] = name
            if name not in row:
                row.append(name)
        for t in extra:
            if t not in row:
                row.append(t)
        out.append(row)
    return out


def assign_ids(
    source_ids: Any, existing: set[int], next_id: int
) -> tuple[np.ndarray, list[str | None]]:
    """Keep the input's integer ids when they are unique, positive and new; else number the
    ROIs from ``next_id`` and keep the input's ids as text (``source_id``)."""
    n = len(source_ids)
    if isinstance(source_ids, np.ndarray) and source_ids.dtype.kind in "iu":
        arr = source_ids.astype(np.int64)
        ints_ok = True
    else:
        ints_ok = n > 0 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in source_ids
        )
        arr = np.asarray(source_ids if ints_ok else [], dtype=np.int64)
    if n and ints_ok:
        if (
            (arr > 0).all()
            and (arr < 2**53).all()
            and len(np.unique(arr)) == n
            and not existing.intersection(arr.tolist())
        ):
            return arr, [None] * n
        ids = np.arange(next_id, next_id + n, dtype=np.int64)
        return ids, [str(v) for v in arr.tolist()]
    ids = np.arange(next_id, next_id + n, dtype=np.int64)
    return ids, [None if v is None else str(v) for v in source_ids]
