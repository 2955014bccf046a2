"""What an OME-XML document says about one image: sizes, channels and acquisition key-values.

Axis order is not read here: tifffile already maps ``DimensionOrder`` to the series axes. Units
default to those of the OME schema (micrometer for pixel sizes, second for time, nanometer for
wavelengths) when the ``...Unit`` attribute is absent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from ngffstore.ngff import normalize_color, normalize_unit

_NANOMETERS = {"nm": 1.0, "µm": 1000.0, "um": 1000.0, "pm": 0.001, "Å": 0.1, "angstrom": 0.1}


@dataclass(kw_only=True)
class OmeImage:
    """The parts of one OME ``Image`` that a :class:`~converters.base.Source` carries."""

    name: str | None = None
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    channel_names: list[str] | None = None
    channel_colors: list[str | None] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def has_channel_info(self) -> bool:
        """Whether channels are named or coloured (then a single channel keeps its ``c`` axis)."""
        return bool(self.channel_names) or bool(self.channel_colors)


def parse_ome(xml: str, index: int) -> OmeImage | None:
    """Image number ``index`` of an OME-XML document, or None if it is missing or malformed."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    images = root.findall("{*}Image")
    if not 0 <= index < len(images):
        return None
    image = images[index]
    pixels = image.find("{*}Pixels")
    if pixels is None:
        return None
    result = OmeImage(name=image.get("Name") or None)
    _sizes(pixels, result)
    _channels(pixels, result)
    _acquisition(root, image, result.metadata)
    return result


def _sizes(pixels: ET.Element, out: OmeImage) -> None:
    for axis, attr, default_unit in (
        ("x", "PhysicalSizeX", "µm"),
        ("y", "PhysicalSizeY", "µm"),
        ("z", "PhysicalSizeZ", "µm"),
        ("t", "TimeIncrement", "s"),
    ):
        value = _float(pixels.get(attr))
        if value is None or value <= 0:
            continue
        out.scale[axis] = value
        unit = normalize_unit(pixels.get(attr + "Unit") or default_unit)
        if unit:
            out.units[axis] = unit


def _channels(pixels: ET.Element, out: OmeImage) -> None:
    channels = pixels.findall("{*}Channel")
    names = [c.get("Name") for c in channels]
    if any(names):
        out.channel_names = [n or f"channel {i}" for i, n in enumerate(names)]
    colors = [_color(c.get("Color")) for c in channels]
    if any(colors):
        out.channel_colors = colors
    for i, channel in enumerate(channels):
        for attr, key in (
            ("ExcitationWavelength", "excitation"),
            ("EmissionWavelength", "emission"),
        ):
            nm = _nanometers(channel.get(attr), channel.get(attr + "Unit"))
            if nm is not None:
                out.metadata[f"channel_{i}_{key}_wavelength_nm"] = nm


def _acquisition(root: ET.Element, image: ET.Element, meta: dict[str, Any]) -> None:
    date = image.findtext("{*}AcquisitionDate")
    if date and date.strip():
        meta["acquisition_date"] = date.strip()
    description = image.findtext("{*}Description")
    if description and description.strip():
        meta["description"] = description.strip()
    instrument = _referenced(root, "Instrument", image.find("{*}InstrumentRef"))
    if instrument is None:
        return
    microscope = instrument.find("{*}Microscope")
    if microscope is not None:
        _copy(microscope, meta, "microscope", Manufacturer=str, Model=str, Type=str)
    objective = _referenced(instrument, "Objective", image.find("{*}ObjectiveSettings"))
    if objective is not None:
        _copy(
            objective,
            meta,
            "objective",
            Manufacturer=str,
            Model=str,
            NominalMagnification=float,
            LensNA=float,
            Immersion=str,
            Correction=str,
        )


def _referenced(parent: ET.Element, tag: str, ref: ET.Element | None) -> ET.Element | None:
    """The ``tag`` child that ``ref`` points to, or the only one when there is no reference."""
    candidates = parent.findall("{*}" + tag)
    if ref is not None and ref.get("ID"):
        return next((c for c in candidates if c.get("ID") == ref.get("ID")), None)
    return candidates[0] if len(candidates) == 1 else None


_SNAKE = {"NominalMagnification": "nominal_magnification", "LensNA": "lens_na"}


def _copy(element: ET.Element, meta: dict[str, Any], prefix: str, **kinds: type) -> None:
    for attr, kind in kinds.items():
        text = element.get(attr)
        if not text or text == "Other":
            continue
        value = _float(text) if kind is float else text
        if value is not None:
            meta[f"{prefix}_{_SNAKE.get(attr, attr.lower())}"] = value


def _color(text: str | None) -> str | None:
    value = _int(text)
    return normalize_color(value) if value is not None else None


def _nanometers(value: str | None, unit: str | None) -> float | None:
    number = _float(value)
    factor = _NANOMETERS.get(unit or "nm")
    if number is None or factor is None or number <= 0:
        return None
    return number * factor


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
