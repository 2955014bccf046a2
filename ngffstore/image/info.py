"""``image_info``: what an image holds — levels, shapes, chunks, shards, dtype, axes, channels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import NgffStoreError, NotNgffError, ReadError
from ..ngff import parse_image_attrs
from ..nodes import read_attrs
from ..storage import Location, storage_errors


@dataclass(frozen=True, kw_only=True)
class LevelSummary:
    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    dtype: str
    scale: tuple[float, ...]
    translation: tuple[float, ...] | None
    compressors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ImageSummary:
    url: str
    name: str | None
    version: str | None
    zarr_format: int
    axes: str
    units: dict[str, str]
    channels: tuple[str, ...]
    levels: tuple[LevelSummary, ...]
    bytes_stored: int | None = None
    labels: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.levels[0].shape

    @property
    def dtype(self) -> str:
        return self.levels[0].dtype

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        lines = [
            f"image     {self.url}",
            f"name      {self.name or '-'}",
            f"format    OME-NGFF {self.version or '?'} (Zarr v{self.zarr_format})",
            f"axes      {self.axes}   dtype {self.dtype}",
        ]
        if self.units:
            lines.append("units     " + ", ".join(f"{k}: {v}" for k, v in self.units.items()))
        if self.channels:
            lines.append("channels  " + ", ".join(self.channels))
        if self.labels:
            lines.append("labels    " + ", ".join(self.labels))
        lines.append("levels")
        for lv in self.levels:
            shards = f" shards {_fmt(lv.shards)}" if lv.shards else ""
            lines.append(
                f"  {lv.path:>4}  shape {_fmt(lv.shape):<22} chunks {_fmt(lv.chunks):<18}{shards}"
                f"  scale {_fmt(tuple(round(s, 6) for s in lv.scale))}"
            )
        if self.levels and self.levels[0].compressors:
            lines.append("codecs    " + ", ".join(self.levels[0].compressors))
        if self.bytes_stored is not None:
            lines.append(f"stored    {_human(self.bytes_stored)}")
        return "\n".join(lines)


def _fmt(t: tuple[Any, ...] | None) -> str:
    return "x".join(str(v) for v in t) if t else "-"


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"


def _codecs(arr: Any) -> tuple[str, ...]:
    out = []
    for c in list(getattr(arr, "compressors", ()) or ()):
        name = getattr(c, "codec_id", None) or type(c).__name__
        level = getattr(c, "level", None) or getattr(c, "clevel", None)
        cname = getattr(c, "cname", None)
        text = str(name)
        if cname is not None:
            text += f"-{getattr(cname, 'value', cname)}"
        if level is not None:
            text += f":{level}"
        out.append(text)
    return tuple(out)


def image_info(
    url: str | Location, *, storage_options: Mapping[str, Any] | None = None, stored_bytes: bool = True
) -> ImageSummary:
    """Summarise the image at ``url`` from its metadata (no chunk is read)."""
    import zarr

    location = Location.parse(url, storage_options)
    zarr_format, attrs = read_attrs(location)
    try:
        version, ms, omero = parse_image_attrs(attrs)
    except NotNgffError as exc:
        raise NotNgffError(f"{location.url}: {exc}") from None
    store = location.zarr_store(read_only=True)
    levels = []
    for ds in ms.datasets:
        with storage_errors(location.child(ds.path), "read"):
            try:
                arr = zarr.open_array(store, path=ds.path, mode="r", zarr_format=zarr_format)
            except FileNotFoundError:
                raise ReadError(
                    f"level {ds.path!r} of {location.url} is missing: the image is incomplete; "
                    "rewrite it or run 'ngffstore validate'"
                ) from None
        shards = getattr(arr, "shards", None)
        levels.append(
            LevelSummary(
                path=ds.path,
                shape=tuple(arr.shape),
                chunks=tuple(arr.chunks),
                shards=tuple(shards) if shards else None,
                dtype=str(arr.dtype),
                scale=ds.scale,
                translation=ds.translation,
                compressors=_codecs(arr),
            )
        )
    units = {a.name: a.unit for a in ms.axes if a.unit}
    channels = tuple(c.label for c in omero.channels) if omero else ()
    labels: tuple[str, ...] = ()
    try:
        _, label_attrs = read_attrs(location.child("labels"))
        block = label_attrs.get("ome", label_attrs)
        labels = tuple(str(n) for n in block.get("labels", []))
    except NgffStoreError:  # no labels group
        labels = ()
    size = location.size() if stored_bytes else None
    return ImageSummary(
        url=location.url,
        name=ms.name,
        version=version,
        zarr_format=zarr_format,
        axes=ms.axis_names,
        units=units,
        channels=channels,
        levels=tuple(levels),
        bytes_stored=size,
        labels=labels,
    )
