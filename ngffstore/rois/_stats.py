"""Statistics per term: ROI counts, total and mean area (pixels and physical units), per image and
across a collection -- from the layer summaries in each image's attributes (one GET per image,
no Parquet file is read)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import NotNgffError, StorageAccessError, StoreNotFoundError
from ..ngff import ome_attrs, parse_image_attrs
from ..nodes import Node, read_group, try_read_node
from ..paths import unsafe_reason
from ..storage import Location, storage_errors, write_text
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
    attrs = read_group(location).attributes
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
    known: dict[str, Mapping[str, Any]] = {}
    if collection is not None:
        root = Location.parse(collection, storage_options)
        for node in find_image_nodes(root):
            loc = node.location
            rel = (
                loc.path[len(root.path.rstrip("/")) + 1 :]
                if loc.path.startswith(root.path.rstrip("/") + "/")
                else loc.url
            )
            targets.append((rel, loc))
            known[loc.url] = node.attributes  # already read: no second GET
    if not targets:
        return pd.DataFrame(columns=list(COLUMNS))

    def one(item: tuple[str, Location]) -> pd.DataFrame:
        name, loc = item
        attrs = known.get(loc.url)
        if attrs is None:
            attrs = read_group(loc).attributes
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
    return [node.location for node in find_image_nodes(root)]


def _indexed_images(root: Location) -> list[str]:
    """Paths of the images (not plate fields) and plates listed in the index at ``root``."""
    from ..index import load_index

    try:
        table, _ = load_index(root)
    except StoreNotFoundError:
        raise StorageAccessError(
            f"cannot list the images below {root.url}: the host does not list folders and there "
            "is no index there; give image URLs, or publish the collection's index with it"
        ) from None
    paths: dict[str, None] = {}
    for path, kind, plate in zip(
        table.column("path").to_pylist(),
        table.column("kind").to_pylist(),
        table.column("plate_path").to_pylist() if "plate_path" in table.column_names else [None] * table.num_rows,
    ):
        top = plate if kind == "plate-field" and plate else path
        if unsafe_reason(top) is None:
            paths[top] = None
    return sorted(paths)


def find_image_nodes(root: Location) -> list[Node]:
    """The image nodes of :func:`find_images`, as read (one GET per node document, the Zarr
    format passed down from the first one; a folder is listed only when it is no NGFF node)."""
    found: list[Node] = []

    def visit(loc: Location, depth: int, fmt: int | None) -> None:
        node = try_read_node(loc, zarr_format=fmt)
        if node is not None and not node.is_group:
            return
        attrs = node.attributes if node is not None else {}
        fmt = node.zarr_format if node is not None else fmt
        _, ome = ome_attrs(attrs)
        if isinstance(ome.get("multiscales"), list):
            if "image-label" not in ome and node is not None:
                found.append(node)
            return
        children: list[str] = []
        if isinstance(ome.get("plate"), Mapping):
            children = [w.get("path") for w in ome["plate"].get("wells") or [] if isinstance(w, Mapping)]
        elif isinstance(ome.get("well"), Mapping):
            children = [i.get("path") for i in ome["well"].get("images") or [] if isinstance(i, Mapping)]
        else:
            if depth >= MAX_DEPTH:
                return
            try:
                if loc.protocol in ("http", "https"):
                    raise StorageAccessError(f"{loc.url}: HTTP cannot list a folder")
                with storage_errors(loc, "read"):
                    try:
                        entries = loc.fs.ls(loc.path, detail=True)
                    except (FileNotFoundError, NotADirectoryError):
                        return
            except StorageAccessError:
                if depth:
                    return
                # a host that cannot list (HTTP, a bucket without ListBucket): the index says
                for path in _indexed_images(loc):
                    visit(loc.child(path), depth + 1, fmt)
                return
            for e in sorted(entries, key=lambda e: e["name"]):
                base = posixpath.basename(str(e["name"]).rstrip("/"))
                if (
                    e.get("type") == "directory"
                    and not base.startswith(".")
                    and base not in ("rois", "labels", "tables")
                ):
                    visit(loc.child(base), depth + 1, fmt)
            return
        for path in children:
            if unsafe_reason(path) is None:
                visit(loc.child(str(path)), depth + 1, fmt)

    visit(root, 0, None)
    return found


@dataclass(frozen=True, kw_only=True)
class StatisticsExport:
    """What :func:`export_statistics` wrote: the table's rows, and where (or the CSV text)."""

    rows: int
    output: str | None
    """The CSV file or object written, or None: the CSV is :attr:`text`."""
    text: str | None = None

    def to_text(self) -> str:
        return f"wrote {self.rows} rows to {self.output}" if self.output is not None else f"{self.rows} rows"


def export_statistics(
    urls: Any = (),
    output: Any = None,
    *,
    collection: Any = None,
    layer: str | Sequence[str] | None = None,
    per_layer: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    output_storage_options: Mapping[str, Any] | None = None,
) -> StatisticsExport:
    """:func:`statistics` as CSV (floats to 6 significant digits), written to ``output`` (a path
    or URL; None: returned as :attr:`StatisticsExport.text`) (``ngffstore rois stats``)."""
    df = statistics(urls, collection=collection, layer=layer, per_layer=per_layer, storage_options=storage_options)
    text = df.to_csv(index=False, float_format="%.6g")
    if output is None:
        return StatisticsExport(rows=len(df), output=None, text=text)
    write_text(output, text, storage_options=output_storage_options)
    return StatisticsExport(rows=len(df), output=str(output))


__all__ = ["StatisticsExport", "export_statistics", "find_images", "image_statistics", "statistics"]
