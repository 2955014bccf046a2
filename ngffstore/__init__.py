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
from .image import ImageSummary, image_info, write_image
from .storage import Location

__all__ = [
    "AxesError",
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
