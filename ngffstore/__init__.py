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
    "Labels": "labels",
    "LabelsInfo": "labels",
    "LabelsSummary": "labels",
    "labels_info": "labels",
    "list_labels": "labels",
    "open_labels": "labels",
    "remove_labels": "labels",
    "write_labels": "labels",
    "RoiLayerSummary": "rois",
    "crop": "rois",
    "from_labels": "rois",
    "list_roi_layers": "rois",
    "rasterize": "rois",
    "read_rois": "rois",
    "remove_roi_layer": "rois",
    "write_rois": "rois",
    "Plate": "plate",
    "PlateInputError": "plate",
    "PlateSummary": "plate",
    "open_plate": "plate",
    "write_plate": "plate",
    "Metadata": "metadata",
    "TableInfo": "metadata",
    "attach_table": "metadata",
    "list_tables": "metadata",
    "read_metadata": "metadata",
    "read_table": "metadata",
    "remove_table": "metadata",
    "write_metadata": "metadata",
    "write_table": "metadata",
    "ProvenanceRecord": "provenance",
    "read_provenance": "provenance",
    "AttachmentInfo": "attachments",
    "list_attachments": "attachments",
    "read_attachment": "attachments",
    "write_attachments": "attachments",
    "IndexReport": "index",
    "IndexStatus": "index",
    "build_index": "index",
    "check_index": "index",
    "index_status": "index",
    "Collection": "index.search",
    "SearchResult": "index.search",
    "open_collection": "index.search",
    "search": "index.search",
    "ValidationReport": "validation",
    "validate": "validation",
    "CrateSummary": "publish",
    "write_crate": "publish",
    "evaluate": "evaluation",
}


if TYPE_CHECKING:
    from .attachments import AttachmentInfo, list_attachments, read_attachment, write_attachments
    from .evaluation import evaluate
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
    from .index import IndexReport, IndexStatus, build_index, check_index, index_status
    from .index.search import Collection, SearchResult, open_collection, search
    from .labels import (
        Labels,
        LabelsInfo,
        LabelsSummary,
        labels_info,
        list_labels,
        open_labels,
        remove_labels,
        write_labels,
    )
    from .metadata import (
        Metadata,
        TableInfo,
        attach_table,
        list_tables,
        read_metadata,
        read_table,
        remove_table,
        write_metadata,
        write_table,
    )
    from .plate import Plate, PlateInputError, PlateSummary, open_plate, write_plate
    from .provenance import ProvenanceRecord, read_provenance
    from .publish import CrateSummary, write_crate
    from .rois import (
        RoiLayerSummary,
        crop,
        from_labels,
        list_roi_layers,
        rasterize,
        read_rois,
        remove_roi_layer,
        write_rois,
    )
    from .validation import ValidationReport, validate


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ngffstore' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AttachmentInfo",
    "AxesError",
    "ChannelStatistics",
    "Collection",
    "ConflictError",
    "CrateSummary",
    "Image",
    "ImageSummary",
    "IndexReport",
    "IndexStatus",
    "InputError",
    "InputNotFoundError",
    "Labels",
    "LabelsInfo",
    "LabelsSummary",
    "Location",
    "MemoryCapError",
    "Metadata",
    "NgffStoreError",
    "NotNgffError",
    "OutputExistsError",
    "Plate",
    "PlateInputError",
    "PlateSummary",
    "Point",
    "ProvenanceRecord",
    "ReadError",
    "Region",
    "RegionError",
    "RoiLayerSummary",
    "SchedulerError",
    "SearchResult",
    "Statistics",
    "StorageAccessError",
    "StorageError",
    "StoreNotFoundError",
    "TableInfo",
    "ValidationError",
    "ValidationReport",
    "__version__",
    "attach_table",
    "build_index",
    "check_index",
    "choose_level",
    "crop",
    "evaluate",
    "from_labels",
    "image_info",
    "index_status",
    "labels_info",
    "list_attachments",
    "list_labels",
    "list_roi_layers",
    "list_tables",
    "open_collection",
    "open_image",
    "open_labels",
    "open_plate",
    "rasterize",
    "read_attachment",
    "read_metadata",
    "read_provenance",
    "read_rois",
    "read_table",
    "remove_labels",
    "remove_roi_layer",
    "remove_table",
    "search",
    "validate",
    "write_attachments",
    "write_crate",
    "write_image",
    "write_labels",
    "write_metadata",
    "write_plate",
    "write_rois",
    "write_table",
]
