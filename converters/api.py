"""The library functions the command line calls for foreign inputs (entry point ``converters``).

ngffstore never imports this package; ``ngffstore.plugins.converters()`` loads this module
through the entry point group ``ngffstore.converters`` (declared in pyproject.toml). Every
function here reads files with the converters and writes with the public ngffstore writers:

- :func:`open_source` — any supported file -> :class:`~ngffstore.source.Source`;
- :func:`convert` — a file -> a multiscale OME-Zarr image (``ngffstore convert``);
- :func:`write_labels_from_file` — a label file -> a label image (``ngffstore labels add``);
- :func:`available_formats` — what this installation reads (``ngffstore formats``);
- :func:`from_manifest`, :func:`from_pattern`, :func:`from_tree`, :func:`open_plate_fields`,
  :func:`build_plate` — HCS plates from files (``ngffstore plate``);
- :func:`assemble` — folders of 2-D planes -> a collection or plate (``ngffstore assemble``);
- :func:`import_rois`, :func:`export_rois` — annotation files <-> ROI layers (``ngffstore rois``).

Importing this module imports no dask: the converters import it when they build a lazy array.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ngffstore.errors import AxesError, InputError

from ._open import SMALL_BYTES, SUPPORTED_SUFFIXES, open_source

if TYPE_CHECKING:
    from ngffstore.image import ImageSummary
    from ngffstore.labels import LabelsSummary
    from ngffstore.plate import PlateSummary

    from .assemble import AssembleResult, assemble
    from .formats import FormatRow
    from .plate import (
        FieldPlanes,
        FilePlateInput,
        compile_pattern,
        from_manifest,
        from_pattern,
        from_tree,
    )
    from .plate import open_fields as open_plate_fields
    from .rois import RoiExport, RoiImport, export_rois, import_rois

# loaded on first use (the plate builders import the plate writer, which imports dask)
_LAZY = {
    "FieldPlanes": "plate",
    "FilePlateInput": "plate",
    "compile_pattern": "plate",
    "from_manifest": "plate",
    "from_pattern": "plate",
    "from_tree": "plate",
    "open_plate_fields": "plate",
    "AssembleResult": "assemble",
    "assemble": "assemble",
    "RoiExport": "rois",
    "RoiImport": "rois",
    "export_rois": "rois",
    "import_rois": "rois",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__.rpartition('.')[0]}.{_LAZY[name]}")
        return getattr(module, "open_fields" if name == "open_plate_fields" else name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def available_formats() -> list[FormatRow]:
    """Every format family the converters know, whether it is readable here, and how to add it."""
    from .formats import available_formats as rows

    return rows()


def _units(scale: Any, units: Any, axes: str) -> Any:
    """``units`` as a mapping: one unit name (``"micrometer"``) applies to every axis ``scale``
    names (t in seconds)."""
    if not isinstance(units, str):
        return units
    if scale is None:
        return None
    from ngffstore.image.options import parse_scale

    return {a: ("second" if a == "t" else units) for a in parse_scale(scale, axes)}


def _plate_units(scale: Any, units: Any) -> Any:
    """``units`` as a mapping for a plate, whose fields' axes are not known yet: one unit name
    applies to the axes ``scale`` names (unnamed values: y and x, or the trailing ones of
    t, z, y, x; t in seconds, c never)."""
    if not isinstance(units, str) or scale is None:
        return units
    if isinstance(scale, Mapping):
        names = [str(a).lower() for a in scale]
    else:
        if isinstance(scale, str):
            parts = [p for p in scale.replace(" ", ",").split(",") if p.strip()]
        else:
            parts = [str(v) for v in scale]
        if parts and all("=" in p for p in parts):
            names = [p.split("=", 1)[0].strip().lower() for p in parts]
        else:
            names = ["y", "x"] if len(parts) <= 2 else ["t", "z", "y", "x"][-len(parts):]
    return {a: ("second" if a == "t" else units) for a in names if a != "c"}


def convert(
    input: str | os.PathLike[str],
    url: str,
    *,
    series: int | None = None,
    axes: str | None = None,
    scale: Any = None,
    units: Mapping[str, str] | str | None = None,
    input_storage_options: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> ImageSummary:
    """Convert the image file ``input`` to a multiscale OME-Zarr image at ``url``.

    The file is opened with :func:`open_source` (``series``, ``axes``; an image under
    :data:`SMALL_BYTES` is read whole, into numpy, without building a dask graph); ``scale`` (a mapping,
    ``"0.5,0.1,0.1"`` or ``"z=0.5,y=0.1,x=0.1"``) and ``units`` (a mapping or one unit name for
    every axis ``scale`` names) override what the file says; ``options`` are
    :func:`ngffstore.write_image`'s (``chunks``, ``compression``, ``channels``, ``name``...). A
    slide's fixed display windows and attachments (label, macro) are stored after the image.
    """
    from ngffstore import write_image

    source = open_source(
        os.fspath(input), series=series, axes=axes, storage_options=input_storage_options, load_below=SMALL_BYTES
    )
    summary = write_image(
        source, url, scale=scale, units=_units(scale, units, source.axes), storage_options=storage_options,
        **options,
    )
    if source.channel_windows or source.attachments:  # fixed windows, a slide's label and macro
        from ngffstore.attachments import finish_source

        finish_source(url, source, storage_options=storage_options)
    return summary


def write_labels_from_file(
    input: str | os.PathLike[str],
    image_url: str,
    name: str,
    *,
    axes: str | None = None,
    input_storage_options: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> LabelsSummary:
    """Write the label file ``input`` (TIFF, PNG, npy, Zarr...) as label image ``name`` of the
    image at ``image_url`` (:func:`ngffstore.write_labels` and its ``options``).

    When the file's axes cannot be inferred and ``axes`` is not given, the image's axes without
    ``c`` are tried.
    """
    from ngffstore import open_image, write_labels

    path = os.fspath(input)
    try:
        source = open_source(path, axes=axes, storage_options=input_storage_options)
    except AxesError:
        if axes:
            raise
        guess = open_image(image_url, storage_options=storage_options).axes.replace("c", "")
        try:
            source = open_source(path, axes=guess, storage_options=input_storage_options)
        except AxesError:
            raise AxesError(
                f"cannot tell the axes of {path}; give them with --axes (the image's axes "
                f"without c are {guess!r})"
            ) from None
    return write_labels(source, image_url, name=name, storage_options=storage_options, **options)


def build_plate(
    url: str,
    *,
    manifest: str | None = None,
    folder: str | None = None,
    pattern: str | None = None,
    tree: str | None = None,
    input_storage_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> PlateSummary:
    """Write an HCS plate at ``url`` from one layout: a CSV ``manifest``, a ``folder`` of files
    named by ``pattern``, or a folder ``tree`` (``ROW/COL/FIELD``). ``options`` are
    :func:`ngffstore.write_plate`'s (``rows``, ``columns``, ``name``, ``axes``, field options);
    ``units`` may be one unit name for the axes ``scale`` names (as for :func:`convert`)."""
    from ngffstore import write_plate

    given = [k for k, v in (("manifest", manifest), ("folder", folder), ("tree", tree)) if v]
    if len(given) != 1:
        raise InputError(
            "give one of --manifest CSV, --folder DIR --pattern PAT or --tree DIR"
            + (f" (not {' and '.join(given)})" if given else "")
        )
    if folder and not pattern:
        raise InputError("--folder needs --pattern, e.g. --pattern '{well}_s{field}_w{channel}.tif' (or use --tree)")
    if pattern and not folder:
        raise InputError("--pattern names files below --folder; give --folder DIR")
    from .plate import from_manifest, from_pattern, from_tree

    if manifest:
        plate_input = from_manifest(manifest, storage_options=input_storage_options)
    elif folder:
        plate_input = from_pattern(folder, pattern or "", storage_options=input_storage_options)
    else:
        plate_input = from_tree(tree or "", storage_options=input_storage_options)
    if "units" in options:
        options["units"] = _plate_units(options.get("scale"), options["units"])
    return write_plate(plate_input, url, **options)


__all__ = [
    "SUPPORTED_SUFFIXES",
    "AssembleResult",
    "FieldPlanes",
    "FilePlateInput",
    "RoiExport",
    "RoiImport",
    "assemble",
    "available_formats",
    "build_plate",
    "compile_pattern",
    "convert",
    "export_rois",
    "from_manifest",
    "from_pattern",
    "from_tree",
    "import_rois",
    "open_plate_fields",
    "open_source",
    "write_labels_from_file",
]
