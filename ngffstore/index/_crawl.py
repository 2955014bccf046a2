"""Reading nodes below a root (counted) and turning images and plate fields into rows."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import posixpath
import queue
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .. import provenance
from ..errors import NotNgffError, ReadError
from ..image._zarrio import node_gets
from ..metadata import Metadata, node_kind
from ..ngff import ome_attrs, parse_image_attrs
from ..nodes import Node, try_read_node
from ..paths import unsafe_reason
from ..storage import Location, storage_errors
from ._common import WORKERS


class Reader:
    """Reads objects and node documents below a root, and counts what it read.

    Every object is one GET through :meth:`Location.get` (a missing object is whatever the host
    answers for it); node documents go through the node layer (:func:`read_node`). Listings are
    only made where the crawl must enumerate a folder that is not an NGFF node.
    """

    def __init__(self, root: Location, workers: int = WORKERS):
        self.root = root
        self.fs = root.fs
        self.base = root.path.rstrip("/") if root.path != "/" else ""
        self.local = root.is_local
        self.workers = workers
        self.reads = 0
        self.listings = 0
        self._lock = threading.Lock()

    def path(self, rel: str, key: str = "") -> str:
        parts = [p for p in (self.base, rel, key) if p]
        return "/".join(parts) if self.base or not self.root.is_local else "/" + "/".join(parts)

    def location(self, rel: str) -> Location:
        return self.root.child(rel) if rel else self.root

    def count(self, reads: int) -> None:
        with self._lock:
            self.reads += reads

    def get(self, rel: str, key: str = "") -> bytes | None:
        self.count(1)
        return self.location(rel).get(key)

    def list_dir(self, rel: str, *, refresh: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            self.listings += 1
        path = self.path(rel)
        with storage_errors(self.root.child(rel), "read"):
            try:
                if refresh:
                    self.fs.invalidate_cache(path)
                return list(self.fs.ls(path, detail=True))
            except (FileNotFoundError, NotADirectoryError):
                return []


class _Unreadable(Exception):
    """A node whose metadata cannot be parsed: reported, skipped."""


@dataclass
class _Node:
    rel: str
    zarr_format: int
    attrs: dict[str, Any]
    is_array: bool = False

    @property
    def kind(self) -> str | None:
        return None if self.is_array else node_kind(self.attrs)


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def _parent(rel: str, levels: int = 1) -> str | None:
    for _ in range(levels):
        if not rel:
            return None
        rel = posixpath.dirname(rel)
    return rel


def _document(reader: Reader, rel: str, zarr_format: int | None) -> Node | None:
    try:
        node = try_read_node(reader.location(rel), zarr_format=zarr_format)
    except ReadError as exc:  # a corrupt document: reported, skipped
        reader.count(1)
        raise _Unreadable(f"{rel or '.'}: {exc}") from None
    reader.count(node_gets(node, zarr_format))
    return node


def read_node(reader: Reader, rel: str, hint: int | None = None, *, strict: bool = False) -> _Node | None:
    """The group (or array) at ``rel``; the ``hint`` format is tried first (only, if ``strict``)."""
    formats: tuple[int | None, ...] = (hint,) if strict and hint in (2, 3) else (2, 3) if hint == 2 else (None,)
    for fmt in formats:
        node = _document(reader, rel, fmt)
        if node is None:
            continue
        if not node.is_group:
            return _Node(rel, node.zarr_format, {}, is_array=True)
        return _Node(rel, node.zarr_format, dict(node.attributes))
    return None


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------
@dataclass
class _Context:
    """Where a plate field sits: its plate and well (their metadata is inherited)."""

    plate_rel: str | None = None
    plate_attrs: Mapping[str, Any] = field(default_factory=dict)
    well_rel: str | None = None
    well_attrs: Mapping[str, Any] = field(default_factory=dict)
    field_index: int | None = None


def _parse_time(text: Any) -> _dt.datetime | None:
    if not text:
        return None
    try:
        value = _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.astimezone(_dt.UTC)


def _roi_counts(block: Mapping[str, Any]) -> tuple[int | None, dict[str, int]]:
    rois = block.get("rois")
    if not isinstance(rois, Mapping):
        return None, {}
    raw = rois.get("counts")
    if not isinstance(raw, Mapping):
        summary = rois.get("summary")
        raw = summary.get("terms") if isinstance(summary, Mapping) else rois.get("terms")
    counts: dict[str, int] = {}
    for term, value in (raw.items() if isinstance(raw, Mapping) else ()):
        if isinstance(value, Mapping):
            value = value.get("count")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            counts[str(term)] = int(value)
    total = rois.get("count", rois.get("total"))
    if not isinstance(total, (int, float)) or isinstance(total, bool):
        total = sum(counts.values())
    return int(total), counts


def _array_meta(reader: Reader, rel: str, fmt: int) -> tuple[list[int] | None, str | None]:
    node = _document(reader, rel, fmt)
    meta = node.document if node is not None and not node.is_group else None
    if not isinstance(meta, dict):
        return None, None
    shape = meta.get("shape")
    shape = [int(s) for s in shape] if isinstance(shape, list) else None
    if fmt == 3:
        dtype = meta.get("data_type")
        dtype = dtype.get("name") if isinstance(dtype, Mapping) else dtype
        return shape, str(dtype) if dtype is not None else None
    raw = meta.get("dtype")
    try:
        import numpy as np

        return shape, np.dtype(raw).name if isinstance(raw, str) else str(raw)
    except TypeError:
        return shape, str(raw)


def _label_names(reader: Reader, rel: str, fmt: int) -> list[str]:
    node = _document(reader, _join(rel, "labels"), fmt)
    if node is None or not node.is_group:
        return []
    _, ome = ome_attrs(node.attributes)
    names = ome.get("labels")
    return [str(n) for n in names] if isinstance(names, list) else []


def _well_name(well_rel: str | None) -> tuple[str | None, str | None, str | None]:
    if not well_rel:
        return None, None, None
    parts = well_rel.split("/")
    row, column = (parts[-2], parts[-1]) if len(parts) >= 2 else (None, parts[-1])
    return f"{row or ''}{column}", row, column


def _display_name(path: str) -> str:
    base = posixpath.basename(path) or path
    for suffix in (".zarr", ".ome"):
        base = base.removesuffix(suffix)
    return base


def _image_row(reader: Reader, node: _Node, ctx: _Context | None) -> dict[str, Any]:
    try:
        version, ms, omero = parse_image_attrs(node.attrs)
    except NotNgffError as exc:
        raise _Unreadable(f"{node.rel or '.'}: {exc}") from None
    axes = ms.axis_names
    shape, dtype = _array_meta(reader, _join(node.rel, ms.datasets[0].path), node.zarr_format)
    labels = _label_names(reader, node.rel, node.zarr_format)

    scale = list(ms.datasets[0].scale)
    for t in ms.coordinate_transformations:
        if isinstance(t, Mapping) and t.get("type") == "scale" and isinstance(t.get("scale"), list):
            scale = [a * float(b) for a, b in zip(scale, t["scale"])]
    sizes = dict(zip(axes, shape)) if shape and len(shape) == len(axes) else {}
    units = {a.name: a.unit for a in ms.axes}
    pixel = dict(zip(axes, scale))

    block = node.attrs.get("ngffstore") if isinstance(node.attrs.get("ngffstore"), Mapping) else {}
    own = Metadata.from_dict(block.get("metadata") if isinstance(block, Mapping) else None)
    layers = [own]
    if ctx is not None:
        layers = [Metadata.from_attrs(ctx.plate_attrs), Metadata.from_attrs(ctx.well_attrs), own]
    kv: dict[str, Any] = {}
    tags: dict[str, None] = {}
    description = None
    for meta in layers:
        kv.update(meta.key_values)
        tags.update(dict.fromkeys(meta.tags))
        description = meta.description or description
    history = provenance.history(node.attrs)
    roi_total, roi_terms = _roi_counts(block if isinstance(block, Mapping) else {})

    name = ms.name or (omero.name if omero else None) or _display_name(node.rel)
    row: dict[str, Any] = {
        "path": node.rel,
        "kind": "image",
        "ngff_version": version,
        "zarr_format": node.zarr_format,
        "axes": axes,
        "shape": shape,
        "dtype": dtype,
        "levels": len(ms.datasets),
        **{f"size_{a}": int(sizes.get(a, 1)) if sizes else None for a in "tczyx"},
        **{f"pixel_size_{a}": float(pixel[a]) if a in pixel else None for a in "xyz"},
        **{f"unit_{a}": units.get(a) for a in "xyz"},
        "time_increment": float(pixel["t"]) if "t" in pixel else None,
        "unit_t": units.get("t"),
        "channels": [c.label for c in omero.channels] if omero else [],
        "labels": labels,
        "tags": list(tags),
        "description": description,
        "tables": sorted(own.tables),
        "roi_count": roi_total,
        "created": _parse_time(history[0].started or history[0].finished) if history else None,
        "updated": _parse_time(history[-1].finished or history[-1].started) if history else None,
        "_kv": kv,
        "_rois": roi_terms if roi_total is not None else None,
    }
    if ctx is not None and (ctx.plate_rel is not None or ctx.well_rel):
        plate_name = None
        if ctx.plate_rel is not None:
            _, pome = ome_attrs(ctx.plate_attrs)
            plate_block = pome.get("plate")
            given = plate_block.get("name") if isinstance(plate_block, Mapping) else None
            plate_name = given or _display_name(ctx.plate_rel) or "plate"
        well_part = ctx.well_rel
        if well_part and ctx.plate_rel:
            well_part = well_part[len(ctx.plate_rel) + 1 :]
        well, wrow, wcol = _well_name(well_part)
        row.update(
            kind="plate-field",
            plate=plate_name,
            plate_path=ctx.plate_rel,
            well=well,
            row=wrow,
            column=wcol,
            field=ctx.field_index,
        )
        if name == posixpath.basename(node.rel):
            name = f"{plate_name or ''} {well} #{ctx.field_index}".strip()
    row["name"] = name
    # a 64-bit fingerprint of the row: enough to tell a changed node (check_index), cheap to store
    digest = hashlib.blake2b(json.dumps(row, sort_keys=True, default=str).encode(), digest_size=8)
    row["digest"] = int.from_bytes(digest.digest(), "big", signed=True)
    row["indexed"] = _dt.datetime.now(_dt.UTC)
    return row


# ---------------------------------------------------------------------------------------------
# walking a tree
# ---------------------------------------------------------------------------------------------
@dataclass
class Task:
    kind: str  # "dir", "well", "field"
    rel: str
    hint: int | None = None
    ctx: _Context | None = None


def _visit(reader: Reader, task: Task) -> tuple[list[dict[str, Any]], list[Task], list[str]]:
    try:
        return _visit_unchecked(reader, task)
    except _Unreadable as exc:
        return [], [], [str(exc)]


def _visit_unchecked(reader: Reader, task: Task) -> tuple[list[dict[str, Any]], list[Task], list[str]]:
    if task.kind == "field":
        node = read_node(reader, task.rel, task.hint, strict=True)
        if node is None or node.kind != "image":
            return [], [], [f"{task.rel}: listed by its well but not an image"]
        return [_image_row(reader, node, task.ctx)], [], []
    if task.kind == "well":
        node = read_node(reader, task.rel, task.hint, strict=True)
        if node is None or node.kind != "well":
            return [], [], [f"{task.rel}: listed by its plate but not a well"]
        ctx = task.ctx or _Context()
        return [], _field_tasks(node, _Context(ctx.plate_rel, ctx.plate_attrs, node.rel, node.attrs)), []
    node = read_node(reader, task.rel, task.hint)
    kind = node.kind if node is not None else None
    if node is not None and node.is_array:
        return [], [], []
    if node is not None and kind == "image":
        return [_image_row(reader, node, None)], [], []
    if node is not None and kind == "plate":
        return [], _well_tasks(node), []
    if node is not None and kind == "well":
        return [], _field_tasks(node, _Context(None, {}, node.rel, node.attrs)), []
    if kind in ("label", "labels"):
        return [], [], []
    entries = reader.list_dir(task.rel)
    names = {posixpath.basename(e["name"].rstrip("/")) for e in entries}
    if ".zarray" in names:
        return [], [], []
    hint = node.zarr_format if node is not None else task.hint
    children = [
        Task("dir", _join(task.rel, posixpath.basename(e["name"].rstrip("/"))), hint)
        for e in entries
        if e.get("type") == "directory" and not posixpath.basename(e["name"].rstrip("/")).startswith(".")
    ]
    return [], children, []


def _well_tasks(plate: _Node) -> list[Task]:
    _, ome = ome_attrs(plate.attrs)
    wells = (ome.get("plate") or {}).get("wells") or []
    ctx = _Context(plate.rel, plate.attrs)
    return [
        Task("well", _join(plate.rel, str(w["path"])), plate.zarr_format, ctx)
        for w in wells
        if isinstance(w, Mapping) and safe_path(w.get("path"))
    ]


def _field_tasks(well: _Node, ctx: _Context) -> list[Task]:
    _, ome = ome_attrs(well.attrs)
    images = (ome.get("well") or {}).get("images") or []
    return [
        Task(
            "field",
            _join(well.rel, str(img["path"])),
            well.zarr_format,
            _Context(ctx.plate_rel, ctx.plate_attrs, ctx.well_rel, ctx.well_attrs, i),
        )
        for i, img in enumerate(images)
        if isinstance(img, Mapping) and safe_path(img.get("path"))
    ]


def safe_path(path: Any) -> bool:
    """Whether ``path`` (from a document) names something inside its node (:mod:`ngffstore.paths`)."""
    return unsafe_reason(path) is None


def walk(reader: Reader, tasks: Iterable[Task]) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    done: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
    outstanding = 0
    with ThreadPoolExecutor(max_workers=reader.workers) as pool:

        def submit(task: Task) -> None:
            nonlocal outstanding
            outstanding += 1
            pool.submit(_visit, reader, task).add_done_callback(done.put)

        for task in tasks:
            submit(task)
        while outstanding:  # a queue, not wait(): that would scan every pending future each time
            future = done.get()
            outstanding -= 1
            new_rows, more, issues = future.result()
            rows.extend(new_rows)
            problems.extend(issues)
            for task in more:
                submit(task)
    return rows, problems


def refresh(reader: Reader, rel: str, hint: int | None) -> tuple[str, list[dict[str, Any]], list[str]]:
    """``(prefix, rows, problems)``: the rows that now replace every row at or below ``prefix``."""
    try:
        node = read_node(reader, rel, hint)
        if node is not None and node.kind == "label":
            parent = _parent(rel, 2)
            if parent is not None:
                return refresh(reader, parent, node.zarr_format)
        if node is not None and node.kind == "labels":
            parent = _parent(rel)
            if parent is not None:
                return refresh(reader, parent, node.zarr_format)
        if node is None:
            # a removed label image (X/labels/NAME) or labels group (X/labels): refresh image X
            parts = rel.split("/")
            cut = len(parts) - 2 if len(parts) >= 3 and parts[-2] == "labels" else (
                len(parts) - 1 if len(parts) >= 2 and parts[-1] == "labels" else None
            )
            if cut is not None:
                owner = "/".join(parts[:cut])
                owner_node = read_node(reader, owner, hint)
                if owner_node is not None and owner_node.kind == "image":
                    return refresh(reader, owner, owner_node.zarr_format)
        if node is None or node.kind not in ("image", "well"):
            rows, problems = walk(reader, [Task("dir", rel, hint)])
            return rel, rows, problems
        fmt = node.zarr_format
        if node.kind == "well":
            plate = _plate_above(reader, rel, fmt)
            plate_ctx = _Context(plate.rel, plate.attrs) if plate else _Context()
            rows, problems = walk(reader, [Task("well", rel, fmt, plate_ctx)])
            return rel, rows, problems
        well_rel = _parent(rel)
        well = read_node(reader, well_rel, fmt, strict=True) if well_rel is not None else None
        ctx: _Context | None = None
        if well is not None and well.kind == "well":
            plate = _plate_above(reader, well.rel, fmt)
            _, wome = ome_attrs(well.attrs)
            images = (wome.get("well") or {}).get("images") or []
            name = posixpath.basename(rel)
            index = next(
                (i for i, im in enumerate(images) if isinstance(im, Mapping) and im.get("path") == name),
                None,
            )
            ctx = _Context(
                plate.rel if plate else None, plate.attrs if plate else {}, well.rel, well.attrs, index
            )
        return rel, [_image_row(reader, node, ctx)], []
    except _Unreadable as exc:
        return rel, [], [str(exc)]


def _plate_above(reader: Reader, well_rel: str, fmt: int) -> _Node | None:
    plate_rel = _parent(well_rel, 2)
    if plate_rel is None:
        return None
    plate = read_node(reader, plate_rel, fmt, strict=True)
    return plate if plate is not None and plate.kind == "plate" else None
