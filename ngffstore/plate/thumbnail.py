"""A whole-plate overview saved as a picture: every well and field, from the level that fits.

:func:`save_plate_thumbnail` reads the plate mosaic (:meth:`~ngffstore.plate.Plate.grid`, or the
stored preview when it is fresh) and writes a PNG colour composite with well labels
(:func:`overview_picture`), or the raw values as ``.tif`` / ``.npy``. ``ngffstore
plate-thumbnail`` calls it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, RegionError

SUFFIXES = (".png", ".tif", ".tiff", ".npy")


@dataclass(frozen=True, kw_only=True)
class PlateThumbnail:
    """What :func:`save_plate_thumbnail` wrote."""

    path: str
    picture: str
    """The picture written: ``"W x H RGB"`` (PNG) or the raw array's shape, dtype and axes."""
    source: str
    """``"the stored preview"`` or ``"level N"``."""
    wells: str
    """``"R x C wells"`` or ``"well B3"``."""
    layout: tuple[int, int]
    tile: tuple[int, int]

    def to_text(self) -> str:
        return (
            f"wrote {self.path} ({self.picture}) from {self.source}: {self.wells} of "
            f"{self.layout[0]}x{self.layout[1]} fields of {self.tile[1]}x{self.tile[0]} px"
        )


def save_plate_thumbnail(
    url: Any,
    path: str,
    *,
    max_size: int | None = None,
    level: int | None = None,
    channels: Sequence[int | str] | None = None,
    z: int = 0,
    t: int = 0,
    fields: Sequence[int] | None = None,
    gap: int | None = None,
    well: str | None = None,
    labels: bool = True,
    preview: bool = True,
    memory_cap: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> PlateThumbnail:
    """Save the overview of the plate at ``url`` to ``path`` (``.png``, ``.tif`` or ``.npy``).

    ``max_size`` is the longest edge of a field (default: the stored preview's tiles when the
    plate has a fresh preview, else 256), or ``level`` reads one level of every field;
    ``channels``, ``z``, ``t`` and ``fields`` select what is shown; ``gap`` is the pixels between
    wells (default 2; a PNG of large tiles: a 32nd of a tile); ``well`` zooms to one well (its
    fields side by side, labelled); ``preview=False`` reads the fields even when a fresh stored
    preview exists; ``memory_cap`` refuses larger mosaics.
    """
    from . import open_plate

    ext = os.path.splitext(path)[1].lower()
    if ext not in SUFFIXES:
        raise InputError(f"cannot write {path!r}: use a .png, .tif or .npy file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: the folder {folder} does not exist")
    if gap is not None and gap < 0:
        raise RegionError(f"--gap must be 0 or more pixels, not {gap}")
    channels = list(channels) if channels else None
    c: Any = channels[0] if channels and len(channels) == 1 else channels
    with open_plate(url, storage_options=storage_options, memory_cap=memory_cap) as plate:
        ref = plate.well_ref(well) if well else None
        if max_size is None and level is None:
            reg = plate.preview if preview else None
            max_size = max(reg.tile) if reg is not None and reg.fresh else 256
        if gap is None:
            gap = max(2, (max_size or 64) // 32) if ext == ".png" else 2
        mosaic = plate.grid(
            max_size, level=level, c=c, z=z, t=t, fields=fields, gap=gap, preview=None if preview else False,
        )
        data = mosaic.data
        if ref is not None:
            x, y, _, _ = mosaic.position(mosaic.rows[ref.row_index], mosaic.columns[ref.column_index])
            h, w = mosaic.cell
            data = data[..., y:y + h, x:x + w]
        pixels = data.compute()
    picture = save_mosaic(
        mosaic, pixels, path, active_only=channels is None, labels=labels,
        well=ref.name if ref is not None else None,
    )
    return PlateThumbnail(
        path=path,
        picture=picture,
        source="the stored preview" if mosaic.preview else f"level {mosaic.level}",
        wells=f"well {ref.name}" if ref is not None else f"{len(mosaic.rows)}x{len(mosaic.columns)} wells",
        layout=(int(mosaic.layout[0]), int(mosaic.layout[1])),
        tile=(int(mosaic.tile[0]), int(mosaic.tile[1])),
    )


LABEL_BACKGROUND = (0, 0, 0)
GAP_COLOUR = (48, 48, 48)
LABEL_COLOUR = (255, 255, 255)


def overview_picture(mosaic: Any, pixels: Any, *, active_only: bool = True, labels: bool = True,
                     well: str | None = None) -> Any:
    """The RGB overview of a mosaic (or of one well of it, ``well``): channels composited, the
    gaps between wells grey, and with ``labels`` row and column names in a margin (top, left)
    and each well's name in its corner when the cell is large enough (a well zoom: the well
    name on top and each field's path in its tile)."""
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    from ..image.render import composite

    rgb = composite(pixels, mosaic.axes, mosaic.channels, active_only=active_only)
    ch, cw = mosaic.cell
    g = mosaic.gap
    if well is None and g:
        for i in range(1, len(mosaic.rows)):
            y0 = i * (ch + g) - g
            rgb[y0:y0 + g, :] = GAP_COLOUR
        for j in range(1, len(mosaic.columns)):
            x0 = j * (cw + g) - g
            rgb[:, x0:x0 + g] = GAP_COLOUR
    if not labels:
        return rgb
    font = ImageFont.load_default()
    text_h = 12
    if well is not None:
        top, left = text_h + 2, 0
    else:
        left = 6 * max(len(r) for r in mosaic.rows) + 4
        top = text_h + 2
    canvas = np.zeros((rgb.shape[0] + top, rgb.shape[1] + left, 3), dtype=np.uint8)
    canvas[:] = LABEL_BACKGROUND
    canvas[top:, left:] = rgb
    picture = PILImage.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    th, tw = mosaic.tile
    if well is not None:
        draw.text((2, 1), f"well {well}", fill=LABEL_COLOUR, font=font)
        for k, path in enumerate(mosaic.fields):
            fr, fc = divmod(k, mosaic.layout[1])
            if tw >= 14 and th >= text_h:
                draw.text((fc * tw + 2, top + fr * th + 1), path, fill=LABEL_COLOUR, font=font)
        return np.asarray(picture)
    for j, name in enumerate(mosaic.columns):
        x = left + j * (cw + g) + cw // 2 - 3 * len(name)
        draw.text((max(left, x), 1), name, fill=LABEL_COLOUR, font=font)
    for i, name in enumerate(mosaic.rows):
        y = top + i * (ch + g) + ch // 2 - text_h // 2
        draw.text((2, max(top, y)), name, fill=LABEL_COLOUR, font=font)
    longest = max(len(r) for r in mosaic.rows) + max(len(c) for c in mosaic.columns)
    if cw >= 6 * longest + 6 and ch >= 2 * text_h:
        for i, r in enumerate(mosaic.rows):
            for j, c in enumerate(mosaic.columns):
                draw.text((left + j * (cw + g) + 2, top + i * (ch + g) + 1), f"{r}{c}", fill=LABEL_COLOUR, font=font)
    return np.asarray(picture)


def save_mosaic(mosaic: Any, pixels: Any, path: str, *, active_only: bool = True, labels: bool = True,
                well: str | None = None) -> str:
    """Write a mosaic: ``.png`` colour composite (the image reader's rendering, with gaps and
    labels: :func:`overview_picture`), else raw values."""
    import numpy as np

    ext = os.path.splitext(path)[1].lower()
    if ext == ".png":
        from PIL import Image as PILImage

        rgb = overview_picture(mosaic, pixels, active_only=active_only, labels=labels, well=well)
        PILImage.fromarray(rgb).save(path)
        return f"{rgb.shape[1]}x{rgb.shape[0]} RGB"
    if ext == ".npy":
        np.save(path, pixels)
    else:
        import tifffile

        tifffile.imwrite(path, pixels, metadata={"axes": mosaic.axes.upper()})
    return f"{'x'.join(map(str, pixels.shape))} {pixels.dtype} ({mosaic.axes})"


__all__ = ["PlateThumbnail", "overview_picture", "save_mosaic", "save_plate_thumbnail"]
