"""Where label images live in an image and what they may be called: the layout both the label
reader and the label writer use (the writer is a layer above the reader; neither imports the
other for these).

``IMAGE/labels`` is a group listing the names; each label image is ``IMAGE/labels/NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError, NgffStoreError, NotNgffError, StoreNotFoundError
from ..ngff import ome_attrs
from ..nodes import read_attrs
from ..paths import check_relative_path
from ..storage import Location

LABELS_GROUP = "labels"

#: Pixels per dask block when a stored label is read whole (whole stored chunks or shards).
BLOCK_PIXELS = 1 << 22

_DRIVE = re.compile(r"^[A-Za-z]:")


def check_name(name: Any) -> str:
    """``name`` if it is a plain label name, else :class:`InputError` (no ``/``, ``..``, ...)."""
    if not isinstance(name, str):
        raise InputError(f"a label name must be text, not {type(name).__name__}")
    hint = "use a plain name such as 'nuclei' (letters, digits, '-', '_', '.')"
    if not name.strip():
        raise InputError(f"the label name is empty; {hint}")
    if name != name.strip():
        raise InputError(f"label name {name!r} starts or ends with spaces; {hint}")
    if name.startswith(("/", "\\", "~")) or _DRIVE.match(name):
        raise InputError(f"label name {name!r} is an absolute path; {hint}")
    if "/" in name or "\\" in name:
        raise InputError(f"label name {name!r} contains a path separator; {hint}")
    if name.startswith("."):
        raise InputError(f"label name {name!r} starts with '.' (as '..' and hidden names do); {hint}")
    if name == "zarr.json":
        raise InputError(f"label name {name!r} is reserved for Zarr metadata; {hint}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InputError(f"label name {name!r} contains control characters; {hint}")
    return name


def read_listing(image: Location) -> tuple[int | None, dict[str, Any], list[str]]:
    """``(zarr_format, attributes, names)`` of ``IMAGE/labels`` (``(None, {}, [])`` if absent)."""
    try:
        fmt, attrs = read_attrs(image.child(LABELS_GROUP))
    except StoreNotFoundError:
        return None, {}, []
    names = ome_attrs(attrs)[1].get("labels")
    if not isinstance(names, list):
        names = []
    document = image.child(LABELS_GROUP, "zarr.json" if fmt == 3 else ".zattrs").url
    for n in names:
        check_relative_path(n, document=document, what="label name", single=True)
    return fmt, attrs, [str(n) for n in names]


def grow_block(unit: Sequence[int], shape: Sequence[int], pixels: int = BLOCK_PIXELS) -> tuple[int, ...]:
    """``unit`` (a chunk or shard) doubled along the last axes first until ``pixels`` is reached."""
    block = [max(1, min(int(u), int(n))) for u, n in zip(unit, shape)]
    while int(np.prod(block, dtype=np.float64)) * 2 <= pixels:
        for i in reversed(range(len(block))):
            if block[i] < shape[i]:
                block[i] = min(block[i] * 2, int(shape[i]))
                break
        else:
            break
    return tuple(block)


def _interrupted(target: Location) -> bool:
    try:
        return "writing" in (read_attrs(target)[1].get("ngffstore") or {})
    except NgffStoreError:
        return False


def missing_label_error(image: Location, name: str, exc: Exception) -> NgffStoreError:
    """The one-line error for a label image ``name`` of ``image`` that could not be opened
    (``exc``: what opening ``IMAGE/labels/NAME`` raised): incomplete, not NGFF, or absent."""
    target = image.child(LABELS_GROUP, name)
    try:
        names = read_listing(image)[2]
    except NgffStoreError:  # the image itself is unreadable: the first error says enough
        names = []
    if _interrupted(target):
        return NotNgffError(
            f"the label image {name!r} of {image.url} is incomplete: its write did not finish; "
            "rerun it (an unchanged rerun resumes) or remove it"
        )
    if name in names or not isinstance(exc, StoreNotFoundError):
        return NotNgffError(
            f"the label image {name!r} of {image.url} is incomplete or not an NGFF label image "
            f"({exc}); rewrite it with overwrite=True (--overwrite)"
        )
    have = f"it has {', '.join(names)}" if names else "it has no label images"
    return StoreNotFoundError(f"no label image {name!r} in {image.url}: {have}")


__all__ = [
    "BLOCK_PIXELS",
    "LABELS_GROUP",
    "check_name",
    "grow_block",
    "missing_label_error",
    "read_listing",
]
