"""Gathering the overlaps of two label images block by block (no image is ever held whole).

One task per pair of aligned blocks counts the (truth id, prediction id) pairs on the pixels
where either is non-zero, with the sum of their coordinates (for centroids); the per-block
tables — a few rows per object touching the block — are summed per image by a tree of merges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ._metrics import Overlaps, from_pixels

#: One block's counts: (truth ids, prediction ids, pixel counts, coordinate sums (n, ndim)).
Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

#: Below this many possible (truth, prediction) id pairs a block counts them with one bincount.
DENSE_BINS = 1 << 20

#: Widest id range numbered by a lookup table (beyond it, ids are sorted).
LOOKUP_SPAN = 1 << 22

#: Pixels counted at a time inside a block (bounds the temporary arrays to ~20 MB).
SLAB_PIXELS = 1 << 19

#: How many block tables one merge task sums.
MERGE_FAN_IN = 16


def _empty(ndim: int) -> Counts:
    z = np.zeros(0, dtype=np.int64)
    return z, z, z, np.zeros((0, ndim))


def count_block(truth: np.ndarray, pred: np.ndarray, offset: Sequence[int] = ()) -> Counts:
    """The (truth, prediction) pairs of one block: ids, pixel counts and coordinate sums
    (level-0 pixel indices; ``offset`` is the block's corner).

    The block is counted in slabs of about :data:`SLAB_PIXELS` along its first axis, so the
    temporary arrays stay small next to the block itself."""
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    if truth.shape != pred.shape:
        raise InputError(f"blocks of different shapes {truth.shape} and {pred.shape}")
    offset = tuple(int(v) for v in offset) or (0,) * truth.ndim
    if truth.ndim == 0 or truth.size <= SLAB_PIXELS:
        return _count(truth, pred, offset)
    step = max(1, SLAB_PIXELS // max(1, truth[0].size))
    parts = [
        _count(truth[i : i + step], pred[i : i + step], (offset[0] + i, *offset[1:]))
        for i in range(0, truth.shape[0], step)
    ]
    return merge(*parts) if len(parts) > 1 else parts[0]


def _count(truth: np.ndarray, pred: np.ndarray, offset: Sequence[int]) -> Counts:
    ndim = truth.ndim
    fg = truth != 0
    fg |= pred != 0
    where = np.nonzero(fg)
    if not len(where[0]):
        return _empty(ndim)
    tv = truth[where].astype(np.int64, copy=False)
    pv = pred[where].astype(np.int64, copy=False)
    tmin, tmax, pmin, pmax = tv.min(), tv.max(), pv.min(), pv.max()
    sums: np.ndarray
    if tmin >= 0 and pmin >= 0:
        # the ids of one slab are few and usually span a modest range: number them 0..k with a
        # lookup table (no sort), then count every (truth, prediction) pair with one bincount
        tc, tvals = _codes(tv, int(tmax))
        pc, pvals = _codes(pv, int(pmax))
        if tc is not None and pc is not None and len(tvals) * len(pvals) <= DENSE_BINS:
            k = len(pvals)
            key = tc * k + pc
            del tc, pc
            n = np.bincount(key, minlength=len(tvals) * k)
            hit = np.flatnonzero(n)
            sums = np.empty((len(hit), ndim))
            for d in range(ndim):
                sums[:, d] = np.bincount(key, weights=where[d])[hit] + float(offset[d]) * n[hit]
            return tvals[hit // k], pvals[hit % k], n[hit].astype(np.int64), sums
    if tmin >= 0 and pmin >= 0 and tmax < 2**31 and pmax < 2**32:
        uniq, inv, n = np.unique((tv << 32) | pv, return_inverse=True, return_counts=True)
        t_out, p_out = uniq >> 32, uniq & 0xFFFFFFFF
    else:
        tu, ti = np.unique(tv, return_inverse=True)
        pu, pi = np.unique(pv, return_inverse=True)
        uniq, inv, n = np.unique(ti.astype(np.int64) * len(pu) + pi, return_inverse=True, return_counts=True)
        t_out, p_out = tu[uniq // len(pu)], pu[uniq % len(pu)]
    sums = np.empty((len(uniq), ndim))
    for d in range(ndim):
        sums[:, d] = np.bincount(inv, weights=where[d], minlength=len(uniq)) + float(offset[d]) * n
    return t_out, p_out, n.astype(np.int64), sums


def _codes(values: np.ndarray, high: int) -> tuple[np.ndarray | None, np.ndarray]:
    """``(codes, ids)``: ``values`` (>= 0) numbered 0..k-1 in increasing order (0 stays code 0)
    through a lookup table over their range, or ``(None, ...)`` when the range exceeds
    :data:`LOOKUP_SPAN`."""
    low = int(values.min(initial=high, where=values > 0)) if high > 0 else 1
    span = high - low + 2
    if span > LOOKUP_SPAN:
        return None, np.zeros(0, dtype=np.int64)
    shifted = np.where(values > 0, values - (low - 1), 0)
    present = np.zeros(span, dtype=bool)
    present[shifted] = True
    present[0] = True
    table = np.cumsum(present, dtype=np.int64) - 1
    ids = np.flatnonzero(present)
    return table[shifted], np.where(ids > 0, ids + (low - 1), 0)


def merge(*parts: Counts) -> Counts:
    """Sum block tables per (truth id, prediction id) pair."""
    nonempty = tuple(p for p in parts if len(p[0]))
    if len(nonempty) <= 1:
        return nonempty[0] if nonempty else (parts[0] if parts else _empty(2))
    parts = nonempty
    t = np.concatenate([p[0] for p in parts])
    p = np.concatenate([p[1] for p in parts])
    n = np.concatenate([p[2] for p in parts])
    s = np.concatenate([p[3] for p in parts])
    pairs = np.stack([t, p], axis=1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    count = np.bincount(inv, weights=n, minlength=len(uniq)).astype(np.int64)
    sums = np.stack([np.bincount(inv, weights=s[:, d], minlength=len(uniq)) for d in range(s.shape[1])], axis=1)
    return uniq[:, 0], uniq[:, 1], count, sums


def to_overlaps(counts: Counts) -> Overlaps:
    return from_pixels(*counts)


def overlaps(truth: Any, pred: Any) -> Overlaps:
    """The :class:`Overlaps` of two in-memory label arrays of the same shape."""
    return to_overlaps(count_block(np.asarray(truth), np.asarray(pred)))


def gather(truth: Any, pred: Any, *, name: str = "ngffstore-evaluate-overlaps") -> Any:
    """A dask ``Delayed`` of the merged counts of two dask label arrays with the same chunks.

    One task per block pair (the block is read, counted and dropped), then merges of
    :data:`MERGE_FAN_IN` tables at a time.
    """
    import itertools

    import dask

    tb = truth.to_delayed().ravel()
    pb = pred.to_delayed().ravel()
    starts = [np.cumsum((0,) + tuple(c[:-1])) for c in truth.chunks]
    corners = list(itertools.product(*starts))
    token = dask.base.tokenize(truth.name, pred.name)
    level = [
        dask.delayed(count_block, pure=True)(a, b, tuple(int(v) for v in corner),
                                             dask_key_name=f"{name}-block-{token}-{i}")
        for i, (a, b, corner) in enumerate(zip(tb, pb, corners))
    ]
    depth = 0
    while len(level) > 1:
        level = [
            dask.delayed(merge, pure=True)(*level[i : i + MERGE_FAN_IN],
                                           dask_key_name=f"{name}-merge-{token}-{depth}-{i}")
            for i in range(0, len(level), MERGE_FAN_IN)
        ]
        depth += 1
    return level[0]
