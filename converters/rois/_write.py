"""Writing ROIs (a table of geometries, terms, properties) as GeoJSON, WKT, CSV or Cytomine JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely

from ngffstore.errors import InputError
from ngffstore.ngff import normalize_color
from ngffstore.rois import default_term_color
from ngffstore.storage import write_text as store_write_text

from ._read import _CYTOMINE_TOP, FORMATS, flip_y


def format_rois(
    rois: Any,
    format: str,
    *,
    height: float | None = None,
    terms_info: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Serialise ROIs (a table with ``id``, ``geometry``, ``terms``, ``properties`` and optionally
    ``source_id`` columns, e.g. :func:`ngffstore.rois.query`'s DataFrame) as ``format``.

    ``height`` is needed for ``cytomine``; ``terms_info`` gives term colours (GeoJSON) and ids
    (Cytomine).
    """
    info = {k: dict(v) for k, v in (terms_info or {}).items()}
    geometry = np.asarray(list(rois["geometry"]), dtype=object)
    ids = [int(v) for v in rois["id"]] if "id" in rois else list(range(1, len(geometry) + 1))
    terms = (
        [list(t) if t is not None else [] for t in rois["terms"]]
        if "terms" in rois
        else [[]] * len(geometry)
    )
    props = (
        [dict(p) if isinstance(p, Mapping) else {} for p in rois["properties"]]
        if "properties" in rois
        else [{}] * len(geometry)
    )
    source_ids = list(rois["source_id"]) if "source_id" in rois else [None] * len(geometry)
    if format == "geojson":
        return _to_geojson(geometry, ids, terms, props, source_ids, info)
    if format == "wkt":
        return "".join(w + "\n" for w in _to_wkt(geometry))
    if format == "csv":
        return _to_csv(geometry, ids, terms, props)
    if format == "cytomine":
        if height is None:
            raise InputError("Cytomine export needs the image height to flip y")
        return _to_cytomine(flip_y(geometry, float(height)), ids, terms, props, info)
    raise InputError(f"unknown ROI format {format!r}; use one of {', '.join(FORMATS)}")


def write_rois_file(rois: Any, path: Any, format: str, **kwargs: Any) -> None:
    """:func:`format_rois` written to ``path`` (a local path or URL)."""
    write_text(path, format_rois(rois, format, **kwargs))


def write_text(path: Any, text: str, *, storage_options: Mapping[str, Any] | None = None) -> None:
    """Write ``text`` (UTF-8) to a local path or a URL (:func:`ngffstore.storage.write_text`)."""
    store_write_text(path, text, storage_options=storage_options)


def _to_wkt(geometry: np.ndarray) -> list[str]:
    if geometry.size == 0:
        return []
    return [str(w) for w in shapely.to_wkt(geometry, rounding_precision=-1, trim=True)]


def _rgb(color: Any) -> list[int]:
    hexa = normalize_color(color) or "FFFFFF"
    return [int(hexa[i : i + 2], 16) for i in (0, 2, 4)]


def _to_geojson(
    geometry: np.ndarray,
    ids: list[int],
    terms: list[list[str]],
    props: list[dict[str, Any]],
    source_ids: list[Any],
    info: dict[str, dict[str, Any]],
) -> str:
    geoms = shapely.to_geojson(geometry) if geometry.size else []
    parts = []
    for i, g in enumerate(geoms):
        p = {"objectType": "annotation", **props[i]}
        t = terms[i]
        if t:
            color = _rgb((info.get(t[0]) or {}).get("color") or default_term_color(t[0]))
            p["classification"] = (
                {"name": t[0], "color": color} if len(t) == 1 else {"names": t, "color": color}
            )
        sid = source_ids[i]
        fid = sid if isinstance(sid, str) and sid else ids[i]
        parts.append(
            '{"type":"Feature","id":'
            + json.dumps(fid)
            + ',"geometry":'
            + str(g)
            + ',"properties":'
            + json.dumps(p, allow_nan=False, default=str)
            + "}"
        )
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(parts) + "\n]}\n"


def _to_csv(
    geometry: np.ndarray, ids: list[int], terms: list[list[str]], props: list[dict[str, Any]]
) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "terms", "wkt", "properties"])
    for i, wkt in enumerate(_to_wkt(geometry)):
        writer.writerow(
            [ids[i], ";".join(terms[i]), wkt, json.dumps(props[i], default=str) if props[i] else ""]
        )
    return buf.getvalue()


def _to_cytomine(
    geometry: np.ndarray,
    ids: list[int],
    terms: list[list[str]],
    props: list[dict[str, Any]],
    info: dict[str, dict[str, Any]],
) -> str:
    used = sorted({t for ts in terms for t in ts} | set(info))
    taken = {int(v["id"]) for v in info.values() if v.get("id") is not None}
    next_id = max(taken, default=0) + 1
    term_ids: dict[str, int] = {}
    for name in used:
        tid = (info.get(name) or {}).get("id")
        if tid is None:
            tid, next_id = next_id, next_id + 1
        term_ids[name] = int(tid)
    items = []
    for i, wkt in enumerate(_to_wkt(geometry)):
        ann: dict[str, Any] = {
            "id": ids[i],
            "location": wkt,
            "term": [term_ids[t] for t in terms[i]],
        }
        rest = dict(props[i])
        for key in _CYTOMINE_TOP:
            if f"cytomine_{key}" in rest:
                ann[key] = rest.pop(f"cytomine_{key}")
        if rest:
            ann["properties"] = rest
        items.append(ann)
    ontology = [
        {
            "id": term_ids[name],
            "name": name,
            "color": "#" + ((info.get(name) or {}).get("color") or default_term_color(name)),
            "parent": term_ids.get((info.get(name) or {}).get("parent") or ""),
        }
        for name in used
    ]
    return (
        json.dumps(
            {"collection": items, "size": len(items), "terms": ontology}, indent=1, default=str
        )
        + "\n"
    )


__all__ = [
    "format_rois",
    "write_rois_file",
    "write_text",
]
