"""Telling the collection indexes above a node that it changed: :func:`notify`, the one call.

A collection root is a folder holding the index marker (``.ngffstore-index/root.json``, see
:mod:`ngffstore.index`). After a write, a writer calls :func:`notify`: it finds the roots above
what it wrote with one GET per ancestor folder and puts one small, uniquely named fragment into
the journal of each (one PUT per root; no lock, no read-modify-write). The next
:func:`ngffstore.index.build_index` folds the fragments in.

This module owns the journal's write side and never imports :mod:`ngffstore.index` (nor
pyarrow): writers depend on it, the index reads what it writes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

from .provenance import now
from .storage import Location

INDEX_DIR = ".ngffstore-index"
MARKER = f"{INDEX_DIR}/root.json"
#: The folder of journal fragments below a collection root: ``<time ns>-<id>.json`` each.
JOURNAL = f"{INDEX_DIR}/journal"
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


def relative_path(node: Location, root: Location) -> str | None:
    """``node``'s path below ``root`` ("" for the root itself), or None when it is not below."""
    node_path, root_path = node.path.rstrip("/"), root.path.rstrip("/")
    if node_path == root_path:
        return ""
    if not root_path:
        return node_path.strip("/")
    if node_path.startswith(root_path + "/"):
        return node_path[len(root_path) + 1 :]
    return None


def notify(
    url: Any,
    *,
    operation: str = "write",
    zarr_format: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    root: Any = None,
) -> list[str]:
    """Record that the node at ``url`` changed, for every index above it. Call after a write.

    Writes one fragment into the journal of each collection root at or above ``url`` (or of
    ``root`` only, when given); the next index update re-reads that node. Costs one GET per
    ancestor folder plus one PUT per root; never raises (a fragment that cannot be written is
    logged, and ``ngffstore index --check`` finds the change).

    Returns the URLs of the roots journaled to.
    """
    try:
        location = Location.parse(url, storage_options)
        roots = [Location.parse(root, storage_options)] if root is not None else find_roots(location)
    except Exception as exc:  # noqa: BLE001 - a write must not fail because an index was not told
        log.warning("cannot look for an index above %s: %s", getattr(url, "url", url), exc)
        return []
    done = []
    for r in roots:
        rel = relative_path(location, r)
        if rel is None:
            log.warning("%s is not below the index root %s; not journaled", location.url, r.url)
            continue
        body = {
            "path": rel,
            "operation": operation,
            "time": now(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "zarr_format": zarr_format,
        }
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.json"
        try:
            r.write_json(f"{JOURNAL}/{name}", body)
            done.append(r.url)
        except Exception as exc:  # noqa: BLE001 - logged; `ngffstore index --check` finds it
            log.warning(
                "could not journal the change of %s for the index at %s (%s); "
                "run 'ngffstore index %s' to bring it up to date",
                location.url, r.url, exc, r.url,
            )
    return done


__all__ = ["INDEX_DIR", "JOURNAL", "MARKER", "NO_INDEX_PROTOCOLS", "find_roots", "notify", "relative_path"]
