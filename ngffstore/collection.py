"""Containers of images: the ``bioformats2raw.layout`` collection and a plate of placed fields.

A collection is a group whose attributes say ``bioformats2raw.layout: 3``, with an ``OME/`` group
listing its images (``series``) and one multiscale image per series path. A writer creates the
container with :func:`ngffstore.image.write.prepare_destination` (a ``writing`` marker), writes
the images, then calls :func:`finish_collection` or :func:`finish_plate`: the container's
metadata comes last, so an interrupted write never looks complete and can resume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .attachments import ATTACHMENTS_DIR
from .errors import NgffStoreError
from .metadata import node_kind
from .nodes import read_attrs, write_group_attrs
from .plate.write import write_plate_metadata, write_well_metadata
from .storage import Location

SERIES_GROUP = "OME"
"""The group of a collection that lists its images (``series``)."""
LAYOUT_VERSION = 3


@dataclass(frozen=True, kw_only=True)
class AttachedFile:
    """A file copied verbatim into a container (an acquisition file, a log)."""

    name: str
    url: str
    size: int | None = None

    def to_dict(self, path: str, data: bytes) -> dict[str, Any]:
        return {"name": self.name, "path": path, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "source": self.url}


def copy_files(
    root: Location, files: Sequence[AttachedFile], *, storage_options: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Copy ``files`` verbatim to ``<root>/attachments/<name>``; their descriptions (name, path,
    size, sha256, source) for the container's ``ngffstore.attachments`` block.

    ``storage_options`` apply to the files given as URLs (``s3://...``), not to local paths.
    """
    out = []
    for entry in files:
        data = Location.parse(entry.url, storage_options if "://" in entry.url else None).read_bytes("")
        rel = f"{ATTACHMENTS_DIR}/{entry.name}"
        root.write_bytes(rel, data)
        out.append(entry.to_dict(rel, data))
    return out


def collection_attrs(series: Sequence[str], ngff_version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(root attributes, OME group attributes)`` of a collection of ``series`` (NGFF 0.5 or 0.4)."""
    if ngff_version == "0.5":
        return (
            {"ome": {"version": "0.5", "bioformats2raw.layout": LAYOUT_VERSION}},
            {"ome": {"version": "0.5", "series": list(series)}},
        )
    return {"bioformats2raw.layout": LAYOUT_VERSION}, {"series": list(series)}


def finish_collection(
    root: Location, series: Sequence[str], *, ngff_version: str, attrs: Mapping[str, Any]
) -> dict[str, Any]:
    """Write the ``OME/`` group listing ``series``, then the root's attributes (the NGFF ones
    plus ``attrs``, e.g. an ``ngffstore`` block): the write that completes the collection.
    Returns the root's attributes as written."""
    zarr_format = 3 if ngff_version == "0.5" else 2
    root_attrs, ome_attrs = collection_attrs(series, ngff_version)
    write_group_attrs(root.child(SERIES_GROUP), zarr_format, ome_attrs)
    written = {**root_attrs, **attrs}
    write_group_attrs(root, zarr_format, written)
    return written


def finish_plate(
    root: Location,
    fields: Sequence[tuple[str, str, str]],
    *,
    name: str,
    ngff_version: str,
    attrs: Mapping[str, Any],
) -> None:
    """Complete a plate whose field images ``(row, column, field)`` are written: the root's
    ``attrs`` first (its ``writing`` marker kept), then the well groups, then the plate group
    (the node that makes the plate valid; it keeps the ``ngffstore`` block, less the marker)."""
    zarr_format = 3 if ngff_version == "0.5" else 2
    marker = (read_attrs(root)[1].get("ngffstore") or {}).get("writing")
    block = {**(attrs.get("ngffstore") or {}), "writing": marker}
    write_group_attrs(root, zarr_format, {**attrs, "ngffstore": block})
    wells: dict[tuple[str, str], list[str]] = {}
    for row, column, fid in fields:
        wells.setdefault((row, column), []).append(fid)
    for (row, column), fids in wells.items():
        ordered = sorted(fids, key=lambda f: (0, int(f), f) if f.isdigit() else (1, 0, f))
        write_well_metadata(ordered, root.child(row, column), ngff_version=ngff_version)
    write_plate_metadata(
        [f"{r}/{c}" for r, c in wells],
        root,
        name=name,
        field_count=max(len(f) for f in wells.values()),
        ngff_version=ngff_version,
    )


def is_complete_image(location: Location) -> bool:
    """Whether a complete NGFF image (not one being written) is at ``location``."""
    try:
        _, attrs = read_attrs(location)
    except NgffStoreError:
        return False
    return node_kind(attrs) == "image" and "writing" not in (attrs.get("ngffstore") or {})


__all__ = [
    "LAYOUT_VERSION",
    "SERIES_GROUP",
    "AttachedFile",
    "collection_attrs",
    "copy_files",
    "finish_collection",
    "finish_plate",
    "is_complete_image",
]
