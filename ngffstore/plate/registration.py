"""The stored plate preview as the plate document registers it: what a reader needs to know,
read from the plate's attributes with no request (see ``specs/plate-preview.md``).

* :func:`registered_preview` reads the registration from the plate attributes already in
  memory and says whether it is fresh by the cheap rule: same wells, same generation of the
  plate document.
* :func:`usable_level` picks the preview level that serves a mosaic request.
* :func:`bump_generation` is what writers that change fields apply to the plate document.

Building the preview is :mod:`ngffstore.plate.preview`; serving a mosaic from it is
:mod:`ngffstore.plate.grid`. This module imports neither.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..ngff import Channel, ome_attrs

if TYPE_CHECKING:
    from .read import Plate

PREVIEW_PATH = "preview"
"""Where the preview image lives, below the plate group."""
REGISTRATION_KEY = "preview"
"""Key of the registration in the plate's ``ngffstore`` attributes block."""
PREVIEW_KEY = "plate_preview"
"""Key of the grid geometry in the preview image's ``ngffstore`` attributes block."""
GENERATION_KEY = "generation"
"""Counter in the plate's ``ngffstore`` block, bumped by writers that change fields."""
# -- identities ---------------------------------------------------------------------------------


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def layout_digest(attrs: Mapping[str, Any]) -> str:
    """Digest of the plate's rows, columns and wells (what the preview's grid was built for)."""
    plate = ome_attrs(attrs)[1].get("plate") or {}
    return _digest({k: plate.get(k) for k in ("rows", "columns", "wells")})


def field_fingerprint(raw: bytes | None, zarr_format: int) -> str | None:
    """Fingerprint of a field's attribute document (``zarr.json`` or ``.zattrs`` bytes): a digest
    of its attributes (multiscales, rendering, ngffstore's provenance and stored bytes), the
    same on every backend; None when the field is missing or unreadable."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    attrs = doc.get("attributes") if zarr_format == 3 else doc
    if not isinstance(attrs, dict) or "multiscales" not in ome_attrs(attrs)[1]:
        return None
    return _digest(attrs)


def generation(attrs: Mapping[str, Any]) -> int:
    value = (attrs.get("ngffstore") or {}).get(GENERATION_KEY, 0)
    return int(value) if isinstance(value, int) else 0


def bump_generation(attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` with the plate's generation counter increased (call where fields change)."""
    block = dict(attrs.get("ngffstore") or {})
    block[GENERATION_KEY] = generation(attrs) + 1
    attrs["ngffstore"] = block
    return attrs


# -- the registration in the plate attributes --------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Registration:
    """The preview as the plate's attributes describe it (enough to read it with no other
    metadata request)."""

    path: str
    axes: str
    tile: tuple[int, int]
    layout: tuple[int, int]
    fields: tuple[str, ...]
    channels: tuple[Channel, ...]
    scale: tuple[float, float]
    levels: tuple[dict[str, Any], ...]  # {"path", "tile", "shape", "array": array document}
    layout_digest: str
    generation: int
    fresh: bool
    reason: str

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Registration | None:
        reg = (attrs.get("ngffstore") or {}).get(REGISTRATION_KEY)
        if not isinstance(reg, Mapping):
            return None
        try:
            out = cls(
                path=str(reg["path"]), axes=str(reg["axes"]),
                tile=(int(reg["tile"][0]), int(reg["tile"][1])),
                layout=(int(reg["layout"][0]), int(reg["layout"][1])),
                fields=tuple(str(f) for f in reg["fields"]),
                channels=tuple(Channel.from_dict(c, i) for i, c in enumerate(reg.get("channels") or [])),
                scale=(float(reg["scale"][0]), float(reg["scale"][1])),
                levels=tuple(dict(lv) for lv in reg["levels"]),
                layout_digest=str(reg["layout_digest"]), generation=int(reg.get("generation", 0)),
                fresh=False, reason="",
            )
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        if not out.levels or out.axes[-2:] != "yx":
            return None
        reason = ""
        if out.layout_digest != layout_digest(attrs):
            reason = "the plate's wells changed since it was built"
        elif out.generation != generation(attrs):
            reason = "fields were rewritten since it was built"
        return cls(**{**out.__dict__, "fresh": not reason, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "axes": self.axes, "tile": list(self.tile), "layout": list(self.layout),
            "fields": list(self.fields), "channels": [c.to_dict() for c in self.channels],
            "scale": list(self.scale), "levels": list(self.levels), "layout_digest": self.layout_digest,
            "generation": self.generation,
        }


def registered_preview(plate: Plate) -> Registration | None:
    """The plate's preview registration (from the attributes already read: no request)."""
    return Registration.from_attrs(plate._attrs)


def usable_level(reg: Registration, max_size: int | None) -> int | None:
    """The smallest preview level whose tile is still at least ``max_size`` (None: level 0);
    None when even level 0 is too small for ``max_size``."""
    if max_size is None:
        return 0
    best = None
    for i, lv in enumerate(reg.levels):
        if max(lv["tile"]) >= max_size:
            best = i
    return best


__all__ = [
    "GENERATION_KEY",
    "PREVIEW_KEY",
    "PREVIEW_PATH",
    "REGISTRATION_KEY",
    "Registration",
    "bump_generation",
    "field_fingerprint",
    "generation",
    "layout_digest",
    "registered_preview",
    "usable_level",
]
