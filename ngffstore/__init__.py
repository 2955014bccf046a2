"""ngffstore: a serverless image and label store for microscopy on OME-Zarr (OME-NGFF)."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    AxesError,
    InputError,
    InputNotFoundError,
    MemoryCapError,
    NgffStoreError,
    NotNgffError,
    OutputExistsError,
    ReadError,
    RegionError,
    SchedulerError,
    StorageAccessError,
    StorageError,
    StoreNotFoundError,
    ValidationError,
)
from .image import (
    ChannelStatistics,
    Image,
    ImageSummary,
    Point,
    Region,
    Statistics,
    choose_level,
    image_info,
    open_image,
    write_image,
)
from .index import build_index
from .labels import Labels, list_labels, open_labels, remove_labels, write_labels
from .metadata import attach_table, read_metadata, read_table, write_metadata
from .plate import Plate, PlateInputError, open_plate, write_plate
from .provenance import read_provenance
from .rois import read_rois, write_rois
from .search import search
from .storage import Location

__all__ = [
    "AxesError",
    "ChannelStatistics",
    "Image",
    "Labels",
    "Plate",
    "PlateInputError",
    "Point",
    "Region",
    "Statistics",
    "attach_table",
    "build_index",
    "choose_level",
    "list_labels",
    "open_image",
    "open_labels",
    "open_plate",
    "read_metadata",
    "read_provenance",
    "read_rois",
    "read_table",
    "remove_labels",
    "search",
    "write_labels",
    "write_metadata",
    "write_plate",
    "write_rois",
    "ImageSummary",
    "InputError",
    "InputNotFoundError",
    "Location",
    "MemoryCapError",
    "NgffStoreError",
    "NotNgffError",
    "OutputExistsError",
    "ReadError",
    "RegionError",
    "SchedulerError",
    "StorageAccessError",
    "StorageError",
    "StoreNotFoundError",
    "ValidationError",
    "__version__",
    "image_info",
    "write_image",
]
