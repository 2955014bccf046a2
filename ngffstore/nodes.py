"""Opening Zarr groups (v2 or v3) and reading their attributes, with clear errors."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from .errors import NotNgffError, StoreNotFoundError
from .storage import Location, storage_errors


def read_attrs(location: Location) -> tuple[int, dict[str, Any]]:
    """``(zarr_format, attributes)`` of the group at ``location`` — one or two small GETs.

    Raises :class:`StoreNotFoundError` when no Zarr group is there and :class:`NotNgffError`
    when the node is an array.
    """
    fs = location.fs
    with storage_errors(location, "read"):
        try:
            doc = json.loads(fs.cat_file(location.key("zarr.json")))
        except FileNotFoundError:
            doc = None
        if doc is not None:
            if doc.get("node_type") == "array":
                raise NotNgffError(f"{location.url} is a Zarr array, not a group: give the image group's URL")
            return 3, dict(doc.get("attributes") or {})
        try:
            attrs = json.loads(fs.cat_file(location.key(".zattrs")))
        except FileNotFoundError:
            attrs = None
        if attrs is None:
            try:
                fs.cat_file(location.key(".zgroup"))
                return 2, {}
            except FileNotFoundError:
                pass
            try:
                fs.cat_file(location.key(".zarray"))
                raise NotNgffError(f"{location.url} is a Zarr array, not a group: give the image group's URL")
            except FileNotFoundError:
                pass
            raise StoreNotFoundError(
                f"no Zarr group at {location.url}: check the URL (and --endpoint-url/--profile for S3)"
            )
        return 2, dict(attrs)


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
    if zarr_format == 3:
        doc = {"zarr_format": 3, "node_type": "group", "attributes": attrs}
        location.write_json("zarr.json", doc)
    else:
        location.write_json(".zgroup", {"zarr_format": 2})
        location.write_json(".zattrs", attrs)


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
