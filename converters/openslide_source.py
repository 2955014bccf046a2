"""Slides tifffile does not read (MIRAX, Hamamatsu VMS, Sakura SVSLIDE, ...) through OpenSlide.

Used when OpenSlide is installed (``pip install 'ngffstore[openslide]'``) and recognises the
file. Level 0 is read region by region (``read_region`` at level 0, about 8 MiB per dask chunk)
as RGB (OpenSlide's alpha is dropped; transparent areas are 0); the pixel size comes from
``openslide.mpp-x``/``mpp-y``, the objective from ``openslide.objective-power``; the associated
images become attachments.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

from ngffstore.errors import InputError, NgffStoreError
from ngffstore.storage import Location

from ._common import make_source
from ._io import FileArray, short, stem
from .base import Attachment, Source

EXTRA = "openslide"
SUFFIXES = (".mrxs", ".vms", ".vmu", ".svslide", ".scn", ".bif", ".ndpi", ".svs", ".dcm")
_REGION = 2048  # 2048 x 2048 RGB = 12 MiB per read


def openslide_installed() -> bool:
    return importlib.util.find_spec("openslide") is not None


def detect(location: Location) -> str | None:
    """OpenSlide's vendor name for a local file it can read, or None."""
    if not location.is_local or not openslide_installed():
        return None
    try:
        import openslide

        return openslide.OpenSlide.detect_format(location.path)
    except Exception:  # noqa: BLE001  # OpenSlide raises several types for files it does not know
        return None


def open_openslide(location: Location, *, series: int | None = None) -> Source:
    """Level 0 of a slide OpenSlide reads, as a lazy ``cyx`` RGB :class:`Source`."""
    where = location.url
    if not openslide_installed():
        raise InputError(f"{where}: reading this slide needs OpenSlide: pip install 'ngffstore[{EXTRA}]'")
    if not location.is_local:
        raise InputError(f"{where}: OpenSlide reads local files only; copy the slide to local disk first")
    if series not in (None, 0):
        raise InputError(
            f"{where} holds one slide; its label, macro and thumbnail images are stored as "
            "attachments, leave out --series"
        )
    import dask.array as da
    import openslide

    try:
        with openslide.OpenSlide(location.path) as slide:
            width, height = slide.dimensions
            props = dict(slide.properties)
            associated = {name: np.asarray(img.convert("RGB")) for name, img in slide.associated_images.items()}
    except NgffStoreError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {where} with OpenSlide: {short(exc)}; the slide is damaged or incomplete") from exc
    array = SlideArray(location, (3, height, width), np.uint8)
    data = array.to_dask((3, min(_REGION, height), min(_REGION, width)))
    scale = {}
    for axis in ("x", "y"):
        try:
            value = float(props.get(f"openslide.mpp-{axis}", ""))
        except ValueError:
            continue
        if value > 0:
            scale[axis] = value
    metadata: dict[str, Any] = {"slide_format": props.get("openslide.vendor", "openslide"), "reader": "openslide"}
    if props.get("openslide.objective-power"):
        metadata["objective_magnification"] = props["openslide.objective-power"]
    source = make_source(
        data, "cyx", where=where, name=stem(location), scale=scale, units={a: "micrometer" for a in scale},
        channel_names=["R", "G", "B"], channel_colors=["FF0000", "00FF00", "0000FF"], metadata=metadata,
    )
    source.channel_windows = [(0.0, 255.0)] * 3
    for name, pixels in associated.items():
        source.attachments.append(Attachment(name=name.lower(), data=da.from_array(pixels), description="openslide"))
    return source


class SlideArray(FileArray):
    """``(3, y, x)`` RGB level 0 of a slide read with OpenSlide's ``read_region``."""

    prefix = "openslide"

    def _open(self) -> tuple[Any, Callable[[], None]]:
        import openslide

        slide = openslide.OpenSlide(self.location.path)
        return _Regions(slide), slide.close


class _Regions:
    def __init__(self, slide: Any) -> None:
        self.slide = slide

    def __getitem__(self, key: Any) -> np.ndarray:
        c, y, x = (k.indices(n)[:2] for k, n in zip(key, (3, *self.slide.dimensions[::-1])))
        region = self.slide.read_region((x[0], y[0]), 0, (x[1] - x[0], y[1] - y[0]))
        rgba = np.asarray(region)
        return np.ascontiguousarray(np.moveaxis(rgba[..., c[0] : c[1]], -1, 0))
