"""Attached images: small pictures that come with an image (a slide's label, macro, thumbnail).

Stored as PNG files under ``attachments/`` of the image group and described in its attributes
(``ngffstore.attachments``); see ``specs/attachments.md``. PNG keeps them lossless (a label's
barcode stays readable) and any viewer or browser opens them directly.

:func:`finish_source` is what a conversion runs after :func:`~ngffstore.image.write_image` on a
converter's source: it stores the source's attachments and the display windows the source fixes
(brightfield RGB: 0-255).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import parallel, provenance
from ._deprecated import data_first
from .errors import InputError, NotNgffError, OutputExistsError
from .nodes import read_group, update_attributes
from .paths import check_relative_path
from .storage import Location, storage_errors

ATTACHMENTS_DIR = "attachments"
MAX_PIXELS = 64 * 2**20
"""An attachment larger than this many pixels is refused (attachments are small pictures)."""

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


@dataclass(frozen=True, kw_only=True)
class AttachmentInfo:
    """One stored attachment as described in the image's attributes."""

    name: str
    path: str
    shape: tuple[int, ...]
    dtype: str
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "format": "png", "shape": list(self.shape),
                               "dtype": self.dtype}
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, name: str, value: Mapping[str, Any]) -> AttachmentInfo:
        return cls(name=name, path=str(value["path"]), shape=tuple(int(n) for n in value["shape"]),
                   dtype=str(value["dtype"]), description=str(value.get("description", "")))


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InputError(
            f"attachment name {name!r} is not valid: use 1-64 lower-case letters, digits, '_', "
            "'.', '-', starting with a letter or digit"
        )
    return name


def _png(data: np.ndarray, name: str) -> bytes:
    import imagecodecs

    if data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if not (data.ndim == 2 or (data.ndim == 3 and data.shape[-1] in (3, 4))):
        raise InputError(
            f"attachment {name!r} has shape {data.shape}; attachments are (y, x) or (y, x, 3|4) images"
        )
    if data.dtype not in (np.uint8, np.uint16):
        if data.dtype == bool:
            data = data.astype(np.uint8) * 255
        else:
            raise InputError(f"attachment {name!r} has pixel type {data.dtype}; use uint8 or uint16")
    if data.shape[0] * data.shape[1] > MAX_PIXELS:
        raise InputError(
            f"attachment {name!r} has {data.shape[0]}x{data.shape[1]} pixels, more than "
            f"{MAX_PIXELS}; store a large image as an image, not as an attachment"
        )
    return bytes(imagecodecs.png_encode(np.ascontiguousarray(data)))


@data_first("attachments.write_attachments", "attachments")
def write_attachments(
    attachments: Sequence[Any],
    url: Any,
    *,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> list[AttachmentInfo]:
    """Store small images beside the image at ``url`` as ``attachments/<name>.png``.

    ``attachments`` are objects with ``name``, ``data`` (numpy or dask, ``(y, x)`` or
    ``(y, x, 3|4)``, uint8 or uint16) and optionally ``description`` (e.g.
    ``converters.Attachment``). The PNG files are written first and the attributes last.
    """
    location = Location.parse(url, storage_options)
    node = read_group(location)
    if "multiscales" not in (node.attributes.get("ome") or node.attributes):
        raise NotNgffError(f"{location.url} is not an image; attachments belong to an image")
    current = _described(node.attributes)
    started = provenance.now()
    infos = []
    for item in attachments:
        name = _check_name(getattr(item, "name", None))
        if name in current and not overwrite:
            raise OutputExistsError(
                f"{location.url} already has an attachment {name!r}; pass overwrite=True to replace it"
            )
        data = np.asarray(parallel.in_memory(item.data))
        path = f"{ATTACHMENTS_DIR}/{name}.png"
        blob = _png(data, name)
        with storage_errors(location, "write"):
            location.write_bytes(path, blob)
        infos.append(AttachmentInfo(name=name, path=path, shape=tuple(data.shape), dtype=str(data.dtype),
                                    description=str(getattr(item, "description", "") or "")))
    if not infos:
        return []
    names = sorted({*current, *(i.name for i in infos)})
    _write_group(location.child(ATTACHMENTS_DIR), node.zarr_format, names)
    record = provenance.record(
        "write_attachments", {"names": [i.name for i in infos], "overwrite": overwrite},
        started=started, target=location.url, storage_options=storage_options,
    )

    def change(attrs: dict[str, Any]) -> dict[str, Any]:
        block = dict(attrs.get("ngffstore") or {})
        described = dict(block.get("attachments") or {})
        described.update({i.name: i.to_dict() for i in infos})
        block["attachments"] = described
        attrs["ngffstore"] = block
        return provenance.append(attrs, record)

    update_attributes(location, change, node=node, what="attach images to")
    return infos


def _write_group(location: Location, zarr_format: int, names: list[str]) -> None:
    """``attachments/`` is a plain Zarr group, so Zarr sees a group there (as for ``tables/``)."""
    attrs = {"ngffstore": {"attachments": {n: f"{n}.png" for n in names}}}
    with storage_errors(location, "write"):
        if zarr_format == 3:
            location.write_json("zarr.json", {"zarr_format": 3, "node_type": "group", "attributes": attrs})
        else:
            location.write_json(".zgroup", {"zarr_format": 2})
            location.write_json(".zattrs", attrs)


def _described(attrs: Mapping[str, Any]) -> dict[str, AttachmentInfo]:
    block = (attrs.get("ngffstore") or {}).get("attachments") or {}
    out = {}
    for name, value in block.items():
        try:
            out[name] = AttachmentInfo.from_dict(name, value)
        except (KeyError, TypeError, ValueError):
            continue
    return out


def list_attachments(url: Any, *, storage_options: Mapping[str, Any] | None = None) -> dict[str, AttachmentInfo]:
    """The attachments of the image at ``url``, by name."""
    return _described(read_group(Location.parse(url, storage_options)).attributes)


def read_attachment(url: Any, name: str, *, storage_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """The attachment ``name`` of the image at ``url`` as a numpy array."""
    import imagecodecs

    location = Location.parse(url, storage_options)
    described = list_attachments(url, storage_options=storage_options)
    if name not in described:
        have = ", ".join(sorted(described)) or "none"
        raise InputError(f"{location.url} has no attachment {name!r} (it has: {have})")
    info = described[name]
    check_relative_path(info.path, document=location.child("zarr.json").url, what=f"path of attachment {name!r}")
    return np.asarray(imagecodecs.png_decode(location.read_bytes(info.path)))


def set_windows(
    url: Any, windows: Sequence[tuple[float, float]], *, storage_options: Mapping[str, Any] | None = None
) -> None:
    """Set the omero display window (start, end) of each channel of the image at ``url``."""
    location = Location.parse(url, storage_options)
    wanted = [(float(a), float(b)) for a, b in windows]

    def change(attrs: dict[str, Any]) -> dict[str, Any] | None:
        holder = attrs["ome"] if isinstance(attrs.get("ome"), dict) else attrs
        omero = holder.get("omero")
        channels = omero.get("channels") if isinstance(omero, dict) else None
        if not isinstance(channels, list) or len(channels) != len(wanted):
            return None
        for channel, (start, end) in zip(channels, wanted):
            window = dict(channel.get("window") or {})
            window.update(start=start, end=end)
            window["min"] = min(float(window.get("min", start)), start)
            window["max"] = max(float(window.get("max", end)), end)
            channel["window"] = window
        return attrs

    update_attributes(location, change, what="set the display windows of")


def finish_source(url: Any, source: Any, *, storage_options: Mapping[str, Any] | None = None) -> list[AttachmentInfo]:
    """After writing a converter's ``source`` at ``url``: its fixed windows and attachments."""
    windows = getattr(source, "channel_windows", None)
    if windows:
        set_windows(url, windows, storage_options=storage_options)
    attachments = list(getattr(source, "attachments", None) or [])
    if not attachments:
        return []
    return write_attachments(attachments, url, overwrite=True, storage_options=storage_options)
