"""Reading ROI annotation files (GeoJSON, WKT, CSV, Cytomine JSON) and ontology files -> :class:`RoiSet`."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from ngffstore.errors import InputError, InputNotFoundError
from ngffstore.ngff import normalize_color
from ngffstore.rois import default_term_color
from ngffstore.storage import Location, storage_errors

from .._io import resolve, short

FORMATS = ("geojson", "wkt", "csv", "cytomine")
"""Formats :func:`read_rois_file` reads and :func:`format_rois` writes."""

_GEOMETRY_COLUMNS = ("wkt", "geometry", "location", "geom", "the_geom")
_TERM_COLUMNS = ("terms", "term", "class", "classification")
_CYTOMINE_TOP = ("image", "user", "project", "created", "updated", "name")


@dataclass(kw_only=True, eq=False)
class RoiSet:
    """ROIs read from a file: what the store needs, nothing about how the file was laid out.

    Attributes
    ----------
    geometry
        Object array of 2-D shapely geometries, level-0 pixels, origin top left.
    terms
        The ontology terms of each ROI (possibly none).
    properties
        Key-value pairs of each ROI (JSON-able).
    ids
        The identifier each ROI had in the file (int, text or None).
    terms_info
        What the file says about its terms: ``{name: {"color": "RRGGBB", "parent": ..., "id": ...}}``.
    format, source
        The format read and the file's path or URL.
    """

    geometry: np.ndarray
    terms: list[list[str]]
    properties: Sequence[dict[str, Any]]
    ids: list[Any]
    terms_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    format: str = ""
    source: str | None = None
    where_kind: str = "row"
    where_index: np.ndarray | None = None
    property_table: Any = None
    """Optional: the properties as typed columns (a DataFrame; missing cells NaN/None), which
    the store encodes column by column instead of row by row."""

    def __len__(self) -> int:
        return len(self.geometry)

    def where(self, i: int) -> str:
        """Where ROI ``i`` came from in the file, for messages (``features[3]``, ``line 12``)."""
        if self.where_index is not None:
            pos = int(self.where_index[i])
        else:
            pos = int(i)
        if self.where_kind == "features":
            return f"features[{pos}]"
        if self.where_kind == "annotation":
            return f"annotation {pos}"
        return f"{self.where_kind} {pos}"


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def read_rois_file(
    path: Any,
    *,
    format: str = "auto",
    height: float | None = None,
    ontology: Mapping[str, Mapping[str, Any]] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> RoiSet:
    """Read the ROIs of a GeoJSON, WKT, CSV or Cytomine JSON file (local path or URL).

    Parameters
    ----------
    format
        ``auto`` (from the suffix, then the content), ``geojson``, ``wkt``, ``csv`` or ``cytomine``.
    height
        The image height in level-0 pixels; required for ``cytomine`` (bottom-left origin).
    ontology
        Terms by name (see :func:`read_ontology_file`); Cytomine term ids are resolved with it.

    Raises
    ------
    InputError
        The file cannot be parsed; the message names the line or feature.
    """
    location, text = _read_text(path, storage_options)
    fmt = (
        detect_format(location.name, text) if format in (None, "", "auto") else str(format).lower()
    )
    return parse_rois(text, format=fmt, height=height, ontology=ontology, source=location.url)


def _read_text(path: Any, storage_options: Mapping[str, Any] | None) -> tuple[Location, str]:
    """The location and UTF-8 text of an annotation file."""
    location = resolve(path, storage_options)
    with storage_errors(location, "read"):
        try:
            if location.is_local:
                with open(location.path, "rb") as fh:
                    raw = fh.read()
            else:
                raw = location.fs.cat_file(location.path)
        except FileNotFoundError:
            raise InputNotFoundError(f"{location.url} does not exist; check the path") from None
        except IsADirectoryError:
            raise InputError(f"{location.url} is a folder; give an annotation file") from None
    try:
        return location, raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            f"{location.url} is not UTF-8 text: give a GeoJSON, WKT, CSV or Cytomine JSON file"
        ) from None


def detect_format(name: str, text: str) -> str:
    """The format of a file from its name, then from its first characters."""
    lowered = name.lower()
    if lowered.endswith((".geojson", ".qpdata.json")):
        return "geojson"
    if lowered.endswith((".csv", ".tsv")):
        return "csv"
    if lowered.endswith(".wkt"):
        return "wkt"
    head = text.lstrip()[:4096]
    if head.startswith(("{", "[")):
        if '"location"' in head and '"Feature"' not in head:
            return "cytomine"
        return "geojson"
    first = head.split("\n", 1)[0]
    if re.match(
        r"\s*(MULTI)?(POINT|LINESTRING|POLYGON)|\s*GEOMETRYCOLLECTION", first, re.IGNORECASE
    ):
        return "wkt"
    if "," in first or "\t" in first or ";" in first:
        return "csv"
    raise InputError(
        f"cannot tell the format of {name}: give --format geojson, wkt, csv or cytomine"
    )


def parse_rois(
    text: str,
    *,
    format: str,
    height: float | None = None,
    ontology: Mapping[str, Mapping[str, Any]] | None = None,
    source: str | None = None,
) -> RoiSet:
    """Parse ``text`` in ``format`` (see :data:`FORMATS`)."""
    name = source or "<text>"
    if format == "geojson":
        rois = parse_geojson(text, source=name)
    elif format == "wkt":
        rois = parse_wkt(text, source=name)
    elif format == "csv":
        rois = parse_csv(text, source=name)
    elif format == "cytomine":
        rois = parse_cytomine(text, height=height, ontology=ontology, source=name)
    else:
        raise InputError(f"unknown ROI format {format!r}; use one of {', '.join(FORMATS)}")
    rois.source = source
    rois.format = format
    return rois


def _json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


# -- GeoJSON ----------------------------------------------------------------------------------
_WS = re.compile(r"[ \t\n\r]*")


def _skip(text: str, i: int) -> int:
    """The index of the first non-blank character at or after ``i``."""
    m = _WS.match(text, i)
    return m.end() if m else i


_BATCH = 65536


def parse_geojson(text: str, *, source: str = "<text>") -> RoiSet:
    """A FeatureCollection, a list of Features, one Feature or one geometry.

    A collection is read feature by feature (never as one document in memory) and its
    geometries are built in batches, so memory stays near the size of the result.
    """
    features = _stream_features(text, source)
    if features is None:
        doc = _json(text, source)
        if isinstance(doc, Mapping) and doc.get("type") == "Feature":
            features = iter([doc])
        elif (
            isinstance(doc, Mapping)
            and isinstance(doc.get("type"), str)
            and ("coordinates" in doc or doc.get("type") == "GeometryCollection")
        ):
            features = iter([{"type": "Feature", "geometry": doc, "properties": {}}])
        else:
            raise InputError(
                f"{source}: not GeoJSON: expected a FeatureCollection, a list of Features, a "
                "Feature or a geometry"
            )
    terms: list[list[str]] = []
    props: list[dict[str, Any]] = []
    ids: list[Any] = []
    batch: list[dict[str, Any]] = []
    built: list[np.ndarray] = []
    info: dict[str, dict[str, Any]] = {}
    for i, feat in enumerate(features):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise InputError(f"{source}: features[{i}] is not a GeoJSON Feature")
        geom = feat.get("geometry")
        if not isinstance(geom, dict):
            raise InputError(f"{source}: features[{i}] has no geometry")
        batch.append(geom)
        if len(batch) == _BATCH:
            built.append(_geometries_from_geojson(batch, source, i + 1 - len(batch)))
            batch = []
        p = feat.get("properties")
        if not p:
            terms.append([])
            props.append({})
        elif not isinstance(p, dict):
            raise InputError(f"{source}: features[{i}]: 'properties' must be an object")
        else:
            t, p = _feature_terms(p, info, source, i)
            terms.append(t)
            props.append(p)
        fid = feat.get("id")
        ids.append(fid if isinstance(fid, (int, str)) and not isinstance(fid, bool) else None)
    if batch:
        built.append(_geometries_from_geojson(batch, source, len(ids) - len(batch)))
    geometry = np.concatenate(built) if built else np.empty(0, dtype=object)
    return RoiSet(
        geometry=_as_2d(geometry),
        terms=terms,
        properties=props,
        ids=ids,
        terms_info=info,
        where_kind="features",
    )


def _stream_features(text: str, source: str) -> Iterator[Any] | None:
    """The features of a FeatureCollection (or a top-level list), decoded one at a time; None
    when the document is something else (a Feature, a geometry)."""
    decoder = json.JSONDecoder()
    i = _skip(text, 0)
    if text.startswith("[", i):
        return _stream_array(decoder, text, i, source)
    if not text.startswith("{", i):
        return None
    # the top-level keys, up to "features" (other values are small: type, bbox, crs, name)
    top: dict[str, Any] = {}
    i += 1
    while True:
        i = _skip(text, i)
        if text.startswith("}", i):
            return None
        key, i = _decode(decoder, text, i, source)
        i = _skip(text, i)
        if not text.startswith(":", i):
            _syntax(text, i, source, "expected ':'")
        i = _skip(text, i + 1)
        if key == "features":
            if top.get("type", "FeatureCollection") != "FeatureCollection":
                return None
            if not text.startswith("[", i):
                raise InputError(f"{source}: a FeatureCollection needs a 'features' list")
            return _stream_array(decoder, text, i, source)
        top[key], i = _decode(decoder, text, i, source)
        i = _skip(text, i)
        if text.startswith(",", i):
            i += 1
            continue
        if text.startswith("}", i):
            if top.get("type") == "FeatureCollection":
                raise InputError(f"{source}: a FeatureCollection needs a 'features' list")
            return None
        _syntax(text, i, source, "expected ',' or '}'")


def _stream_array(decoder: json.JSONDecoder, text: str, i: int, source: str) -> Iterator[Any]:
    i = _skip(text, i + 1)
    if text.startswith("]", i):
        return
    while True:
        item, i = _decode(decoder, text, i, source)
        yield item
        i = _skip(text, i)
        if text.startswith(",", i):
            i = _skip(text, i + 1)
            continue
        if text.startswith("]", i):
            return
        _syntax(text, i, source, "expected ',' or ']'")


def _decode(decoder: json.JSONDecoder, text: str, i: int, source: str) -> tuple[Any, int]:
    try:
        return decoder.raw_decode(text, i)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def _syntax(text: str, i: int, source: str, what: str) -> None:
    line = text.count("\n", 0, i) + 1
    column = i - (text.rfind("\n", 0, i) + 1) + 1
    end = "the end of the file" if i >= len(text) else f"line {line}, column {column}"
    raise InputError(f"{source}: invalid JSON at {end}: {what}")


_RAGGED = {"Point": 0, "LineString": 1, "Polygon": 2, "MultiPolygon": 3}


def _geometries_from_geojson(
    geoms: list[dict[str, Any]], source: str, first: int = 0
) -> np.ndarray:
    """Shapely geometries from GeoJSON geometry objects: points, lines, polygons and
    multipolygons are built in bulk from their coordinates (``shapely.from_ragged_array``);
    anything else, or anything malformed, one by one (the error names the feature)."""
    n = len(geoms)
    out = np.empty(n, dtype=object)
    by_type: dict[str, list[int]] = {}
    for i, g in enumerate(geoms):
        by_type.setdefault(str(g.get("type")), []).append(i)
    for kind, index in by_type.items():
        built = _ragged(kind, [geoms[i]["coordinates"] for i in index]) if kind in _RAGGED else None
        if built is not None:
            out[index] = built
            continue
        for i in index:
            out[i] = _shape(geoms[i], f"{source}: features[{first + i}]")
    return out


def _ragged(kind: str, coords: list[Any]) -> np.ndarray | None:
    """One geometry type in bulk; None when the coordinates are not regular 2-D/3-D arrays."""
    from shapely import GeometryType

    flat: list[Any] = []
    try:
        if kind == "Point":
            xy = np.asarray(coords, dtype=np.float64)
            if xy.ndim != 2 or xy.shape[1] not in (2, 3):
                return None
            return shapely.from_ragged_array(GeometryType.POINT, xy[:, :2].copy())
        if kind == "LineString":
            lines = [0]
            for line in coords:
                flat.extend(line)
                lines.append(len(flat))
            offsets: tuple[np.ndarray, ...] = (np.asarray(lines),)
            gtype = GeometryType.LINESTRING
        elif kind == "Polygon":
            rings, polys = [0], [0]
            for poly in coords:
                for ring in poly:
                    flat.extend(ring)
                    rings.append(len(flat))
                polys.append(len(rings) - 1)
            offsets = (np.asarray(rings), np.asarray(polys))
            gtype = GeometryType.POLYGON
        else:
            rings, polys, multi = [0], [0], [0]
            for mp in coords:
                for poly in mp:
                    for ring in poly:
                        flat.extend(ring)
                        rings.append(len(flat))
                    polys.append(len(rings) - 1)
                multi.append(len(polys) - 1)
            offsets = (np.asarray(rings), np.asarray(polys), np.asarray(multi))
            gtype = GeometryType.MULTIPOLYGON
        xy = np.asarray(flat, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] not in (2, 3) or not np.isfinite(xy).all():
            return None
        built = shapely.from_ragged_array(gtype, np.ascontiguousarray(xy[:, :2]), offsets)
    except (TypeError, ValueError, shapely.errors.GEOSException):
        return None
    if kind in ("Polygon", "MultiPolygon"):
        # GeoJSON rings are closed; an open one is an error (reported feature by feature)
        rings_ = np.asarray(offsets[0])
        starts, ends = rings_[:-1], rings_[1:] - 1
        if len(starts) and (
            np.any(ends - starts < 3) or not np.array_equal(xy[starts, :2], xy[ends, :2])
        ):
            return None
    return built


def _shape(geom: Mapping[str, Any], where: str) -> Any:
    try:
        return shapely.from_geojson(json.dumps(geom, allow_nan=False))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise InputError(f"{where}: invalid geometry: {_geos_message(exc)}") from None


def _feature_terms(
    p: dict[str, Any], info: dict[str, dict[str, Any]], source: str, i: int
) -> tuple[list[str], dict[str, Any]]:
    """Terms of one feature (QuPath classification or terms/term) and the remaining properties."""
    if "classification" not in p and "terms" not in p and "term" not in p and "objectType" not in p:
        return [], p
    props = dict(p)
    terms: list[str] = []
    cls = props.pop("classification", None)
    if isinstance(cls, dict):
        names = cls.get("names")
        if isinstance(names, list):
            terms = [str(n) for n in names]
        elif cls.get("name") is not None:
            terms = [str(cls["name"])]
        if terms and terms[0] not in info:
            color = _qupath_color(cls)
            info[terms[0]] = {"color": color} if color else {}
    elif isinstance(cls, str) and cls:
        terms = [cls]
    elif cls is not None:
        props["classification"] = cls
    for key in ("terms", "term"):
        if key in props:
            value = props.pop(key)
            if isinstance(value, str):
                terms.extend(split_terms(value))
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                terms.extend(value)
            elif value is not None:
                raise InputError(
                    f"{source}: features[{i}]: '{key}' must be a term name or a list of names"
                )
    if props.get("objectType") == "annotation":
        del props["objectType"]  # the default; written back on export
    return (_unique(terms) if len(terms) > 1 else terms), props


def _qupath_color(cls: Mapping[str, Any]) -> str | None:
    color = cls.get("color")
    if isinstance(color, list) and len(color) >= 3:
        return normalize_color(color)
    rgb = cls.get("colorRGB")
    if isinstance(rgb, int) and not isinstance(rgb, bool):  # Java ARGB int
        return f"{rgb & 0xFFFFFF:06X}"
    return normalize_color(color) if isinstance(color, str) else None


# -- WKT --------------------------------------------------------------------------------------
def parse_wkt(text: str, *, source: str = "<text>") -> RoiSet:
    """One WKT geometry per line."""
    wkts: list[str] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        wkts.append(stripped)
        lines.append(number)
    index = np.asarray(lines, dtype=np.int64)
    geometry = _from_wkt(wkts, lambda i: f"{source}: line {lines[i]}")
    n = len(wkts)
    return RoiSet(
        geometry=_as_2d(geometry),
        terms=[[] for _ in range(n)],
        properties=[{} for _ in range(n)],
        ids=[None] * n,
        where_kind="line",
        where_index=index,
    )


def _from_wkt(wkts: Sequence[str], where: Any) -> np.ndarray:
    arr = np.asarray(wkts, dtype=object)
    if arr.size == 0:
        return np.empty(0, dtype=object)
    geometry = shapely.from_wkt(arr, on_invalid="ignore")
    bad = np.flatnonzero(shapely.is_missing(geometry))
    if bad.size:
        i = int(bad[0])
        try:
            shapely.from_wkt(str(arr[i]))
            reason = "not WKT"
        except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
            reason = _geos_message(exc)
        more = f" ({bad.size - 1} more invalid)" if bad.size > 1 else ""
        raise InputError(f"{where(i)}: invalid WKT: {reason}{more}")
    return geometry


def _geos_message(exc: BaseException) -> str:
    text = short(exc)
    return text.split("ParseException: ", 1)[-1]


# -- CSV --------------------------------------------------------------------------------------
def parse_csv(text: str, *, source: str = "<text>") -> RoiSet:
    """A header line and one ROI per row, with a WKT column (read by pandas' C parser)."""
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise InputError(f"{source}: the CSV file is empty")
    delimiter = max(("\t", ",", ";"), key=first.count)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
            skipinitialspace=True,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{source}: not a readable CSV file: {short(exc)}") from None
    header = [str(c) for c in df.columns]
    lowered = [h.strip().lower() for h in header]
    geom_col = next((header[lowered.index(c)] for c in _GEOMETRY_COLUMNS if c in lowered), None)
    if geom_col is None:
        raise InputError(
            f"{source}: no WKT column in the header ({', '.join(header)}); name it one of "
            f"{', '.join(_GEOMETRY_COLUMNS)}"
        )
    term_col = next((header[lowered.index(c)] for c in _TERM_COLUMNS if c in lowered), None)
    id_col = header[lowered.index("id")] if "id" in lowered else None
    props_col = header[lowered.index("properties")] if "properties" in lowered else None
    others = [
        h
        for h in header
        if h not in (geom_col, term_col, id_col, props_col)
        and h.strip()
        and not h.lower().startswith("unnamed:")
    ]
    lines = np.arange(len(df), dtype=np.int64) + 2  # the header is line 1 (no multi-line cells)
    wkt = df[geom_col].str.strip()
    empty = (wkt == "").to_numpy()
    if empty.any():
        raise InputError(
            f"{source}: line {lines[np.flatnonzero(empty)[0]]}: the WKT column is empty"
        )
    geometry = _from_wkt(wkt.to_numpy(dtype=object), lambda i: f"{source}: line {lines[i]}")
    terms: list[list[str]]
    if term_col is None:
        terms = [[] for _ in range(len(df))]
    else:
        cells = df[term_col].to_numpy(dtype=object)
        terms = [
            (
                _unique(split_terms(c))
                if (";" in c or "|" in c)
                else ([c.strip()] if c.strip() else [])
            )
            for c in cells
        ]
    ids: list[Any] = [None] * len(df)
    if id_col is not None:
        ids = [_number(v.strip()) if v.strip() else None for v in df[id_col].to_numpy(dtype=object)]
    table = pd.DataFrame({name: _typed(df[name]) for name in others}, index=df.index)
    if props_col is None:
        return RoiSet(
            geometry=_as_2d(geometry),
            terms=terms,
            properties=_TableRecords(table),
            ids=ids,
            where_kind="line",
            where_index=lines,
            property_table=table,
        )
    props: list[dict[str, Any]] = []
    records = _TableRecords(table)
    for i, cell in enumerate(df[props_col].to_numpy(dtype=object)):
        p: dict[str, Any] = {}
        if cell.strip():
            try:
                value = json.loads(cell)
            except json.JSONDecodeError:
                value = None
            if not isinstance(value, dict):
                raise InputError(
                    f"{source}: line {lines[i]}: the properties column is not a JSON object"
                )
            p.update(value)
        p.update(records[i])
        props.append(p)
    return RoiSet(
        geometry=_as_2d(geometry),
        terms=terms,
        properties=props,
        ids=ids,
        where_kind="line",
        where_index=lines,
    )


def _typed(column: Any) -> Any:
    """A CSV column of text as integers, floats or text (empty cells missing)."""
    text = column.str.strip()
    present = text != ""
    values = text[present]
    if len(values) and values.str.fullmatch(r"[+-]?\d{1,18}").all():
        out = pd.Series(pd.array([None] * len(text), dtype="Int64"), index=text.index)
        out[present] = values.astype("int64")
        return out
    numbers = pd.to_numeric(values, errors="coerce")
    if len(values) and numbers.notna().all() and np.isfinite(numbers.to_numpy(dtype=float)).all():
        out = pd.Series(np.full(len(text), np.nan), index=text.index)
        out[present] = numbers.astype(float)
        return out
    return text.where(present, None).astype(object)


class _TableRecords(Sequence[dict[str, Any]]):
    """The rows of a property table as dicts (missing cells left out), made when asked for."""

    def __init__(self, table: Any):
        self.table = table
        self._columns = [(str(c), table[c].to_numpy(dtype=object)) for c in table.columns]

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        out = {}
        for name, values in self._columns:
            v = values[i]
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                continue
            out[name] = v.item() if hasattr(v, "item") else v
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Sequence)
            and len(other) == len(self)
            and all(a == b for a, b in zip(self, other))
        )

    __hash__ = None  # type: ignore[assignment]


def _number(text: str) -> Any:
    if re.fullmatch(r"[+-]?\d{1,18}", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        value = float(text)
        return value if math.isfinite(value) else text
    return text


def split_terms(text: str) -> list[str]:
    """Term names from ``"a; b"`` (or ``"a|b"``), stripped, empty ones dropped."""
    return [t.strip() for t in re.split(r"[;|]", text) if t.strip()]


# -- Cytomine ---------------------------------------------------------------------------------
def parse_cytomine(
    text: str,
    *,
    height: float | None,
    ontology: Mapping[str, Mapping[str, Any]] | None = None,
    source: str = "<text>",
) -> RoiSet:
    """Cytomine annotations (``location`` WKT with a bottom-left origin, ``term`` ids)."""
    if height is None:
        raise InputError(f"{source}: Cytomine coordinates need the image height to flip y")
    doc = _json(text, source)
    embedded: dict[str, dict[str, Any]] = {}
    if isinstance(doc, Mapping) and "collection" in doc:
        if doc.get("terms") is not None:
            embedded = ontology_from_json(doc["terms"], source=source)
        items = doc["collection"]
    elif isinstance(doc, Mapping) and "location" in doc:
        items = [doc]
    else:
        items = doc
    if not isinstance(items, list):
        raise InputError(
            f'{source}: not Cytomine annotations: expected a list or {{"collection": [...]}}'
        )
    known = dict(embedded)
    known.update({k: dict(v) for k, v in (ontology or {}).items()})
    by_id = {int(v["id"]): name for name, v in embedded.items() if v.get("id") is not None}
    by_id.update(
        {int(v["id"]): name for name, v in (ontology or {}).items() if v.get("id") is not None}
    )
    wkts: list[str] = []
    terms: list[list[str]] = []
    props: list[dict[str, Any]] = []
    ids: list[Any] = []
    for i, ann in enumerate(items):
        where = f"{source}: annotation {i}"
        if not isinstance(ann, Mapping):
            raise InputError(f"{where} is not an object")
        loc = ann.get("location")
        if not isinstance(loc, str) or not loc.strip():
            raise InputError(f"{where} has no 'location' (WKT)")
        wkts.append(loc)
        t: list[str] = []
        raw_terms = ann.get("term", ann.get("terms")) or []
        if not isinstance(raw_terms, list):
            raw_terms = [raw_terms]
        for value in raw_terms:
            if isinstance(value, str) and not value.isdigit():
                t.append(value)
                continue
            try:
                tid = int(value)
            except (TypeError, ValueError):
                raise InputError(f"{where}: term {value!r} is not a term id or name") from None
            if tid not in by_id:
                hint = (
                    "give the project's ontology file (--ontology)"
                    if not by_id
                    else ("it is not in the ontology given")
                )
                raise InputError(f"{where}: term id {tid} is unknown: {hint}")
            t.append(by_id[tid])
        terms.append(_unique(t))
        p: dict[str, Any] = {}
        extra = ann.get("properties")
        if isinstance(extra, Mapping):
            p.update(extra)
        elif isinstance(extra, list):  # Cytomine property objects: {"key": ..., "value": ...}
            for item in extra:
                if isinstance(item, Mapping) and "key" in item:
                    p[str(item["key"])] = item.get("value")
        for key in _CYTOMINE_TOP:
            if ann.get(key) is not None:
                p.setdefault(f"cytomine_{key}", ann[key])
        props.append(p)
        aid = ann.get("id")
        ids.append(aid if isinstance(aid, (int, str)) and not isinstance(aid, bool) else None)
    geometry = _from_wkt(wkts, lambda i: f"{source}: annotation {i}")
    geometry = flip_y(geometry, float(height))
    info: dict[str, dict[str, Any]] = {}
    for used in {t for ts in terms for t in ts}:
        name: Any = used
        while name in known and name not in info:  # the term and its ancestors
            info[name] = dict(known[name])
            name = known[name].get("parent")
    return RoiSet(
        geometry=_as_2d(geometry),
        terms=terms,
        properties=props,
        ids=ids,
        terms_info=info,
        where_kind="annotation",
    )


def flip_y(geometry: np.ndarray, height: float) -> np.ndarray:
    """``y -> height - y`` (Cytomine's bottom-left origin <-> ours, top left); exact both ways."""
    return shapely.transform(
        np.asarray(geometry, dtype=object),
        lambda xy: np.column_stack([xy[:, 0], height - xy[:, 1]]),
    )


# -- ontology files -----------------------------------------------------------------------------
def read_ontology_file(
    path: Any, *, storage_options: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Terms by name (``{"color": "RRGGBB", "parent": name|None, "id": int|None}``) from a file.

    Reads ngffstore's ontology (``{"terms": [{"name", "color", "parent"}]}`` or
    ``{"terms": {name: {...}}}``), a Cytomine ontology (a tree of ``children``) or a Cytomine
    term list (``[{"id", "name", "color", "parent": id}]`` or ``{"collection": [...]}``).
    """
    location = resolve(path, storage_options)
    with storage_errors(location, "read"):
        try:
            raw = location.fs.cat_file(location.path)
        except FileNotFoundError:
            raise InputNotFoundError(
                f"ontology file {location.url} does not exist; check the path"
            ) from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"ontology file {location.url} is not valid JSON: {short(exc)}") from None
    return ontology_from_json(doc, source=location.url)


def ontology_from_json(doc: Any, *, source: str = "ontology") -> dict[str, dict[str, Any]]:
    """See :func:`read_ontology_file`."""
    flat: list[dict[str, Any]] = []

    def walk(node: Mapping[str, Any], parent: Any) -> None:
        for child in node.get("children") or []:
            if not isinstance(child, Mapping):
                continue
            item = dict(child)
            item.setdefault("parent", parent)
            flat.append(item)
            walk(child, child.get("id", child.get("name")))

    if isinstance(doc, Mapping) and isinstance(doc.get("terms"), Mapping):
        flat = [
            {"name": k, **(v if isinstance(v, Mapping) else {})} for k, v in doc["terms"].items()
        ]
    elif isinstance(doc, Mapping) and isinstance(doc.get("terms"), list):
        flat = [dict(t) for t in doc["terms"] if isinstance(t, Mapping)]
    elif isinstance(doc, Mapping) and isinstance(doc.get("collection"), list):
        flat = [dict(t) for t in doc["collection"] if isinstance(t, Mapping)]
    elif isinstance(doc, Mapping) and isinstance(doc.get("children"), list):
        walk(doc, None)
    elif isinstance(doc, list):
        flat = [dict(t) for t in doc if isinstance(t, Mapping)]
    else:
        raise InputError(
            f"{source}: not an ontology: expected terms with names (and colours, parents)"
        )
    by_id = {t["id"]: t for t in flat if t.get("id") is not None}
    out: dict[str, dict[str, Any]] = {}
    for i, t in enumerate(flat):
        name = t.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{source}: term {i} has no name")
        parent = t.get("parent")
        if isinstance(parent, bool):
            parent = None
        elif (
            isinstance(parent, int)
            or isinstance(parent, str)
            and parent.isdigit()
            and int(parent) in by_id
        ):
            ref = by_id.get(int(parent))  # Cytomine: the parent's term id
            parent = ref.get("name") if ref else None
        tid = t.get("id")
        out[name.strip()] = {
            "color": normalize_color(t.get("color")) or default_term_color(name.strip()),
            "parent": parent.strip() if isinstance(parent, str) and parent.strip() else None,
            "id": int(tid) if isinstance(tid, int) and not isinstance(tid, bool) else None,
        }
    return out


# ---------------------------------------------------------------------------------------------
def _as_2d(geometry: Any) -> np.ndarray:
    arr = np.asarray(geometry, dtype=object)
    if arr.size and shapely.has_z(arr).any():
        arr = shapely.force_2d(arr)
    return arr


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item not in seen:
            seen[item] = None
    return list(seen)


__all__ = [
    "FORMATS",
    "RoiSet",
    "detect_format",
    "flip_y",
    "ontology_from_json",
    "parse_csv",
    "parse_cytomine",
    "parse_geojson",
    "parse_rois",
    "parse_wkt",
    "read_ontology_file",
    "read_rois_file",
    "split_terms",
]
