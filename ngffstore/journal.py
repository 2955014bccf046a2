"""Telling the collection indexes above a node that it changed, without loading the index.

A collection root is a folder holding the index marker (``.ngffstore-index/root.json``, see
:mod:`ngffstore.index`). A writer finds the roots above what it wrote with one GET per ancestor
folder; only when there is one does it load :mod:`ngffstore.index` (and pyarrow) to journal the
change. Most conversions are not below any index and import nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .storage import Location

INDEX_DIR = ".ngffstore-index"
MARKER = f"{INDEX_DIR}/root.json"
NO_INDEX_PROTOCOLS = ("http", "https")

log = logging.getLogger("ngffstore")


def find_roots(url: Any, *, storage_options: Mapping[str, Any] | None = None) -> list[Location]:
    """The collection roots (folders with an index marker) at or above ``url``, nearest first."""
    location = Location.parse(url, storage_options)
    if location.protocol in NO_INDEX_PROTOCOLS:
        return []
    roots = []
    current = location
    while True:
        try:
            if current.get(MARKER) is not None:
                roots.append(current)
        except Exception as exc:  # noqa: BLE001 - absent or unreadable: not a root to journal to
            log.debug("no index marker at %s (%s)", current.url, type(exc).__name__)
        parent = current.parent
        if parent.url == current.url or not parent.path.strip("/") and not parent.is_local:
            break
        current = parent
    return roots


def notify(location: Location, *, operation: str, zarr_format: int | None = None) -> list[str]:
    """Journal a change of the node at ``location`` in every index above it (see
    :func:`ngffstore.index.touch`); returns the roots' URLs. Never raises."""
    try:
        roots = find_roots(location)
    except Exception as exc:  # noqa: BLE001 - a write must not fail because an index was not told
        log.warning("cannot look for an index above %s: %s", location.url, exc)
        return []
    if not roots:
        return []
    from .index import touch

    done: list[str] = []
    for root in roots:
        done.extend(touch(location, operation=operation, zarr_format=zarr_format, root=root))
    return done
