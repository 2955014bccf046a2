"""Selections of one level as array-likes (what dask blocks and ``Region.compute`` read), and
the small helpers that turn a request into such a selection."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from ..errors import RegionError
from ._zarrio import LevelReader


class RegionSource:
    """An array-like over a selection of one level (what dask blocks read).

    ``specs`` has one entry per level axis: ``("i", k)`` one index (axis dropped), ``("s", a, b)``
    the range ``[a, b)``, ``("l", idx)`` a list of indices, ``("r", a, b, idx)`` the range
    ``[a, b)`` resampled to the local nearest-neighbour indices ``idx``.
    """

    def __init__(self, reader: LevelReader, specs: tuple[tuple[Any, ...], ...], dtype: np.dtype):
        self.reader = reader
        self.specs = specs
        self.dtype = dtype
        self.shape = tuple(spec_len(s) for s in specs if s[0] != "i")
        self.ndim = len(self.shape)

    def __dask_tokenize__(self) -> Any:
        return (self.reader.__dask_tokenize__(), self.specs)

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        selection: list[Any] = []
        post: list[tuple[int, np.ndarray]] = []
        orthogonal = False
        out_axis = 0
        for spec in self.specs:
            kind = spec[0]
            if kind == "i":
                selection.append(spec[1])
                continue
            o = key[out_axis] if out_axis < len(key) else slice(None)
            lo, hi, _ = o.indices(self.shape[out_axis])
            if kind == "s":
                selection.append(slice(spec[1] + lo, spec[1] + hi))
            elif kind == "l":
                selection.append(np.asarray(spec[1][lo:hi], dtype=np.intp))
                orthogonal = True
            else:  # "r"
                idx = np.asarray(spec[3][lo:hi], dtype=np.intp)
                first, last = int(idx[0]), int(idx[-1])
                steps = np.diff(idx)
                if idx.size == 1 or (steps[0] > 0 and np.all(steps == steps[0])):
                    step = int(steps[0]) if idx.size > 1 else 1
                    selection.append(slice(spec[1] + first, spec[1] + last + 1, step))
                else:
                    selection.append(slice(spec[1] + first, spec[1] + last + 1))
                    post.append((out_axis, idx - first))
            out_axis += 1
        data = self.reader.read(tuple(selection), orthogonal=orthogonal)
        for axis, idx in post:
            data = np.take(data, idx, axis=axis)
        return data


def make_spec(sel: int | list[int] | None, n: int) -> tuple[Any, ...]:
    if sel is None:
        return ("s", 0, n)
    if isinstance(sel, list):
        if sel and sel == list(range(sel[0], sel[0] + len(sel))):
            return ("s", sel[0], sel[0] + len(sel))
        return ("l", tuple(sel))
    return ("i", int(sel))


def spec_len(spec: tuple[Any, ...]) -> int:
    kind = spec[0]
    if kind == "s":
        return spec[2] - spec[1]
    if kind == "l":
        return len(spec[1])
    if kind == "r":
        return len(spec[3])
    return 1


def spec_chunks(spec: tuple[Any, ...], block: int) -> tuple[int, ...]:
    """Dask chunks of one axis: ``("s", a, b)`` split on the level's block grid."""
    if spec[0] != "s":
        return (spec_len(spec),)
    a, b = spec[1], spec[2]
    edges = [a] + list(range((a // block + 1) * block, b, block)) + [b]
    return tuple(hi - lo for lo, hi in itertools.pairwise(edges))


def as_list(sel: Any, n: int) -> list[int]:
    if sel is None:
        return list(range(n))
    if isinstance(sel, (list, tuple)):
        return [int(s) for s in sel]
    return [int(sel)]


def axis_selection(
    value: Any, name: str, extent0: int, factor: float, extent: int
) -> int | list[int] | None:
    """Level-0 ``z``/``t`` indices mapped onto a level (None: all)."""
    if value is None:
        return None

    def one(v: Any) -> int:
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise RegionError(f"{name} must be an integer index, not {v!r}")
        if not 0 <= v < extent0:
            raise RegionError(
                f"{name}={v} is out of range: the image has {name} 0 to {extent0 - 1}"
            )
        return min(math.floor(int(v) / factor + 1e-9), extent - 1)

    if isinstance(value, (list, tuple)):
        return [one(v) for v in value]
    return one(value)


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)):
        raise RegionError(f"{name} must be a number of pixels, not {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise RegionError(f"{name} must be a whole number of level-0 pixels, not {value}")
    return int(value)


def human(n: float) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"
