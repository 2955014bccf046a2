"""Checking relative paths that come from untrusted documents or from input names.

A store published by someone else is untrusted input: a plate's well path, a well's image path,
a multiscale dataset path, a label name, a bioformats2raw series path, a ROI layer or table
name, an image path in an index row... is joined to the URL of the node that lists it, so a
crafted ``"../../other_prefix"`` would make a reader (with the reader's credentials) read, or a
writer write, outside the store. :func:`check_relative_path` is the one rule every such path
passes before it is used:

* a non-empty text;
* relative: no leading ``/``, no drive (``C:``), no URL scheme (``s3:``, ``https:``, ``file:``);
* made of plain segments separated by ``/``: no empty segment (``a//b``, trailing ``/``), no
  ``.`` or ``..`` segment, so it can only name something *inside* the node that lists it;
* no backslash and no control character (``\\x00``-``\\x1f``, ``\\x7f``);
* with ``single=True``: one segment (a name, e.g. a label name or a position folder name).

A violation raises :class:`UnsafePathError` naming the document and the path; nothing is read
or written.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InputError, ValidationError

__all__ = ["UnsafePathError", "check_file_name", "check_relative_path", "unsafe_reason"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: Longest path accepted (characters); longer texts are not paths a writer of this store makes.
MAX_PATH_LENGTH = 1024


#: A name a user gives to something stored as one file or folder (a table, a ROI layer).
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


def check_file_name(name: Any, *, what: str) -> str:
    """``name`` if it can name one file or folder (a table, a ROI layer): letters, digits,
    ``_ . -``, at most 128, starting with a letter or digit, no ``..``; else :class:`InputError`
    (the name is a user's input), e.g. ``what="table name"``."""
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or ".." in name:
        raise InputError(
            f"{what} {name!r} is not allowed: use letters, digits, '_', '.', '-' (at most 128, "
            "starting with a letter or digit; no '/' or '..')"
        )
    return name


class UnsafePathError(ValidationError):
    """A path read from a document (or a name taken from an input) would leave its node."""


def unsafe_reason(path: Any, *, single: bool = False) -> str | None:
    """Why ``path`` is not a safe relative path (see the module documentation), or None."""
    if not isinstance(path, str):
        return f"not a text but {type(path).__name__}"
    if not path:
        return "empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"longer than {MAX_PATH_LENGTH} characters"
    if _CONTROL.search(path):
        return "contains a control character"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "absolute path"
    if _SCHEME.match(path):
        return "URL scheme or drive"
    segments = path.split("/")
    if single and len(segments) > 1:
        return "contains '/' where a single name is expected"
    for segment in segments:
        if segment == "":
            return "empty path segment"
        if segment in (".", ".."):
            return f"'{segment}' segment"
    return None


def check_relative_path(
    path: Any, *, document: str, what: str = "path", single: bool = False
) -> str:
    """Return ``path`` when it is a safe relative path; raise :class:`UnsafePathError` if not.

    Parameters
    ----------
    path
        The path (or name) as read from ``document``.
    document
        Where it was read: the document's URL (``.../plate.zarr/zarr.json``), or the input
        (manifest, folder) it was taken from.
    what
        What the path is, for the message (``"well path"``, ``"label name"``...).
    single
        Require a single name (no ``/``).
    """
    reason = unsafe_reason(path, single=single)
    if reason is not None:
        raise UnsafePathError(
            f"{document}: unsafe {what} {path!r} ({reason}): paths in a store must be relative "
            "names inside the node that lists them; the document is malformed or crafted, so "
            "nothing was read there — fix or remove the entry"
        )
    return path
