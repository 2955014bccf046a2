"""The ``ngffstore`` command line.

Each module in this package that does not start with ``_`` is one command (or a group of
subcommands): it defines ``register(subparsers)``, which adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import pkgutil
import sys
from collections.abc import Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from .. import __version__
from ..errors import NgffStoreError


@contextlib.contextmanager
def _plain_dask_array() -> Iterator[None]:
    """While it holds, ``dask.array`` imports without its optional xarray and scipy hooks.

    ``dask.array`` imports xarray (and with it pandas and pyarrow) only to recognise an
    ``xarray.DataArray`` given to ``from_array``, and scipy only to register sparse matrices as
    chunk types. No command does either, and the two imports cost about 1 s and 80 MB. Both
    libraries import normally afterwards for the code that uses them. The docstrings
    dask.array copies from numpy (about 300, each rewritten with regular expressions: a tenth of
    a second) are kept as numpy has them.
    """
    hidden = [name for name in ("xarray", "scipy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import fails: dask skips the hook
    import dask.utils

    derived = dask.utils._derived_from

    def plain_doc(cls: Any, method: Any, ua_args: Any = None, extra: str = "", **_: Any) -> str:
        # an AttributeError (numpy lacks the method) is handled by dask's caller, as before
        return getattr(cls, method.__name__).__doc__ or extra

    dask.utils._derived_from = plain_doc  # type: ignore[assignment]
    try:
        yield
    finally:
        dask.utils._derived_from = derived
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


class _PlainDaskArrayLoader:
    """The loader of ``dask.array``, executing it inside :func:`_plain_dask_array`."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, is_package... as the real loader has them
        return getattr(self.loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        with _plain_dask_array():
            self.loader.exec_module(module)
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader


class _DaskArrayFinder:
    """A ``sys.meta_path`` finder that imports ``dask.array`` the command line's way (see
    :func:`_plain_dask_array`) when, and only when, something first imports it: a command
    that never builds a dask array (a small image's ``convert``) does not import dask at all.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if fullname != "dask.array":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PlainDaskArrayLoader(spec.loader)  # type: ignore[assignment]
                return spec
        return None


@contextlib.contextmanager
def _dask_array_on_first_use() -> Iterator[None]:
    """Within it, the first import of ``dask.array`` (if any) goes through :class:`_DaskArrayFinder`.

    Command line only: library users (``import ngffstore``) get dask as it comes.
    """
    if "dask.array" in sys.modules:
        yield
        return
    finder = _DaskArrayFinder()
    sys.meta_path.insert(0, finder)  # type: ignore[arg-type]
    try:
        yield
    finally:
        sys.meta_path.remove(finder)  # type: ignore[arg-type]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or, when ``argv`` names a command, of that command only.

    Importing one command module instead of all of them keeps what a command loads to what it
    uses (``convert`` does not load the plate, ROI or evaluation code).
    """
    parser = argparse.ArgumentParser(
        prog="ngffstore",
        description="A serverless image and label store for microscopy on OME-Zarr (OME-NGFF).",
    )
    parser.add_argument("--version", action="version", version=f"ngffstore {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is being done")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = [info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]
    command = next((a for a in argv or () if not a.startswith("-")), None)
    if command is not None:
        name = command.split("-", 1)[0]
        if name in names:
            importlib.import_module(f"{__name__}.{name}").register(sub)
            if command in sub.choices:
                return parser
        return build_parser()  # a command another module registers, or none: every command
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    with _dask_array_on_first_use():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    from .. import provenance

    provenance.set_command(["ngffstore", *argv])
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="ngffstore: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code = args.func(args)
    except NgffStoreError as exc:
        print(f"ngffstore {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"ngffstore {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
