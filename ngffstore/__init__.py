"""ngffstore: a serverless image and label store for microscopy on OME-Zarr (OME-NGFF)."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from .errors import (
    AxesError,
    ConflictError,
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
from .storage import Location

# Everything that imports dask, pyarrow, shapely or pandas loads on first use: ``import
# ngffstore`` stays light, and the command line chooses how dask is imported (see ngffstore.cli).
_LAZY = {
    "ChannelStatistics": "image",
    "Image": "image",
    "ImageSummary": "image",
    "Point": "image",
    "Region": "image",
    "Statistics": "image",
    "choose_level": "image",
    "image_info": "image",
    "open_image": "image",
    "write_image": "image",
    "build_index": "index",
    "evaluate": "evaluation",
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


if TYPE_CHECKING:
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
    "ConflictError",
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
    "evaluate",
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
