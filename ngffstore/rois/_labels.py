"""Raster <-> vector: an ROI layer as a label image, and a label image as an ROI layer.

Both work block by block: ``rasterize`` builds the label image lazily (each block paints the ROIs
whose bounding box overlaps it, found with an STRtree) and hands it to
:func:`ngffstore.labels.write_labels`; ``from_labels`` reads the label image one block at a time,
traces each block's pixel edges into rings (time proportional to its pixels), then unions the
pieces of each value across blocks.

Limits: ``rasterize`` holds the layer's geometries in memory (fine for a few million small
ROIs); ``from_labels`` holds one (multi)polygon per label value (exact, staircase outlines) and
one block of boundary edges at a time (about 100 bytes per edge, at most 4 edges per pixel).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import shapely

from .. import parallel
from .._deprecated import REMOVED_IN, warn_deprecated
from ..errors import InputError
from ..image.read import open_image
from ..labels.info import LabelsSummary
from ..labels.layout import grow_block
from ..labels.read import open_labels
from ..labels.write import write_labels
from ._mask import geometry_mask
from ._model import RoiLayerSummary, check_layer_name
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
    url: Any,
    *_old: str,
    layer: str | None = None,
    label: str | None = None,
    terms: Any = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    progress: bool | None = False,
) -> Any:
    """Write ROI layer ``layer`` of the image at ``url`` as its label image ``label``
    (``IMAGE/labels/LABEL``).

    Each ROI becomes the label value equal to its id (pixels whose centre is inside, see
    :func:`geometry_mask`); where ROIs overlap, the smaller one wins. Each value's properties
    are the ROI's properties plus ``terms`` and ``layer``; its colour is its first term's.

    Returns the written label image's :class:`~ngffstore.labels.LabelsSummary`. Needs an image
    with one z plane and one time point (ROIs are 2-D). The old order ``rasterize(image_url,
    layer, label_name)`` still works until 0.3 with a ``DeprecationWarning`` (and returns the
    opened ``Labels`` as it used to).
    """
    old = bool(_old)
    layer, label = _names("rasterize", ("layer", "label"), _old, layer, label)
    summary = _rasterize(
        url, layer, label, terms=terms, overwrite=overwrite, storage_options=storage_options,
        scheduler=scheduler, progress=progress,
    )
    return open_labels(summary.image, label, storage_options=storage_options) if old else summary


def _names(
    verb: str, names: tuple[str, str], old: tuple[str, ...], *given: str | None
) -> tuple[str, str]:
    """The two names of ``verb``, given as keywords (or, deprecated, positionally after the url)."""
    if old:
        if len(old) > 2 or any(g is not None for g in given[: len(old)]):
            raise TypeError(f"{verb}() takes 1 positional argument (url); pass {', '.join(n + '=...' for n in names)}")
        warn_deprecated(
            f"passing {' and '.join(names[: len(old)])} positionally to ngffstore.rois.{verb} is "
            f"deprecated; pass {', '.join(n + '=...' for n in names)} (removed in {REMOVED_IN})"
        )
        given = tuple(old) + given[len(old) :]
    missing = [n for n, g in zip(names, given) if g is None]
    if missing:
        raise TypeError(f"{verb}() missing the keyword argument {missing[0]}=")
    return given[0], given[1]  # type: ignore[return-value]


def _rasterize(
    url: Any,
    layer: str,
    label_name: str,
    *,
    terms: Any,
    overwrite: bool,
    storage_options: Mapping[str, Any] | None,
    scheduler: Any,
    progress: bool | None,
) -> LabelsSummary:
    check_layer_name(layer)
    location = as_location(url, storage_options)
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
        name=label_name,
        axes="yx",
        colors=colors or None,
        properties=properties or None,
        method="mode",
        overwrite=overwrite,
        scheduler=scheduler,
        progress=progress,
        storage_options=storage_options,
    )


# -- label image -> polygons --------------------------------------------------------------------
#
# A block is turned into polygons by tracing the pixel edges between different values, in time
# proportional to its pixels (numpy only, no per-pixel geometry): every side of a non-zero pixel
# whose neighbour differs is a directed boundary edge (sides taken around each pixel in one
# rotation, so a region lies on the same side of all its edges); each edge is linked to the
# next one at its end vertex, turning around the same pixel first (4-connected regions), and
# the links form the rings. Rings turning like a pixel are shells, the others holes; a hole
# belongs to the smallest shell of its value that contains the pixel it bounds.

#: Pixels of one block of ``from_labels`` (bounds its memory: ~100 bytes per boundary edge).
FROM_LABELS_BLOCK_PIXELS = 1 << 20

_DR = np.array([-1, 0, 1, 0])  # row offset of the neighbour across side s (top, right, bottom, left)
_DC = np.array([0, 1, 0, -1])
_SX = np.array([0, 1, 1, 0])  # start vertex of side s, relative to the pixel's top-left corner
_SY = np.array([0, 0, 1, 1])


def _boundary_edges(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(edge ids, successor positions)``: every boundary side of the non-zero pixels of
    ``block`` (id ``side * h * w + row * w + col``, sorted) and the position of the edge that
    follows it on its ring."""
    h, w = block.shape
    padded = np.zeros((h + 2, w + 2), dtype=block.dtype)
    padded[1:-1, 1:-1] = block
    inside = block != 0
    sides = np.stack([
        inside & (block != padded[:-2, 1:-1]),
        inside & (block != padded[1:-1, 2:]),
        inside & (block != padded[2:, 1:-1]),
        inside & (block != padded[1:-1, :-2]),
    ])
    flat = sides.ravel()
    hw = h * w
    index_type = np.int32 if 4 * hw < 2**31 else np.int64  # half the memory of the edge arrays
    ids = np.flatnonzero(flat).astype(index_type)
    s, pix = np.divmod(ids, hw)
    r, c = np.divmod(pix, w)
    s1 = (s + 1) % 4
    cand1 = s1 * hw + pix  # the same pixel's next side (turn around the pixel)
    ok1 = flat[cand1]
    qr, qc = r + _DR[s1], c + _DC[s1]  # the neighbour across it (same value when ok1 is False)
    qr_in, qc_in = np.clip(qr, 0, h - 1), np.clip(qc, 0, w - 1)
    cand2 = s * hw + qr_in * w + qc_in  # the neighbour's side in the same direction (straight on)
    ok2 = flat[cand2]
    dr, dc = np.clip(qr + _DR[s], 0, h - 1), np.clip(qc + _DC[s], 0, w - 1)
    cand3 = ((s + 3) % 4) * hw + dr * w + dc  # the diagonal pixel's side (turn away)
    succ_id = np.where(ok1, cand1, np.where(ok2, cand2, cand3))
    return ids, np.searchsorted(ids, succ_id).astype(index_type)


def _rings(succ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ring, order)`` of the cycles of the permutation ``succ``: each edge's ring (its
    smallest member) and the edges sorted by ring, then along the ring."""
    n = len(succ)
    label = np.arange(n, dtype=succ.dtype)
    jump = succ.copy()
    while True:  # pointer jumping: the minimum of each cycle
        label = np.minimum(label, label[jump])
        if np.array_equal(label[succ], label):
            break
        jump = jump[jump]
    head = label == np.arange(n, dtype=succ.dtype)
    pred = np.empty(n, dtype=succ.dtype)
    pred[succ] = np.arange(n, dtype=succ.dtype)
    pred[head] = np.flatnonzero(head)
    dist = (~head).astype(succ.dtype)
    while True:  # list ranking: the distance of every edge from its ring's head
        nxt = pred[pred]
        if np.array_equal(nxt, pred):
            break
        dist = dist + dist[pred]
        pred = nxt
    return label, np.lexsort((dist, label))


def _block_polygons(block: np.ndarray, y0: int, x0: int) -> dict[int, shapely.Geometry]:
    """One (multi)polygon per non-zero value of ``block`` (level-0 pixel edges, offset by
    ``x0, y0``), exact and in time proportional to the block's pixels."""
    block = np.asarray(block)
    if block.size == 0 or not block.any():
        return {}
    h, w = block.shape
    ids, succ = _boundary_edges(block)
    label, order = _rings(succ)
    s, pix = np.divmod(ids[order], h * w)
    r, c = np.divmod(pix, w)
    ring = label[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = ring[1:] != ring[:-1]
    starts = np.flatnonzero(first)
    lasts = np.append(starts[1:], len(order)) - 1
    prev_s = np.empty_like(s)
    prev_s[1:] = s[:-1]
    prev_s[starts] = s[lasts]
    corner = s != prev_s  # a vertex where the outline turns (collinear ones are dropped)
    vx, vy = (c + _SX[s])[corner], (r + _SY[s])[corner]
    xs, ys = (vx + x0).astype(np.float64), (vy + y0).astype(np.float64)
    ring_of_vertex = np.cumsum(first)[corner] - 1
    # rings through a vertex twice (a region pinched at a corner) are not simple: found here,
    # made valid below (checking every polygon's validity would cost more than the tracing)
    per_ring = (h + 1) * (w + 1)
    key = ring_of_vertex.astype(np.int64) * per_ring + vy.astype(np.int64) * (w + 1) + vx
    key.sort()
    pinched = np.zeros(len(starts), dtype=bool)
    pinched[np.unique(key[1:][key[1:] == key[:-1]] // per_ring)] = True
    rings = shapely.linearrings(np.column_stack([xs, ys]), indices=ring_of_vertex)
    # each ring's value and a point strictly inside the pixel it bounds
    value = block[r[starts], c[starts]]
    is_shell = shapely.is_ccw(rings)
    shells = np.flatnonzero(is_shell)
    polygons = shapely.polygons(rings[shells])
    holes = np.flatnonzero(~is_shell)
    if len(holes):
        tree = shapely.STRtree(polygons)
        inner = shapely.points(c[starts[holes]] + x0 + 0.5, r[starts[holes]] + y0 + 0.5)
        hole_i, shell_j = tree.query(inner, predicate="within")
        same = value[holes[hole_i]] == value[shells[shell_j]]
        hole_i, shell_j = hole_i[same], shell_j[same]
        area = shapely.area(polygons[shell_j])
        pick = np.lexsort((area, hole_i))
        hole_i, shell_j = hole_i[pick], shell_j[pick]
        keep = np.ones(len(hole_i), dtype=bool)
        keep[1:] = hole_i[1:] != hole_i[:-1]  # the smallest shell holding the hole
        by_shell: dict[int, list[Any]] = {}
        bad_shell = pinched[shells]
        for hi, sj in zip(hole_i[keep], shell_j[keep]):
            by_shell.setdefault(int(sj), []).append(rings[holes[hi]])
            bad_shell[sj] |= pinched[holes[hi]]
        for sj, hole_rings in by_shell.items():
            polygons[sj] = shapely.Polygon(rings[shells[sj]], holes=hole_rings)
    else:
        bad_shell = pinched[shells]
    if bad_shell.any():
        polygons[bad_shell] = shapely.make_valid(polygons[bad_shell])
    parts, owner = shapely.get_parts(polygons, return_index=True)
    parts_polygonal = shapely.get_type_id(parts) == 3
    parts, owner = parts[parts_polygonal], owner[parts_polygonal]
    part_value = value[shells][owner]
    sort = np.argsort(part_value, kind="stable")
    parts, part_value = parts[sort], part_value[sort]
    distinct, group = np.unique(part_value, return_inverse=True)
    counts = np.bincount(group)
    multi = shapely.multipolygons(parts, indices=group)
    out: dict[int, shapely.Geometry] = {}
    single_at = np.searchsorted(part_value, distinct)
    for k, v in enumerate(distinct):
        out[int(v)] = parts[single_at[k]] if counts[k] == 1 else multi[k]
    return out


def from_labels(
    url: Any,
    *_old: str,
    label: str | None = None,
    layer: str | None = None,
    kind: str = "algorithm",
    author: str | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> RoiLayerSummary:
    """Store the label image ``label`` of the image at ``url`` as its ROI layer ``layer``: one
    (multi)polygon per label value (0 is background), its id the value, its properties (and
    ``terms``) taken from the label image's ``properties``. Outlines follow pixel edges exactly.
    The old order ``from_labels(image_url, label_name, layer)`` still works until 0.3 with a
    ``DeprecationWarning``.

    The label image is read in blocks of about ``FROM_LABELS_BLOCK_PIXELS`` pixels, each traced
    in time proportional to its pixels (fragmented labels and noise included); a progress bar
    counts the blocks (``progress``: default on a terminal).

    Returns the layer's summary (:class:`RoiLayerSummary`).
    """
    label_name, layer = _names("from_labels", ("label", "layer"), _old, label, layer)
    check_layer_name(layer)
    location = as_location(url, storage_options)
    labels = open_labels(location, label_name)
    axes = labels.axes
    for a in axes:
        if a not in "yx" and labels.shape[axes.index(a)] != 1:
            raise InputError(
                f"the label image {label_name!r} has {labels.shape[axes.index(a)]} planes along {a}: "
                "from_labels reads 2-D label images (one z plane, one time point)"
            )
    lv = labels.levels[0]
    data = labels.to_dask(0, chunks=grow_block(lv.unit, lv.shape, FROM_LABELS_BLOCK_PIXELS))
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
            tasks.append(
                dask.delayed(_block_polygons)(
                    block, int(y_edges[bi]), int(x_edges[bj]),
                    dask_key_name=f"ngffstore-from-labels-{bi}-{bj}",
                )
            )
    pieces: dict[int, list[shapely.Geometry]] = {}
    results = parallel.run(
        tasks, scheduler=scheduler, progress=progress, desc=f"tracing {label_name}",
        prefix="ngffstore-from-labels",
    )
    for result in results:
        for value, geom in result.items():
            pieces.setdefault(value, []).append(geom)
    values = sorted(pieces)
    # a value cut by block edges: its pieces are dissolved (and the cut vertices dropped)
    geometries = [
        shapely.simplify(shapely.union_all(pieces[v]), 0) if len(pieces[v]) > 1 else pieces[v][0]
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
        frame,
        location,
        layer=layer,
        kind=kind,
        author=author or f"labels:{label_name}",
        overwrite=overwrite,
        storage_options=storage_options,
    )


__all__ = ["from_labels", "rasterize"]
