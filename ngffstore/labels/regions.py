"""Per-label measurements (area, bounding box, centroid) computed block by block with dask.

Each dask block is summarised on its own — the labels it holds, their pixel counts, the
smallest and largest coordinate and the sum of coordinates along every axis, all in global
coordinates — and the summaries are merged pairwise in a tree. Memory therefore depends on the
block size and the number of labels, never on the image size, and a label crossing block
borders is measured as one object.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np

from .. import parallel
from ..errors import InputError

#: Summaries merged by one task of the tree reduction.
FAN_IN = 16

# a summary: (values, counts, mins, maxs, sums); mins/maxs/sums have shape (ndim, n_values)
Summary = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _empty(ndim: int, dtype: np.dtype) -> Summary:
    z = np.zeros((ndim, 0), dtype=np.int64)
    return (np.zeros(0, dtype=dtype), np.zeros(0, dtype=np.int64), z, z.copy(), z.copy())


def block_summary(block: np.ndarray, offset: Sequence[int], background: int | None) -> Summary:
    """The summary of one block whose first pixel is at ``offset`` (global pixel indices)."""
    block = np.asarray(block)
    flat = block.ravel()
    if background is not None:
        index = np.flatnonzero(flat != background)
        values = flat[index]
    else:
        index = np.arange(flat.size, dtype=np.intp)
        values = flat
    if values.size == 0:
        return _empty(block.ndim, block.dtype)
    order = np.argsort(values, kind="stable")
    values = values[order]
    index = index[order]
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, values.size)).astype(np.int64)
    coords = np.unravel_index(index, block.shape)
    mins = np.empty((block.ndim, starts.size), dtype=np.int64)
    maxs = np.empty_like(mins)
    sums = np.empty_like(mins)
    for k, (c, o) in enumerate(zip(coords, offset)):
        c = c.astype(np.int64, copy=False)
        mins[k] = np.minimum.reduceat(c, starts) + o
        maxs[k] = np.maximum.reduceat(c, starts) + o
        sums[k] = np.add.reduceat(c, starts) + counts * o
    return (values[starts], counts, mins, maxs, sums)


def merge_summaries(*parts: Summary) -> Summary:
    """One summary of several (labels seen in more than one are combined)."""
    parts = tuple(p for p in parts if p[0].size) or parts[:1]
    if len(parts) == 1:
        return parts[0]
    values = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    mins, maxs, sums = (np.concatenate([p[k] for p in parts], axis=1) for k in (2, 3, 4))
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    mins, maxs, sums = mins[:, order], maxs[:, order], sums[:, order]
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return (
        values[starts],
        np.add.reduceat(counts, starts),
        np.minimum.reduceat(mins, starts, axis=1),
        np.maximum.reduceat(maxs, starts, axis=1),
        np.add.reduceat(sums, starts, axis=1),
    )


def summarize(
    data: Any, *, background: int | None = 0, scheduler: Any = None, progress: bool | None = False
) -> Summary:
    """The merged summary of a (dask or numpy) integer label array, computed block by block."""
    if not isinstance(data, da.Array):
        arr = np.asarray(data)
        data = da.from_array(arr, chunks=arr.shape or 1)
    if data.dtype.kind not in "iub":
        raise InputError(f"regions need integer labels, not {data.dtype}")
    if data.ndim == 0 or 0 in data.shape:
        raise InputError(f"regions need a non-empty array, not shape {data.shape}")
    starts = [np.cumsum((0,) + c[:-1]) for c in data.chunks]
    blocks = data.to_delayed()
    tasks = []
    for idx in itertools.product(*(range(len(c)) for c in data.chunks)):
        offset = tuple(int(s[i]) for s, i in zip(starts, idx))
        tasks.append(
            dask.delayed(block_summary, pure=True)(
                blocks[idx], offset, background, dask_key_name=f"ngffstore-regions-{data.name}-{'.'.join(map(str, idx))}"
            )
        )
    level = 0
    while len(tasks) > 1:
        level += 1
        tasks = [
            dask.delayed(merge_summaries, pure=True)(*tasks[i : i + FAN_IN])
            for i in range(0, len(tasks), FAN_IN)
        ]
    bar = parallel.make_bar(len(blocks.ravel()), "measuring labels", progress)
    try:
        (result,) = parallel.compute(tasks, scheduler=scheduler, bar=bar, prefix="ngffstore-regions")
    finally:
        bar.close()
    return result


def regions_table(
    summary: Summary,
    *,
    axes: str,
    shape0: Sequence[int] | None = None,
    factors: Sequence[float] | None = None,
    scale: Mapping[str, float] | None = None,
    translation: Mapping[str, float] | None = None,
    units: Mapping[str, str] | None = None,
) -> Any:
    """A pandas DataFrame, one row per label, from a summary of a level with ``factors``.

    Columns: ``label``; ``area_px`` (pixels, or voxels, counted at level 0 — scaled by the
    factors when measured on a lower level); ``area`` (``area_px`` times the physical size of a
    pixel along z, y and x; the unit is in ``df.attrs["area_unit"]``); ``{axis}_min`` and
    ``{axis}_max`` (bounding box in level-0 pixels, max exclusive, so ``window(x_min, y_min,
    x_max - x_min, y_max - y_min)`` reads it); ``centroid_{axis}`` (level-0 pixel coordinates,
    pixel ``i`` spanning ``[i, i + 1)`` like ROI geometry) and ``centroid_{axis}_physical``
    (``translation + scale * index``, the coordinates of :meth:`to_xarray`).
    """
    import pandas as pd

    values, counts, mins, maxs, sums = summary
    ndim = len(axes)
    factors = tuple(float(f) for f in (factors or (1.0,) * ndim))
    scale = dict(scale or {})
    translation = dict(translation or {})
    units = dict(units or {})
    volume = float(np.prod(factors))
    mean = sums / np.maximum(counts, 1)
    columns: dict[str, Any] = {
        "label": values.astype(np.int64) if values.dtype != np.uint64 else values,
        "area_px": np.round(counts * volume).astype(np.int64),
    }
    spatial = [a for a in axes if a in "zyx"]
    pixel_size = float(np.prod([scale.get(a, 1.0) for a in spatial])) if spatial else 1.0
    columns["area"] = columns["area_px"] * pixel_size
    for k, a in enumerate(axes):
        f = factors[k]
        lo = np.floor(mins[k] * f + 1e-9).astype(np.int64)
        hi = np.ceil((maxs[k] + 1) * f - 1e-9).astype(np.int64)
        if shape0 is not None:
            hi = np.minimum(hi, int(shape0[k]))
        columns[f"{a}_min"] = lo
        columns[f"{a}_max"] = hi
    for k, a in enumerate(axes):
        columns[f"centroid_{a}"] = (mean[k] + 0.5) * factors[k]
    for k, a in enumerate(axes):
        centre0 = (mean[k] + 0.5) * factors[k] - 0.5  # level-0 index of the centroid
        columns[f"centroid_{a}_physical"] = translation.get(a, 0.0) + scale.get(a, 1.0) * centre0
    frame = pd.DataFrame(columns)
    space_units = {units.get(a) for a in spatial}
    unit = space_units.pop() if len(space_units) == 1 else None
    frame.attrs["area_unit"] = f"{unit}^{len(spatial)}" if unit else f"pixel^{len(spatial)}"
    frame.attrs["units"] = {a: units[a] for a in axes if a in units}
    return frame


def measure_regions(
    data: Any,
    *,
    axes: str,
    scale: Mapping[str, float] | None = None,
    translation: Mapping[str, float] | None = None,
    units: Mapping[str, str] | None = None,
    background: int | None = 0,
    scheduler: Any = None,
    progress: bool | None = False,
) -> Any:
    """Per-label area, bounding box and centroid of a label array (numpy or dask), chunk-wise.

    ``axes`` names the dimensions (e.g. ``"zyx"``); ``scale``/``translation``/``units`` give the
    physical pixel size, offset and unit per axis. Pixels equal to ``background`` are not a
    label (``None``: every value is). See :func:`regions_table` for the columns.
    """
    if len(axes) != np.ndim(data):
        raise InputError(f"axes {axes!r} do not match the label array's {np.ndim(data)} dimensions")
    summary = summarize(data, background=background, scheduler=scheduler, progress=progress)
    return regions_table(
        summary, axes=axes, shape0=tuple(np.shape(data)), scale=scale, translation=translation, units=units
    )


__all__ = ["block_summary", "measure_regions", "merge_summaries", "regions_table", "summarize"]
