"""Small, dependency-free segmentation helpers: thresholds and 2-D connected components.

Used by ``ngffstore demo`` (nuclei from the DAPI channel) and by the tiled segmentation example
(``examples/tiled_segmentation.py``). Pure numpy: no scipy or scikit-image needed. Connected
components work on runs (row segments), so a block of a few megapixels takes milliseconds.
"""

from __future__ import annotations

import numpy as np


def box_mean(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2 * radius + 1)²`` window (edges: the window is clipped to the image)."""
    img = np.asarray(image, dtype=np.float64)
    if radius <= 0:
        return img.copy()
    h, w = img.shape
    s = np.zeros((h + 1, w + 1))
    s[1:, 1:] = img.cumsum(0).cumsum(1)
    y0 = np.clip(np.arange(h) - radius, 0, h)
    y1 = np.clip(np.arange(h) + radius + 1, 0, h)
    x0 = np.clip(np.arange(w) - radius, 0, w)
    x1 = np.clip(np.arange(w) + radius + 1, 0, w)
    total = s[y1][:, x1] - s[y0][:, x1] - s[y1][:, x0] + s[y0][:, x0]
    area = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    return total / area


def adaptive_threshold(image: np.ndarray, *, radius: int = 40, offset: float = 400.0, smooth: int = 1) -> np.ndarray:
    """Foreground where the (lightly smoothed) image is above its local mean plus ``offset``."""
    smoothed = box_mean(image, smooth)
    return smoothed > box_mean(image, radius) + offset


def _find(parent: list[int], a: int) -> int:
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:
        parent[a], a = root, parent[a]
    return root


def union_pairs(n: int, pairs: np.ndarray) -> np.ndarray:
    """Resolve equivalences: a lookup table ``lut`` (size ``n + 1``) mapping each id ``1..n``
    to ``1..k`` (one value per connected group, numbered in order of first id), ``lut[0] = 0``."""
    parent = list(range(n + 1))
    for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2).tolist():
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    roots = np.array([_find(parent, i) for i in range(n + 1)], dtype=np.int64)
    _, lut = np.unique(roots, return_inverse=True)
    return lut.astype(np.int64)


def connected_components(mask: np.ndarray, *, min_size: int = 0) -> tuple[np.ndarray, int]:
    """Label the 4-connected foreground regions of a 2-D boolean ``mask``.

    Returns ``(labels, n)``: an int32 array (0 = background, regions ``1..n`` numbered in raster
    order of their first pixel) and the number of regions. Regions smaller than ``min_size``
    pixels are dropped (set to 0).
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"connected_components takes a 2-D mask, not {m.ndim}-D")
    h, w = m.shape
    labels = np.zeros((h, w), dtype=np.int32)
    if not m.any():
        return labels, 0
    starts = m.copy()
    starts[:, 1:] &= ~m[:, :-1]
    flat = m.ravel()
    run_of_pixel = np.cumsum(starts.ravel()[flat])  # runs numbered 1..R in raster order
    runs = np.zeros(h * w, dtype=np.int64)
    runs[flat] = run_of_pixel
    runs = runs.reshape(h, w)
    n_runs = int(run_of_pixel[-1])
    up, down = runs[:-1], runs[1:]
    touch = (up > 0) & (down > 0)
    pairs = np.unique(np.stack([up[touch], down[touch]], axis=1), axis=0) if touch.any() else np.zeros((0, 2))
    lut = union_pairs(n_runs, pairs)
    out = lut[runs]
    n = int(lut.max())
    if min_size > 0 and n:
        sizes = np.bincount(out.ravel(), minlength=n + 1)
        keep = sizes >= min_size
        keep[0] = False
        remap = np.zeros(n + 1, dtype=np.int64)
        remap[keep] = np.arange(1, int(keep.sum()) + 1)
        out = remap[out]
        n = int(keep.sum())
    labels[...] = out
    return labels, n


# -- chunk-wise labelling of a dask mask ----------------------------------------------------------


def _block_summary(block: np.ndarray, min_size: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    labels, n = connected_components(block, min_size=min_size)
    return n, labels[0].copy(), labels[-1].copy(), labels[:, 0].copy(), labels[:, -1].copy()


def _relabel_block(block: np.ndarray, offsets: np.ndarray, lut: np.ndarray, min_size: int, dtype: np.dtype,
                   block_id: tuple[int, int] | None = None) -> np.ndarray:
    labels, _ = connected_components(block, min_size=min_size)
    off = int(offsets[block_id])
    out = np.where(labels > 0, labels.astype(np.int64) + off, 0)
    return lut[out].astype(dtype)


def _face_pairs(a: np.ndarray, b: np.ndarray, off_a: int, off_b: int) -> np.ndarray:
    touch = (a > 0) & (b > 0)
    return np.stack([a[touch].astype(np.int64) + off_a, b[touch].astype(np.int64) + off_b], axis=1)


def label_blocks(mask, *, min_size: int = 0, scheduler=None):
    """Connected components of a 2-D dask boolean ``mask``, block by block, globally unique.

    Each block is labelled on its own; labels get a per-block offset, and labels that touch
    across a block border (the last row/column of one block and the first of the next) are
    merged. Returns ``(labels, n)``: a lazy dask array of consecutive labels ``1..n`` (uint32)
    with the mask's chunks, and ``n``. Only the block borders are gathered in one place.

    ``min_size`` drops regions smaller than that *within a block* (a region cut by a border is
    judged piece by piece, so keep it small).
    """
    import dask
    import dask.array as da

    if mask.ndim != 2:
        raise ValueError(f"label_blocks takes a 2-D mask, not {mask.ndim}-D")
    blocks = mask.to_delayed()
    nby, nbx = blocks.shape
    summaries = dask.compute(
        *[dask.delayed(_block_summary, pure=True)(blocks[i, j], min_size) for i in range(nby) for j in range(nbx)],
        scheduler=scheduler,
    )
    counts = np.array([s[0] for s in summaries], dtype=np.int64).reshape(nby, nbx)
    offsets = np.concatenate([[0], np.cumsum(counts.ravel())[:-1]]).reshape(nby, nbx)
    total = int(counts.sum())
    pairs = [np.zeros((0, 2), dtype=np.int64)]
    for i in range(nby):
        for j in range(nbx):
            s = summaries[i * nbx + j]
            if i + 1 < nby:  # bottom row of this block against the top row of the one below
                below = summaries[(i + 1) * nbx + j]
                pairs.append(_face_pairs(s[2], below[1], offsets[i, j], offsets[i + 1, j]))
            if j + 1 < nbx:  # right column against the left column of the next block
                right = summaries[i * nbx + j + 1]
                pairs.append(_face_pairs(s[4], right[3], offsets[i, j], offsets[i, j + 1]))
    lut = union_pairs(total, np.unique(np.concatenate(pairs), axis=0))
    n = int(lut.max()) if total else 0
    dtype = np.dtype(np.uint32)
    labels = da.map_blocks(_relabel_block, mask, offsets, lut, min_size, dtype, dtype=dtype)
    return labels, n
