"""The plate overview: one lazy mosaic of every well and field, read from the level that fits.

How it is read (about one metadata and one chunk GET per field on object storage):

* the wells' metadata, concurrently (one GET per well), and the first field's image metadata
  (its levels choose the level, with the reader's one rule :func:`choose_level`);
* the chosen level's array metadata of every field, concurrently (one GET per field);
* when computed, each dask block (a run of wells of one plate row, up to ``BLOCK_BYTES``)
  reads its fields' pixels concurrently — the chunks of the chosen level, usually one per
  field and channel at the thumbnail level.

A field whose level differs from the first field's (another shape or pyramid) is read through
its own :class:`~ngffstore.image.Image` with the same rule; wells and fields without images are
zeros.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import numpy as np

from ..errors import MemoryCapError, NgffStoreError, ReadError, RegionError
from ..image._zarrio import Storage, array_from_metadata
from ..image.levels import check_stored_unit, nearest_index, output_shape
from ..image.read import DEFAULT_MEMORY_CAP
from ..image.results import Region
from ..ngff import Channel
from ..storage import translate_storage_error
from .names import FieldRef, field_slots
from .registration import Registration, registered_preview, usable_level

if TYPE_CHECKING:
    from ..image import Image
    from .read import Plate

BLOCK_BYTES = 32 << 20
"""Target bytes of one dask block of the mosaic (whole wells of one plate row)."""


class Mosaic(Region):
    """A plate overview from :meth:`Plate.grid`: a :class:`~ngffstore.image.Region` (``data``,
    ``axes``, ``level``, ``scale``, ``channels``, ``url``, ``compute``, ``shape``, ``dtype``) laid
    out as a well grid.

    Attributes
    ----------
    data
        Lazy dask array, axes ``axes`` (e.g. ``"cyx"``): plate rows top to bottom, columns left
        to right, each well a ``layout`` grid of field tiles of ``tile`` pixels, ``gap`` pixels
        of zeros between wells.
    level
        The level read (of the first field; a field with another pyramid uses its own); -1 when
        the pixels come from the plate's stored preview.
    scale
        Level-0 pixels per mosaic pixel along ``(y, x)``.
    bbox
        ``(0, 0, width, height)``: the level-0 pixels the whole mosaic spans (``shape`` times
        ``scale``); never clipped.
    fields
        The field paths shown, in tile order (left to right, top to bottom within a well).
    preview
        Whether the pixels come from the plate's stored preview (``level`` is then -1).
    """

    def __init__(
        self,
        data: da.Array,
        *,
        axes: str,
        level: int,
        tile: tuple[int, int],
        layout: tuple[int, int],
        gap: int,
        rows: tuple[str, ...],
        columns: tuple[str, ...],
        fields: tuple[str, ...],
        channels: tuple[Channel, ...],
        scale: tuple[float, float],
        url: str = "",
        preview: bool = False,
    ):
        height, width = data.shape[-2], data.shape[-1]
        bbox = (0, 0, round(width * scale[1]), round(height * scale[0]))
        super().__init__(
            data, axes=axes, level=level, bbox=bbox, clipped=False, scale=scale, channels=channels,
            url=url,
        )
        self.tile = tile
        self.layout = layout
        self.gap = gap
        self.rows = rows
        self.columns = columns
        self.fields = fields
        self.preview = preview

    @property
    def cell(self) -> tuple[int, int]:
        """``(height, width)`` of one well, without the gap."""
        return self.layout[0] * self.tile[0], self.layout[1] * self.tile[1]

    def position(self, row: str, column: str, field: int = 0) -> tuple[int, int, int, int]:
        """``(x, y, width, height)`` of a field's tile in the mosaic (``field``: position)."""
        ri, ci = self.rows.index(row), self.columns.index(column)
        fr, fc = divmod(field, self.layout[1])
        ch, cw = self.cell
        y = ri * (ch + self.gap) + fr * self.tile[0]
        x = ci * (cw + self.gap) + fc * self.tile[1]
        return x, y, self.tile[1], self.tile[0]

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.shape))
        return (
            f"Mosaic({self.axes} {shape} {self.dtype}, level {self.level}, {len(self.rows)}x{len(self.columns)} wells "
            f"of {self.layout[0]}x{self.layout[1]} fields of {self.tile[0]}x{self.tile[1]})"
        )


@dataclass(frozen=True)
class _Read:
    """How every field is read: the level's path, the selection, the output tile."""

    level: int
    level_path: str
    selection: tuple[Any, ...]  # per level axis: int, slice or ("take", indices)
    resample: tuple[tuple[int, ...] | None, tuple[int, ...] | None]  # y, x nearest indices
    plane: tuple[int, int]  # (height, width) of the level the indices were made for
    tile: tuple[int, int]
    lead: tuple[int, ...]  # shape of the kept t/c/z axes
    dtype: str
    zarr_format: int
    max_size: int | None
    window_args: dict[str, Any]
    memory_cap: int = DEFAULT_MEMORY_CAP


def plate_grid(
    plate: Plate,
    *,
    max_size: int | None,
    level: int | None,
    c: Any,
    z: Any,
    t: Any,
    fields: int | Sequence[int] | None,
    gap: int,
    memory_cap: int | None,
    skip: frozenset[str] = frozenset(),
    use_preview: bool | None = None,
) -> Mosaic:
    if max_size is not None and level is not None:
        raise RegionError("give either a level or max_size, not both")
    if gap < 0:
        raise RegionError(f"gap must be 0 or more pixels, not {gap}")
    if use_preview is not False:
        served = _from_preview(plate, max_size=max_size, level=level, c=c, z=z, t=t, fields=fields, gap=gap,
                               memory_cap=DEFAULT_MEMORY_CAP if memory_cap is None else int(memory_cap))
        if served is not None:
            return served
        if use_preview:
            raise ReadError(
                f"{plate.url} has no fresh stored preview that serves this request; build it with "
                "'ngffstore plate preview URL' or read the fields (preview=False)"
            )
    images = plate.well_images()
    slots = field_slots(images)
    if not slots:
        raise ReadError(f"{plate.url}: no well lists any field image; the plate is empty")
    if skip:  # fields known to be missing: empty cells, their places kept
        images = {w: tuple(im for im in ims if f"{w}/{im.path}" not in skip) for w, ims in images.items()}
    if fields is not None:
        wanted = [fields] if isinstance(fields, int) else list(fields)
        bad = [f for f in wanted if not 0 <= f < len(slots)]
        if bad:
            raise RegionError(f"field position(s) {bad} out of range: the plate's wells have fields 0 to {len(slots) - 1}")
        slots = [slots[f] for f in wanted]
    template, template_path = _template(plate, images, slots)
    cap = DEFAULT_MEMORY_CAP if memory_cap is None else int(memory_cap)
    read = replace(_plan(template, max_size=max_size, level=level, c=c, z=z, t=t), memory_cap=cap)
    n_slots = len(slots)
    fcols = math.ceil(math.sqrt(n_slots))
    frows = math.ceil(n_slots / fcols)
    th, tw = read.tile
    cell_h, cell_w = frows * th, fcols * tw
    n_rows, n_cols = len(plate.rows), len(plate.columns)
    out_shape = read.lead + (n_rows * cell_h + (n_rows - 1) * gap, n_cols * cell_w + (n_cols - 1) * gap)
    itemsize = np.dtype(read.dtype).itemsize
    nbytes = int(np.prod(out_shape, dtype=np.float64)) * itemsize
    if nbytes > cap:
        raise MemoryCapError(
            f"the plate mosaic of {plate.url} would be {'x'.join(map(str, out_shape))} {read.dtype} "
            f"({_human(nbytes)}, level {read.level}), over the memory cap of {_human(cap)}: ask for "
            "less (max_size=, fields=, one channel with c=) or raise the cap with memory_cap="
        )

    # where each field goes: (plate row, plate column) -> [(slot, well path, field path)]
    cells: dict[tuple[int, int], list[tuple[int, str, str]]] = {}
    slot_of = {p: i for i, p in enumerate(slots)}
    for w in plate.wells:
        if not (0 <= w.row_index < n_rows and 0 <= w.column_index < n_cols):
            continue
        for im in images.get(w.path, ()):
            if im.path in slot_of:
                cells.setdefault((w.row_index, w.column_index), []).append((slot_of[im.path], w.path, im.path))

    # the chosen level's metadata of every field, concurrently
    meta_key = "zarr.json" if plate.zarr_format == 3 else ".zarray"
    metas: dict[str, dict[str, Any] | None] = {}
    known = getattr(template, "_meta", {}).get(read.level)  # the first field's, already read
    if isinstance(known, dict):
        metas[f"{template_path}/{read.level_path}"] = known
    keys = [f"{wp}/{fp}/{read.level_path}" for items in cells.values() for _, wp, fp in items]
    keys = [k for k in keys if k not in metas]
    docs = plate._storage.get_many([f"{k}/{meta_key}" for k in keys])
    for k, raw in zip(keys, docs):
        metas[k] = _array_doc(raw)
    # no field may make a block decode more than the cap (a crafted chunk shape), checked
    # before any chunk is fetched
    template._check_unit(read.level, cap)
    for k, meta in metas.items():
        if meta is None:
            continue
        try:
            check_stored_unit(meta, plate.zarr_format, cap, array=f"level {read.level} of field {k} of {plate.url}")
        except (KeyError, TypeError, ValueError, AttributeError):
            metas[k] = None  # unusable metadata: the field is opened as an image, which says why

    cell_bytes = int(np.prod(read.lead, dtype=np.float64)) * (cell_h + gap) * (cell_w + gap) * itemsize
    per_block = max(1, min(n_cols, BLOCK_BYTES // max(cell_bytes, 1)))
    # a block holds the level planes it reduces to tiles, too: they obey the cap as well
    field_bytes = int(np.prod(read.lead, dtype=np.float64)) * read.plane[0] * read.plane[1] * itemsize
    if field_bytes * n_slots > cap:
        raise MemoryCapError(
            f"a well of the plate mosaic of {plate.url} reads {n_slots} field(s) of "
            f"{read.plane[0]}x{read.plane[1]} {read.dtype} at level {read.level} "
            f"({_human(field_bytes * n_slots)}), over the memory cap of {_human(cap)}: ask for less "
            "(max_size=, a smaller level, fields=, one channel with c=) or raise the cap with memory_cap="
        )
    per_block = max(1, min(per_block, cap // max(field_bytes * n_slots, 1)))
    storage = plate._storage
    rows_of_blocks = []
    for ri in range(n_rows):
        h = cell_h + (gap if ri < n_rows - 1 else 0)
        blocks = []
        for c0 in range(0, n_cols, per_block):
            c1 = min(n_cols, c0 + per_block)
            width = (c1 - c0) * cell_w + (c1 - c0 - 1) * gap + (gap if c1 < n_cols else 0)
            shape = read.lead + (h, width)
            items = []
            for ci in range(c0, c1):
                for slot, wp, fp in cells.get((ri, ci), ()):
                    fr, fc = divmod(slot, fcols)
                    y = fr * th
                    x = (ci - c0) * (cell_w + gap) + fc * tw
                    k = f"{wp}/{fp}/{read.level_path}"
                    items.append((y, x, wp, fp, metas.get(k)))
            if not items:
                blocks.append(da.zeros(shape, dtype=read.dtype, chunks=shape))
                continue
            task = dask.delayed(_read_block, pure=True)(storage, tuple(items), read, shape)
            blocks.append(da.from_delayed(task, shape=shape, dtype=np.dtype(read.dtype)))
        rows_of_blocks.append(blocks)
    data = da.block(rows_of_blocks) if n_rows > 1 or len(rows_of_blocks[0]) > 1 else rows_of_blocks[0][0]
    lead_axes = "".join(a for a, s in zip(template.axes, read.selection) if a not in "yx" and not isinstance(s, int))
    channels = _channels(template, read)
    lv = template.levels[read.level]
    iy, ix = template.axes.index("y"), template.axes.index("x")
    sy = lv.factors[iy] * (lv.shape[iy] / th if read.resample[0] is not None else 1.0)
    sx = lv.factors[ix] * (lv.shape[ix] / tw if read.resample[1] is not None else 1.0)
    return Mosaic(
        data=data, axes=lead_axes + "yx", level=read.level, tile=read.tile, layout=(frows, fcols),
        gap=gap, rows=plate.rows, columns=plate.columns, fields=tuple(slots), channels=channels,
        scale=(sy, sx), url=plate.url,
    )


def _from_preview(
    plate: Plate, *, max_size: int | None, level: int | None, c: Any, z: Any, t: Any,
    fields: Any, gap: int, memory_cap: int,
) -> Mosaic | None:
    """The mosaic from the plate's stored preview when it is registered, fresh (by the cheap
    rule: no request) and holds what is asked (z=0, t=0, every field, a tile no larger than
    the preview's); else None."""
    if level is not None or fields is not None or max_size is None:
        return None
    if z not in (0, None) or t not in (0, None):
        return None
    reg = registered_preview(plate)
    if reg is None or not reg.fresh:
        return None
    if ("z" in reg.axes and z is None) or ("t" in reg.axes and t is None):
        return None
    index = usable_level(reg, max_size)
    if index is None:
        return None
    return preview_mosaic(plate, reg, max_size=max_size, c=c, gap=gap, index=index, memory_cap=memory_cap)


def _human(n: float) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"


def _array_doc(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("node_type") == "group" or "shape" not in doc:
        return None
    return doc


def _template(
    plate: Plate, images: Mapping[str, Sequence[FieldRef]], slots: Sequence[str]
) -> tuple[Image, str]:
    """The first field shown, opened as an Image (its pyramid sets the level and the tile), and
    its path in the plate."""
    from ..image import open_image

    for w in plate.wells:
        for im in images.get(w.path, ()):
            if im.path in slots:
                image = open_image(plate.location.child(*w.path.split("/"), im.path), memory_cap=plate.memory_cap)
                return image, f"{w.path}/{im.path}"
    raise ReadError(f"{plate.url}: no well has the fields asked for")


def _plan(template: Image, *, max_size: int | None, level: int | None, c: Any, z: Any, t: Any) -> _Read:
    n_levels = len(template.multiscale.datasets)
    if level is not None:
        if not -n_levels <= level < n_levels:
            raise RegionError(f"level {level} does not exist: the fields have levels 0 to {n_levels - 1}")
        index = level % n_levels
    else:
        index = template.choose_level(max_size=max_size)
    lv = template.levels[index]
    axes = template.axes
    iy, ix = axes.index("y"), axes.index("x")
    h, w = lv.shape[iy], lv.shape[ix]
    out_h, out_w = output_shape(h, w, max_size)
    ry, rx = nearest_index(h, out_h), nearest_index(w, out_w)
    selection: list[Any] = []
    lead: list[int] = []
    labels = [ch.label for ch in template.channels]
    for i, name in enumerate(axes):
        if name in "yx":
            selection.append(slice(None))
            continue
        value = {"c": c, "z": z, "t": t}.get(name)
        if name == "c":
            sel = _channel_index(c, labels, template.url)
        elif name in ("z", "t"):
            sel = _plane_index(value, name, template.shape[i], lv.factors[i], lv.shape[i])
        else:
            sel = None
        if sel is None:
            selection.append(slice(None))
            lead.append(lv.shape[i])
        elif isinstance(sel, list):
            selection.append(("take", tuple(sel)))
            lead.append(len(sel))
        else:
            selection.append(int(sel))
    if c is not None and "c" not in axes:
        keys = c if isinstance(c, (list, tuple)) else [c]
        if any(k not in (0, labels[0]) for k in keys):
            raise RegionError("the fields of this plate have no channel axis: drop c=")
    return _Read(
        level=index, level_path=lv.path, selection=tuple(selection),
        resample=(tuple(ry) if ry is not None else None, tuple(rx) if rx is not None else None),
        plane=(h, w), tile=(out_h, out_w), lead=tuple(lead), dtype=str(np.dtype(lv.dtype)),
        zarr_format=template.zarr_format, max_size=max_size,
        window_args={"c": c, "z": z, "t": t},
    )


def _channel_index(c: Any, labels: Sequence[str], url: str) -> int | list[int] | None:
    if c is None:
        return None

    def one(key: Any) -> int:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not 0 <= key < len(labels):
                raise RegionError(f"channel {key} is out of range: the fields have channels 0 to {len(labels) - 1}")
            return int(key)
        if isinstance(key, str):
            if key in labels:
                return labels.index(key)
            if key.isdigit():
                return one(int(key))
            raise RegionError(f"no channel {key!r} in the plate's fields ({url}): they have {', '.join(labels)}")
        raise RegionError(f"a channel is an index or a label, not {key!r}")

    return [one(k) for k in c] if isinstance(c, (list, tuple)) else one(c)


def _plane_index(value: Any, name: str, extent0: int, factor: float, extent: int) -> int | list[int] | None:
    if value is None:
        return None

    def one(v: Any) -> int:
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise RegionError(f"{name} must be an integer index, not {v!r}")
        if not 0 <= v < extent0:
            raise RegionError(f"{name}={v} is out of range: the fields have {name} 0 to {extent0 - 1}")
        return min(int(int(v) / factor + 1e-9), extent - 1)

    return [one(v) for v in value] if isinstance(value, (list, tuple)) else one(value)


def _channels(template: Image, read: _Read) -> tuple[Channel, ...]:
    if "c" not in template.axes:
        return template.channels[:1]
    sel = read.selection[template.axes.index("c")]
    chans = template.channels
    if isinstance(sel, int):
        return (chans[sel],)
    if isinstance(sel, tuple) and sel and sel[0] == "take":
        return tuple(chans[i] for i in sel[1])
    return chans


# -- the tasks --------------------------------------------------------------------------------


def _zarr_selection(selection: Sequence[Any]) -> tuple[tuple[Any, ...], list[tuple[int, np.ndarray]]]:
    """A basic selection (lists read as their span) and the takes to apply after reading."""
    basic: list[Any] = []
    takes: list[tuple[int, np.ndarray]] = []
    out_axis = 0
    for s in selection:
        if isinstance(s, tuple) and s and s[0] == "take":
            idx = np.asarray(s[1], dtype=np.intp)
            lo = int(idx.min())
            basic.append(slice(lo, int(idx.max()) + 1))
            takes.append((out_axis, idx - lo))
            out_axis += 1
        else:
            basic.append(s)
            if not isinstance(s, int):
                out_axis += 1
    return tuple(basic), takes


def _read_block(
    storage: Storage, items: tuple[tuple[int, int, str, str, dict[str, Any] | None], ...], read: _Read, shape: tuple[int, ...]
) -> np.ndarray:
    """One block of the mosaic: every field of a run of wells, read concurrently."""
    from zarr.core.sync import sync

    out = np.zeros(shape, dtype=read.dtype)
    basic, takes = _zarr_selection(read.selection)
    direct = [(y, x, wp, fp, meta) for y, x, wp, fp, meta in items if meta is not None]
    others = [(y, x, wp, fp) for y, x, wp, fp, meta in items if meta is None]

    async def one(wp: str, fp: str, meta: dict[str, Any]) -> Any:
        path = f"{wp}/{fp}/{read.level_path}"
        arr = array_from_metadata(storage, path, read.zarr_format, meta).async_array
        sel = basic
        if len(sel) != len(arr.shape):
            raise ReadError(
                f"field {wp}/{fp} of {storage.location.url} has {len(arr.shape)} dimensions, unlike the first field"
            )
        return await arr.getitem(sel)

    async def many() -> list[Any]:
        return list(await asyncio.gather(*(one(wp, fp, m) for _, _, wp, fp, m in direct), return_exceptions=True))

    results = sync(many()) if direct else []
    for (y, x, wp, fp, _), res in zip(direct, results):
        if isinstance(res, BaseException):
            raise _read_error(res, storage, f"{wp}/{fp}", read)
        data = np.asarray(res)
        for axis, idx in takes:
            data = np.take(data, idx, axis=axis)
        _place(out, _fit(data, read), y, x, f"{wp}/{fp}")
    for y, x, wp, fp in others:
        _place(out, _via_image(storage, wp, fp, read), y, x, f"{wp}/{fp}")
    return out


def _fit(data: np.ndarray, read: _Read) -> np.ndarray:
    """Resample a field's plane(s) to the tile (nearest neighbour, the reader's rule); a field of
    another size gets its own indices (and is cropped or padded when placed)."""
    h, w = data.shape[-2:]
    ry: Sequence[int] | None
    rx: Sequence[int] | None
    if (h, w) == read.plane:
        ry, rx = read.resample
    else:
        oh, ow = output_shape(h, w, read.max_size)
        ry, rx = nearest_index(h, oh), nearest_index(w, ow)
    if ry is not None:
        data = np.take(data, ry, axis=-2)
    if rx is not None:
        data = np.take(data, rx, axis=-1)
    return data


def _place(out: np.ndarray, data: np.ndarray, y: int, x: int, field: str = "") -> None:
    if data.shape[:-2] != out.shape[:-2]:
        raise ReadError(
            f"field {field} has {data.shape[:-2]} channels/planes where the first field has "
            f"{out.shape[:-2]}: the plate's fields differ; show them one by one"
        )
    th = min(data.shape[-2], out.shape[-2] - y)
    tw = min(data.shape[-1], out.shape[-1] - x)
    out[..., y:y + th, x:x + tw] = data[..., :th, :tw]


def _via_image(storage: Storage, wp: str, fp: str, read: _Read) -> np.ndarray:
    """A field without the first field's level (another pyramid): read through its own Image,
    from its level that fits the tile (the reader's rule), reduced to the tile."""
    from ..image import open_image

    image = open_image(storage.location.child(*wp.split("/"), fp), memory_cap=read.memory_cap)
    iy, ix = image.axes.index("y"), image.axes.index("x")
    # z=0 and t=0 (the defaults) mean nothing to a field without those axes
    args = {k: v for k, v in read.window_args.items() if k == "c" or k in image.axes}
    region = image.window(
        0, 0, image.shape[ix], image.shape[iy], max_size=read.max_size or max(read.tile), **args,
    )
    data = region.compute(scheduler="synchronous")
    return data.astype(read.dtype, copy=False)


def _read_error(exc: BaseException, storage: Storage, field: str, read: _Read) -> NgffStoreError:
    if isinstance(exc, NgffStoreError):
        return exc
    location = storage.location.child(*field.split("/"), read.level_path)
    if isinstance(exc, (PermissionError, ConnectionError, TimeoutError, FileNotFoundError)) or (
        type(exc).__module__ or ""
    ).startswith(("botocore", "aiobotocore", "s3fs", "aiohttp", "fsspec")):
        return translate_storage_error(exc, location, "read")
    text = " ".join(str(exc).split())[:160] or type(exc).__name__
    return ReadError(
        f"cannot read level {read.level} of field {field} of {storage.location.url}: {text}; "
        "the field is corrupt or incomplete — rewrite it or check it with 'ngffstore validate'"
    )


# -- the stored preview -----------------------------------------------------------------------


def preview_mosaic(
    plate: Plate, reg: Registration, *, max_size: int | None, c: Any, gap: int, index: int,
    memory_cap: int | None = None,
) -> Mosaic:
    """A :class:`Mosaic` read from the preview level ``index`` (one GET when computed): tiles
    reduced to ``max_size`` (nearest neighbour), ``gap`` pixels of zeros between wells."""
    lv = reg.levels[index]
    lth, ltw = int(lv["tile"][0]), int(lv["tile"][1])
    shape = tuple(int(s) for s in lv["shape"])
    oth, otw = output_shape(lth, ltw, max_size)
    fh, fw = reg.layout
    n_rows, n_cols = len(plate.rows), len(plate.columns)

    full = reg.levels[0]["shape"]
    t0h, t0w = (int(t) for t in reg.levels[0]["tile"])

    def axis_index(n: int, per: int, t0: int, out: int, factor: float, limit: int) -> np.ndarray:
        # output pixel i of tile j samples level-0 position j*t0 + (i + 0.5)*t0/out, scaled
        # to the level: tiles stay aligned whatever the rounding of the level shapes
        idx: list[int] = []
        for cell in range(n):
            for f in range(per):
                j = cell * per + f
                idx.extend(min(int((j * t0 + (i + 0.5) * t0 / out) * factor), limit - 1) for i in range(out))
            if cell < n - 1:
                idx.extend([limit] * gap)  # the zero row/column appended below
        return np.asarray(idx, dtype=np.intp)

    iy = axis_index(n_rows, fh, t0h, oth, shape[-2] / int(full[-2]), shape[-2])
    ix = axis_index(n_cols, fw, t0w, otw, shape[-1] / int(full[-1]), shape[-1])
    lead = shape[:-2]
    sel_c: Any = None
    channels = reg.channels
    if "c" in reg.axes and c is not None:
        sel_c = _channel_index(c, [ch.label for ch in reg.channels], plate.url)
        channels = tuple(reg.channels[i] for i in sel_c) if isinstance(sel_c, list) else (reg.channels[sel_c],)
    out_lead: tuple[int, ...] = lead
    axes = reg.axes
    if sel_c is not None:
        if isinstance(sel_c, list):
            out_lead = (len(sel_c),) + lead[1:]
        else:
            out_lead = lead[1:]
            axes = axes.replace("c", "")
    dtype = np.dtype(lv["array"].get("data_type") or lv["array"].get("dtype"))
    out_shape = out_lead + (len(iy), len(ix))
    # the level is read whole (one chunk) and the mosaic made from it: both obey the cap
    cap = DEFAULT_MEMORY_CAP if memory_cap is None else int(memory_cap)
    need = (int(np.prod(shape, dtype=np.float64)) + int(np.prod(out_shape, dtype=np.float64))) * dtype.itemsize
    if need > cap:
        raise MemoryCapError(
            f"the plate mosaic of {plate.url} from its stored preview would hold {_human(need)} "
            f"({'x'.join(map(str, out_shape))} {dtype}), over the memory cap of {_human(cap)}: ask for less "
            "(max_size=, one channel with c=) or raise the cap with memory_cap="
        )
    task = dask.delayed(_read_preview, pure=True)(plate._storage, reg.path, lv, plate.zarr_format, iy, ix, sel_c)
    data = da.from_delayed(task, shape=out_shape, dtype=dtype)
    level0 = reg.levels[0]["tile"]
    sy = reg.scale[0] * level0[0] / oth
    sx = reg.scale[1] * level0[1] / otw
    return Mosaic(
        data=data, axes=axes, level=-1, tile=(oth, otw), layout=reg.layout, gap=gap, rows=plate.rows,
        columns=plate.columns, fields=reg.fields, channels=channels, scale=(sy, sx), url=plate.url,
        preview=True,
    )


def _read_preview(
    storage: Any, path: str, lv: Mapping[str, Any], zarr_format: int, iy: np.ndarray, ix: np.ndarray, sel_c: Any,
) -> np.ndarray:
    from zarr.core.sync import sync

    arr = array_from_metadata(storage, f"{path}/{lv['path']}", zarr_format, dict(lv["array"])).async_array
    try:
        data = np.asarray(sync(arr.getitem(tuple(slice(None) for _ in arr.shape))))
    except Exception as exc:  # noqa: BLE001 - any failure of the stored preview is one clear line
        raise ReadError(
            f"cannot read the stored preview of {storage.location.url} ({type(exc).__name__}: {exc}); "
            "rebuild it with 'ngffstore plate preview URL --force'"
        ) from None
    if sel_c is not None:
        data = data[sel_c] if not isinstance(sel_c, list) else np.take(data, sel_c, axis=0)
    # one zero row and column at the end: the gaps index them
    pad = [(0, 0)] * (data.ndim - 2) + [(0, 1), (0, 1)]
    data = np.pad(data, pad)
    return data[..., iy[:, None], ix[None, :]]

__all__ = ["Mosaic"]
