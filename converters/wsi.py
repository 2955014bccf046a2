"""Whole-slide images: Aperio SVS, Hamamatsu NDPI and other pyramidal tiled TIFFs.

tifffile knows these layouts: it presents the slide as series 0 (a pyramid whose level 0 the TIFF
converter reads tile by tile, JPEG, JPEG 2000 or LZW) and the slide's other images (thumbnail,
label, macro, NDPI map) as further series. This module adds what a slide says beyond a TIFF:

- the pixel size: SVS ``MPP`` in the Aperio image description (micrometers per pixel); NDPI and
  the other layouts use the resolution tags, read by the TIFF converter;
- vendor key-values (``AppMag``, scanner, magnification...);
- the associated images as :class:`~converters.base.Attachment` (``label``, ``macro``,
  ``thumbnail``, ``map``), stored beside the image;
- brightfield RGB (8-bit) gets the display window 0-255 on its red, green and blue channels;
- one tile of level 0 is decoded when the slide is opened, so an undecodable slide (e.g. JPEG
  tiles whose tables are missing) fails before anything is written.

Slides tifffile does not read (MIRAX ``.mrxs``, Hamamatsu ``.vms``, Sakura ``.svslide``...) go
through OpenSlide, when installed (``pip install ngffstore[openslide]``): see
:mod:`converters.openslide`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tifffile

try:  # not re-exported at the top level by every tifffile version
    from tifffile.tifffile import svs_description_metadata
except ImportError:  # pragma: no cover
    svs_description_metadata = tifffile.svs_description_metadata

# SVS "key = value" pairs kept as key-values (others are scanner bookkeeping)
_SVS_KEYS = {
    "AppMag": "objective_magnification",
    "MPP": "mpp",
    "ScanScope ID": "scanner_id",
    "Date": "acquisition_date",
    "Time": "acquisition_time",
    "Filename": "original_filename",
    "Title": "title",
    "Exposure Time": "exposure_time",
    "Focus Offset": "focus_offset",
    "StripeWidth": "stripe_width",
}
_NDPI_KEYS = {
    "Magnification": "objective_magnification",
    "Model": "scanner_model",
    "Make": "scanner_make",
    "ScannerSerialNumber": "scanner_id",
    "Created": "acquisition_date",
    "FocusTime": "focus_time",
    "ScanTime": "scan_time",
}
ASSOCIATED = ("label", "macro", "thumbnail", "map")
"""Names of a slide's associated images, stored as attachments."""

_SAFE = re.compile(r"[^a-z0-9_.-]+")


@dataclass(kw_only=True)
class Slide:
    """What a whole-slide TIFF adds to its level 0: kind, calibration, associated images."""

    kind: str  # svs, ndpi, scn, bif, philips, pyramid
    scale: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    associated: list[tuple[str, int, tuple[int, ...], np.dtype]] = field(default_factory=list)
    rgb8: bool = False


def slide_kind(tf: tifffile.TiffFile) -> str | None:
    """The whole-slide layout of an open TIFF, or None for any other TIFF."""
    for kind in ("svs", "ndpi", "scn", "bif", "philips"):
        if getattr(tf, f"is_{kind}", False):
            return kind
    if tf.is_ome or tf.is_imagej or not tf.series:
        return None
    s = tf.series[0]
    if s.is_pyramidal and s.keyframe.is_tiled and _is_rgb8(s.keyframe):
        return "pyramid"
    return None


def describe_slide(tf: tifffile.TiffFile, index: int) -> Slide | None:
    """The slide information of series ``index`` of ``tf`` (None: not a slide's main image)."""
    kind = slide_kind(tf)
    if kind is None or index != 0:
        return None
    s = tf.series[0]
    slide = Slide(kind=kind, rgb8=_is_rgb8(s.keyframe))
    slide.metadata["slide_format"] = kind
    if kind == "svs":
        _svs(s.keyframe.description, slide)
    elif kind == "ndpi":
        _ndpi(s.keyframe, slide)
    names: set[str] = set()
    for i, other in enumerate(tf.series[1:], start=1):
        name = _SAFE.sub("_", (other.name or "").strip().lower())
        if kind == "pyramid" and name not in ASSOCIATED:
            continue  # a generic pyramid's other series are images in their own right
        if not name or name in names:
            name = f"associated_{i}"
        names.add(name)
        slide.associated.append((name, i, tuple(other.get_shape(False)), other.dtype))
    return slide


def _is_rgb8(page: Any) -> bool:
    rgb = (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR)
    return page.photometric in rgb and page.samplesperpixel == 3 and page.dtype == np.uint8


def _svs(description: str, slide: Slide) -> None:
    try:
        values = svs_description_metadata(description)
    except ValueError:  # a description tifffile cannot split: keep the slide, lose its key-values
        return
    header = str(values.get("Header", "")).strip()
    if header:
        slide.metadata["scanner_software"] = header.splitlines()[0][:200]
    for key, name in _SVS_KEYS.items():
        value = values.get(key)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool) and str(value).strip():
            slide.metadata[name] = value
    mpp = values.get("MPP")
    if isinstance(mpp, (int, float)) and mpp > 0:
        slide.scale.update(y=float(mpp), x=float(mpp))


def _ndpi(page: Any, slide: Slide) -> None:
    try:
        tags = page.ndpi_tags or {}
    except Exception:  # noqa: BLE001  # tifffile raises KeyError etc. for incomplete NDPI tags
        tags = {}
    for key, name in _NDPI_KEYS.items():
        value = tags.get(key)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool) and str(value).strip():
            slide.metadata[name] = value
