"""The stored plate preview: a low-resolution mosaic of a whole plate, kept as an ordinary
multiscale image inside the plate group (see ``specs/plate-preview.md``).

* :func:`build_preview` reads each field's lowest fitting level once (:meth:`Plate.grid`),
  writes the mosaic with :func:`~ngffstore.write_image` at ``PLATE/preview`` (one chunk per
  level, so a level is one GET), records the well grid and every field's fingerprint in the
  preview's attributes, and registers it in the plate's attributes (conditional update).
* :func:`check_preview` compares the recorded fingerprints with the fields as stored (one
  GET per well and per field): it finds fields rewritten in place by other tools.
* :func:`ensure_plate_preview` is the two together (``ngffstore plate preview URL``): check,
  then build only when the preview is stale or absent (or when forced, or given a tile size).

The registration (read with no request, freshness by the cheap rule) is
:mod:`ngffstore.plate.registration`; :func:`~ngffstore.plate.grid.preview_mosaic` serves
:meth:`Plate.grid` from the preview: one GET (the chunk of the level that fits) beyond the
plate document. Layers: ``names`` < ``registration`` < ``grid`` < ``read`` < ``preview``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import parallel
from ..errors import InputError, NotNgffError
from ..journal import notify
from ..ngff import Channel, ome_attrs
from ..nodes import read_node, update_attributes
from ..storage import Location
from .grid import plate_grid
from .names import field_slots, well_name
from .read import Plate, open_plate
from .registration import (  # noqa: F401 - GENERATION_KEY, bump_generation...: re-exported, their old home
    GENERATION_KEY,
    PREVIEW_KEY,
    PREVIEW_PATH,
    REGISTRATION_KEY,
    Registration,
    bump_generation,
    field_fingerprint,
    generation,
    layout_digest,
    registered_preview,
    usable_level,
)

TARGET_EDGE = 4096
"""Longest edge of the preview's full level (pixels); the tile follows from the plate size."""
MIN_TILE, MAX_TILE = 16, 256


@dataclass(frozen=True, kw_only=True)
class PreviewSummary:
    """What :func:`build_preview` wrote."""

    url: str
    tile: tuple[int, int]
    layout: tuple[int, int]
    shape: tuple[int, ...]
    levels: int
    fields: int
    missing: tuple[str, ...]

    def to_text(self) -> str:
        lines = [
            f"preview   {self.url}",
            (f"mosaic    {'x'.join(map(str, self.shape))}, {self.levels} levels, wells of "
            f"{self.layout[0]}x{self.layout[1]} fields of {self.tile[1]}x{self.tile[0]} px"),
            f"fields    {self.fields} drawn",
        ]
        if self.missing:
            lines.append(f"missing   {len(self.missing)} (empty cells): {', '.join(self.missing[:8])}"
                         + (" ..." if len(self.missing) > 8 else ""))
        return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class PreviewCheck:
    """The outcome of :func:`check_preview`."""

    url: str
    present: bool
    fresh: bool
    reason: str
    stale_fields: tuple[str, ...] = ()
    requests: int = 0

    def to_text(self) -> str:
        state = "fresh" if self.fresh else ("stale" if self.present else "absent")
        line = f"preview of {self.url}: {state}"
        if self.reason:
            line += f" ({self.reason})"
        if self.stale_fields:
            shown = ", ".join(self.stale_fields[:8]) + (" ..." if len(self.stale_fields) > 8 else "")
            line += f"; changed fields: {shown}"
        return line


# -- building -------------------------------------------------------------------------------------


def _as_plate(url: str | Location, storage_options: Mapping[str, Any] | None) -> Plate:
    try:
        return open_plate(url, storage_options=storage_options)
    except NotNgffError as exc:
        raise NotNgffError(f"a plate preview needs an HCS plate: {exc}") from None


def choose_tile(n_rows: int, n_cols: int, layout: tuple[int, int], edge: int = TARGET_EDGE) -> int:
    """Longest edge of one field's tile so the whole preview fits ``edge`` pixels."""
    longest = max(n_rows * layout[0], n_cols * layout[1], 1)
    return max(MIN_TILE, min(MAX_TILE, edge // longest))


def build_preview(
    url: str | Location,
    *,
    tile: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    journal: bool = True,
) -> PreviewSummary:
    """Build (or rebuild) the stored preview of the plate at ``url`` and register it.

    Each field is read once, from its lowest level still at least ``tile`` pixels (default: the
    plate fits :data:`TARGET_EDGE` pixels, tiles of 16 to 256); z=0, t=0, every channel.
    Missing fields are empty cells. The preview is an ordinary multiscale image of the plate's
    NGFF version at ``PLATE/preview``, each level one chunk.

    Raises
    ------
    NotNgffError
        ``url`` is not a plate.
    InputError
        The plate lists no field image; or one of its rows is named ``preview``.
    """
    from ..image import write_image

    plate = _as_plate(url, storage_options)
    location = plate.location
    if tile is not None and tile < 1:
        raise InputError(f"the preview tile must be at least 1 pixel, not {tile}")
    if any(w.path.split("/")[0] == PREVIEW_PATH for w in plate.wells):
        raise InputError(
            f"{plate.url} has a row named {PREVIEW_PATH!r}: the preview cannot be stored there; "
            "this plate cannot have a stored preview"
        )
    images = plate.well_images()
    slots = field_slots(images)
    if not slots:
        raise InputError(f"{plate.url}: no well lists a field image, there is nothing to preview")
    zarr_format = plate.zarr_format
    doc_key = "zarr.json" if zarr_format == 3 else ".zattrs"
    keys = [(w.path, im.path) for w in plate.wells for im in images.get(w.path, ())]
    docs = plate._storage.get_many([f"{wp}/{fp}/{doc_key}" for wp, fp in keys])
    prints = {f"{wp}/{fp}": field_fingerprint(raw, zarr_format) for (wp, fp), raw in zip(keys, docs)}
    missing = {k for k, v in prints.items() if v is None}
    if len(missing) == len(prints):
        raise InputError(f"{plate.url}: none of its {len(prints)} field images can be read; there is nothing to preview")

    fcols = math.ceil(math.sqrt(len(slots)))
    layout = (math.ceil(len(slots) / fcols), fcols)
    edge = tile or choose_tile(len(plate.rows), len(plate.columns), layout)
    mosaic = plate_grid(
        plate, max_size=edge, level=None, c=None, z=0, t=0, fields=None, gap=0,
        memory_cap=plate.memory_cap, skip=frozenset(missing), use_preview=False,
    )
    before = dict(plate._attrs)
    # readers stop using the old preview before it is replaced
    if Registration.from_attrs(before) is not None:
        update_attributes(location, _unregister, zarr_format=zarr_format, what="unregister the preview of")
    version = "0.5" if zarr_format == 3 else "0.4"
    target = location.child(PREVIEW_PATH)
    full = tuple(int(s) for s in mosaic.data.shape)
    channels = [c.to_dict() for c in mosaic.channels]
    # an old preview is removed first: the new one is written into an empty group, so the
    # writer makes no destination probes and journals nothing (the preview is not a
    # collection image; the plate is journaled below)
    target.remove()
    # the mosaic is small (at most TARGET_EDGE pixels a side per channel): computed once, so
    # the writer's passes (display windows, levels) do not read the fields again
    pixels = parallel.in_memory(mosaic, scheduler)
    summary = write_image(
        pixels, target, axes=mosaic.axes, chunks=full, _known_empty=True,
        channels=[{"label": c["label"], "color": c["color"]} for c in channels] if "c" in mosaic.axes else None,
        name=f"preview of plate {plate.name or location.name}", ngff_version=version, overwrite=False,
        min_size=MIN_TILE * max(len(plate.rows) * layout[0], len(plate.columns) * layout[1]),
        scheduler=scheduler, progress=progress, stored_bytes=True,
    )
    # the level documents, copied into the registration so that a reader needs none of them
    node = read_node(target, zarr_format=zarr_format)
    ome = ome_attrs(node.attributes)[1]
    datasets = ome["multiscales"][0]["datasets"]
    array_key = "zarr.json" if zarr_format == 3 else ".zarray"
    level_docs = [target.child(d["path"]).read_json(array_key) for d in datasets]
    stored_channels = (ome.get("omero") or {}).get("channels") or channels
    th, tw = mosaic.tile
    fh, fw = layout
    levels = []
    for d, arr in zip(datasets, level_docs):
        shape = arr["shape"]
        ly, lx = shape[-2] / full[-2], shape[-1] / full[-1]
        levels.append({
            "path": str(d["path"]), "shape": list(shape),
            "tile": [max(1, round(th * ly)), max(1, round(tw * lx))], "array": arr,
        })
    rows, columns = plate.rows, plate.columns
    wells_geo = []
    for w in plate.wells:
        if not (0 <= w.row_index < len(rows) and 0 <= w.column_index < len(columns)):
            continue
        x0, y0 = w.column_index * fw * tw, w.row_index * fh * th
        entries = []
        for im in images.get(w.path, ()):
            slot = slots.index(im.path)
            fr, fc = divmod(slot, fw)
            entries.append({
                "path": im.path, "box": [x0 + fc * tw, y0 + fr * th, tw, th],
                "fingerprint": prints.get(f"{w.path}/{im.path}"),
            })
        wells_geo.append({
            "path": w.path, "name": well_name(w.row, w.column), "row": w.row, "column": w.column,
            "box": [x0, y0, fw * tw, fh * th], "fields": entries,
        })
    geometry = {
        "plate": "..", "rows": list(rows), "columns": list(columns), "tile": [th, tw],
        "layout": [fh, fw], "fields": list(slots), "gap": 0, "box": "[x, y, width, height] at level 0",
        "source_level": mosaic.level, "scale": list(mosaic.scale), "z": 0, "t": 0,
        "layout_digest": layout_digest(before), "wells": wells_geo,
    }

    def add_geometry(attrs: dict[str, Any]) -> dict[str, Any]:
        block = dict(attrs.get("ngffstore") or {})
        block[PREVIEW_KEY] = geometry
        attrs["ngffstore"] = block
        return attrs

    update_attributes(target, add_geometry, zarr_format=zarr_format, node=node, what="describe the preview")

    def register(attrs: dict[str, Any]) -> dict[str, Any]:
        reg = Registration(
            path=PREVIEW_PATH, axes=mosaic.axes, tile=(th, tw), layout=layout, fields=tuple(slots),
            channels=tuple(Channel.from_dict(c, i) for i, c in enumerate(stored_channels)),
            scale=mosaic.scale, levels=tuple(levels), layout_digest=layout_digest(attrs),
            generation=generation(attrs), fresh=True, reason="",
        )
        block = dict(attrs.get("ngffstore") or {})
        block[REGISTRATION_KEY] = reg.to_dict()
        attrs["ngffstore"] = block
        return attrs

    update_attributes(location, register, zarr_format=zarr_format, what="register the preview in")
    if journal:
        notify(location, operation="plate_preview", zarr_format=zarr_format)
    return PreviewSummary(
        url=target.url, tile=(th, tw), layout=layout, shape=full, levels=len(summary.levels),
        fields=len(prints) - len(missing), missing=tuple(sorted(missing)),
    )


def _unregister(attrs: dict[str, Any]) -> dict[str, Any] | None:
    block = dict(attrs.get("ngffstore") or {})
    if REGISTRATION_KEY not in block:
        return None
    block.pop(REGISTRATION_KEY)
    attrs["ngffstore"] = block
    return attrs


# -- checking -------------------------------------------------------------------------------------


def check_preview(url: str | Location, *, storage_options: Mapping[str, Any] | None = None) -> PreviewCheck:
    """Whether the stored preview still shows the plate as stored.

    Cheap part (the plate document only): the registration exists, lists the same wells and the
    same generation. Full part: one GET per well and per field (their documents), compared
    with the fingerprints the preview recorded, plus the preview's own document.
    """
    plate = _as_plate(url, storage_options)
    reg = registered_preview(plate)
    if reg is None:
        return PreviewCheck(url=plate.url, present=False, fresh=False, reason="no preview is registered", requests=0)
    requests = 0
    if not reg.fresh:
        return PreviewCheck(url=plate.url, present=True, fresh=False, reason=reg.reason, requests=requests)
    target = plate.location.child(reg.path)
    node = read_node(target, zarr_format=plate.zarr_format)
    requests += 1
    geometry = (node.attributes.get("ngffstore") or {}).get(PREVIEW_KEY) or {}
    recorded = {
        f"{w['path']}/{f['path']}": f.get("fingerprint")
        for w in geometry.get("wells") or [] for f in w.get("fields") or []
    }
    images = plate.well_images()
    requests += len(plate.wells)
    doc_key = "zarr.json" if plate.zarr_format == 3 else ".zattrs"
    keys = [f"{w.path}/{im.path}" for w in plate.wells for im in images.get(w.path, ())]
    docs = plate._storage.get_many([f"{k}/{doc_key}" for k in keys])
    requests += len(keys)
    now = {k: field_fingerprint(raw, plate.zarr_format) for k, raw in zip(keys, docs)}
    changed = sorted((set(now) | set(recorded)) - {k for k in now if k in recorded and recorded[k] == now[k]})
    if changed:
        return PreviewCheck(
            url=plate.url, present=True, fresh=False, reason=f"{len(changed)} field(s) differ from what it shows",
            stale_fields=tuple(changed), requests=requests,
        )
    return PreviewCheck(url=plate.url, present=True, fresh=True, reason="", requests=requests)


# -- check, then build when needed ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PreviewResult:
    """What :func:`ensure_plate_preview` did: checked (``check``), built (``built``) or both.

    ``check`` is None when the build was forced (no check made); ``built`` is None when nothing
    was written (``check_only``, or the preview was fresh).
    """

    check: PreviewCheck | None
    built: PreviewSummary | None
    check_only: bool = False

    @property
    def fresh(self) -> bool:
        """The stored preview shows the plate as stored now (after a build it always does): False
        only when ``check_only`` found it stale or absent (``plate preview --check`` exits 1)."""
        return self.built is not None or (self.check is not None and self.check.fresh)

    @property
    def has_json(self) -> bool:
        """Whether :meth:`to_dict` describes what happened: a check asked for, or a build (the
        'fresh, nothing to do' answer is text only)."""
        return self.built is not None or self.check_only

    def to_dict(self) -> dict[str, Any]:
        """The build's summary when one was made, else the check's."""
        shown = self.built if self.built is not None else self.check
        return dict(shown.__dict__) if shown is not None else {}

    def to_text(self) -> str:
        if self.built is not None:
            return self.built.to_text()
        assert self.check is not None
        if self.check_only:
            return self.check.to_text()
        return self.check.to_text() + "; nothing to do (--force rebuilds it)"


def ensure_plate_preview(
    url: str | Location,
    *,
    check_only: bool = False,
    force: bool = False,
    tile: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> PreviewResult:
    """Check the stored preview of the plate at ``url``, and build it when it is not fresh.

    ``check_only``: only check (:func:`check_preview`, one GET per well and per field), write
    nothing. ``force``: build without checking. Otherwise the full check decides, and a fresh
    preview is kept unless ``tile`` asks for another tile size.

    Raises
    ------
    InputError
        ``check_only`` and ``force`` both given; or what :func:`build_preview` raises.
    NotNgffError
        ``url`` is not a plate.
    """
    if check_only and force:
        raise InputError("check_only only looks and force rebuilds: give one of them, not both")
    state = None
    if not force:
        state = check_preview(url, storage_options=storage_options)
        if check_only or (state.fresh and tile is None):
            return PreviewResult(check=state, built=None, check_only=check_only)
    summary = build_preview(url, tile=tile, storage_options=storage_options, scheduler=scheduler, progress=progress)
    return PreviewResult(check=state, built=summary)


def mark_fields_changed(url: str | Location, *, storage_options: Mapping[str, Any] | None = None) -> None:
    """Tell the plate that some of its fields were rewritten: the generation counter is bumped
    (one conditional read-modify-write), so every reader sees the preview as stale."""
    update_attributes(Location.parse(url, storage_options), bump_generation, what="mark the fields changed in")



__all__ = [
    "PREVIEW_PATH",
    "PreviewCheck",
    "PreviewResult",
    "PreviewSummary",
    "Registration",
    "build_preview",
    "check_preview",
    "ensure_plate_preview",
    "mark_fields_changed",
    "registered_preview",
]
