"""Rendering regions to pictures and saving them (PNG composite, raw TIFF, .npy).

PNG: an additive colour composite of the channels, each scaled by its omero window
(``start``..``end``) or, when it has none, by an auto-contrast between the 0.5th and 99.5th
percentiles of the pixels shown. TIFF and ``.npy`` keep the raw values and every axis.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..ngff import Channel
from .results import Region

AUTO_PERCENTILES = (0.5, 99.5)
FORMATS = (".png", ".tif", ".tiff", ".npy")


def auto_window(
    plane: np.ndarray, percentiles: tuple[float, float] = AUTO_PERCENTILES
) -> tuple[float, float]:
    """A display range from the percentiles of ``plane`` (finite values only)."""
    values = np.asarray(plane, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, percentiles))
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def display_plane(data: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    """Reduce ``data`` to ``yx`` or ``cyx`` for display: middle ``z`` plane, first ``t``."""
    for name in ("t", "z"):
        if name in axes:
            i = axes.index(name)
            data = np.take(data, 0 if name == "t" else data.shape[i] // 2, axis=i)
            axes = axes.replace(name, "")
    order = [axes.index(a) for a in "cyx" if a in axes]
    return np.transpose(data, order), "".join(a for a in "cyx" if a in axes)


def composite(
    data: np.ndarray, axes: str, channels: Sequence[Channel], *, active_only: bool = True
) -> np.ndarray:
    """An ``(height, width, 3)`` uint8 RGB picture: channels coloured and added.

    Channels use their colour and window; without a usable window, an auto-contrast. With
    ``active_only``, channels marked inactive are left out (unless none is active).
    """
    planes, axes = display_plane(np.asarray(data), axes)
    if "c" not in axes:
        planes = planes[None]
        channels = list(channels[:1]) or [Channel(label="channel 0")]
    use = [i for i, ch in enumerate(channels) if ch.active or not active_only]
    if not use:
        use = list(range(len(channels)))
    height, width = planes.shape[-2:]
    rgb = np.zeros((height, width, 3), dtype=np.float64)
    for i in use:
        plane = planes[i]
        ch = channels[i]
        if plane.dtype.kind == "b":
            lo, hi = 0.0, 1.0
        elif ch.window is not None and ch.window.end > ch.window.start:
            lo, hi = ch.window.start, ch.window.end
        else:
            lo, hi = auto_window(plane)
        norm = np.clip((plane.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
        norm[~np.isfinite(norm)] = 0.0
        rgb += norm[..., None] * np.array([int(ch.color[k : k + 2], 16) / 255 for k in (0, 2, 4)])
    return (np.clip(rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def display_planes(
    axes: str, shape: Sequence[int], path: str | os.PathLike[str], *, z: int | None = None, t: int | None = None
) -> dict[str, int | None]:
    """The ``z`` and ``t`` to read for a picture saved to ``path``: as given; a PNG shows one
    plane, by default the middle z plane and the first time point."""
    if os.path.splitext(os.fspath(path))[1].lower() == ".png":
        if z is None and "z" in axes:
            z = shape[axes.index("z")] // 2
        if t is None and "t" in axes:
            t = 0
    return {"z": z, "t": t}


def save(
    region: Region,
    path: str | os.PathLike[str],
    *,
    data: np.ndarray | None = None,
    active_only: bool = True,
    decorate: Callable[[np.ndarray], np.ndarray] | None = None,
) -> str:
    """Write ``region`` to ``path`` (``.png`` composite, ``.tif``/``.tiff`` or ``.npy`` raw).

    ``decorate`` (PNG only) draws on the RGB composite before it is saved, e.g. a label overlay.
    Returns a short description of what was written (shape and kind).
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise InputError(f"cannot write {path!r}: use a .png, .tif or .npy file name")
    pixels = region.compute() if data is None else data
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: the folder {folder} does not exist")
    if ext == ".png":
        from PIL import Image as PILImage

        rgb = composite(pixels, region.axes, region.channels, active_only=active_only)
        if decorate is not None:
            rgb = decorate(rgb)
        PILImage.fromarray(rgb).save(path)
        return f"{rgb.shape[1]}x{rgb.shape[0]} RGB"
    if ext == ".npy":
        np.save(path, pixels)
    else:
        import tifffile

        tifffile.imwrite(path, pixels, metadata={"axes": region.axes.upper()})
    shape = "x".join(str(s) for s in pixels.shape)
    return f"{shape} {pixels.dtype} ({region.axes})"


@dataclass(frozen=True)
class SavedRegion:
    """What :func:`save_region` wrote: the file, a short description, where it was read from."""

    path: str
    what: str  # e.g. "256x192 RGB" or "2x64x64 uint16 (cyx)"
    level: int
    n_levels: int
    shape: tuple[int, ...]
    dtype: str
    axes: str
    bbox: tuple[int, int, int, int]
    clipped: bool

    def to_text(self) -> str:
        x, y, w, h = self.bbox
        shape = "x".join(str(s) for s in self.shape)
        clipped = ", clipped to the image" if self.clipped else ""
        return (
            f"wrote {self.path} ({self.what}) from level {self.level} of {self.n_levels} "
            f"({shape} {self.dtype}, {self.axes}), level-0 region x={x} y={y} w={w} h={h}{clipped}"
        )


def save_region(
    image: Any,
    path: str | os.PathLike[str],
    *,
    bbox: tuple[int, int, int, int] | None = None,
    max_size: int | None = None,
    level: int | None = None,
    c: Any = None,
    z: int | None = None,
    t: int | None = None,
    labels: str | None = None,
    labels_alpha: float = 0.5,
) -> SavedRegion:
    """Read a region of an opened ``image`` and save it to ``path`` (see :func:`save`).

    ``bbox`` (``x, y, width, height``, level-0 pixels) reads ``image.window`` (with ``level`` or
    ``max_size``); without it, ``image.thumbnail(max_size or 256)``. ``z``/``t`` default as
    :func:`display_planes` says; all channels are shown when ``c`` is None (else the active ones
    of those chosen). ``labels`` draws that label image over the picture (PNG only; a wrong
    name fails before any pixel is read).
    """
    out = os.fspath(path)
    planes = display_planes(image.axes, image.shape, out, z=z, t=t)
    if bbox is not None:
        region = image.window(*bbox, level=level, max_size=max_size, c=c, **planes)
    elif level is not None:
        raise InputError("a thumbnail is read from the level that fits max_size; give a bbox to choose the level")
    else:
        region = image.thumbnail(256 if max_size is None else max_size, c=c, **planes)
    overlay = None
    if labels:  # checked before any pixel is read
        if os.path.splitext(out)[1].lower() != ".png":
            raise InputError(f"--labels draws on a PNG; {out} is not a .png file")
        overlay = image.label(labels)
    decorate = None
    if overlay is not None:

        def decorate(rgb: np.ndarray) -> np.ndarray:
            return overlay.overlay(rgb, region, z=planes["z"], t=planes["t"], alpha=labels_alpha)

    what = save(region, out, active_only=c is None, decorate=decorate)
    return SavedRegion(
        path=out, what=what, level=region.level, n_levels=len(image.multiscale.datasets),
        shape=tuple(region.shape), dtype=str(region.dtype), axes=region.axes,
        bbox=tuple(region.bbox), clipped=bool(region.clipped),
    )


__all__ = ["SavedRegion", "auto_window", "composite", "display_plane", "display_planes", "save", "save_region"]
