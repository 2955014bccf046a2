"""What the reader verbs return: a region (lazy data + where it came from), a point, statistics."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np

from ..ngff import Channel


class Region:
    """A region read by :meth:`Image.window` or :meth:`Image.thumbnail`.

    Attributes
    ----------
    data
        Lazy dask array of the pixels; its dimensions are named by ``axes``.
    axes
        The axes left after the selection (a ``c``/``z``/``t`` given as one index is dropped).
    level
        The pyramid level read.
    bbox
        ``(x, y, width, height)`` in level-0 pixels actually covered: the request clipped to the
        image, widened to whole pixels of ``level``.
    clipped
        True when part of the request lay outside the image.
    scale
        Level-0 pixels per output pixel along ``(y, x)`` (1.0 at level 0, about 2 one level up).
    channels
        The channels in ``data`` (labels, colours and display windows).
    """

    def __init__(
        self,
        data: da.Array | None = None,
        *,
        axes: str,
        level: int,
        bbox: tuple[int, int, int, int],
        clipped: bool,
        scale: tuple[float, float],
        channels: tuple[Channel, ...],
        url: str = "",
        source: Any = None,
        make_data: Callable[[], da.Array] | None = None,
    ):
        if data is None and (source is None or make_data is None):
            raise TypeError("Region needs data, or a source and make_data")
        self._data = data
        self._source = source
        self._make_data = make_data
        self.axes = axes
        self.level = level
        self.bbox = bbox
        self.clipped = clipped
        self.scale = scale
        self.channels = channels
        self.url = url

    @property
    def data(self) -> da.Array:
        """The pixels as a lazy dask array (built on first use)."""
        if self._data is None:
            assert self._make_data is not None
            self._data = self._make_data()
        return self._data

    @property
    def shape(self) -> tuple[int, ...]:
        src = self._source if self._data is None else self._data
        return tuple(int(s) for s in src.shape)

    @property
    def dtype(self) -> np.dtype:
        src = self._source if self._data is None else self._data
        return np.dtype(src.dtype)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def compute(self, **kwargs: Any) -> np.ndarray:
        """The pixels as a numpy array, read now in this process.

        Without arguments the region is read in one call, with no dask graph: the storage
        layer fetches and decodes the chunks it touches concurrently. With dask ``compute``
        arguments (e.g. ``scheduler=``), :attr:`data` is computed instead.
        """
        if not kwargs and self._source is not None:
            return np.asarray(self._source[tuple(slice(0, s) for s in self.shape)])
        return np.asarray(self.data.compute(**kwargs))

    def to_numpy(self) -> np.ndarray:
        """Same as :meth:`compute`."""
        return self.compute()

    def __repr__(self) -> str:
        x, y, w, h = self.bbox
        shape = "x".join(str(s) for s in self.shape)
        return (
            f"Region({self.axes} {shape} {self.dtype}, level {self.level}, "
            f"bbox x={x} y={y} w={w} h={h}{', clipped' if self.clipped else ''})"
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class Point:
    """The values at one level-0 pixel, over the axes left after the selection (usually ``c``)."""

    values: np.ndarray
    axes: str
    x: int
    y: int
    level: int
    channels: tuple[Channel, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{channel label: value}`` when only the channel axis is left, else ``{"values": ...}``."""
        if self.axes == "c":
            return {ch.label: self.values[i].item() for i, ch in enumerate(self.channels)}
        if self.axes == "":
            key = self.channels[0].label if len(self.channels) == 1 else "value"
            return {key: self.values.item()}
        return {"axes": self.axes, "values": self.values.tolist()}

    def __repr__(self) -> str:
        return f"Point(x={self.x}, y={self.y}, level {self.level}, {self.to_dict()})"


@dataclass(frozen=True, kw_only=True)
class ChannelStatistics:
    """Statistics of one channel over the pixels read (NaN and infinities are left out)."""

    label: str
    count: int
    min: float
    max: float
    mean: float
    std: float
    percentiles: dict[float, float]
    histogram: tuple[list[int], list[float]]
    """Counts and bin edges (``len(edges) == len(counts) + 1``)."""
    valid_percent: float = 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "percentiles": {str(k): v for k, v in self.percentiles.items()},
            "histogram": [list(self.histogram[0]), list(self.histogram[1])],
            "valid_percent": self.valid_percent,
        }


@dataclass(frozen=True, kw_only=True)
class Statistics(Mapping[str, ChannelStatistics]):
    """Per-channel statistics, by channel label (or index), and where they were computed."""

    level: int
    bbox: tuple[int, int, int, int]
    scale: tuple[float, float]
    channels: tuple[ChannelStatistics, ...] = field(default=())

    def __getitem__(self, key: str | int) -> ChannelStatistics:  # type: ignore[override]
        if isinstance(key, int):
            return self.channels[key]
        for ch in self.channels:
            if ch.label == key:
                return ch
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (ch.label for ch in self.channels)

    def __len__(self) -> int:
        return len(self.channels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "bbox": list(self.bbox),
            "scale": list(self.scale),
            "channels": [ch.to_dict() for ch in self.channels],
        }


def channel_statistics(
    label: str, values: np.ndarray, *, percentiles: tuple[float, ...], bins: int
) -> ChannelStatistics:
    """Statistics of ``values`` (any shape); NaN and infinities are not counted."""
    flat = np.asarray(values).ravel()
    total = flat.size
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    if flat.dtype.kind == "b":
        flat = flat.astype(np.uint8)
    n = int(flat.size)
    if n == 0:
        nan = float("nan")
        return ChannelStatistics(
            label=label,
            count=0,
            min=nan,
            max=nan,
            mean=nan,
            std=nan,
            percentiles={float(p): nan for p in percentiles},
            histogram=([], []),
            valid_percent=0.0,
        )
    lo, hi = flat.min().item(), flat.max().item()
    as_float = flat.astype(np.float64, copy=False)
    counts, edges = np.histogram(
        as_float, bins=bins, range=(float(lo), float(hi)) if hi > lo else None
    )
    pct: Any = np.percentile(as_float, list(percentiles)) if percentiles else []
    return ChannelStatistics(
        label=label,
        count=n,
        min=float(lo),
        max=float(hi),
        mean=float(as_float.mean()),
        std=float(as_float.std()),
        percentiles={float(p): float(v) for p, v in zip(percentiles, pct)},
        histogram=([int(c) for c in counts], [float(e) for e in edges]),
        valid_percent=100.0 * n / total if total else 0.0,
    )


__all__ = ["ChannelStatistics", "Point", "Region", "Statistics"]
