"""Zeiss CZI -> :class:`Source`, read with pylibCZIrw (Zeiss's libCZI), region by region.

- Each scene is a series (``series=i`` is the i-th scene in scene-index order); a file without
  scenes is one series. A scene's extent is its bounding rectangle; mosaics are stitched as
  libCZI composes them (later tiles over earlier ones, background 0 where no tile lies).
- Level 0 is read in regions of whole dask chunks (up to 1024 x 4096 pixels, the pyramid
  writer's strips: :func:`converters._io.strip_chunks`) through libCZI's composing accessor at
  zoom 1, so a pyramidal CZI is read at full resolution without loading a whole plane. Each
  thread keeps its own reader (libCZI readers are not shared across threads).
- Axes ``tczyx``: ``T``, ``C`` and ``Z`` from the file's bounding box; RGB pixel types (Bgr24,
  Bgr48, Bgra32) become three channels in red, green, blue order.
- Channel names and colours from the display settings / channel metadata; pixel sizes from
  ``Scaling/Items/Distance`` (meters in the file, micrometers in the store); the application,
  title, acquisition date and objective as key-values.

Needs ``pylibCZIrw`` (``pip install 'ngffstore[czi]'``) and a local file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ngffstore.errors import InputError, NgffStoreError
from ngffstore.ngff import normalize_color
from ngffstore.storage import Location

from ._common import apply_axes, make_source
from ._io import FileArray, short, stem, strip_chunks
from .base import Source

EXTRA = "czi"
"""The extra that installs the CZI reader: ``pip install 'ngffstore[czi]'``."""

_PIXEL_TYPES = {
    "Gray8": (np.uint8, 1),
    "Gray16": (np.uint16, 1),
    "Gray32Float": (np.float32, 1),
    "Bgr24": (np.uint8, 3),
    "Bgr48": (np.uint16, 3),
    "Bgra32": (np.uint8, 3),  # alpha dropped
}
_REGION_TILE = 1024  # region reads are whole multiples of this in y/x (see strip_chunks)


def _pylibczirw(where: str) -> Any:
    try:
        from pylibCZIrw import czi
    except ImportError:
        raise InputError(
            f"{where} is a Zeiss CZI file; reading it needs pylibCZIrw: "
            f"pip install 'ngffstore[{EXTRA}]'"
        ) from None
    return czi


def _local_path(location: Location, what: str) -> str:
    if not location.is_local:
        raise InputError(
            f"{location.url}: {what} files are read from a local path only; copy the file to local "
            "disk first"
        )
    return location.path


def open_czi(location: Location, *, series: int | None = None, axes: str | None = None) -> Source:
    """Open one scene of a CZI file as a lazy ``tczyx`` :class:`Source`."""
    where = location.url
    czi = _pylibczirw(where)
    path = _local_path(location, "CZI")
    try:
        with czi.open_czi(path) as reader:
            box = dict(reader.total_bounding_box)
            scenes = dict(reader.scenes_bounding_rectangle)
            total = reader.total_bounding_rectangle
            pixel_types = dict(reader.pixel_types)
            metadata = reader.metadata or {}
    except NgffStoreError:
        raise
    except Exception as exc:  # libCZI raises RuntimeError for truncated or damaged files
        raise InputError(
            f"cannot read {where} as CZI: {short(exc)}; the file is truncated or damaged, "
            "re-copy or re-export it"
        ) from exc
    info = _Metadata(metadata)
    scene_ids = sorted(scenes)
    if scene_ids:
        index = _select_scene(series, scene_ids, scenes, info.scene_names, where)
        scene: int | None = scene_ids[index]
        rect = scenes[scene]
    else:
        if series not in (None, 0):
            raise InputError(f"{where} has no scenes, only one image; leave out --series (or give 0)")
        index, scene, rect = 0, None, total
    types = {pixel_types.get(c) for c in range(*box.get("C", (0, 1)))} - {None}
    if not types or len(types) > 1 or next(iter(types)) not in _PIXEL_TYPES:
        raise InputError(
            f"{where}: channels of pixel type(s) {sorted(map(str, types)) or 'unknown'} are not "
            f"supported (supported: {', '.join(_PIXEL_TYPES)}, one type for all channels)"
        )
    pixel_type = next(iter(types))
    dtype, samples = _PIXEL_TYPES[pixel_type]
    sizes = {d: box[d][1] - box[d][0] for d in "TZC" if d in box}
    starts = {d: box[d][0] for d in "TZC" if d in box}
    n_c = sizes.get("C", 1)
    if samples == 3 and n_c != 1:
        raise InputError(f"{where}: {n_c} RGB channels in one scene are not supported; export one channel")
    shape = (sizes.get("T", 1), n_c * samples, sizes.get("Z", 1), int(rect.h), int(rect.w))
    reader_array = CziArray(
        location, shape, dtype, scene=scene, origin=(int(rect.x), int(rect.y)),
        starts=(starts.get("T", 0), starts.get("C", 0), starts.get("Z", 0)), rgb=samples == 3,
    )
    file_chunks = (1, shape[1] if samples == 3 else 1, 1, min(_REGION_TILE, shape[3]), min(_REGION_TILE, shape[4]))
    chunks = strip_chunks("TCZYX", shape, file_chunks, np.dtype(dtype).itemsize)
    data = reader_array.to_dask(chunks, scene)
    if samples == 3:
        names: list[str] | None = ["R", "G", "B"]
        colors: list[str | None] | None = ["FF0000", "00FF00", "0000FF"]
    else:
        names, colors = info.channel_names, info.channel_colors
    if axes is None:
        keep_c = names is not None or samples == 3
        kept = [i for i, n in enumerate(shape) if n > 1 or i >= 3 or (i == 1 and keep_c)]
        data = data[tuple(slice(None) if i in kept else 0 for i in range(5))]
        canonical = "".join("tczyx"[i] for i in kept)
    else:
        data, canonical = apply_axes(data, axes, where, keep=(3, 4))
    base = stem(location)
    scene_name = info.scene_names.get(scene) if scene is not None else None
    name = base if len(scene_ids) <= 1 else f"{base}_{scene_name or f'scene{scene}'}"
    kv = dict(info.key_values)
    if scene is not None:
        kv["scene"] = scene
        if scene_name:
            kv["scene_name"] = scene_name
    source = make_source(
        data, canonical, where=where, name=name, scale=info.scale,
        units={a: "micrometer" for a in info.scale}, channel_names=names, channel_colors=colors,
        metadata=kv,
    )
    if samples == 3 and dtype == np.uint8 and "c" in source.axes:
        source.channel_windows = [(0.0, 255.0)] * 3
    return source


def _select_scene(series: Any, ids: list[int], rects: Mapping[int, Any], names: Mapping[int, str], where: str) -> int:
    if series is None:
        return 0
    if isinstance(series, int) and 0 <= series < len(ids):
        return series
    listing = ", ".join(
        f"{i}: scene {s}{' ' + repr(names[s]) if s in names else ''} {rects[s].w}x{rects[s].h}"
        for i, s in enumerate(ids[:20])
    )
    return _raise(
        f"{where} has no series {series!r}; it has {len(ids)} scenes ({listing}); choose one with "
        f"--series {'0' if len(ids) == 1 else f'0..{len(ids) - 1}'}"
    )


def _raise(message: str) -> int:
    raise InputError(message)


class CziArray(FileArray):
    """``(t, c, z, y, x)`` of one CZI scene; each read composes one region per plane."""

    prefix = "czi"

    def __init__(
        self,
        location: Location,
        shape: tuple[int, ...],
        dtype: Any,
        *,
        scene: int | None,
        origin: tuple[int, int],
        starts: tuple[int, int, int],
        rgb: bool,
    ) -> None:
        super().__init__(location, shape, dtype)
        self.scene = scene
        self.origin = origin
        self.starts = starts
        self.rgb = rgb

    def _open(self) -> tuple[Any, Callable[[], None]]:
        regions = _Regions(self)
        return regions, regions.close


class _Regions:
    """``__getitem__`` over a :class:`CziArray` with one libCZI reader per thread."""

    def __init__(self, array: CziArray) -> None:
        self.array = array
        self.local = threading.local()
        self.contexts: list[Any] = []
        self.lock = threading.Lock()

    def _reader(self) -> Any:
        reader = getattr(self.local, "reader", None)
        if reader is None:
            from pylibCZIrw import czi

            context = czi.open_czi(self.array.location.path)
            reader = context.__enter__()
            with self.lock:
                self.contexts.append(context)
            self.local.reader = reader
        return reader

    def close(self) -> None:
        with self.lock:
            contexts, self.contexts = self.contexts, []
        for context in contexts:
            context.__exit__(None, None, None)

    def __getitem__(self, key: Any) -> np.ndarray:
        a = self.array
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (5 - len(key))
        ranges = []
        for k, n in zip(key, a.shape):
            if not isinstance(k, slice) or k.indices(n)[2] != 1:
                raise IndexError("CZI regions are read with unit-step slices")
            start, stop, _ = k.indices(n)
            ranges.append((start, max(start, stop)))
        (t0, t1), (c0, c1), (z0, z1), (y0, y1), (x0, x1) = ranges
        # every plane of the region is assigned below (libCZI fills what no subblock covers)
        out = np.empty((t1 - t0, c1 - c0, z1 - z0, y1 - y0, x1 - x0), dtype=a.dtype)
        if out.size == 0:
            return out
        reader = self._reader()
        roi = (a.origin[0] + x0, a.origin[1] + y0, x1 - x0, y1 - y0)
        channels = [0] if a.rgb else list(range(c0, c1))
        for t in range(t0, t1):
            for j, c in enumerate(channels):
                for z in range(z0, z1):
                    plane = {"T": a.starts[0] + t, "C": a.starts[1] + c, "Z": a.starts[2] + z}
                    tile = reader.read(roi=roi, plane=plane, scene=a.scene)
                    if a.rgb:  # BGR(A) in the file: channel k (red 0) is sample 2 - k
                        for k in range(c0, c1):
                            np.copyto(out[t - t0, k - c0, z - z0], tile[..., 2 - k])
                    else:
                        np.copyto(out[t - t0, j, z - z0], tile[..., 0])
        return out


class _Metadata:
    """What the CZI XML metadata (as pylibCZIrw's nested dicts) says about the image."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        meta = _get(doc, "ImageDocument", "Metadata") or {}
        image = _get(meta, "Information", "Image") or {}
        self.scale: dict[str, float] = {}
        for item in _list(_get(meta, "Scaling", "Items", "Distance")):
            axis = str(item.get("@Id", "")).lower()
            value = _float(item.get("Value"))
            if axis in ("x", "y", "z") and value and value > 0:
                self.scale[axis] = value * 1e6  # meters -> micrometers
        display = {
            str(ch.get("@Id")): ch for ch in _list(_get(meta, "DisplaySetting", "Channels", "Channel"))
        }
        channels = _list(_get(image, "Dimensions", "Channels", "Channel"))
        names: list[str | None] = []
        colors = []
        for ch in channels:
            shown = display.get(str(ch.get("@Id")), {})
            name = ch.get("@Name") or shown.get("@Name")
            names.append(str(name) if name else None)
            colors.append(_color(shown.get("Color") or ch.get("Color")))
        self.channel_names: list[str] | None = (
            [n or f"channel {i}" for i, n in enumerate(names)] if any(names) else None
        )
        self.channel_colors: list[str | None] | None = colors if any(colors) else None
        self.scene_names: dict[int, str] = {}
        for i, s in enumerate(_list(_get(image, "Dimensions", "S", "Scenes", "Scene"))):
            index = _float(s.get("@Index"))
            if s.get("@Name"):
                self.scene_names[int(index) if index is not None else i] = str(s["@Name"])
        kv: dict[str, Any] = {}
        app = _get(meta, "Information", "Application") or {}
        if app.get("Name"):
            kv["software"] = f"{app.get('Name')} {app.get('Version') or ''}".strip()
        for key, path in (
            ("title", ("Information", "Document", "Title")),
            ("acquisition_date", ("Information", "Image", "AcquisitionDateAndTime")),
            ("microscope", ("Information", "Instrument", "Microscopes", "Microscope", "@Name")),
            ("objective", ("Information", "Instrument", "Objectives", "Objective", "@Name")),
        ):
            value = _get(meta, *path)
            if isinstance(value, (str, int, float)) and str(value).strip():
                kv[key] = value
        self.key_values = kv


def _get(doc: Any, *keys: str) -> Any:
    for key in keys:
        if isinstance(doc, list):
            doc = doc[0] if doc else None
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    return doc


def _list(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _color(value: Any) -> str | None:
    """``#AARRGGBB`` or ``#RRGGBB`` -> ``RRGGBB``."""
    if not isinstance(value, str):
        return None
    text = value.strip().lstrip("#")
    if len(text) == 8:
        text = text[2:]
    return normalize_color(text) if len(text) == 6 else None
