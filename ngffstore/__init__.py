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
from .storage import Location

# Subsystems with heavier imports (pyarrow, shapely, pandas) load on first use, so that a
# command such as ``ngffstore convert`` starts quickly.
_LAZY = {
    "build_index": "index",
    "Labels": "labels",
    "list_labels": "labels",
    "open_labels": "labels",
    "remove_labels": "labels",
    "write_labels": "labels",
    "attach_table": "metadata",
    "read_metadata": "metadata",
    "read_table": "metadata",
    "write_metadata": "metadata",
    "Plate": "plate",
    "PlateInputError": "plate",
    "open_plate": "plate",
    "write_plate": "plate",
    "read_provenance": "provenance",
    "read_rois": "rois",
    "write_rois": "rois",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ngffstore' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AxesError",
    "ChannelStatistics",
    "Image",
    "ImageSummary",
    "InputError",
    "InputNotFoundError",
    "Labels",
    "Location",
    "MemoryCapError",
    "NgffStoreError",
    "NotNgffError",
    "OutputExistsError",
    "Plate",
    "PlateInputError",
    "Point",
    "ReadError",
    "Region",
    "RegionError",
    "SchedulerError",
    "Statistics",
    "StorageAccessError",
    "StorageError",
    "StoreNotFoundError",
    "ValidationError",
    "__version__",
    "attach_table",
    "build_index",
    "choose_level",
    "image_info",
    "list_labels",
    "open_image",
    "open_labels",
    "open_plate",
    "read_metadata",
    "read_provenance",
    "read_rois",
    "read_table",
    "remove_labels",
    "write_image",
    "write_labels",
    "write_metadata",
    "write_plate",
    "write_rois",
]
