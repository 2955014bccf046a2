"""Image nodes: multiscale OME-NGFF images (writing, inspecting and reading).

The names load from their submodules on first use (see :mod:`ngffstore._lazy`): the reader
(``read``, ``results``) imports dask, which writing an image held in memory does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

_LAZY = {
    "DEFAULT_MEMORY_CAP": "read",
    "Image": "read",
    "open_image": "read",
    "ImageSummary": "info",
    "LevelSummary": "info",
    "image_info": "info",
    "Level": "levels",
    "choose_level": "levels",
    "ChannelStatistics": "results",
    "Point": "results",
    "Region": "results",
    "Statistics": "results",
    "write_image": "write",
}

if TYPE_CHECKING:
    from .info import ImageSummary, LevelSummary, image_info
    from .levels import Level, choose_level
    from .read import DEFAULT_MEMORY_CAP, Image, open_image
    from .results import ChannelStatistics, Point, Region, Statistics
    from .write import write_image


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "DEFAULT_MEMORY_CAP",
    "ChannelStatistics",
    "Image",
    "ImageSummary",
    "Level",
    "LevelSummary",
    "Point",
    "Region",
    "Statistics",
    "choose_level",
    "image_info",
    "open_image",
    "write_image",
]
