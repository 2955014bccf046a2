"""Crops: the pixels around an ROI and its mask on the same output grid (Cytomine's annotation
crop with ``mask``, ``alphaMask``, ``maxSize``, ``increaseArea``).

This module works on an opened image (:func:`crop_image`, what ``Image.crop`` calls) and never
imports the image reader; :func:`ngffstore.rois.crop` (in :mod:`ngffstore.rois._image`) opens
an image given by URL first."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import shapely

from ..errors import InputError
from ._mask import geometry_mask
from ._query import get_roi


@dataclass(frozen=True, kw_only=True, eq=False)
class Crop:
    """A crop: the region read (lazy data and where it came from) and the ROI's mask.

    Attributes
    ----------
    region
        The :class:`~ngffstore.image.Region` read (``bbox`` in level-0 pixels, ``level``, ``scale``).
    mask
        Boolean ``(height, width)`` array on the output grid: True where the output pixel's centre
        is inside the ROI (see :func:`geometry_mask`); all True when the crop was asked without mask.
    geometry
        The ROI's geometry (level-0 pixels).
    roi
        ``{"id", "layer", "terms"}`` when the crop was made from a stored ROI.
    alpha
        Whether :attr:`data` is zero outside the mask (and the picture transparent there).
    """

    region: Any
    mask: np.ndarray
    geometry: shapely.Geometry
    roi: Mapping[str, Any] | None = None
    alpha: bool = False

    @property
    def axes(self) -> str:
        return str(self.region.axes)

    @property
    def level(self) -> int:
        return int(self.region.level)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return tuple(self.region.bbox)  # type: ignore[return-value]

    @property
    def scale(self) -> tuple[float, float]:
        return tuple(self.region.scale)  # type: ignore[return-value]

    @property
    def channels(self) -> tuple[Any, ...]:
        return tuple(self.region.channels)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.region.data.shape)

    def _mask_nd(self) -> np.ndarray:
        axes = self.axes
        shape = [1] * len(axes)
        shape[axes.index("y")] = self.mask.shape[0]
        shape[axes.index("x")] = self.mask.shape[1]
        return self.mask.reshape(shape)  # NGFF orders y before x

    @property
    def data(self) -> da.Array:
        """Lazy pixels (zero outside the mask when ``alpha``)."""
        if not self.alpha:
            return self.region.data
        return da.where(
            self._mask_nd(), self.region.data, np.zeros((), dtype=self.region.data.dtype)
        )

    def compute(self) -> np.ndarray:
        """The pixels as numpy (zero outside the mask when ``alpha``)."""
        pixels = self.region.compute()
        if self.alpha:
            pixels = np.where(self._mask_nd(), pixels, np.zeros((), dtype=pixels.dtype))
        return pixels

    def masked(self, fill: Any = 0) -> np.ndarray:
        """The pixels with ``fill`` outside the mask."""
        pixels = self.region.compute()
        return np.where(self._mask_nd(), pixels, np.asarray(fill, dtype=pixels.dtype))

    def save(self, path: str | os.PathLike[str], *, what: str = "image") -> str:
        """Write the crop: ``what`` is ``image`` (colour composite PNG, or raw ``.tif``/``.npy``),
        ``mask`` (the mask: PNG white inside, or ``.npy``/``.tif`` booleans) or ``alpha`` (PNG
        with the mask as alpha channel). Returns a short description of what was written."""
        from ..image.render import composite, save

        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower()
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise InputError(f"cannot write {path}: the folder {folder} does not exist")
        if what == "mask":
            if ext == ".png":
                from PIL import Image as PILImage

                PILImage.fromarray((self.mask * 255).astype(np.uint8), mode="L").save(path)
            elif ext == ".npy":
                np.save(path, self.mask)
            elif ext in (".tif", ".tiff"):
                import tifffile

                tifffile.imwrite(path, self.mask.astype(np.uint8) * 255)
            else:
                raise InputError(f"cannot write {path!r}: use a .png, .tif or .npy file name")
            return f"{self.mask.shape[1]}x{self.mask.shape[0]} mask ({int(self.mask.sum())} pixels inside)"
        if what == "alpha" and ext == ".png":
            from PIL import Image as PILImage

            rgb = composite(self.region.compute(), self.axes, self.channels)
            rgba = np.dstack([rgb, (self.mask * 255).astype(np.uint8)])
            PILImage.fromarray(rgba, mode="RGBA").save(path)
            return f"{rgba.shape[1]}x{rgba.shape[0]} RGBA"
        if what not in ("image", "alpha"):
            raise InputError(f"what must be image, mask or alpha, not {what!r}")
        return str(save(self.region, path, data=self.compute()))

    def __repr__(self) -> str:
        x, y, w, h = self.bbox
        shape = "x".join(str(s) for s in self.shape)
        return (
            f"Crop({self.axes} {shape}, level {self.level}, bbox x={x} y={y} w={w} h={h}, "
            f"{int(self.mask.sum())} pixels in mask)"
        )


def _resolve(
    image: Any, roi: Any, layer: str | None
) -> tuple[shapely.Geometry, dict[str, Any] | None]:
    if isinstance(roi, (int, np.integer)) and not isinstance(roi, bool):
        row = get_roi(image, int(roi), layer=layer)
        return row["geometry"], {
            "id": int(row["id"]),
            "layer": str(row["layer"]),
            "terms": list(row["terms"]),
        }
    if isinstance(roi, shapely.Geometry):
        return roi, None
    if isinstance(roi, str):
        try:
            return shapely.from_wkt(roi), None
        except (shapely.errors.GEOSException, ValueError):
            raise InputError(f"not an ROI id, geometry or WKT: {roi[:60]!r}") from None
    if isinstance(roi, Mapping) or hasattr(roi, "index") and hasattr(roi, "get"):  # a dict or a row
        geom = roi.get("geometry")
        if isinstance(geom, shapely.Geometry):
            meta = None
            if roi.get("id") is not None:
                meta = {
                    "id": int(roi.get("id")),
                    "layer": roi.get("layer"),
                    "terms": list(roi.get("terms") or []),
                }
            return geom, meta
    raise InputError(f"not an ROI id, geometry or WKT: {roi!r}")


def _region_mask(
    image: Any, region: Any, geometry: shapely.Geometry, out_h: int, out_w: int
) -> np.ndarray:
    """The mask on the pixels of the level read, picked as the data were (nearest neighbour), so
    mask and data agree pixel for pixel at any level and output size."""
    from ..image.levels import nearest_index

    lv = image.levels[region.level]
    fy, fx = lv.factors[image.axes.index("y")], lv.factors[image.axes.index("x")]
    bx, by, bw, bh = region.bbox
    n_h = max(1, math.ceil(bh / fy - 1e-9))
    n_w = max(1, math.ceil(bw / fx - 1e-9))
    m = geometry_mask(geometry, (n_h, n_w), origin=(bx, by), scale=(fx, fy))
    rows = nearest_index(n_h, out_h)
    cols = nearest_index(n_w, out_w)
    if rows is not None:
        m = m[np.asarray(rows)]
    if cols is not None:
        m = m[:, np.asarray(cols)]
    return m


def crop_box(geometry: shapely.Geometry, increase_area: float = 1.0) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` in level-0 pixels around ``geometry``, each side multiplied by
    ``increase_area`` about the centre (at least one pixel)."""
    if not (
        isinstance(increase_area, (int, float))
        and math.isfinite(increase_area)
        and increase_area > 0
    ):
        raise InputError(f"increase_area must be a positive number, not {increase_area!r}")
    minx, miny, maxx, maxy = geometry.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    w, h = (maxx - minx) * increase_area, (maxy - miny) * increase_area
    x0, x1 = math.floor(cx - w / 2), math.ceil(cx + w / 2)
    y0, y1 = math.floor(cy - h / 2), math.ceil(cy + h / 2)
    if x1 <= x0:
        x1 = x0 + 1
    if y1 <= y0:
        y1 = y0 + 1
    return x0, y0, x1 - x0, y1 - y0


def crop_image(
    image: Any,
    roi: Any,
    *,
    layer: str | None = None,
    max_size: int | None = None,
    increase_area: float = 1.0,
    mask: bool = True,
    alpha: bool = False,
    level: int | None = None,
    c: Any = None,
    z: Any = None,
    t: Any = None,
    memory_cap: int | None = None,
) -> Crop:
    """:func:`ngffstore.rois.crop` of an opened ``Image`` (what ``image.crop(roi)`` calls)."""
    geometry, meta = _resolve(image, roi, layer)
    if geometry.is_empty:
        raise InputError("the ROI's geometry is empty")
    x, y, w, h = crop_box(geometry, increase_area)
    region = image.window(
        x, y, w, h, level=level, max_size=max_size, c=c, z=z, t=t, memory_cap=memory_cap
    )
    out_h = int(region.data.shape[region.axes.index("y")])
    out_w = int(region.data.shape[region.axes.index("x")])
    if mask or alpha:
        m = _region_mask(image, region, geometry, out_h, out_w)
    else:
        m = np.ones((out_h, out_w), dtype=bool)
    return Crop(region=region, mask=m, geometry=geometry, roi=meta, alpha=bool(alpha))


__all__ = ["Crop", "crop_box", "crop_image"]
