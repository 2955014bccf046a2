"""Pyramid planning and block downsampling.

Every level is half the size of the one before along the downsampled axes (y and x, and z on
request), rounded up; an odd edge row or column averages the pixels that exist. Levels stop when
the longest y/x edge fits ``min_size``. Downsampling works on blocks whose size along each
downsampled axis is even (except at the image edge), so the result has no seams at block borders.
"""

from __future__ import annotations

import itertools
import math
import mmap
import sys
from collections.abc import Sequence

import numpy as np

from .errors import InputError

METHODS = ("mean", "mode", "nearest", "min", "max")
LABEL_METHODS = ("mode", "nearest")


def parse_method(method: str, *, labels: bool = False) -> str:
    allowed = LABEL_METHODS if labels else METHODS
    m = str(method).lower()
    if m not in allowed:
        kind = "label images" if labels else "images"
        raise InputError(f"unknown downsampling method {method!r} for {kind}; use one of {', '.join(allowed)}")
    return m


def level_factors(
    shape: Sequence[int],
    axes: str,
    *,
    min_size: int = 256,
    downsample_z: bool = False,
    max_levels: int | None = None,
) -> list[tuple[int, ...]]:
    """Per-level downsampling factors relative to the level before (level 0 has none).

    Returns a list with one tuple per level after the first; each entry is 1 or 2 per axis.
    """
    if min_size < 1:
        raise InputError(f"min_size must be at least 1 pixel, got {min_size}")
    shape = [int(s) for s in shape]
    yx = [i for i, a in enumerate(axes) if a in "yx"]
    z = axes.find("z")
    factors: list[tuple[int, ...]] = []
    while max(shape[i] for i in yx) > min_size:
        if max_levels is not None and len(factors) + 1 >= max_levels:
            break
        f = [1] * len(shape)
        for i in yx:
            if shape[i] > 1:
                f[i] = 2
        if downsample_z and z >= 0 and shape[z] > 1:
            f[z] = 2
        factors.append(tuple(f))
        shape = [-(-s // fi) for s, fi in zip(shape, f)]
    return factors


def level_shapes(shape: Sequence[int], factors: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    shapes = [tuple(int(s) for s in shape)]
    for f in factors:
        shapes.append(tuple(-(-s // fi) for s, fi in zip(shapes[-1], f)))
    return shapes


def level_scales(scale0: Sequence[float], factors: Sequence[Sequence[int]]) -> list[tuple[float, ...]]:
    scales = [tuple(float(s) for s in scale0)]
    for f in factors:
        scales.append(tuple(s * fi for s, fi in zip(scales[-1], f)))
    return scales


#: Arrays of at least this many bytes that the writer allocates for blocks are mapped from the
#: system directly (see :func:`block_empty`). Strips of blocks are smaller and come from the
#: heap, which reuses them without a page fault per page (a tenth of the CPU time of a
#: conversion, measured: 0.7 s of system time on a 16384^2 image, for 10 MiB of peak memory).
MAPPED_BYTES = 32 * 2**20


def block_empty(shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array for a block, its own anonymous memory mapping when large.

    glibc serves an allocation from its heap once a larger one has been freed (it raises its
    mmap threshold to the size freed, up to 32 MiB), and a heap keeps memory after it is
    freed. Blocks are allocated and freed all through a conversion, so they would leave peak
    memory well above what is in use; mapped directly, each block's memory returns to the
    system when the array goes, and no process-wide allocator setting is needed.
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MAPPED_BYTES:
        return np.empty(tuple(shape), dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=dtype).reshape(tuple(shape))


def _views(block: np.ndarray, factors: Sequence[int]) -> list[np.ndarray]:
    """The strided views whose element-wise combination downsamples ``block``.

    Along an axis with factor 2 and odd length the last element is repeated, so the mean of the
    edge window is the mean of the pixels that exist.
    """
    if any(f == 2 and n % 2 for f, n in zip(factors, block.shape)):
        pad = [(0, 1 if (f == 2 and n % 2) else 0) for f, n in zip(factors, block.shape)]
        block = np.pad(block, pad, mode="edge")
    offsets = [range(f) for f in factors]
    views = []
    for offset in itertools.product(*offsets):
        views.append(block[tuple(slice(o, None, f) for o, f in zip(offset, factors))])
    return views


def _accumulator(dtype: np.dtype) -> np.dtype:
    """A type that holds the sum of a window (at most 8 values: 2 x 2 x 2)."""
    if dtype.kind == "b":
        return np.dtype(np.uint16)
    if dtype.itemsize == 1:  # 8 x 255 fits 16 bits: half the memory traffic of 32
        return np.dtype(np.uint16) if dtype.kind == "u" else np.dtype(np.int16)
    if dtype.kind == "u":
        return np.dtype(np.uint64) if dtype.itemsize >= 4 else np.dtype(np.uint32)
    if dtype.kind == "i":
        return np.dtype(np.int64) if dtype.itemsize >= 4 else np.dtype(np.int32)
    return np.dtype(np.float64)


def downsample(block: np.ndarray, factors: Sequence[int], method: str = "mean",
               out: np.ndarray | None = None) -> np.ndarray:
    """Downsample ``block`` by ``factors`` (1 or 2 per axis) with ``method``.

    ``mean`` is exact for integers: the sum is rounded half up, never truncated. ``mode`` and
    ``nearest`` only ever return values present in the source window (for label images).
    ``out`` (of the result's shape and dtype) receives the result, which is then returned: the
    pyramid writer downsamples into buffers it reuses instead of allocating an array per strip.
    """
    factors = tuple(int(f) for f in factors)
    if method == "mean" and not all(f == 1 for f in factors):
        return _mean(block, factors, out)
    if all(f == 1 for f in factors):
        result = block
    elif method == "nearest":
        result = block[tuple(slice(None, None, f) for f in factors)]
        if out is None:
            return np.ascontiguousarray(result)
    else:
        views = _views(block, factors)
        if method == "min":
            result = np.minimum.reduce(views)
        elif method == "max":
            result = np.maximum.reduce(views)
        elif method == "mode":
            result = _mode(views)
        else:
            raise InputError(f"unknown downsampling method {method!r}")
    if out is None:
        return result
    out[...] = result
    return out


_SLAB_BYTES = 1 << 20  # the mean works through blocks in slabs of about this size (cache-sized)


def _mean(block: np.ndarray, factors: tuple[int, ...], result: np.ndarray | None = None) -> np.ndarray:
    """The window mean: pairs summed axis by axis in a wider type, slab by slab along axis 0.

    Integers are rounded half up (``floor((sum + n/2) / n)``, a shift since ``n`` is a power of
    two), booleans give the majority (ties true); odd edges average the pixels that exist.
    ``result``: where to put it (see :func:`downsample`).
    """
    if any(f == 2 and n % 2 for f, n in zip(factors, block.shape)):
        pad = [(0, 1 if (f == 2 and n % 2) else 0) for f, n in zip(factors, block.shape)]
        block = np.pad(block, pad, mode="edge")
    n = math.prod(factors)
    acc_dtype = _accumulator(block.dtype)
    shape = tuple(s // f for s, f in zip(block.shape, factors))
    if result is None:
        result = block_empty(shape, block.dtype)
    elif result.shape != shape or result.dtype != block.dtype:
        raise ValueError(f"a mean of shape {shape} ({block.dtype}) cannot go to an array of shape "
                         f"{result.shape} ({result.dtype})")
    if _packed_pairs(block, factors):
        _mean_yx_bytes(block, result)
        return result
    lead = next((i for i, f in enumerate(factors) if f != 1), len(factors))
    out = result
    if lead > 1 and block.flags.c_contiguous and result.flags.c_contiguous:
        # leading whole axes merged: slabs of a few planes
        block = block.reshape(-1, *block.shape[lead:])
        factors = (1, *factors[lead:])
        out = result.reshape(tuple(s // f for s, f in zip(block.shape, factors)))
    per_index = max(1, block[: factors[0]].nbytes * acc_dtype.itemsize // block.dtype.itemsize)
    if factors[0] == 1 and per_index > _SLAB_BYTES and block.ndim > 1:
        # a whole index of axis 0 (a plane) is larger than a slab: slabs within each one
        for i in range(block.shape[0]):
            _mean(block[i], factors[1:], out[i])
        return result
    step = max(1, _SLAB_BYTES // per_index)
    for start in range(0, out.shape[0], step):
        acc = block[start * factors[0] : (start + step) * factors[0]]
        widened = False
        for axis, f in enumerate(factors):
            if f == 1:
                continue
            even = (slice(None),) * axis + (slice(0, None, 2),)
            odd = (slice(None),) * axis + (slice(1, None, 2),)
            acc = np.add(acc[even], acc[odd], dtype=acc_dtype) if not widened else np.add(acc[even], acc[odd])
            widened = True
        target = out[start : start + step]
        if block.dtype.kind == "b":
            np.greater_equal(acc * 2, n, out=target)
        elif block.dtype.kind in "ui":
            acc += n // 2
            np.right_shift(acc, n.bit_length() - 1, out=target, casting="unsafe")
        else:
            acc /= n
            target[...] = acc
    return result


def _packed_pairs(block: np.ndarray, factors: tuple[int, ...]) -> bool:
    """Whether :func:`_mean_yx_bytes` computes this mean: 8-bit unsigned, a 2 x 2 window in y and
    x only, even edges, on a little-endian machine."""
    return (
        block.dtype == np.uint8 and block.ndim >= 2 and factors[-2:] == (2, 2)
        and all(f == 1 for f in factors[:-2]) and block.shape[-2] % 2 == 0 and block.shape[-1] % 2 == 0
        and sys.byteorder == "little" and block.size > 0
    )


def _mean_yx_bytes(block: np.ndarray, out: np.ndarray) -> None:
    """The 2 x 2 mean of 8-bit ``block`` into ``out``, a slab of rows at a time.

    Row pairs are summed into 16 bits (contiguous, vectorised); the sums of neighbouring columns
    are then read as one 32-bit word each and added as its two halves, so no step reads memory
    with a stride: about four times the speed of pairing columns with strided views (whole-slide
    RGB images spend most of their downsampling here). Same values as the general path.
    """
    height, width = block.shape[-2:]
    planes = block.reshape(-1, height, width)
    try:
        target = np.reshape(out, (-1, height // 2, width // 2), copy=False)
    except ValueError:  # leading axes of ``out`` that do not merge into one: through a copy
        whole = np.empty((planes.shape[0], height // 2, width // 2), np.uint8)
        _mean_yx_bytes(planes, whole)
        out[...] = whole.reshape(out.shape)
        return
    rows = max(1, _SLAB_BYTES // (2 * width))  # row pairs per slab
    sums = np.empty((rows, width), np.uint16)
    low = np.empty((rows, width // 2), np.uint32)
    high = np.empty((rows, width // 2), np.uint32)
    for p in range(planes.shape[0]):
        for y in range(0, height // 2, rows):
            k = min(rows, height // 2 - y)
            s, lo, hi = sums[:k], low[:k], high[:k]
            np.add(planes[p, 2 * y : 2 * (y + k) : 2], planes[p, 2 * y + 1 : 2 * (y + k) : 2], out=s, dtype=np.uint16)
            words = s.view(np.uint32)
            np.bitwise_and(words, 0xFFFF, out=lo)
            np.right_shift(words, 16, out=hi)
            lo += hi
            lo += 2
            np.right_shift(lo, 2, out=target[p, y : y + k], casting="unsafe")


def _mode(views: list[np.ndarray]) -> np.ndarray:
    """The most frequent value of each window; ties go to the earliest (top-left) value."""
    stack = np.stack(views)
    counts = np.zeros(stack.shape, dtype=np.uint8)
    for i in range(len(views)):
        for j in range(len(views)):
            counts[i] += stack[i] == stack[j]
    best = np.argmax(counts, axis=0)
    return np.take_along_axis(stack, best[None], axis=0)[0]
