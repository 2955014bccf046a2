"""Image nodes: multiscale OME-NGFF images (writing, inspecting and reading)."""

from .info import ImageSummary, LevelSummary, image_info
from .write import write_image

__all__ = ["ImageSummary", "LevelSummary", "image_info", "write_image"]
