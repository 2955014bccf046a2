"""Vector ROIs of an image: layers of geometries with ontology terms (see ``specs/rois.md``).

A layer is GeoParquet under ``IMAGE/rois/<layer>/`` (WKB geometry, one row per ROI, rows sorted
along a Hilbert curve with bbox statistics per row group) described by
``attributes["ngffstore"]["rois"]`` of the image group, which also holds the image's copy of
the terms it uses (colour, parent). Coordinates are level-0 pixels, origin top left, x = column,
y = row. File formats (GeoJSON, QuPath, WKT, CSV, Cytomine) are read and written by
:mod:`converters.rois`.
"""

from ._crop import Crop, crop_box, crop_image
from ._image import crop
from ._input import RoiRepairWarning
from ._labels import from_labels, rasterize
from ._mask import geometry_mask
from ._model import (
    KINDS,
    ROIS_VERSION,
    Layer,
    LayerFile,
    Ontology,
    RoiLayerSummary,
    RoisAttrs,
    Term,
    default_term_color,
)
from ._node import read_rois_attrs
from ._query import get_roi, list_layers, list_roi_layers, query, read_rois, read_terms
from ._stats import StatisticsExport, export_statistics, find_images, image_statistics, statistics
from ._store import (
    delete_layer,
    load_ontology,
    remove_roi_layer,
    write_ontology,
    write_rois,
)

__all__ = [
    "KINDS",
    "ROIS_VERSION",
    "Crop",
    "Layer",
    "LayerFile",
    "Ontology",
    "RoiLayerSummary",
    "RoiRepairWarning",
    "RoisAttrs",
    "StatisticsExport",
    "Term",
    "crop",
    "crop_box",
    "crop_image",
    "default_term_color",
    "delete_layer",
    "export_statistics",
    "find_images",
    "from_labels",
    "geometry_mask",
    "get_roi",
    "image_statistics",
    "list_layers",
    "list_roi_layers",
    "load_ontology",
    "query",
    "rasterize",
    "read_rois",
    "read_rois_attrs",
    "read_terms",
    "remove_roi_layer",
    "statistics",
    "write_ontology",
    "write_rois",
]
