"""The image group the ROIs belong to: reading and writing its attributes, its extent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import journal
from .._deprecated import positional_deprecated
from ..errors import (
    NotNgffError,
    ReadError,
    ValidationError,
)
from ..ngff import ome_attrs, parse_image_attrs
from ..storage import Location, parse_json
from ._model import (
    RoisAttrs,
)

log = logging.getLogger("ngffstore")


# ---------------------------------------------------------------------------------------------
# the image node
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    location: Location
    zarr_format: int
    document: dict[str, Any]
    attrs: dict[str, Any]
    stored: Any = None
    """The :class:`ngffstore.nodes.Node` as read (its version makes the commit conditional)."""

    @property
    def rois(self) -> RoisAttrs:
        return RoisAttrs.from_attrs(self.attrs)


def as_location(image: Any, storage_options: Mapping[str, Any] | None = None) -> Location:
    """The :class:`Location` of an image given as a URL, a Location or an opened ``Image``."""
    if hasattr(image, "location") and isinstance(image.location, Location):
        return (
            image.location
            if not storage_options
            else Location.parse(image.location.url, storage_options)
        )
    return Location.parse(image, storage_options)


def read_node(location: Location, action: str) -> Node:
    from .. import nodes

    stored = nodes.read_group(location)
    attrs = dict(stored.attributes)
    check_image(location, attrs, action)
    return Node(location, stored.zarr_format, stored.document, attrs, stored)


def check_image(location: Location, attrs: Mapping[str, Any], action: str) -> None:
    """Refuse anything but an OME-NGFF image that is not being written."""
    _, ome = ome_attrs(attrs)
    if not isinstance(ome.get("multiscales"), list) or isinstance(ome.get("image-label"), Mapping):
        raise NotNgffError(f"cannot {action} at {location.url}: it is not an OME-NGFF image")
    block = attrs.get("ngffstore")
    if isinstance(block, Mapping) and "writing" in block:
        raise ValidationError(
            f"cannot {action} at {location.url}: the image is being written (or a write was "
            "interrupted); finish or rerun that write first"
        )


def commit(
    node: Node, change: Callable[[dict[str, Any]], dict[str, Any] | None], action: str
) -> Node | None:
    """Apply ``change`` to the image's attributes as one conditional read-modify-write.

    ``change`` gets the attributes as they are at the time of the write (re-read and re-applied
    when another writer got there first), so it must be a pure function of them; it may raise
    to refuse. Returns the node as written, or None when ``change`` wrote nothing.
    """
    from ..metadata import update_node

    wrote = False

    def checked(attrs: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal wrote
        check_image(node.location, attrs, action)
        new = change(attrs)
        wrote = new is not None
        return new

    stored = update_node(
        node.location, checked, zarr_format=node.zarr_format, node=node.stored, what=action
    )
    if not wrote:
        return None
    written = Node(node.location, stored.zarr_format, stored.document, dict(stored.attributes), stored)
    _touch_index(written, written.attrs)
    return written


def _touch_index(node: Node, attrs: Mapping[str, Any]) -> None:
    """Leave an index fragment (it keeps the catalogue current)."""
    rec = (attrs.get("ngffstore") or {}).get("provenance") or [{}]
    journal.notify(
        node.location, operation=str(rec[-1].get("operation", "write_rois")), zarr_format=node.zarr_format
    )


def image_extent(location: Location, attrs: Mapping[str, Any], zarr_format: int) -> tuple[int, int]:
    """``(width, height)`` of level 0 in pixels, from the level's array metadata (one GET)."""
    try:
        _, ms, _ = parse_image_attrs(attrs)
    except NotNgffError as exc:
        raise NotNgffError(f"{location.url}: {exc}") from None
    axes = ms.axis_names
    if "x" not in axes or "y" not in axes:
        raise NotNgffError(
            f"{location.url} has axes {axes!r}: ROIs need an image with y and x axes"
        )
    key = "zarr.json" if zarr_format == 3 else ".zarray"
    path = ms.datasets[0].path
    data = location.get(f"{path}/{key}")
    if data is None:
        raise ReadError(f"level 0 ({path!r}) of {location.url} is missing: the image is incomplete")
    meta = parse_json(data, location.child(f"{path}/{key}"))
    if not isinstance(meta, dict):
        raise ReadError(f"level 0 of {location.url} has no usable shape")
    shape = meta.get("shape")
    if not isinstance(shape, list) or len(shape) != len(axes):
        raise ReadError(f"level 0 of {location.url} has no usable shape")
    return int(shape[axes.index("x")]), int(shape[axes.index("y")])


def read_location(location: Location) -> Location:
    """``location`` with the storage options of reads: on S3, ``max_concurrency=1`` unless given
    (s3fs otherwise sends a HEAD before every whole-object GET; see ``image._zarrio``)."""
    if location.protocol in ("s3", "s3a") and "max_concurrency" not in location.storage_options:
        return Location(location.url, {**location.storage_options, "max_concurrency": 1})
    return location


@positional_deprecated("storage_options")
def read_rois_attrs(image: Any, *, storage_options: Mapping[str, Any] | None = None) -> RoisAttrs:
    """The ROI attributes (terms and layer summaries) of an image."""
    from ..nodes import read_attrs

    location = read_location(as_location(image, storage_options))
    _, attrs = read_attrs(location)
    return RoisAttrs.from_attrs(attrs)
