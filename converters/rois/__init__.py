"""ROI annotation files <-> :class:`RoiSet` (geometries, terms, properties): no Zarr here.

Formats
-------
``geojson``
    A FeatureCollection, a list of Features (QuPath's "export as list"), one Feature or one bare
    geometry. Terms come from ``properties.classification`` (QuPath: ``{"name": ...}`` or
    ``{"names": [...]}``, with ``color`` ``[r, g, b]`` or the older ``colorRGB``), or from
    ``properties.terms`` / ``properties.term``.
``wkt``
    One WKT geometry per line (blank lines and lines starting with ``#`` are skipped).
``csv``
    A header line, a WKT column (``wkt``, ``geometry``, ``location`` or ``geom``), optional
    ``id``, ``term``/``terms`` (several separated by ``;``) and ``properties`` (a JSON object)
    columns; any other column becomes a property (numbers are read as numbers).
``cytomine``
    Cytomine annotation JSON: a list of annotations or ``{"collection": [...]}``; each has a
    ``location`` (WKT) and ``term`` (term ids, resolved with an ontology file, or names).
    Cytomine's origin is the **bottom left**: ``y`` is converted with the image height
    (``y' = height - y``) on import and back on export.

Coordinates everywhere else are level-0 pixels, origin top left, x = column, y = row.

Reading is :mod:`._read`, writing :mod:`._write`; :func:`import_rois` and :func:`export_rois`
(:mod:`._layers`) move ROIs between such files and the ROI layers of a stored image.
"""

from ngffstore.rois import default_term_color

from ._layers import RoiExport, RoiImport, export_rois, import_rois
from ._read import (
    FORMATS,
    RoiSet,
    detect_format,
    flip_y,
    ontology_from_json,
    parse_csv,
    parse_cytomine,
    parse_geojson,
    parse_rois,
    parse_wkt,
    read_ontology_file,
    read_rois_file,
    split_terms,
)
from ._write import format_rois, write_rois_file, write_text

__all__ = [
    "FORMATS",
    "RoiExport",
    "RoiImport",
    "RoiSet",
    "default_term_color",
    "detect_format",
    "export_rois",
    "flip_y",
    "format_rois",
    "import_rois",
    "ontology_from_json",
    "parse_csv",
    "parse_cytomine",
    "parse_geojson",
    "parse_rois",
    "parse_wkt",
    "read_ontology_file",
    "read_rois_file",
    "split_terms",
    "write_rois_file",
    "write_text",
]
