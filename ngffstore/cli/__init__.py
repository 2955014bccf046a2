"""The ``ngffstore`` command line.

Each module in this package that does not start with ``_`` is one command (or a group of
subcommands): it defines ``register(subparsers)``, which adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..errors import NgffStoreError


def _import_dask_array() -> None:
    """Import ``dask.array`` without its optional xarray and scipy hooks (command line only).

    ``dask.array`` imports xarray (and with it pandas and pyarrow) only to recognise an
    ``xarray.DataArray`` given to ``from_array``, and scipy only to register sparse matrices as
    chunk types. No command does either, and the two imports cost about 1 s and 80 MB in every
    command. Both libraries import normally afterwards for the code that uses them. The
    docstrings dask.array copies from numpy (about 300, each rewritten with regular
    expressions: a tenth of a second) are kept as numpy has them. Library users
    (``import ngffstore``) get dask as it comes.
    """
    if "dask.array" in sys.modules:
        return
    hidden = [name for name in ("xarray", "scipy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import fails: dask skips the hook
    import dask.utils

    derived = dask.utils._derived_from

    def plain_doc(cls: Any, method: Any, ua_args: Any = None, extra: str = "", **_: Any) -> str:
        # an AttributeError (numpy lacks the method) is handled by dask's caller, as before
        return getattr(cls, method.__name__).__doc__ or extra

    dask.utils._derived_from = plain_doc
    try:
        import dask.array
    finally:
        dask.utils._derived_from = derived
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


_import_dask_array()


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
        module = command.split("-", 1)[0]
        if module in names:
            importlib.import_module(f"{__name__}.{module}").register(sub)
            if command in sub.choices:
                return parser
        return build_parser()  # a command another module registers, or none: every command
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(sub)
    return parser


def _tune_malloc() -> None:
    """Return large freed buffers to the system at once (glibc only).

    glibc raises its mmap threshold after large frees, so later image blocks come from the heap
    and are kept after use; fixing the threshold at 4 MiB keeps peak RSS to the blocks in flight.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    _tune_malloc()
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
