"""The node layer: every group and array document is read and written here.

One GET per document, the Zarr format known from the first document read and passed down, no
existence probes (a missing object is one failed GET, whatever status the host answers with),
atomic writes, and :func:`update_attributes` for read-modify-write of a shared document that is
safe against concurrent writers (conditional PUT on S3, a folder lock around compare-and-rename
locally), retried on conflict.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConflictError, NotNgffError, StoreNotFoundError
from .storage import ANY, Location, dump_json, parse_json, storage_errors

V3_DOCUMENT = "zarr.json"
V2_GROUP, V2_ARRAY, V2_ATTRS = ".zgroup", ".zarray", ".zattrs"
#: Attempts of :func:`update_attributes` before it gives up with :class:`ConflictError`.
UPDATE_ATTEMPTS = 60


@dataclass(frozen=True, kw_only=True, eq=False)
class Node:
    """A group or array document as read: format, type, attributes and the version of the
    document that holds the attributes (``zarr.json`` or ``.zattrs``), for conditional writes."""

    location: Location
    zarr_format: int
    node_type: str
    attributes: dict[str, Any]
    document: dict[str, Any]
    """``zarr.json`` (v3), or ``.zgroup``/``.zarray`` (v2; ``{}`` when not read)."""
    version: str | None
    """Version of the attributes document (``None``: absent, e.g. a v2 group with no .zattrs)."""

    @property
    def is_group(self) -> bool:
        return self.node_type == "group"

    @property
    def consolidated(self) -> dict[str, Any]:
        """Inline consolidated metadata of a v3 group (array/group path -> document)."""
        block = self.document.get("consolidated_metadata") if self.zarr_format == 3 else None
        meta = block.get("metadata") if isinstance(block, Mapping) else None
        return dict(meta) if isinstance(meta, Mapping) else {}


def _not_found(location: Location, what: str = "Zarr group or array") -> StoreNotFoundError:
    hint = (
        "check the URL and the credentials (--endpoint-url/--profile/--anon for S3); a host that "
        "forbids listings answers 'access denied' for a missing object"
        if not location.is_local
        else "check the path"
    )
    return StoreNotFoundError(f"no {what} at {location.url}: {hint}")


def _object(location: Location, key: str) -> tuple[dict[str, Any] | None, str | None]:
    data, version = location.get_versioned(key)
    if data is None:
        return None, None
    doc = parse_json(data, location.child(key))
    if not isinstance(doc, dict):
        from .errors import ReadError

        raise ReadError(f"{location.child(key).url} is not a JSON object: the metadata is corrupt")
    return doc, version


def try_read_node(location: Location, *, zarr_format: int | None = None) -> Node | None:
    """The node at ``location``, or None when nothing is there.

    Zarr v3: one GET (``zarr.json``). Zarr v2: ``.zattrs``, then ``.zgroup``/``.zarray`` only when
    needed to tell the node type; an unknown format costs one more GET (``zarr.json`` first).
    """
    if zarr_format in (None, 3):
        doc, version = _object(location, V3_DOCUMENT)
        if doc is not None:
            attrs = doc.get("attributes")
            return Node(
                location=location,
                zarr_format=3,
                node_type=str(doc.get("node_type") or "group"),
                attributes=dict(attrs) if isinstance(attrs, Mapping) else {},
                document=doc,
                version=version,
            )
        if zarr_format == 3:
            return None
    attrs, version = _object(location, V2_ATTRS)
    group, _ = _object(location, V2_GROUP)
    if group is not None:
        return Node(location=location, zarr_format=2, node_type="group",
                    attributes=dict(attrs or {}), document=group, version=version)
    array, _ = _object(location, V2_ARRAY)
    if array is not None:
        return Node(location=location, zarr_format=2, node_type="array",
                    attributes=dict(attrs or {}), document=array, version=version)
    if attrs is not None:  # attributes without a .zgroup: tolerated as a group (some writers)
        return Node(location=location, zarr_format=2, node_type="group",
                    attributes=dict(attrs), document={}, version=version)
    return None


def read_node(location: Location, *, zarr_format: int | None = None) -> Node:
    """The node at ``location``; :class:`StoreNotFoundError` when nothing is there."""
    node = try_read_node(location, zarr_format=zarr_format)
    if node is None:
        raise _not_found(location)
    return node


def read_group(location: Location, *, zarr_format: int | None = None) -> Node:
    """The group at ``location``; :class:`NotNgffError` for an array."""
    node = try_read_node(location, zarr_format=zarr_format)
    if node is None:
        raise _not_found(location, "Zarr group")
    if not node.is_group:
        raise NotNgffError(f"{location.url} is a Zarr array, not a group: give the group's URL")
    return node


def group_document(zarr_format: int, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The v3 ``zarr.json`` of a group (v2: the ``.zattrs`` content)."""
    if zarr_format == 3:
        return {"zarr_format": 3, "node_type": "group", "attributes": dict(attributes)}
    return dict(attributes)


def write_group(
    location: Location,
    zarr_format: int,
    attributes: Mapping[str, Any],
    *,
    if_version: str | None | object = ANY,
) -> str:
    """Write a group's document(s) atomically; returns the new version of the attributes document.

    v2 writes ``.zgroup`` (only when creating, i.e. ``if_version=None`` or unconditional) and
    then ``.zattrs``. ``if_version`` makes the attributes write conditional (see
    :meth:`Location.put`).
    """
    if zarr_format == 3:
        return location.put(V3_DOCUMENT, dump_json(group_document(3, attributes)), if_version=if_version)
    if if_version is ANY or if_version is None:
        location.put(V2_GROUP, dump_json({"zarr_format": 2}))
    return location.put(V2_ATTRS, dump_json(dict(attributes)), if_version=if_version)


def write_attributes(node: Node, attributes: Mapping[str, Any], *, conditional: bool = True) -> Node:
    """Replace the attributes of ``node`` (group or array), keeping the rest of its document.

    With ``conditional`` (the default) the write fails with :class:`ConflictError` when the
    document changed since ``node`` was read.
    """
    attributes = dict(attributes)
    if_version: Any = node.version if conditional else ANY
    location = node.location
    if node.zarr_format == 3:
        doc = dict(node.document)
        doc["attributes"] = attributes
        version = location.put(V3_DOCUMENT, dump_json(doc), if_version=if_version)
        return Node(location=location, zarr_format=3, node_type=node.node_type,
                    attributes=attributes, document=doc, version=version)
    version = location.put(V2_ATTRS, dump_json(attributes), if_version=if_version)
    return Node(location=location, zarr_format=2, node_type=node.node_type,
                attributes=attributes, document=node.document, version=version)


def update_attributes(
    location: Location,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    zarr_format: int | None = None,
    node: Node | None = None,
    what: str = "update",
) -> Node:
    """Read-modify-write of a node's attributes that loses no concurrent update.

    ``change`` receives a deep copy of the current attributes and returns the new attributes
    (or None: nothing to write). The write is conditional on the document being unchanged since
    it was read; on conflict the document is read again and ``change`` called again (so it must
    be a pure function of the attributes it gets), with a randomised back-off. ``node``, when the
    caller has just read it, saves the first GET. Returns the node as written.
    """
    delay = 0.005
    for _attempt in range(UPDATE_ATTEMPTS):
        if node is None:
            node = read_node(location, zarr_format=zarr_format)
        new = change(copy.deepcopy(node.attributes))
        if new is None:
            return node
        try:
            return write_attributes(node, new)
        except ConflictError:
            node = None
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 0.5)
    raise ConflictError(
        f"cannot {what} {location.url}: other writers changed it {UPDATE_ATTEMPTS} times in a "
        "row; nothing was written, run the command again"
    )


def read_attrs(location: Location) -> tuple[int, dict[str, Any]]:
    """``(zarr_format, attributes)`` of the group at ``location`` — one GET for v3.

    Raises :class:`StoreNotFoundError` when no Zarr group is there and :class:`NotNgffError`
    when the node is an array.
    """
    node = read_group(location)
    return node.zarr_format, dict(node.attributes)


def exists_anything(location: Location) -> bool:
    """Whether any object is stored at or below ``location``."""
    fs = location.fs
    with storage_errors(location, "read"):
        try:
            if location.is_local:
                import os

                if os.path.isfile(location.url):
                    return True
                return os.path.isdir(location.url) and bool(os.listdir(location.url))
            return bool(fs.ls(location.path, detail=False))
        except FileNotFoundError:
            return False


def write_group_attrs(location: Location, zarr_format: int, attrs: dict[str, Any]) -> None:
    """Write a group's metadata document with ``attrs`` (replacing what was there)."""
    write_group(location, zarr_format, attrs)


class StoredNode:
    """Properties shared by the readers of stored groups (images, plates).

    A reader sets ``_storage`` (whose ``location`` is the group's :class:`Location`) and
    ``_attrs`` (the group attributes as read).
    """

    _storage: Any
    _attrs: dict[str, Any]

    @property
    def url(self) -> str:
        return self._storage.location.url

    @property
    def location(self) -> Location:
        return self._storage.location

    @property
    def storage_options(self) -> dict[str, Any]:
        return dict(self._storage.location.storage_options)

    @property
    def attrs(self) -> dict[str, Any]:
        """The group's attributes as stored (a copy)."""
        return copy.deepcopy(self._attrs)

    @property
    def metadata(self) -> dict[str, Any]:
        """The ``ngffstore`` attributes block (key-values, tags, provenance...); empty if none."""
        block = self._attrs.get("ngffstore")
        return copy.deepcopy(dict(block)) if isinstance(block, Mapping) else {}

    @property
    def provenance(self) -> list[dict[str, Any]]:
        """The provenance records, oldest first."""
        history = self.metadata.get("provenance") or []
        return list(history) if isinstance(history, list) else []
