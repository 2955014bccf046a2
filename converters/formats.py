"""What this installation reads: one row per format family, with the extra that adds it."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from .bioio_source import installed_plugins
from .openslide_source import openslide_installed


@dataclass(frozen=True, kw_only=True)
class FormatRow:
    format: str
    suffixes: str
    reader: str
    installed: bool
    extra: str
    metadata: str


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def available_formats() -> list[FormatRow]:
    """Every format family ngffstore knows, whether it is readable here, and how to add it."""
    rows = [
        FormatRow(format="TIFF, BigTIFF, OME-TIFF, ImageJ", suffixes=".tif .tiff .ome.tif .btf", reader="tifffile",
                  installed=True, extra="-", metadata="OME-XML / ImageJ / resolution: sizes, channels, key-values"),
        FormatRow(format="Whole-slide TIFF: Aperio SVS, Hamamatsu NDPI, Leica SCN, Ventana BIF, Philips, pyramidal RGB",
                  suffixes=".svs .ndpi .scn .bif .tif", reader="tifffile", installed=True, extra="-",
                  metadata="MPP / resolution, magnification, scanner; label, macro, thumbnail as attachments"),
        FormatRow(format="Zeiss CZI", suffixes=".czi", reader="pylibCZIrw", installed=_has("pylibCZIrw"),
                  extra="ngffstore[czi]", metadata="scenes, channel names and colours, x/y/z sizes, objective"),
        FormatRow(format="Slides OpenSlide reads (MIRAX, VMS, SVSLIDE, ...)", suffixes=".mrxs .vms .vmu .svslide",
                  reader="OpenSlide", installed=openslide_installed(), extra="ngffstore[openslide]",
                  metadata="MPP, objective; associated images as attachments"),
        FormatRow(format="PNG, JPEG", suffixes=".png .jpg .jpeg", reader="imagecodecs", installed=True, extra="-",
                  metadata="-"),
        FormatRow(format="NumPy .npy, Zarr array", suffixes=".npy .zarr", reader="numpy / zarr", installed=True,
                  extra="-", metadata="-"),
    ]
    plugins = installed_plugins()
    for name, suffixes in sorted(plugins.items()):
        rows.append(FormatRow(format=f"bioio plugin {name}", suffixes=" ".join(suffixes), reader="bioio",
                              installed=True, extra="ngffstore[bioio]", metadata="scenes, pixel sizes, channel names"))
    if not plugins:
        rows.append(FormatRow(format="ND2, LIF, DV, ... (bioio plugins)", suffixes=".nd2 .lif .dv ...", reader="bioio",
                              installed=False, extra="ngffstore[bioio] + bioio-<format>",
                              metadata="scenes, pixel sizes, channel names"))
    return rows
