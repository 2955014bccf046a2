"""ROI verbs given an image or its URL: :func:`crop` opens the image, then crops it.

This module sits above the image reader (it imports :mod:`ngffstore.image.read`); the crop
itself (:mod:`ngffstore.rois._crop`) works on an opened image and sits below it, so that
``Image.crop`` can use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..image.read import Image, open_image
from ._crop import Crop, crop_image


def crop(
    image: Any,
    roi: Any,
    *,
    storage_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> Crop:
    """The pixels of ``image`` around an ROI, and the ROI's mask on the same grid.

    Parameters
    ----------
    image
        An opened ``Image`` or an image URL.
    roi
        A stored ROI's id (searched in ``layer``, or every layer), a shapely geometry, a WKT
        string, or a row of :func:`query`'s DataFrame. Level-0 pixels, origin top left.
    max_size
        Longest edge of the output: read from the level :func:`~ngffstore.image.choose_level`
        picks (the same rule as ``window``/``thumbnail``) and reduced to fit.
    increase_area
        Multiply the width and height of the ROI's bounding box by this factor, about its centre
        (Cytomine's ``increaseArea``); the box is clipped to the image.
    mask
        Compute the mask (else :attr:`Crop.mask` is all True).
    alpha
        Zero the pixels outside the mask in :attr:`Crop.data` (a transparent background when
        saved as PNG). Implies ``mask``.
    level, c, z, t, memory_cap
        As for ``Image.window``.
    layer
        Where to look up an ROI given by id (default: every layer).
    storage_options
        For an image given by URL.

    The options after ``roi`` are keyword-only; they are :func:`crop_image`'s.
    """
    opened = (
        image if isinstance(image, Image) else open_image(image, storage_options=storage_options)
    )
    return crop_image(opened, roi, **options)


@dataclass(frozen=True)
class SavedCrop:
    """What :func:`save_crop` wrote: the file, a short description, the crop's level and box."""

    path: str
    what: str  # e.g. "64x48 RGB" or "64x48 mask (1200 pixels inside)"
    roi: Any
    level: int
    bbox: tuple[int, int, int, int]

    def to_text(self) -> str:
        x, y, w, h = self.bbox
        return f"wrote {self.what} to {self.path} (ROI {self.roi}, level {self.level}, x={x} y={y} w={w} h={h})"


def save_crop(
    image: Any,
    roi: Any,
    path: str | os.PathLike[str],
    *,
    what: str = "image",
    storage_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> SavedCrop:
    """Crop ``image`` around ``roi`` (:func:`crop`) and save it to ``path`` (:meth:`Crop.save`):
    ``what`` is ``image``, ``mask`` or ``alpha``. ``options`` are :func:`crop`'s."""
    result = crop(image, roi, storage_options=storage_options, mask=True, alpha=what == "alpha", **options)
    text = result.save(path, what=what)
    x, y, w, h = result.bbox
    return SavedCrop(path=os.fspath(path), what=text, roi=roi, level=result.level, bbox=(x, y, w, h))


__all__ = ["SavedCrop", "crop", "save_crop"]
