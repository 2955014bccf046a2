"""Statistics per term: ROI counts, total and mean area (pixels and physical units), per image and
across a collection -- from the layer summaries in each image's attributes (one GET per image,
no Parquet file is read)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from ..errors import NotNgffError
from ..ngff import ome_attrs, parse_image_attrs
from ..nodes import read_attrs
from ..storage import Location, storage_errors
from ._model import RoisAttrs

NO_TERM = "(no term)"
ALL = "*"
COLUMNS = (
    "image",
    "layer",
    "term",
    "count",
    "area_px",
    "mean_area_px",
    "area",
    "mean_area",
    "area_unit",
)
WORKERS = 16
MAX_DEPTH = 8


def pixel_area(attrs: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """Physical area of one level-0 pixel and its unit (``micrometer^2``), when known."""
    try:
        _, ms, _ = parse_image_attrs(attrs)
    except NotNgffError:
        return None, None
    names = ms.axis_names
    scale = list(ms.datasets[0].scale)
    for t in ms.coordinate_transformations:
        if (
            isinstance(t, Mapping)
            and t.get("type") == "scale"
            and len(t.get("scale") or []) == len(scale)
        ):
            scale = [a * float(b) for a, b in zip(scale, t["scale"])]
    units = {a.name: a.unit for a in ms.axes if a.unit}
    uy, ux = units.get("y"), units.get("x")
    if not ux or not uy or ux != uy:
        return None, None
    return float(scale[names.index("y")]) * float(scale[names.index("x")]), f"{ux}^2"


def _rows(
    image: str,
    layer: str,
    counts: Mapping[str, int],
    areas: Mapping[str, float],
    no_term: Mapping[str, float],
    px: float | None,
    unit: str | None,
) -> list[dict[str, Any]]:
    rows = []
    items = [(t, counts[t], areas.get(t, 0.0)) for t in sorted(counts)]
    if no_term.get("count"):
        items.append((NO_TERM, int(no_term["count"]), float(no_term.get("area", 0.0))))
    for term, n, a in items:
        rows.append(
            {
                "image": image,
                "layer": layer,
                "term": term,
                "count": int(n),
                "area_px": float(a),
                "mean_area_px": float(a) / n if n else float("nan"),
                "area": float(a) * px if px is not None else float("nan"),
                "mean_area": float(a) * px / n if px is not None and n else float("nan"),
                "area_unit": unit or "",
            }
        )
    return rows


def image_statistics(
    url: Any,
    *,
    layer: str | Sequence[str] | None = None,
    per_layer: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> pd.DataFrame:
    """Per-term statistics of one image (see :func:`statistics`)."""
    location = Location.parse(url, storage_options) if not isinstance(url, Location) else url
    _, attrs = read_attrs(location)
    return _image_frame(name or location.url, attrs, layer, per_layer)


def _image_frame(name: str, attrs: Mapping[str, Any], layer: Any, per_layer: bool) -> pd.DataFrame:
    rois = RoisAttrs.from_attrs(attrs)
    wanted = None if layer is None else ({layer} if isinstance(layer, str) else set(layer))
    layers = [rois.layers[n] for n in sorted(rois.layers) if wanted is None or n in wanted]
    px, unit = pixel_area(attrs)
    rows: list[dict[str, Any]] = []
    if per_layer:
        for lay in layers:
            rows.extend(_rows(name, lay.name, lay.terms, lay.term_areas, lay.no_term, px, unit))
    else:
        counts: dict[str, int] = {}
        areas: dict[str, float] = {}
        none = {"count": 0, "area": 0.0}
        for lay in layers:
            for t, n in lay.terms.items():
                counts[t] = counts.get(t, 0) + n
                areas[t] = areas.get(t, 0.0) + lay.term_areas.get(t, 0.0)
            none["count"] += int(lay.no_term.get("count", 0))
            none["area"] += float(lay.no_term.get("area", 0.0))
        rows.extend(
            _rows(name, ALL if len(layers) != 1 else layers[0].name, counts, areas, none, px, unit)
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def statistics(
    urls: Any = (),
    *,
    collection: Any = None,
    layer: str | Sequence[str] | None = None,
    per_layer: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """ROI counts and areas per term, per image and (for several images) across all of them.

    Parameters
    ----------
    urls
        One image URL or several.
    collection
        A collection root: every image below it (plates' fields included) is counted.
    layer
        Only these layers (default: all).
    per_layer
        One row per layer and term (default: the layers of an image are added up; ``layer``
        is then ``*``, or the layer's name when there is one).

    Returns
    -------
    pandas.DataFrame
        Columns ``image, layer, term, count, area_px, mean_area_px, area, mean_area,
        area_unit``. Areas are in level-0 pixels² and in the image's physical unit² (NaN when
        the image has no physical pixel size). An ROI with several terms counts for each;
        ``(no term)`` counts the ROIs without one. With several images, rows with image ``*``
        add them up (physical areas only when every image has the same unit).
    """
    targets: list[tuple[str, Location]] = []
    for url in [urls] if isinstance(urls, str) else list(urls or []):
        loc = Location.parse(url, storage_options)
        targets.append((loc.url, loc))
    if collection is not None:
        root = Location.parse(collection, storage_options)
        for loc in find_images(root):
            rel = (
                loc.path[len(root.path.rstrip("/")) + 1 :]
                if loc.path.startswith(root.path.rstrip("/") + "/")
                else loc.url
            )
            targets.append((rel, loc))
    if not targets:
        return pd.DataFrame(columns=list(COLUMNS))

    def one(item: tuple[str, Location]) -> pd.DataFrame:
        name, loc = item
        _, attrs = read_attrs(loc)
        return _image_frame(name, attrs, layer, per_layer)

    with ThreadPoolExecutor(max_workers=min(WORKERS, len(targets))) as pool:
        frames = list(pool.map(one, targets))
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    if len(targets) > 1 and len(df):
        df = pd.concat([df, _totals(df, per_layer)], ignore_index=True)
    return df


def _totals(df: pd.DataFrame, per_layer: bool) -> pd.DataFrame:
    keys = ["layer", "term"] if per_layer else ["term"]
    rows = []
    for key, group in df.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        n = int(group["count"].sum())
        a = float(group["area_px"].sum())
        units = set(group["area_unit"])
        same = len(units) == 1 and "" not in units
        phys = float(group["area"].sum()) if same else float("nan")
        rows.append(
            {
                "image": ALL,
                "layer": key[0] if per_layer else ALL,
                "term": key[-1],
                "count": n,
                "area_px": a,
                "mean_area_px": a / n if n else float("nan"),
                "area": phys,
                "mean_area": phys / n if n and same else float("nan"),
                "area_unit": units.pop() if same else "",
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def find_images(root: Location) -> list[Location]:
    """Every image group at or below ``root`` (plates are followed through their wells' fields;
    label images, ``rois`` and hidden folders are skipped)."""
    fs = root.fs
    found: list[Location] = []

    def attrs_of(loc: Location) -> tuple[str, dict[str, Any]] | None:
        for key in ("zarr.json", ".zattrs"):
            with storage_errors(loc, "read"):
                try:
                    doc = json.loads(fs.cat_file(loc.key(key)))
                except (FileNotFoundError, NotADirectoryError, ValueError):
                    continue
            if key == "zarr.json":
                if doc.get("node_type") == "array":
                    return "array", {}
                return "group", dict(doc.get("attributes") or {})
            return "group", dict(doc)
        return None

    def visit(loc: Location, depth: int) -> None:
        node = attrs_of(loc)
        if node is not None and node[0] == "array":
            return
        attrs = node[1] if node else {}
        _, ome = ome_attrs(attrs)
        if isinstance(ome.get("multiscales"), list):
            if "image-label" not in ome:
                found.append(loc)
            return
        if isinstance(ome.get("plate"), Mapping):
            for well in ome["plate"].get("wells") or []:
                if isinstance(well, Mapping) and _safe(well.get("path")):
                    visit(loc.child(str(well["path"])), depth + 1)
            return
        if isinstance(ome.get("well"), Mapping):
            for img in ome["well"].get("images") or []:
                if isinstance(img, Mapping) and _safe(img.get("path")):
                    visit(loc.child(str(img["path"])), depth + 1)
            return
        if depth >= MAX_DEPTH:
            return
        with storage_errors(loc, "read"):
            try:
                entries = fs.ls(loc.path, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                return
        for e in sorted(entries, key=lambda e: e["name"]):
            base = posixpath.basename(str(e["name"]).rstrip("/"))
            if (
                e.get("type") == "directory"
                and not base.startswith(".")
                and base not in ("rois", "labels", "tables")
            ):
                visit(loc.child(base), depth + 1)

    visit(root, 0)
    return found


def _safe(path: Any) -> bool:
    return (
        isinstance(path, str)
        and bool(path)
        and ".." not in path.split("/")
        and not path.startswith("/")
    )


__all__ = ["find_images", "image_statistics", "statistics"]
