"""Geometry -> boolean mask on a pixel grid (numpy only; no GDAL, no scikit-image).

The grid's pixel ``(i, j)`` covers level-0 ``x`` in ``[x0 + j*sx, x0 + (j+1)*sx)`` and ``y`` in
``[y0 + i*sy, y0 + (i+1)*sy)``; its centre is at ``(x0 + (j+0.5)*sx, y0 + (i+0.5)*sy)``.

* Polygons (with holes, multipolygons): the pixels whose **centre** is inside, by an even-odd
  scanline fill; a centre exactly on an edge belongs to the pixel's polygon when the edge is on
  its left or top (half-open), so polygons that share an edge never share a pixel.
* Lines: every pixel the line passes through. Points: the pixel that holds the point.
* A polygon that covers no pixel centre (smaller than a pixel) marks the pixels its outline
  passes through, so a mask is never empty for a geometry inside the grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely


def geometry_mask(
    geometry: shapely.Geometry,
    shape: tuple[int, int],
    *,
    origin: tuple[float, float] = (0.0, 0.0),
    scale: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """The ``(height, width)`` boolean mask of ``geometry`` (level-0 coordinates) on a grid.

    Parameters
    ----------
    shape
        ``(height, width)`` of the grid.
    origin
        ``(x0, y0)``: level-0 coordinates of the grid's top-left corner.
    scale
        ``(sx, sy)``: level-0 pixels per grid pixel along x and y.
    """
    height, width = int(shape[0]), int(shape[1])
    out = np.zeros((height, width), dtype=bool)
    if height == 0 or width == 0 or geometry is None or geometry.is_empty:
        return out
    x0, y0 = origin
    sx, sy = scale
    grid = shapely.transform(
        geometry, lambda xy: np.column_stack([(xy[:, 0] - x0) / sx, (xy[:, 1] - y0) / sy])
    )
    polygons, lines, points = [], [], []
    for part in shapely.get_parts(grid):
        kind = shapely.get_type_id(part)
        if kind == 7:  # a collection inside a collection
            sub = geometry_mask(part, (height, width))
            out |= sub
        elif kind in (3, 6):
            polygons.extend(shapely.get_parts(part))
        elif kind in (1, 2, 5):
            lines.extend(shapely.get_parts(part))
        elif kind in (0, 4):
            points.extend(shapely.get_parts(part))
    if polygons:
        filled = _fill(polygons, height, width)
        if not filled.any():
            filled = _trace(shapely.boundary(np.asarray(polygons, dtype=object)), height, width)
        out |= filled
    if lines:
        out |= _trace(lines, height, width)
    if points:
        xy = shapely.get_coordinates(np.asarray(points, dtype=object))
        j = np.floor(xy[:, 0]).astype(np.int64)
        i = np.floor(xy[:, 1]).astype(np.int64)
        keep = (i >= 0) & (i < height) & (j >= 0) & (j < width)
        out[i[keep], j[keep]] = True
    return out


def _fill(polygons: Sequence[shapely.Geometry], height: int, width: int) -> np.ndarray:
    """Even-odd scanline fill on pixel centres of every ring of ``polygons`` (grid coordinates)."""
    rings = shapely.get_rings(np.asarray(polygons, dtype=object))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    p0, p1 = coords[:-1][same], coords[1:][same]
    u0, v0, u1, v1 = p0[:, 0], p0[:, 1], p1[:, 0], p1[:, 1]
    sloped = v0 != v1
    u0, v0, u1, v1 = u0[sloped], v0[sloped], u1[sloped], v1[sloped]
    vmin, vmax = np.minimum(v0, v1), np.maximum(v0, v1)
    # rows whose centre (i + 0.5) lies in [vmin, vmax)
    lo = np.clip(np.ceil(vmin - 0.5), 0, height).astype(np.int64)
    hi = np.clip(np.ceil(vmax - 0.5), 0, height).astype(np.int64)
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    toggles = np.zeros((height, width + 1), dtype=np.uint8)
    if total == 0:
        return toggles[:, :width].astype(bool)
    seg = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    rows = lo[seg] + (np.arange(total) - starts[seg])
    vc = rows + 0.5
    t = (vc - v0[seg]) / (v1[seg] - v0[seg])
    xi = u0[seg] + t * (u1[seg] - u0[seg])
    # a crossing at xi flips every pixel whose centre (j + 0.5) is at or right of it
    cols = np.clip(np.ceil(xi - 0.5), 0, width).astype(np.int64)
    flat, n = np.unique(rows * (width + 1) + cols, return_counts=True)
    toggles.ravel()[flat] = (n & 1).astype(np.uint8)
    parity = np.bitwise_xor.accumulate(toggles, axis=1)
    return parity[:, :width].astype(bool)


def _trace(lines: Sequence[shapely.Geometry] | np.ndarray, height: int, width: int) -> np.ndarray:
    """Every pixel the lines pass through (grid coordinates)."""
    out = np.zeros((height, width), dtype=bool)
    arr = shapely.get_parts(np.asarray(lines, dtype=object))
    coords, idx = shapely.get_coordinates(arr, return_index=True)
    if len(coords) == 0:
        return out
    cells_i: list[np.ndarray] = [np.floor(coords[:, 1]).astype(np.int64)]
    cells_j: list[np.ndarray] = [np.floor(coords[:, 0]).astype(np.int64)]
    same = idx[1:] == idx[:-1]
    for (ua, va), (ub, vb) in zip(coords[:-1][same], coords[1:][same]):
        ts = [0.0, 1.0]
        if ub != ua:
            ks = np.arange(math.ceil(min(ua, ub)), math.floor(max(ua, ub)) + 1)
            ts.extend(((ks - ua) / (ub - ua)).tolist())
        if vb != va:
            ks = np.arange(math.ceil(min(va, vb)), math.floor(max(va, vb)) + 1)
            ts.extend(((ks - va) / (vb - va)).tolist())
        t = np.unique(np.clip(np.asarray(ts), 0.0, 1.0))
        mid = (t[:-1] + t[1:]) / 2 if len(t) > 1 else t
        cells_j.append(np.floor(ua + mid * (ub - ua)).astype(np.int64))
        cells_i.append(np.floor(va + mid * (vb - va)).astype(np.int64))
    i = np.concatenate(cells_i)
    j = np.concatenate(cells_j)
    keep = (i >= 0) & (i < height) & (j >= 0) & (j < width)
    out[i[keep], j[keep]] = True
    return out


__all__ = ["geometry_mask"]
