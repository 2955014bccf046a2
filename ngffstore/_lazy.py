"""Names a package re-exports from its submodules, imported on first use (PEP 562).

A package whose submodules import heavy libraries, or sit above a module that imports the
package itself, lists its re-exported names in a table and gets its ``__getattr__`` here::

    _LAZY = {"write_labels": "write", "Labels": "read"}
    __getattr__ = lazy_getattr(__name__, _LAZY)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``names[name]`` is the submodule (relative to
    ``package``) that defines ``name``; the value is imported once, then kept in the package.

    A name that is not in ``names`` but is a submodule of ``package`` imports it, as an eager
    ``from .submodule import ...`` in the package would have made ``package.submodule`` work.
    """

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            if not name.startswith("__"):
                try:
                    return importlib.import_module(f".{name}", package)
                except ModuleNotFoundError as exc:
                    if exc.name != f"{package}.{name}":
                        raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


__all__ = ["lazy_getattr"]
