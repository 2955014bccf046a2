"""Raster <-> vector: an ROI layer as a label image, and a label image as an ROI layer.

Both work block by block: ``rasterize`` builds the label image lazily (each block paints the ROIs
whose bounding box overlaps it, found with an STRtree) and hands it to
:func:`ngffstore.labels.write_labels`; ``from_labels`` reads the label image one block at a time,
turns each block's runs of equal values into rectangles, unions them per value, then unions the
pieces of each value across blocks.

Limits: ``rasterize`` holds the layer's geometries in memory (fine for a few million small
ROIs); ``from_labels`` holds one polygon per label value, built from pixel squares (exact,
staircase outlines), which suits label images with up to ~10^5 labels of moderate size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError
from ._mask import geometry_mask
from ._model import check_layer_name
from ._node import as_location, read_rois_attrs
from ._query import query
from ._store import write_rois

_PROPERTY_SKIP = ("terms", "term", "layer", "roi-id")


def _label_dtype(max_id: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_id <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def _paint_block(
    *,
    block_info: Any,
    geometries: np.ndarray,
    ids: np.ndarray,
    tree: shapely.STRtree,
    label_dtype: np.dtype,
) -> np.ndarray:
    info = block_info[None]
    (y0, y1), (x0, x1) = info["array-location"][-2:]
    out = np.zeros((y1 - y0, x1 - x0), dtype=label_dtype)
    hits = tree.query(shapely.box(x0, y0, x1, y1))
    # geometries are sorted largest first: smaller ROIs are painted over larger ones
    for k in np.sort(hits):
        m = geometry_mask(geometries[k], out.shape, origin=(x0, y0))
        out[m] = ids[k]
    return out.reshape(info["chunk-shape"])


def rasterize(
    image_url: Any,
    layer: str,
    label_name: str,
    *,
    terms: Any = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    progress: bool | None = False,
) -> Any:
    """Write ROI layer ``layer`` as the label image ``label_name`` (``IMAGE/labels/NAME``).

    Each ROI becomes the label value equal to its id (pixels whose centre is inside, see
    :func:`geometry_mask`); where ROIs overlap, the smaller one wins. Each value's properties
    are the ROI's properties plus ``terms`` and ``layer``; its colour is its first term's.

    Returns the written ``Labels``. Needs an image with one z plane and one time point (ROIs
    are 2-D).
    """
    from ..image import open_image
    from ..labels import write_labels

    check_layer_name(layer)
    location = as_location(image_url, storage_options)
    image = open_image(location)
    extra = [a for a in image.axes if a in "zt" and image.shape[image.axes.index(a)] > 1]
    if extra:
        raise InputError(
            f"{location.url} has {', '.join(extra)} planes: ROIs are 2-D, so rasterize needs an "
            "image with one z plane and one time point"
        )
    rois = query(location, layer=layer, terms=terms)
    term_table = read_rois_attrs(location).terms
    iy, ix = image.axes.index("y"), image.axes.index("x")
    height, width = image.shape[iy], image.shape[ix]
    order = np.argsort(-np.asarray(rois["area"], dtype=np.float64), kind="stable")
    geometries = np.asarray(list(rois["geometry"]), dtype=object)[order]
    ids = np.asarray(rois["id"], dtype=np.int64)[order]
    dtype = _label_dtype(int(ids.max()) if len(ids) else 1)
    tree = shapely.STRtree(geometries)
    lv = image.levels[0]
    chunks = (min(lv.chunks[iy], height), min(lv.chunks[ix], width))
    data = da.map_blocks(
        _paint_block,
        geometries=geometries,
        ids=ids,
        tree=tree,
        label_dtype=dtype,
        dtype=dtype,
        chunks=da.core.normalize_chunks(chunks, (height, width)),
        meta=np.empty((0, 0), dtype=dtype),
    )
    properties: dict[int, dict[str, Any]] = {}
    colors: dict[int, str] = {}
    for roi_id, ts, props in zip(rois["id"], rois["terms"], rois["properties"]):
        entry = {k: v for k, v in (props or {}).items() if k not in _PROPERTY_SKIP}
        entry["terms"] = list(ts)
        entry["layer"] = layer
        properties[int(roi_id)] = entry
        if ts and ts[0] in term_table:
            colors[int(roi_id)] = "#" + term_table.terms[ts[0]].color
    return write_labels(
        data,
        location,
        label_name,
        axes="yx",
        colors=colors or None,
        properties=properties or None,
        method="mode",
        overwrite=overwrite,
        scheduler=scheduler,
        progress=progress,
        storage_options=storage_options,
    )


def _runs(block: np.ndarray, y0: int, x0: int) -> tuple[np.ndarray, np.ndarray]:
    """Rectangles ``(xmin, ymin, xmax, ymax)`` covering the non-zero pixels of ``block``, with
    their values: runs of equal values along each row, stacked where identical runs repeat."""
    h, w = block.shape
    if h == 0 or w == 0:
        return np.zeros((0, 4)), np.zeros(0, dtype=block.dtype)
    starts = np.ones((h, w), dtype=bool)
    starts[:, 1:] = block[:, 1:] != block[:, :-1]
    r, c = np.nonzero(starts)
    ends = np.empty_like(c)
    ends[:-1] = c[1:]
    ends[-1] = w
    row_end = np.ones(len(r), dtype=bool)
    row_end[:-1] = r[1:] != r[:-1]
    ends[row_end] = w
    values = block[r, c]
    keep = values != 0
    r, c, ends, values = r[keep], c[keep], ends[keep], values[keep]
    if len(r) == 0:
        return np.zeros((0, 4)), values
    # stack identical runs of consecutive rows into one rectangle
    order = np.lexsort((r, ends, c, values))
    r, c, ends, values = r[order], c[order], ends[order], values[order]
    new = np.ones(len(r), dtype=bool)
    new[1:] = (
        (values[1:] != values[:-1])
        | (c[1:] != c[:-1])
        | (ends[1:] != ends[:-1])
        | (r[1:] != r[:-1] + 1)
    )
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(r)) - 1
    boxes = np.column_stack(
        [c[first] + x0, r[first] + y0, ends[first] + x0, r[last] + 1 + y0]
    ).astype(np.float64)
    return boxes, values[first]


def _block_polygons(block: np.ndarray, y0: int, x0: int) -> dict[int, shapely.Geometry]:
    boxes, values = _runs(np.asarray(block), y0, x0)
    out: dict[int, shapely.Geometry] = {}
    if not len(values):
        return out
    order = np.argsort(values, kind="stable")
    boxes, values = boxes[order], values[order]
    split = np.flatnonzero(values[1:] != values[:-1]) + 1
    rects = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    for part_values, part in zip(np.split(values, split), np.split(rects, split)):
        out[int(part_values[0])] = shapely.union_all(part) if len(part) > 1 else part[0]
    return out


def from_labels(
    image_url: Any,
    label_name: str,
    layer: str,
    *,
    kind: str = "algorithm",
    author: str | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
) -> Any:
    """Store the label image ``label_name`` as ROI layer ``layer``: one (multi)polygon per label
    value (0 is background), its id the value, its properties (and ``terms``) taken from the
    label image's ``properties``. Outlines follow pixel edges exactly.

    Returns the layer's summary (:class:`Layer`).
    """
    from ..labels import open_labels

    check_layer_name(layer)
    location = as_location(image_url, storage_options)
    labels = open_labels(location, label_name)
    axes = labels.axes
    for a in axes:
        if a not in "yx" and labels.shape[axes.index(a)] != 1:
            raise InputError(
                f"the label image {label_name!r} has {labels.shape[axes.index(a)]} planes along {a}: "
                "from_labels reads 2-D label images (one z plane, one time point)"
            )
    data = labels.to_dask(0)
    index = tuple(0 if a not in "yx" else slice(None) for a in axes)
    data = data[index]
    if data.dtype.kind not in "ui":
        raise InputError(f"the label image {label_name!r} holds {data.dtype} values, not integers")
    tasks = []
    y_edges = np.cumsum((0,) + data.chunks[0])
    x_edges = np.cumsum((0,) + data.chunks[1])
    for bi in range(len(data.chunks[0])):
        for bj in range(len(data.chunks[1])):
            block = data.blocks[bi, bj]
            tasks.append(dask.delayed(_block_polygons)(block, int(y_edges[bi]), int(x_edges[bj])))
    pieces: dict[int, list[shapely.Geometry]] = {}
    for result in dask.compute(*tasks, scheduler=scheduler or "threads"):
        for value, geom in result.items():
            pieces.setdefault(value, []).append(geom)
    values = sorted(pieces)
    geometries = [
        shapely.simplify(shapely.union_all(pieces[v]) if len(pieces[v]) > 1 else pieces[v][0], 0)
        for v in values
    ]
    props = labels.properties
    rows = []
    for v, g in zip(values, geometries):
        p = dict(props.get(v) or {})
        ts = p.pop("terms", None)
        t1 = p.pop("term", None)
        p.pop("layer", None)
        terms = [str(t) for t in ts] if isinstance(ts, list) else ([str(t1)] if t1 else [])
        rows.append({"id": int(v), "geometry": g, "terms": terms, "properties": p})
    if any(v < 1 or v >= 2**53 for v in values):
        for row in rows:
            row["id"] = None  # not usable as ROI ids: numbered from 1
    frame = pd.DataFrame(rows, columns=["id", "geometry", "terms", "properties"])
    return write_rois(
        location,
        frame,
        layer=layer,
        kind=kind,
        author=author or f"labels:{label_name}",
        overwrite=overwrite,
        storage_options=storage_options,
    )


__all__ = ["from_labels", "rasterize"]
