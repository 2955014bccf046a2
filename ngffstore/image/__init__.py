"""Image nodes: multiscale OME-NGFF images (writing, inspecting and reading)."""

from .info import ImageSummary, LevelSummary, image_info
from .levels import Level, choose_level
from .read import DEFAULT_MEMORY_CAP, Image, open_image
from .results import ChannelStatistics, Point, Region, Statistics
from .write import write_image

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
