"""OME-NGFF metadata models (0.4 and 0.5): axes, multiscales, omero channels.

Frozen, keyword-only dataclasses with ``from_dict`` / ``to_dict``. Parsing is lenient where real
stores are sloppy (older versions without axes, string windows) and strict where ngffstore writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import NotNgffError

SUPPORTED_VERSIONS = ("0.4", "0.5")
DEFAULT_VERSION = "0.5"

SPACE_UNITS = ["angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot", "gigameter", "hectometer", "inch", "kilometer", "megameter", "meter", "micrometer", "mile", "millimeter", "nanometer", "parsec", "petameter", "picometer", "terameter", "yard", "yoctometer", "yottameter", "zeptometer", "zettameter"]
TIME_UNITS = ["attosecond", "centisecond", "day", "decisecond", "exasecond", "femtosecond", "gigasecond", "hectosecond", "hour", "kilosecond", "megasecond", "microsecond", "millisecond", "minute", "nanosecond", "petasecond", "picosecond", "second", "terasecond", "yoctosecond", "yottasecond", "zeptosecond", "zettasecond"]

_UNIT_ALIASES = {
    "µm": "micrometer", "um": "micrometer", "μm": "micrometer", "micron": "micrometer",
    "microns": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter",
    "m": "meter", "å": "angstrom", "a": "angstrom", "pm": "picometer", "km": "kilometer",
    "s": "second", "sec": "second", "ms": "millisecond", "µs": "microsecond", "us": "microsecond",
    "μs": "microsecond", "ns": "nanosecond", "min": "minute", "h": "hour", "hr": "hour",
}

AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
CANONICAL_ORDER = "tczyx"


def normalize_unit(unit: str | None) -> str | None:
    """An NGFF unit name for ``unit`` (``µm`` -> ``micrometer``); None when unknown or empty."""
    if unit is None:
        return None
    text = str(unit).strip()
    if not text or text.lower() in ("pixel", "pixels", "px", "none", "reference frame"):
        return None
    if text in SPACE_UNITS or text in TIME_UNITS:
        return text
    lowered = text.lower()
    if lowered in SPACE_UNITS or lowered in TIME_UNITS:
        return lowered
    return _UNIT_ALIASES.get(text, _UNIT_ALIASES.get(lowered))


@dataclass(frozen=True, kw_only=True)
class Axis:
    name: str
    type: str | None = None
    unit: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str) -> Axis:
        if isinstance(d, str):  # NGFF 0.3 axes were plain names
            return cls(name=d, type=AXIS_TYPES.get(d))
        return cls(name=str(d["name"]), type=d.get("type"), unit=d.get("unit"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.type:
            out["type"] = self.type
        if self.unit:
            out["unit"] = self.unit
        return out


def make_axes(names: str | Sequence[str], units: Mapping[str, str | None] | None = None) -> tuple[Axis, ...]:
    units = units or {}
    return tuple(
        Axis(name=n, type=AXIS_TYPES.get(n), unit=normalize_unit(units.get(n)) if n in "tzyx" else None)
        for n in names
    )


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """One pyramid level: its array path and its coordinate transformations."""

    path: str
    scale: tuple[float, ...]
    translation: tuple[float, ...] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], ndim: int) -> Dataset:
        scale: tuple[float, ...] = (1.0,) * ndim
        translation = None
        for t in d.get("coordinateTransformations", []) or []:
            if t.get("type") == "scale" and "scale" in t:
                scale = tuple(float(v) for v in t["scale"])
            elif t.get("type") == "translation" and "translation" in t:
                translation = tuple(float(v) for v in t["translation"])
        return cls(path=str(d["path"]), scale=scale, translation=translation)

    def to_dict(self) -> dict[str, Any]:
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": [_num(v) for v in self.scale]}]
        if self.translation is not None and any(self.translation):
            transforms.append({"type": "translation", "translation": [_num(v) for v in self.translation]})
        return {"path": self.path, "coordinateTransformations": transforms}


def _num(v: float) -> float | int:
    f = float(v)
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


@dataclass(frozen=True, kw_only=True)
class Multiscale:
    """The ``multiscales[0]`` entry of an image group."""

    axes: tuple[Axis, ...]
    datasets: tuple[Dataset, ...]
    name: str | None = None
    type: str | None = None
    metadata: Mapping[str, Any] | None = None
    version: str | None = None
    coordinate_transformations: tuple[Mapping[str, Any], ...] = ()

    @property
    def axis_names(self) -> str:
        return "".join(a.name for a in self.axes)

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, version: str | None = None) -> Multiscale:
        raw_axes = d.get("axes")
        datasets_raw = d.get("datasets") or []
        if not datasets_raw:
            raise NotNgffError("multiscales has no datasets")
        if raw_axes:
            axes = tuple(Axis.from_dict(a) for a in raw_axes)
        else:  # NGFF <= 0.2: always 5-D tczyx
            axes = make_axes(CANONICAL_ORDER)
        ndim = len(axes)
        datasets = tuple(Dataset.from_dict(ds, ndim) for ds in datasets_raw)
        return cls(
            axes=axes,
            datasets=datasets,
            name=d.get("name"),
            type=d.get("type"),
            metadata=d.get("metadata"),
            version=d.get("version", version),
            coordinate_transformations=tuple(d.get("coordinateTransformations", ()) or ()),
        )

    def to_dict(self, version: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if version == "0.4":
            out["version"] = "0.4"
        if self.name is not None:
            out["name"] = self.name
        out["axes"] = [a.to_dict() for a in self.axes]
        out["datasets"] = [ds.to_dict() for ds in self.datasets]
        if self.coordinate_transformations:
            out["coordinateTransformations"] = list(self.coordinate_transformations)
        if self.type is not None:
            out["type"] = self.type
        if self.metadata is not None:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass(frozen=True, kw_only=True)
class Window:
    start: float
    end: float
    min: float
    max: float

    def to_dict(self) -> dict[str, float | int]:
        return {"start": _num(self.start), "end": _num(self.end), "min": _num(self.min), "max": _num(self.max)}


@dataclass(frozen=True, kw_only=True)
class Channel:
    """One ``omero.channels`` entry: a label, an RRGGBB colour and a display window."""

    label: str
    color: str = "FFFFFF"
    window: Window | None = None
    active: bool = True

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], index: int = 0) -> Channel:
        w = d.get("window") or {}
        window = None
        try:
            if w:
                window = Window(
                    start=float(w.get("start", 0)),
                    end=float(w.get("end", 0)),
                    min=float(w.get("min", w.get("start", 0))),
                    max=float(w.get("max", w.get("end", 0))),
                )
        except (TypeError, ValueError):
            window = None
        label = d.get("label")
        return cls(
            label=str(label) if label not in (None, "") else f"channel {index}",
            color=normalize_color(d.get("color")) or "FFFFFF",
            window=window,
            active=bool(d.get("active", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "color": self.color, "active": self.active}
        if self.window is not None:
            out["window"] = self.window.to_dict()
        return out


def normalize_color(color: Any) -> str | None:
    """``RRGGBB`` (upper case) from ``#rrggbb``, ``rrggbb``, an (r, g, b) tuple or an OME signed int."""
    if color is None:
        return None
    if isinstance(color, (tuple, list)) and len(color) >= 3:
        return "".join(f"{int(c) & 0xFF:02X}" for c in color[:3])
    if isinstance(color, int):  # OME-XML: signed 32-bit RGBA
        v = color & 0xFFFFFFFF
        return f"{(v >> 24) & 0xFF:02X}{(v >> 16) & 0xFF:02X}{(v >> 8) & 0xFF:02X}"
    text = str(color).strip().lstrip("#")
    if len(text) == 8:
        text = text[:6]
    if len(text) == 6 and all(ch in "0123456789abcdefABCDEF" for ch in text):
        return text.upper()
    named = {"red": "FF0000", "green": "00FF00", "blue": "0000FF", "white": "FFFFFF",
             "gray": "FFFFFF", "grey": "FFFFFF", "magenta": "FF00FF", "cyan": "00FFFF",
             "yellow": "FFFF00"}
    return named.get(text.lower())


DEFAULT_COLORS = ("0000FF", "00FF00", "FF0000", "FF00FF", "00FFFF", "FFFF00", "FFFFFF")


def default_color(index: int, n_channels: int) -> str:
    if n_channels == 1:
        return "FFFFFF"
    return DEFAULT_COLORS[index % len(DEFAULT_COLORS)]


@dataclass(frozen=True, kw_only=True)
class Omero:
    channels: tuple[Channel, ...] = ()
    name: str | None = None
    rdefs: Mapping[str, Any] = field(default_factory=lambda: {"model": "color"})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Omero:
        chans = tuple(Channel.from_dict(c, i) for i, c in enumerate(d.get("channels") or []))
        return cls(channels=chans, name=d.get("name"), rdefs=d.get("rdefs") or {"model": "color"})

    def to_dict(self, version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"channels": [c.to_dict() for c in self.channels], "rdefs": dict(self.rdefs)}
        if version == "0.4":
            out["version"] = "0.4"
        if self.name:
            out["name"] = self.name
        return out


def ome_attrs(attrs: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    """``(version, ome_block)`` from a group's attributes, for 0.5 (``ome`` key) and <= 0.4."""
    if isinstance(attrs.get("ome"), Mapping):
        ome = attrs["ome"]
        return (str(ome["version"]) if "version" in ome else None), ome
    version = None
    for key in ("multiscales", "plate", "well", "image-label"):
        block = attrs.get(key)
        if isinstance(block, list) and block and isinstance(block[0], Mapping):
            version = block[0].get("version", version)
        elif isinstance(block, Mapping):
            version = block.get("version", version)
    return (str(version) if version is not None else None), attrs


def wrap_ome(block: Mapping[str, Any], version: str) -> dict[str, Any]:
    """Group attributes for an NGFF ``block`` (``{"multiscales": ..., "omero": ...}``)."""
    if version == "0.4":
        return dict(block)
    return {"ome": {"version": version, **dict(block)}}


def parse_image_attrs(attrs: Mapping[str, Any]) -> tuple[str | None, Multiscale, Omero | None]:
    """Parse an image group's attributes, raising :class:`NotNgffError` if it is not one."""
    version, ome = ome_attrs(attrs)
    multiscales = ome.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales:
        raise NotNgffError("no 'multiscales' in the group attributes: not an OME-NGFF image")
    try:
        ms = Multiscale.from_dict(multiscales[0], version=version)
    except (KeyError, TypeError, ValueError) as exc:
        raise NotNgffError(f"malformed 'multiscales' metadata: {exc}") from exc
    omero = None
    if isinstance(ome.get("omero"), Mapping):
        try:
            omero = Omero.from_dict(ome["omero"])
        except (KeyError, TypeError, ValueError):
            omero = None
    return version or ms.version, ms, omero


__all__ = [
    "Axis",
    "Channel",
    "Dataset",
    "Multiscale",
    "Omero",
    "Window",
    "make_axes",
    "normalize_color",
    "normalize_unit",
    "ome_attrs",
    "parse_image_attrs",
    "replace",
    "wrap_ome",
]
