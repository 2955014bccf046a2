"""Input converters as a plug-in: how the store reaches file readers without importing them.

The store writes arrays and :class:`~ngffstore.source.Source` objects; reading foreign files
(TIFF, CZI, slides, plane folders, plate manifests) is the job of an input-converter package,
found through the entry point group ``ngffstore.converters``. The ``converters`` package that
ships with ngffstore declares ``converters = "converters.api"`` there; :func:`converters` loads
that module on first use. ngffstore itself never imports ``converters`` (the command line and the
deprecated path-taking forms of the writers go through here).
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from types import ModuleType

from .errors import InputError

GROUP = "ngffstore.converters"


@functools.cache
def converters() -> ModuleType:
    """The input converters' library module (``converters.api`` when ngffstore is installed).

    Raises :class:`~ngffstore.errors.InputError` when no package declares the entry point.
    """
    found = sorted(entry_points(group=GROUP), key=lambda ep: (ep.name != "converters", ep.name))
    if not found:
        raise InputError("no input converters installed: pip install ngffstore")
    return found[0].load()


__all__ = ["GROUP", "converters"]
