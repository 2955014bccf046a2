"""``image_info``: what an image holds — levels, shapes, chunks, shards, dtype, axes, channels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import NgffStoreError, NotNgffError, ReadError
from ..ngff import parse_image_attrs
from ..nodes import Node, read_group, try_read_node
from ..paths import check_relative_path
from ..storage import Location


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
        return "\n".join(self._text_lines())

    def _text_lines(self) -> list[str]:
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
        return lines


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


#: Where a writer records the bytes it stored: ``attributes["ngffstore"][STORED_BYTES_KEY]``.
STORED_BYTES_KEY = "stored_bytes"


def recorded_size(attrs: Mapping[str, Any]) -> int | None:
    """The bytes the writer recorded in the image attributes, or None."""
    block = attrs.get("ngffstore")
    value = block.get(STORED_BYTES_KEY) if isinstance(block, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _level_documents(
    location: Location, zarr_format: int, paths: list[str], consolidated: Mapping[str, Any]
) -> list[Node | dict[str, Any] | None]:
    """The array document of each level: from consolidated metadata, else one GET each (concurrent)."""
    from concurrent.futures import ThreadPoolExecutor

    out: list[Node | dict[str, Any] | None] = [None] * len(paths)
    wanted = []
    for i, path in enumerate(paths):
        doc = consolidated.get(path)
        if isinstance(doc, Mapping) and doc.get("node_type") == "array":
            out[i] = dict(doc)
        else:
            wanted.append(i)
    if wanted:
        with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
            found = pool.map(
                lambda i: try_read_node(location.child(paths[i]), zarr_format=zarr_format), wanted
            )
            for i, node in zip(wanted, found):
                out[i] = node
    return out


def image_info(
    url: str | Location, *, storage_options: Mapping[str, Any] | None = None, stored_bytes: bool = True
) -> ImageSummary:
    """Summarise the image at ``url`` from its metadata (no chunk is read).

    Requests: the group document, one per level (none with consolidated metadata; concurrent)
    and the ``labels`` group: 6 GETs for a 4-level image. The stored size is what the writer
    recorded in the attributes (``ngffstore.stored_bytes``); for stores written by other tools it
    is counted with a listing (local and S3), and left out over HTTP (which cannot list).
    """
    from ._zarrio import Storage, array_from_metadata

    location = Location.parse(url, storage_options)
    node = read_group(location)
    zarr_format, attrs = node.zarr_format, dict(node.attributes)
    try:
        version, ms, omero = parse_image_attrs(attrs)
    except NotNgffError as exc:
        raise NotNgffError(f"{location.url}: {exc}") from None
    document = location.child("zarr.json" if zarr_format == 3 else ".zattrs").url
    paths = [
        check_relative_path(ds.path, document=document, what=f"multiscale dataset path (level {j})")
        for j, ds in enumerate(ms.datasets)
    ]
    docs = _level_documents(location, zarr_format, paths, node.consolidated)
    storage = Storage(location)
    levels = []
    for ds, doc in zip(ms.datasets, docs):
        if doc is None or (isinstance(doc, Node) and doc.is_group):
            raise ReadError(
                f"level {ds.path!r} of {location.url} is missing: the image is incomplete; "
                "rewrite it or run 'ngffstore validate'"
            )
        meta = doc.document if isinstance(doc, Node) else doc
        try:
            arr = array_from_metadata(storage, ds.path, zarr_format, meta)
        except NgffStoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - unknown codec, malformed metadata
            raise ReadError(
                f"cannot use the metadata of level {ds.path!r} of {location.url}: {exc}; "
                "run 'ngffstore validate'"
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
    label_node = try_read_node(location.child("labels"), zarr_format=zarr_format)
    if label_node is not None and label_node.is_group:
        block = label_node.attributes.get("ome", label_node.attributes)
        names = block.get("labels", []) if isinstance(block, Mapping) else []
        labels = tuple(str(n) for n in names) if isinstance(names, list) else ()
    size: int | None = None
    if stored_bytes:
        size = recorded_size(attrs)
        if size is None and location.protocol not in ("http", "https"):
            size = location.size()  # written by another tool: count it (a listing)
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
