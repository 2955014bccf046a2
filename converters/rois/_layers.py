"""Annotation files <-> ROI layers of a stored image: :func:`import_rois`, :func:`export_rois`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ngffstore.errors import InputError, NotNgffError
from ngffstore.rois import Ontology, RoiLayerSummary, query, read_terms, write_rois
from ngffstore.storage import Location

from ._read import FORMATS, _read_text, detect_format, parse_rois, read_ontology_file
from ._write import format_rois, write_text


@dataclass(frozen=True, kw_only=True)
class RoiImport:
    """What :func:`import_rois` did.

    Attributes
    ----------
    url
        The image.
    layer
        The layer as stored (:class:`ngffstore.rois.RoiLayerSummary`: count, terms, kind...).
    count, format
        The ROIs read from the file and its format.
    appended
        The ROIs were added to an existing layer (``append=True``).
    written
        False when these same ROIs had been appended to the layer already (a rerun): nothing
        was written.
    import_id
        The import's identity (a hash of the ROIs, terms, kind and author).
    """

    url: str
    layer: RoiLayerSummary
    count: int
    format: str
    appended: bool
    written: bool
    import_id: str

    def to_text(self) -> str:
        if not self.written:
            return (
                f"nothing to do: these {self.count} ROIs were already added to layer "
                f"{self.layer.name!r} of {self.url} (import {self.import_id[:12]}; layer has "
                f"{self.layer.count} ROIs)"
            )
        terms = ", ".join(f"{t} {n}" for t, n in sorted(self.layer.terms.items())) or "no terms"
        verb = "added" if self.appended else "imported"
        return (
            f"{verb} {self.count} ROIs ({self.format}) into layer {self.layer.name!r} of {self.url} "
            f"(now {self.layer.count}; {terms})"
        )


def import_rois(
    path: Any,
    url: Any,
    *,
    layer: str,
    format: str = "auto",
    terms: str | Sequence[str] | None = None,
    ontology: Any = None,
    kind: str | None = None,
    author: str | None = None,
    overwrite: bool = False,
    append: bool = False,
    repair: bool = True,
    storage_options: Mapping[str, Any] | None = None,
    input_storage_options: Mapping[str, Any] | None = None,
) -> RoiImport:
    """Import the ROIs of an annotation file into layer ``layer`` of the image at ``url``.

    Parameters
    ----------
    path
        A GeoJSON (QuPath), WKT, CSV or Cytomine JSON file (local path or URL).
    format
        ``auto`` (from the name, then the content) or one of :data:`FORMATS`. Cytomine
        coordinates (origin bottom left) are flipped with the image height.
    terms
        Terms given to every ROI.
    ontology
        An ontology file (ngffstore, Cytomine ontology or term list; path or URL) or terms by
        name: every term must be in it; Cytomine term ids are resolved with it.
    kind, author, overwrite, append, repair
        See :func:`ngffstore.rois.write_rois`.
    storage_options, input_storage_options
        fsspec options of the image, and of the annotation and ontology files.

    Raises
    ------
    InputError
        A geometry is invalid, empty or entirely outside the image, or a term is unknown; the
        message names the feature or line. Nothing is written.
    """
    onto = ontology
    source = None
    if isinstance(ontology, (str, os.PathLike)):
        source = os.fspath(ontology)
        onto = read_ontology_file(ontology, storage_options=input_storage_options)
    location, text = _read_text(path, input_storage_options)
    fmt = detect_format(location.name, text) if format in (None, "", "auto") else str(format).lower()
    height = _image_extent(url, storage_options)[1] if fmt == "cytomine" else None
    rois = parse_rois(text, format=fmt, height=height, ontology=onto, source=location.url)
    layer_summary = write_rois(
        rois, url, layer=layer, kind=kind, author=author, terms=terms,
        ontology=Ontology.from_dict(onto, source=source) if source is not None else onto,
        overwrite=overwrite, append=append, repair=repair, storage_options=storage_options,
    )
    return RoiImport(
        url=layer_summary.image,
        layer=layer_summary,
        count=len(rois),
        format=rois.format,
        appended=append,
        written=layer_summary.written,
        import_id=layer_summary.import_id or "",
    )


@dataclass(frozen=True, kw_only=True)
class RoiExport:
    """What :func:`export_rois` wrote: the ROIs of a layer as text in a format."""

    url: str
    layer: str
    format: str
    count: int
    text: str
    path: str | None = None
    """Where the text was written (None: it was only returned)."""

    def to_text(self) -> str:
        where = f" to {self.path}" if self.path else ""
        return f"exported {self.count} ROIs of layer {self.layer!r} as {self.format}{where}"


def export_rois(
    url: Any,
    path: Any = None,
    *,
    layer: str,
    format: str,
    terms: str | Sequence[str] | None = None,
    bbox: Any = None,
    storage_options: Mapping[str, Any] | None = None,
    output_storage_options: Mapping[str, Any] | None = None,
) -> RoiExport:
    """The ROIs of layer ``layer`` of the image at ``url`` as a GeoJSON, WKT, CSV or Cytomine
    file (written to ``path`` when given, a local path or URL; always returned as text).

    ``terms`` keeps the ROIs with one of these terms (or a term below it), ``bbox``
    (``x, y, width, height`` in level-0 pixels) those that intersect it. GeoJSON carries the
    terms' colours; Cytomine coordinates (origin bottom left) are flipped with the image height.
    """
    if format not in FORMATS:
        raise InputError(f"unknown ROI format {format!r}; use one of {', '.join(FORMATS)}")
    location = Location.parse(url, storage_options) if isinstance(url, (str, os.PathLike)) else url
    rois = query(location, layer=layer, terms=terms, bbox=bbox)
    height = _image_extent(location, storage_options)[1] if format == "cytomine" else None
    info = {name: term.to_dict() for name, term in read_terms(location).terms.items()}
    text = format_rois(rois, format, height=height, terms_info=info)
    if path is not None:
        write_text(path, text, storage_options=output_storage_options)
    return RoiExport(
        url=getattr(location, "url", str(url)), layer=layer, format=format, count=len(rois),
        text=text, path=os.fspath(path) if path is not None else None,
    )


def _image_extent(url: Any, storage_options: Mapping[str, Any] | None) -> tuple[int, int]:
    """``(width, height)`` of the image's level 0 in pixels."""
    from ngffstore.image import image_info

    summary = image_info(url, storage_options=storage_options, stored_bytes=False)
    if "x" not in summary.axes or "y" not in summary.axes:
        raise NotNgffError(f"{summary.url} has axes {summary.axes!r}: ROIs need an image with y and x axes")
    return summary.shape[summary.axes.index("x")], summary.shape[summary.axes.index("y")]


__all__ = [
    "RoiExport",
    "RoiImport",
    "export_rois",
    "import_rois",
]
