"""GeoParquet files of ROI layers: the table layout, the spatial sort, pruned reads.

One row per ROI. Rows are sorted along a Hilbert curve of their bounding-box centres and written
in row groups of :data:`ROW_GROUP_SIZE`, with min/max statistics on the ``bbox`` struct's
leaves only (GeoParquet 1.1 "covering"), so a bbox query reads the footer, keeps the row groups
whose statistics overlap the box, and decodes geometry only for rows whose bbox overlaps it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import ReadError
from ..storage import Location, storage_errors

GEOPARQUET_VERSION = "1.1.0"
ROW_GROUP_SIZE = 8192
"""Rows per row group: small enough that a bbox query reads little, large enough to keep the
footer small (one ~1 KB entry per row group)."""

BBOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")
BBOX_TYPE = pa.struct([(f, pa.float64()) for f in BBOX_FIELDS])
SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("geometry", pa.binary(), nullable=False),
        pa.field("bbox", BBOX_TYPE, nullable=False),
        pa.field("terms", pa.list_(pa.string()), nullable=False),
        pa.field("properties", pa.string()),
        pa.field("area", pa.float64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("author", pa.string()),
        pa.field("created", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("source_id", pa.string()),
    ]
)
_STATS_COLUMNS = [f"bbox.{f}" for f in BBOX_FIELDS]


def hilbert_index(x: np.ndarray, y: np.ndarray, order: int = 16) -> np.ndarray:
    """The position of integer points ``(x, y)`` in ``[0, 2**order)²`` along a Hilbert curve."""
    n = 1 << order
    x = np.clip(np.asarray(x, dtype=np.int64), 0, n - 1)
    y = np.clip(np.asarray(y, dtype=np.int64), 0, n - 1)
    d = np.zeros(x.shape, dtype=np.int64)
    s = n >> 1
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        x = np.where(flip, n - 1 - x, x)
        y = np.where(flip, n - 1 - y, y)
        swap = ~ry
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        s >>= 1
    return d


def spatial_order(bounds: np.ndarray) -> np.ndarray:
    """Row order along a Hilbert curve of the bbox centres (``bounds``: n x 4)."""
    if len(bounds) < 2:
        return np.arange(len(bounds))
    cx = (bounds[:, 0] + bounds[:, 2]) / 2
    cy = (bounds[:, 1] + bounds[:, 3]) / 2
    x0, y0 = cx.min(), cy.min()
    span = max(cx.max() - x0, cy.max() - y0, 1e-9)
    scale = ((1 << 16) - 1) / span
    h = hilbert_index(((cx - x0) * scale).astype(np.int64), ((cy - y0) * scale).astype(np.int64))
    return np.argsort(h, kind="stable")


@dataclass(frozen=True)
class Columns:
    """The columns of new rows, in input order, before the spatial sort."""

    ids: np.ndarray
    wkb: np.ndarray
    bounds: np.ndarray
    terms: pa.Array
    properties: list[str | None]
    area: np.ndarray
    kind: str
    author: str | None
    created_ms: int
    source_ids: list[str | None]


def make_table(cols: Columns) -> pa.Table:
    """The Arrow table of ``cols``, sorted spatially."""
    n = len(cols.ids)
    order = spatial_order(cols.bounds)
    bounds = cols.bounds[order]
    bbox = pa.StructArray.from_arrays(
        [pa.array(bounds[:, i], type=pa.float64()) for i in range(4)], fields=list(BBOX_TYPE)
    )
    table = pa.table(
        {
            "id": pa.array(cols.ids[order], type=pa.int64()),
            "geometry": pa.array(cols.wkb, type=pa.binary()).take(pa.array(order)),
            "bbox": bbox,
            "terms": cols.terms.take(pa.array(order)),
            "properties": pa.array(cols.properties, type=pa.string()).take(pa.array(order)),
            "area": pa.array(cols.area[order], type=pa.float64()),
            "kind": pa.array(np.full(n, cols.kind, dtype=object), type=pa.string()),
            "author": pa.nulls(n, pa.string())
            if cols.author is None
            else pa.array(np.full(n, cols.author, dtype=object), type=pa.string()),
            "created": pa.array(
                np.full(n, cols.created_ms, dtype=np.int64), type=pa.timestamp("ms", tz="UTC")
            ),
            "source_id": pa.array(cols.source_ids, type=pa.string()).take(pa.array(order)),
        },
        schema=SCHEMA,
    )
    return table


def geo_metadata(geometry_types: Iterable[str], bounds: np.ndarray) -> dict[str, Any]:
    """The GeoParquet ``geo`` file metadata (no CRS: level-0 pixel coordinates)."""
    bbox = (
        [
            float(bounds[:, 0].min()),
            float(bounds[:, 1].min()),
            float(bounds[:, 2].max()),
            float(bounds[:, 3].max()),
        ]
        if len(bounds)
        else []
    )
    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": sorted(set(geometry_types)),
        "crs": None,
        "edges": "planar",
        "covering": {"bbox": {f: ["bbox", f] for f in BBOX_FIELDS}},
    }
    if bbox:
        column["bbox"] = bbox
    return {
        "version": GEOPARQUET_VERSION,
        "primary_column": "geometry",
        "columns": {"geometry": column},
    }


def write_table(
    location: Location, path: str, table: pa.Table, geo: Mapping[str, Any], extra: Mapping[str, Any]
) -> int:
    """Write ``table`` as GeoParquet at ``path`` below ``location``; return the bytes written."""
    metadata = dict(table.schema.metadata or {})
    metadata[b"geo"] = json.dumps(geo).encode()
    metadata[b"ngffstore"] = json.dumps(extra).encode()
    table = table.replace_schema_metadata(metadata)
    target = location.child(path)
    options = {
        "row_group_size": ROW_GROUP_SIZE,
        "compression": "zstd",
        "write_statistics": _STATS_COLUMNS,
        "use_dictionary": ["terms.list.element", "kind", "author"],
    }
    with storage_errors(target, "write"):
        if location.is_local:
            import os

            os.makedirs(os.path.dirname(target.path), exist_ok=True)
            pq.write_table(table, target.path, **options)
            return os.path.getsize(target.path)
        fs = location.fs
        with fs.open(target.path, "wb") as fh:
            pq.write_table(table, fh, **options)
        return int(fs.size(target.path))


# -- reading ------------------------------------------------------------------------------------
@contextlib.contextmanager
def open_file(location: Location, path: str, size: int | None = None) -> Iterator[pq.ParquetFile]:
    """A Parquet file of a layer, opened for ranged reads (footer first, then row groups).

    ``size`` (bytes, from the layer's attributes) spares the HEAD request of a remote open."""
    target = location.child(path)
    fh: Any = None
    with storage_errors(target, "read"):
        try:
            if location.is_local:
                pf = pq.ParquetFile(target.path, pre_buffer=True)
            else:
                extra = {"size": int(size)} if size else {}
                fh = location.fs.open(target.path, "rb", cache_type="none", **extra)
                if size and getattr(fh, "_details", 0) is None:
                    # s3fs asks for the object's details (a HEAD) before its first ranged GET;
                    # the size is all it needs and the layer's attributes know it
                    fh._details = {"name": target.path, "size": int(size), "type": "file"}
                pf = pq.ParquetFile(fh, pre_buffer=True)
        except FileNotFoundError:
            raise ReadError(
                f"{target.url} is missing: the ROI layer changed while being read, or the store is "
                "incomplete; read again"
            ) from None
        except pa.ArrowInvalid as exc:
            raise ReadError(f"{target.url} is not a readable Parquet file: {exc}") from None
        try:
            yield pf
        finally:
            pf.close()
            if fh is not None:
                fh.close()


def overlapping_row_groups(
    pf: pq.ParquetFile, box: tuple[float, float, float, float] | None
) -> list[int]:
    """Row groups whose bbox statistics overlap ``box`` (xmin, ymin, xmax, ymax); all without a box."""
    md = pf.metadata
    groups = list(range(md.num_row_groups))
    if box is None:
        return groups
    qx0, qy0, qx1, qy1 = box
    leaf = {}
    for j in range(md.num_columns):
        name = md.schema.column(j).path
        if name in _STATS_COLUMNS:
            leaf[name.split(".")[1]] = j
    keep = []
    for g in groups:
        rg = md.row_group(g)
        if rg.num_rows == 0:
            continue
        stats: dict[str, Any] = {}
        for name, j in leaf.items():
            col = rg.column(j)
            st = col.statistics if col.is_stats_set else None
            if st is not None and st.has_min_max:
                stats[name] = st
        if len(stats) < 4:
            keep.append(g)  # no statistics: cannot rule it out
            continue
        if (
            stats["xmin"].min <= qx1
            and stats["ymin"].min <= qy1
            and stats["xmax"].max >= qx0
            and stats["ymax"].max >= qy0
        ):
            keep.append(g)
    return keep


def read_groups(pf: pq.ParquetFile, groups: Sequence[int], columns: Sequence[str]) -> pa.Table:
    if not groups:
        return pa.table({c: pa.array([], type=SCHEMA.field(c).type) for c in columns})
    return pf.read_row_groups(list(groups), columns=list(columns))


def bbox_mask(table: pa.Table, box: tuple[float, float, float, float]) -> np.ndarray:
    """Rows whose bbox column overlaps ``box`` (closed intervals)."""
    qx0, qy0, qx1, qy1 = box
    bbox = table.column("bbox").combine_chunks()
    xmin = bbox.field("xmin").to_numpy(zero_copy_only=False)
    ymin = bbox.field("ymin").to_numpy(zero_copy_only=False)
    xmax = bbox.field("xmax").to_numpy(zero_copy_only=False)
    ymax = bbox.field("ymax").to_numpy(zero_copy_only=False)
    return (xmin <= qx1) & (ymin <= qy1) & (xmax >= qx0) & (ymax >= qy0)


def terms_mask(table: pa.Table, wanted: set[str]) -> np.ndarray:
    """Rows carrying at least one of the ``wanted`` terms."""
    terms = table.column("terms").combine_chunks()
    n = len(terms)
    if n == 0:
        return np.zeros(0, dtype=bool)
    flat = pc.list_flatten(terms)
    parents = pc.list_parent_indices(terms).to_numpy(zero_copy_only=False)
    hit = pc.is_in(flat, value_set=pa.array(sorted(wanted), type=pa.string())).to_numpy(
        zero_copy_only=False
    )
    mask = np.zeros(n, dtype=bool)
    mask[parents[hit]] = True
    return mask


__all__ = [
    "ROW_GROUP_SIZE",
    "SCHEMA",
    "Columns",
    "bbox_mask",
    "geo_metadata",
    "hilbert_index",
    "make_table",
    "open_file",
    "overlapping_row_groups",
    "read_groups",
    "spatial_order",
    "terms_mask",
    "write_table",
]
