"""Pyramid levels and the one rule that chooses a level for every reader verb.

Coordinates are **level-0 pixels, origin top left, x = column, y = row**. A pixel ``i`` of a
level whose downsampling factor along an axis is ``f`` covers level-0 pixels ``[i*f, (i+1)*f)``
(the block model every NGFF pyramid writer uses). Factors come from each level's real ``scale``
ratio to level 0 — never an assumed 2 — or, for stores without usable scales, from the ratio of
the array shapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MemoryCapError, RegionError


@dataclass(frozen=True, kw_only=True)
class Level:
    """One pyramid level as stored: where it is, its grid, and how it maps to level 0."""

    index: int
    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    dtype: str
    scale: tuple[float, ...]
    translation: tuple[float, ...] | None
    factors: tuple[float, ...]
    """Level-0 pixels per pixel of this level, per axis (1.0 for c and t)."""

    @property
    def unit(self) -> tuple[int, ...]:
        """The stored object's shape: the shard when sharded, else the chunk."""
        return self.shards or self.chunks


def scale_factors(scales: Sequence[Sequence[float]]) -> list[tuple[float, ...]] | None:
    """Per-level, per-axis downsampling factors from the levels' ``scale`` vectors.

    Returns None when the scales cannot tell the levels apart (missing or equal scales, as in
    NGFF <= 0.3 stores) or are not positive; callers then use :func:`shape_factors`.
    """
    if not scales:
        return None
    base = scales[0]
    out = []
    for sc in scales:
        if len(sc) != len(base) or any(not (s > 0) or not math.isfinite(s) for s in sc):
            return None
        out.append(tuple(_snap(s / b) for s, b in zip(sc, base)))
    if len(out) > 1 and any(all(abs(f - 1.0) < 1e-9 for f in fs) for fs in out[1:]):
        return None
    return out


def _snap(f: float) -> float:
    """``f`` without float noise: 0.6 / 0.2 is 3.0, not 2.9999999999999996."""
    r = round(f)
    return float(r) if r and abs(f - r) < 1e-9 * r else f


def shape_factors(shapes: Sequence[Sequence[int]]) -> list[tuple[float, ...]]:
    """Per-level, per-axis factors from the array shapes (level-0 size / level size)."""
    base = shapes[0]
    return [tuple(b / max(s, 1) for s, b in zip(shape, base)) for shape in shapes]


def choose_level(
    downsampling: Sequence[tuple[float, float]],
    region_size: tuple[float, float],
    max_size: int | None = None,
    *,
    level: int | None = None,
) -> int:
    """The pyramid level a reader verb reads — the one rule shared by every verb.

    Parameters
    ----------
    downsampling
        ``(fy, fx)`` per level: level-0 pixels per level pixel along y and x (level 0 is (1, 1)).
    region_size
        ``(height, width)`` of the requested region in level-0 pixels.
    max_size
        The longest edge wanted for the output, in pixels.
    level
        An explicit level (then ``max_size`` must be None).

    Returns
    -------
    int
        With ``level``: that level. Without ``max_size``: 0. Otherwise the lowest-resolution
        level on which the region's longest edge — ``ceil(edge / factor)`` pixels with the
        level's real factor — is still at least ``max_size``, so the output is later reduced,
        never enlarged; level 0 when no level is that large.
    """
    if level is not None and max_size is not None:
        raise RegionError("give either a level or max_size, not both")
    if level is not None:
        return int(level)
    if max_size is None:
        return 0
    if max_size < 1:
        raise RegionError(f"max_size must be at least 1 pixel, not {max_size}")
    h, w = region_size
    best = 0
    best_edge = math.inf
    for i, (fy, fx) in enumerate(downsampling):
        # whole pixels: 300 level-0 pixels take 38 pixels of a level 8 times smaller
        edge = max(math.ceil(h / fy - 1e-9), math.ceil(w / fx - 1e-9))
        if edge >= max_size and edge < best_edge:
            best, best_edge = i, edge
    return best


@dataclass(frozen=True)
class Span:
    """One axis of a region: level-0 ``[start, stop)`` and the level's ``[lstart, lstop)``."""

    start: int
    stop: int
    lstart: int
    lstop: int


def clip_span(start: int, size: int, extent: int, name: str) -> tuple[int, int]:
    """``[start, start+size)`` clipped to ``[0, extent)``; RegionError if nothing is left."""
    lo, hi = max(start, 0), min(start + size, extent)
    if hi <= lo:
        raise RegionError(
            f"the region {name} {start}..{start + size} lies outside the image (0..{extent} px at level 0)"
        )
    return lo, hi


def to_level(lo: int, hi: int, factor: float, level_extent: int) -> tuple[int, int]:
    """Level-0 ``[lo, hi)`` to the smallest ``[a, b)`` of level pixels that covers it."""
    a = math.floor(lo / factor + 1e-9)
    b = math.ceil(hi / factor - 1e-9)
    a = min(max(a, 0), level_extent - 1)
    b = min(max(b, a + 1), level_extent)
    return a, b


def to_level0(a: int, b: int, factor: float, extent0: int) -> tuple[int, int]:
    """Level ``[a, b)`` back to the level-0 pixels it covers (clipped to the image)."""
    return min(round(a * factor), extent0), min(round(b * factor), extent0)


def output_shape(height: int, width: int, max_size: int | None) -> tuple[int, int]:
    """``(height, width)`` reduced so the longest edge is ``max_size`` (never enlarged)."""
    if max_size is None or max(height, width) <= max_size:
        return height, width
    ratio = max_size / max(height, width)
    return max(1, round(height * ratio)), max(1, round(width * ratio))


def nearest_index(n_in: int, n_out: int) -> list[int] | None:
    """Source indices of a nearest-neighbour resampling from ``n_in`` to ``n_out`` samples."""
    if n_in == n_out:
        return None
    return [min(n_in - 1, int((i + 0.5) * n_in / n_out)) for i in range(n_out)]


# -- what one read decodes ----------------------------------------------------------------------

SHARD_INDEX_ENTRY_BYTES = 16
"""Bytes of one inner chunk's entry in a shard index (offset and length, two uint64)."""


@dataclass(frozen=True)
class StoredUnit:
    """What reading any pixel of an array costs in memory, from its metadata alone.

    ``chunk`` is the shape decoded whole to read one pixel (the inner chunk of a sharded array),
    ``chunk_bytes`` its decoded size; ``index_bytes`` the decoded shard index (0 unsharded).
    """

    chunk: tuple[int, ...]
    dtype: str
    chunk_bytes: int
    index_bytes: int


def _itemsize(data_type: Any) -> tuple[str, int]:
    """``(name, bytes per element)`` of a Zarr v2 ``dtype`` or v3 ``data_type`` entry."""
    name = data_type.get("name") if isinstance(data_type, Mapping) else data_type
    if isinstance(name, list):  # v2 structured dtype
        try:
            dt = np.dtype([tuple(f) for f in name])
            return str(dt), dt.itemsize
        except (TypeError, ValueError):
            return "structured", 8
    text = str(name)
    bits = re.fullmatch(r"r(\d+)", text)  # v3 raw bits
    if bits:
        return text, max(1, int(bits.group(1)) // 8)
    try:
        dt = np.dtype(text)
    except TypeError:
        return text, 8
    return str(dt), max(1, dt.itemsize)


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(max(1, int(v)) for v in value)


def stored_unit(meta: Mapping[str, Any], zarr_format: int) -> StoredUnit:
    """The :class:`StoredUnit` of the array whose metadata document is ``meta``.

    Raises ``KeyError``/``TypeError``/``ValueError`` on metadata that is not a Zarr array's.
    """
    if zarr_format == 2:
        dtype, itemsize = _itemsize(meta["dtype"])
        chunk = _shape(meta["chunks"])
        return StoredUnit(chunk, dtype, int(np.prod(chunk, dtype=object)) * itemsize, 0)
    dtype, itemsize = _itemsize(meta["data_type"])
    chunk = _shape(meta["chunk_grid"]["configuration"]["chunk_shape"])
    index_bytes = 0
    codecs = list(meta.get("codecs") or [])
    while codecs and isinstance(codecs[0], Mapping) and codecs[0].get("name") == "sharding_indexed":
        config = codecs[0].get("configuration") or {}
        inner = _shape(config["chunk_shape"])
        n_inner = int(np.prod([-(-s // i) for s, i in zip(chunk, inner)], dtype=object))
        index_bytes = max(index_bytes, n_inner * SHARD_INDEX_ENTRY_BYTES)
        chunk = inner
        codecs = list(config.get("codecs") or [])
    return StoredUnit(chunk, dtype, int(np.prod(chunk, dtype=object)) * itemsize, index_bytes)


def check_stored_unit(
    meta: Mapping[str, Any], zarr_format: int, cap: int, *, array: str
) -> StoredUnit:
    """Refuse (:class:`MemoryCapError`) an array one chunk (or shard index) of which decodes to
    more than ``cap`` bytes — before any of its objects is fetched. ``array`` names it."""
    unit = stored_unit(meta, zarr_format)
    shape = "x".join(map(str, unit.chunk))
    if unit.chunk_bytes > cap:
        raise MemoryCapError(
            f"{array} is stored in chunks of {shape} {unit.dtype} ({_human(unit.chunk_bytes)} decoded), "
            f"over the memory cap of {_human(cap)}: a chunk is decoded whole to read any pixel of it; "
            "if you trust this store raise the cap with memory_cap= (--memory-cap), else do not read it"
        )
    if unit.index_bytes > cap:
        raise MemoryCapError(
            f"{array} is sharded with a shard index of {_human(unit.index_bytes)} (inner chunks of "
            f"{shape}), over the memory cap of {_human(cap)}: if you trust this store raise the cap "
            "with memory_cap= (--memory-cap), else do not read it"
        )
    return unit


def _human(n: float) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"


__all__ = [
    "Level",
    "StoredUnit",
    "check_stored_unit",
    "choose_level",
    "scale_factors",
    "shape_factors",
    "stored_unit",
]
