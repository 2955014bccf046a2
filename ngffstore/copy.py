"""``copy``: an image, a plate or a whole collection from one store to another (see specs/copy.md).

What is copied comes from one of two enumerations:

* a **listing** of the source, where it can list (local folders, S3 with ListBucket): every
  object below it, whatever wrote it;
* the **documents** (:func:`walk`, any source, the only way over HTTP): the node walker follows
  what the NGFF and ngffstore documents reference — multiscale datasets and their chunk grids,
  plate wells and fields, label images, the stored plate preview, ROI layer files, tables,
  attachments, and a collection's index (its images and plates).

Each object is copied with one GET and one atomic PUT (:meth:`Location.get`/:meth:`Location.put`),
then read back and verified (size and SHA-256). Objects run through a thread pool with a bounded
number in flight (memory: ``workers x 2`` objects at most). What was verified is recorded in a
state file at the destination (``.ngffstore-copy/<id>.json``), flushed as the copy goes: a rerun
skips those objects without a request. After the last object, a ``copy`` provenance record is
added to every top node copied (images and plates), and a collection's index rows are carried
over (filtered to the selection with ``search=``).

With ``ngff_version``, ``chunks``, ``shards`` or ``compression`` the images are rewritten instead
("resave"): read with :func:`~ngffstore.open_image`, written with :func:`~ngffstore.write_image`
(level 0 pixel-identical, checked), metadata carried over and upgraded, validated after.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from . import journal, provenance
from .errors import (
    InputError,
    NgffStoreError,
    OutputExistsError,
    StorageAccessError,
    StoreNotFoundError,
    ValidationError,
)
from .index._common import INDEX_FILE, MARKER
from .ngff import ome_attrs
from .nodes import Node, try_read_node, update_attributes
from .paths import check_relative_path
from .storage import Location, dump_json, storage_errors

log = logging.getLogger("ngffstore")

STATE_DIR = ".ngffstore-copy"
"""Folder at the destination holding the state of copies into it (what was verified)."""
DEFAULT_WORKERS = 8
FLUSH_EVERY = 256
"""Objects verified between two writes of the state file."""


class CopyError(NgffStoreError, ValueError):
    """An object did not arrive as it left (size or checksum differ after the write)."""


@dataclass(frozen=True, kw_only=True)
class CopySummary:
    """What :func:`copy` did."""

    source: str
    destination: str
    kind: str
    enumeration: str
    objects: int
    copied: int
    skipped: int
    bytes: int
    nodes: tuple[str, ...]
    resaved: tuple[str, ...] = ()
    index_rows: int | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def to_text(self) -> str:
        lines = [
            f"copied    {self.source} -> {self.destination} ({self.kind}, {len(self.nodes)} node(s))",
            (f"objects   {self.objects} ({self.copied} copied and verified, {self.skipped} already there), "
             f"{self.bytes / 1e6:.1f} MB, enumerated by {self.enumeration}"),
        ]
        if self.resaved:
            lines.append(f"resaved   {len(self.resaved)} image(s), level 0 pixel-identical, validated")
        if self.index_rows is not None:
            lines.append(f"index     {self.index_rows} rows carried over")
        lines.append(f"time      {self.seconds:.1f} s")
        return "\n".join(lines)


# -- the node walker ------------------------------------------------------------------------------


def _doc_keys(node: Node) -> list[str]:
    if node.zarr_format == 3:
        return ["zarr.json"]
    keys = []
    if node.version is not None:
        keys.append(".zattrs")
    if node.is_group and node.document:
        keys.append(".zgroup")
    if not node.is_group:
        keys.append(".zarray")
    return keys


def chunk_keys(node: Node) -> Iterator[str]:
    """The keys of every chunk (or shard) an array's grid can hold, from its document alone."""
    import itertools
    import math

    doc = node.document
    if node.zarr_format == 3:
        shape = [int(s) for s in doc["shape"]]
        grid = [int(c) for c in doc["chunk_grid"]["configuration"]["chunk_shape"]]
        enc = doc.get("chunk_key_encoding") or {"name": "default"}
        sep = (enc.get("configuration") or {}).get("separator", "/" if enc.get("name") == "default" else ".")
        prefix = "c" if enc.get("name", "default") == "default" else ""
    else:
        shape = [int(s) for s in doc["shape"]]
        grid = [int(c) for c in doc["chunks"]]
        sep = doc.get("dimension_separator") or "."
        prefix = ""
    counts = [max(1, math.ceil(s / c)) if c else 1 for s, c in zip(shape, grid)]
    if not shape:
        yield prefix or "0"
        return
    for idx in itertools.product(*(range(n) for n in counts)):
        body = sep.join(map(str, idx))
        yield f"{prefix}{sep}{body}" if prefix else body


def _safe(path: Any, node: Node, what: str) -> str:
    return check_relative_path(path, document=node.location.url, what=what)


def _join(rel: str, *parts: str) -> str:
    return "/".join(p.strip("/") for p in (rel, *parts) if p and p.strip("/"))


def walk(
    root: Location, rel: str = "", *, zarr_format: int | None = None, fields: Mapping[str, set[str]] | None = None,
) -> Iterator[tuple[str, bytes | None]]:
    """Every object of the node at ``root/rel`` and below that its documents reference, as
    ``(key relative to root, bytes already read or None)``; no listing.

    ``fields`` (plate path -> field paths ``"A/1/0"``) restricts a plate to some fields.
    """
    node = try_read_node(root.child(rel) if rel else root, zarr_format=zarr_format)
    if node is None:
        return
    yield from _walk_node(root, rel, node, fields or {})


def _walk_node(root: Location, rel: str, node: Node, fields: Mapping[str, set[str]]) -> Iterator[tuple[str, bytes | None]]:
    fmt = node.zarr_format
    for key in _doc_keys(node):
        yield _join(rel, key), None
    if not node.is_group:
        for key in chunk_keys(node):
            yield _join(rel, key), None
        return
    attrs = node.attributes
    ome = ome_attrs(attrs)[1]
    raw_ng = attrs.get("ngffstore")
    ng: Mapping[str, Any] = raw_ng if isinstance(raw_ng, Mapping) else {}
    children: list[str] = []
    plain_groups: list[str] = []
    files: list[str] = []
    for ms in ome.get("multiscales") or []:
        for i, d in enumerate(ms.get("datasets") or []):
            children.append(_safe(d["path"], node, f"dataset path (datasets[{i}])"))
    if ome.get("multiscales"):
        labels = try_read_node(root.child(_join(rel, "labels")), zarr_format=fmt)
        if labels is not None:
            for key in _doc_keys(labels):
                yield _join(rel, "labels", key), None
            names = ome_attrs(labels.attributes)[1].get("labels") or labels.attributes.get("labels") or []
            for j, name in enumerate(names):
                children.append(_join("labels", _safe(name, labels, f"label name (labels[{j}])")))
    plate = ome.get("plate")
    if isinstance(plate, Mapping):
        wanted = fields.get(rel)
        rows = set()
        for i, w in enumerate(plate.get("wells") or []):
            path = _safe(w["path"], node, f"well path (wells[{i}])")
            if wanted is not None and not any(f.startswith(path + "/") for f in wanted):
                continue
            rows.add(path.split("/")[0])
            children.append(path)
        plain_groups.extend(sorted(rows))
    well = ome.get("well")
    if isinstance(well, Mapping):
        plate_rel = _join(*rel.split("/")[:-2]) if rel.count("/") >= 2 else ""
        wanted = fields.get(plate_rel)
        for i, im in enumerate(well.get("images") or []):
            path = _safe(im["path"], node, f"well image path (images[{i}])")
            well_rel = "/".join(rel.split("/")[-2:])
            if wanted is not None and f"{well_rel}/{path}" not in wanted:
                continue
            children.append(path)
    preview = ng.get("preview")
    if isinstance(preview, Mapping) and preview.get("path") and not fields.get(rel):
        children.append(_safe(preview["path"], node, "preview path"))
    rois = ng.get("rois")
    for layer in ((rois or {}).get("layers") or {}).values() if isinstance(rois, Mapping) else ():
        for f in layer.get("files") or []:
            files.append(_safe(f["path"], node, "ROI layer file"))
    meta = ng.get("metadata")
    tables = (meta or {}).get("tables") if isinstance(meta, Mapping) else None
    if isinstance(tables, Mapping) and tables:
        plain_groups.append("tables")
        for name, t in tables.items():
            files.append(_safe((t or {}).get("path") or f"tables/{name}.parquet", node, "table path"))
    attachments = ng.get("attachments")
    if isinstance(attachments, Mapping) and attachments:
        plain_groups.append("attachments")
        for a in attachments.values():
            if isinstance(a, Mapping) and a.get("path"):
                files.append(_safe(a["path"], node, "attachment path"))
    for key in files:
        yield _join(rel, key), None
    for group in plain_groups:
        sub = try_read_node(root.child(_join(rel, group)), zarr_format=fmt)
        if sub is not None:
            for key in _doc_keys(sub):
                yield _join(rel, group, key), None
    for child in children:
        sub = try_read_node(root.child(_join(rel, child)), zarr_format=fmt)
        if sub is not None:
            yield from _walk_node(root, _join(rel, child), sub, fields)


def list_keys(root: Location) -> list[tuple[str, int]]:
    """Every object below ``root`` with its size (local folders, S3): ``(relative key, size)``."""
    with storage_errors(root, "read"):
        fs = root.fs
        found = fs.find(root.path, detail=True)
    base = root.path.rstrip("/") + "/"
    out = []
    for path, info in found.items():
        if info.get("type") == "directory":
            continue
        p = path if not root.is_local else path.replace("\\", "/")
        rel = p[len(base):] if p.startswith(base) else p.rsplit("/", 1)[-1]
        if rel.split("/")[0] == STATE_DIR:
            continue
        out.append((rel, int(info.get("size") or 0)))
    return sorted(out)


# -- what is copied ---------------------------------------------------------------------------------


@dataclass
class _Plan:
    kind: str  # image, plate, collection
    tops: list[tuple[str, int]]  # (rel path of a top node, zarr format)
    fields: dict[str, set[str]]  # plate rel -> selected field paths (search)
    index_table: Any = None  # pyarrow table of the index rows carried over (collection)


def _plan(source: Location, search: str | None) -> _Plan:
    node = try_read_node(source)
    if node is not None:
        if search:
            raise InputError(f"--search selects images of a collection; {source.url} is a single node: drop --search")
        ome = ome_attrs(node.attributes)[1]
        kind = "plate" if "plate" in ome else "image" if "multiscales" in ome else "node"
        return _Plan(kind=kind, tops=[("", node.zarr_format)], fields={})
    from .index import load_index
    from .index._common import IndexNotFoundError

    try:
        table, _ = load_index(source)
    except IndexNotFoundError:
        raise StoreNotFoundError(
            f"nothing to copy at {source.url}: no image, plate or collection index there; check the URL "
            "(a collection needs its index: ngffstore index FOLDER)"
        ) from None
    if search:
        from .index.search import evaluate, parse_expression

        table = table.filter(evaluate(parse_expression(search), table))
        if table.num_rows == 0:
            raise InputError(f"the search {search!r} selects no image of {source.url}: nothing was copied")
    rows = table.select(["path", "plate_path", "zarr_format"]).to_pylist()
    tops: dict[str, int] = {}
    fields: dict[str, set[str]] = {}
    document = source.child(INDEX_FILE).url
    for r in rows:
        path = check_relative_path(r["path"], document=document, what="image path in index row")
        fmt = int(r["zarr_format"]) if r.get("zarr_format") else 3
        if r.get("plate_path"):
            plate = check_relative_path(r["plate_path"], document=document, what="plate path in index row")
            tops.setdefault(plate, fmt)
            if search:
                fields.setdefault(plate, set()).add(path[len(plate) + 1:] if path.startswith(plate + "/") else path)
        else:
            tops.setdefault(path, fmt)
    return _Plan(kind="collection", tops=sorted(tops.items()), fields=fields, index_table=table if search else None)


# -- the copy ---------------------------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _copy_id(source: Location, search: str | None, resave: Mapping[str, Any]) -> str:
    return _digest(json.dumps([source.url, search, dict(resave)], sort_keys=True, default=str).encode())[:16]


class _State:
    """The verified objects of one copy, kept at the destination (flushed as the copy goes)."""

    def __init__(self, dest: Location, copy_id: str, source: str):
        self.dest = dest
        self.key = f"{STATE_DIR}/{copy_id}.json"
        self.source = source
        raw = dest.get(self.key)
        doc = json.loads(raw) if raw else {}
        self.existed = raw is not None
        self.done: dict[str, list[Any]] = dict(doc.get("done") or {})
        self.complete = bool(doc.get("complete"))
        self.record_id: str | None = doc.get("provenance")
        self.lock = threading.Lock()
        self.pending = 0

    def add(self, key: str, size: int, digest: str) -> None:
        with self.lock:
            self.done[key] = [size, digest]
            self.pending += 1

    def flush(self, *, force: bool = False) -> None:
        with self.lock:
            if not force and self.pending < FLUSH_EVERY:
                return
            doc = {"source": self.source, "complete": self.complete, "provenance": self.record_id, "done": self.done}
            self.pending = 0
            data = json.dumps(doc, separators=(",", ":")).encode()
        self.dest.put(self.key, data)


def _copy_one(source: Location, dest: Location, key: str, data: bytes | None, verify: bool) -> tuple[str, int, str] | None:
    if data is None:
        data = source.get(key)
    if data is None:
        return None  # an unwritten chunk (fill value) or an absent optional document
    digest = _digest(data)
    dest.put(key, data)
    if verify:
        back = dest.get(key)
        if back is None or len(back) != len(data) or _digest(back) != digest:
            got = "nothing" if back is None else f"{len(back)} bytes"
            raise CopyError(
                f"{dest.child(key).url}: {got} arrived where {len(data)} bytes left {source.child(key).url}; "
                "run the copy again (it resumes)"
            )
    return key, len(data), digest


def _check_places(source: Location, dest: Location) -> None:
    if dest.protocol in ("http", "https"):
        raise StorageAccessError(f"cannot copy onto {dest.url}: http(s) URLs are read-only; copy to a folder or s3://")
    same_fs = source.protocol == dest.protocol and dict(source.storage_options) == dict(dest.storage_options)
    if same_fs:
        a, b = source.url.rstrip("/") + "/", dest.url.rstrip("/") + "/"
        if a == b:
            raise InputError(f"cannot copy {source.url} onto itself: give another destination")
        if b.startswith(a) or a.startswith(b):
            raise InputError(f"cannot copy {source.url} into {dest.url}: one is inside the other; give a separate destination")


def _occupied(dest: Location) -> bool:
    for key in ("zarr.json", ".zattrs", ".zgroup", ".zarray", INDEX_FILE, MARKER):
        if dest.get(key) is not None:
            return True
    if dest.is_local:
        import os

        return os.path.isdir(dest.url) and any(n != STATE_DIR for n in os.listdir(dest.url))
    return False


def copy(
    src: str | Location,
    dst: str | Location,
    *,
    search: str | None = None,
    overwrite: bool = False,
    workers: int = DEFAULT_WORKERS,
    enumerate_by: str = "auto",
    verify: bool = True,
    ngff_version: str | None = None,
    chunks: Any = None,
    shards: Any = None,
    compression: str | None = None,
    progress: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
    dst_storage_options: Mapping[str, Any] | None = None,
) -> CopySummary:
    """Copy the image, plate or collection at ``src`` to ``dst`` (local, ``s3://``; ``src`` may
    also be ``https://``).

    Parameters
    ----------
    search
        An index expression (``ngffstore search``): only the images and plate fields it selects
        (a plate keeps only its selected fields and the wells holding them); ``src`` must be a
        collection with an index.
    overwrite
        Replace what is at ``dst``; without it a non-empty ``dst`` is refused (unless it holds an
        interrupted copy of the same source, which is resumed).
    workers
        Objects copied at once (threads); at most ``2 x workers`` objects are held in memory.
    enumerate_by
        ``"auto"`` (list local and S3 sources, walk the documents otherwise), ``"list"`` or
        ``"documents"``.
    verify
        Read every object back and compare size and SHA-256 (default).
    ngff_version, chunks, shards, compression
        Rewrite every image on the way (resave): see :func:`resave`.
    """
    import time

    t0 = time.perf_counter()
    started = provenance.now()
    source = Location.parse(src, storage_options)
    dest = Location.parse(dst, dst_storage_options if dst_storage_options is not None else storage_options)
    if enumerate_by not in ("auto", "list", "documents"):
        raise InputError(f"enumerate_by must be auto, list or documents, not {enumerate_by!r}")
    if workers < 1:
        raise InputError(f"workers must be at least 1, not {workers}")
    _check_places(source, dest)
    resave_options = {k: v for k, v in {"ngff_version": ngff_version, "chunks": chunks, "shards": shards,
                                         "compression": compression}.items() if v is not None}
    plan = _plan(source, search)
    copy_id = _copy_id(source, search, resave_options)
    state = _State(dest, copy_id, source.url)
    if not state.existed and _occupied(dest):
        if not overwrite:
            raise OutputExistsError(
                f"{dest.url} is not empty: give --overwrite to replace it, or another destination"
            )
        dest.remove()
    elif state.existed and overwrite and state.complete:
        dest.remove()
        state = _State(dest, copy_id, source.url)
    if resave_options:
        return _resave(source, dest, plan, resave_options, state=state, started=started, t0=t0,
                       progress=progress, search=search, workers=workers, verify=verify)
    keys, how = _enumerate(source, plan, enumerate_by)
    copied, skipped, nbytes = _run(source, dest, keys, state, workers=workers, verify=verify, progress=progress)
    index_rows = _finish(source, dest, plan, state, started=started, search=search, how=how,
                         objects=len(keys), nbytes=nbytes, extra={})
    return CopySummary(
        source=source.url, destination=dest.url, kind=plan.kind, enumeration=how, objects=len(keys),
        copied=copied, skipped=skipped, bytes=nbytes, nodes=tuple(t for t, _ in plan.tops) or ("",),
        index_rows=index_rows, seconds=time.perf_counter() - t0,
    )


def _enumerate(source: Location, plan: _Plan, enumerate_by: str) -> tuple[list[tuple[str, bytes | None]], str]:
    can_list = source.protocol not in ("http", "https")
    if enumerate_by == "list" and not can_list:
        raise InputError(f"{source.url} cannot be listed (http); copy it with enumerate_by='documents'")
    if (enumerate_by == "auto" and can_list and not plan.fields) or enumerate_by == "list":
        try:
            out: list[tuple[str, bytes | None]] = []
            if plan.kind != "collection":
                out.extend((k, None) for k, _ in list_keys(source))
                return out, "listing"
            for top, _ in plan.tops:
                out.extend((_join(top, k), None) for k, _ in list_keys(source.child(top)))
            for extra in (INDEX_FILE, MARKER):
                if plan.index_table is None:
                    out.append((extra, None))
            return out, "listing"
        except StorageAccessError:
            if enumerate_by == "list":
                raise
            log.info("cannot list %s: enumerating from its documents", source.url)
    keys: list[tuple[str, bytes | None]] = []
    for top, fmt in plan.tops:
        keys.extend(walk(source, top, zarr_format=fmt, fields=plan.fields))
    if plan.kind == "collection" and plan.index_table is None:
        keys.extend([(INDEX_FILE, None), (MARKER, None)])
    seen: dict[str, bytes | None] = {}
    for k, v in keys:
        seen.setdefault(k, v)
    return list(seen.items()), "documents"


def _run(
    source: Location, dest: Location, keys: Sequence[tuple[str, bytes | None]], state: _State, *,
    workers: int, verify: bool, progress: bool | None,
) -> tuple[int, int, int]:
    from .parallel import make_bar

    todo = [(k, d) for k, d in keys if k not in state.done]
    skipped = len(keys) - len(todo)
    nbytes = sum(int(state.done[k][0]) for k, _ in keys if k in state.done)
    copied = 0
    limit = 2 * workers
    with make_bar(len(keys), f"copying to {dest.name}", progress, unit="object") as bar, \
            ThreadPoolExecutor(workers) as pool:
        bar.update(skipped)
        running: set[Future[Any]] = set()
        it = iter(todo)
        error: BaseException | None = None

        def drain(block: bool) -> None:
            nonlocal copied, nbytes, running, error
            if not running:
                return
            done, running = wait(running, return_when=FIRST_COMPLETED) if block else (
                {f for f in running if f.done()}, {f for f in running if not f.done()}
            )
            for f in done:
                try:
                    result = f.result()
                except BaseException as exc:  # noqa: BLE001 - the first error is raised after the others land
                    error = error or exc
                    continue
                bar.update(1)
                if result is not None:
                    key, size, digest = result
                    state.add(key, size, digest)
                    copied += 1
                    nbytes += size
            state.flush()

        for key, data in it:
            if error is not None:
                break
            while len(running) >= limit:
                drain(True)
            running.add(pool.submit(_copy_one, source, dest, key, data, verify))
        while running:
            drain(True)
        state.flush(force=True)
        if error is not None:
            raise error
    return copied, skipped, nbytes


def _finish(
    source: Location, dest: Location, plan: _Plan, state: _State, *, started: str, search: str | None,
    how: str, objects: int, nbytes: int, extra: Mapping[str, Any],
) -> int | None:
    """The selection's metadata (plates keep the selected wells), the copy's provenance record on
    every top node, the index rows; then the state is marked complete."""
    if state.complete:
        return None if plan.kind != "collection" else _count_rows(dest)
    record_id = state.record_id or provenance.record("copy", {}).get("id")
    state.record_id = record_id
    state.flush(force=True)
    for plate, selected in plan.fields.items():
        _narrow_plate(dest.child(plate), selected)
    for top, fmt in plan.tops:
        target = dest.child(top) if top else dest
        rec = provenance.record(
            "copy",
            {"source": source.child(top).url if top else source.url, "search": search, "enumeration": how,
             "objects": objects, "bytes": nbytes, "verified": "sha256", **dict(extra)},
            started=started, target=target.url,
        )
        rec["id"] = record_id

        def add(attrs: dict[str, Any], rec: dict[str, Any] = rec) -> dict[str, Any] | None:
            history = (attrs.get("ngffstore") or {}).get("provenance") or []
            if any(isinstance(h, Mapping) and h.get("id") == rec["id"] for h in history):
                return None  # a rerun after an interruption: recorded once
            return provenance.append(attrs, rec)

        # a resave may have changed the format: read the node as it is now
        if try_read_node(target, zarr_format=None if how.endswith("(resave)") else fmt) is not None:
            update_attributes(target, add, what="record the copy in")
    rows = None
    if plan.kind == "collection":
        if plan.index_table is not None:
            _write_index(dest, plan.index_table)
        rows = _count_rows(dest)
    else:
        journal.notify(dest, operation="copy")
    state.complete = True
    state.flush(force=True)
    return rows


def _narrow_plate(plate: Location, selected: set[str]) -> None:
    """A plate copied for some of its fields lists only them (wells and their images) and
    drops its preview registration (the preview shows fields not copied)."""
    wells: dict[str, set[str]] = {}
    for f in selected:
        w, _, field_path = f.rpartition("/")
        wells.setdefault(w, set()).add(field_path)
    for w, keep in wells.items():
        def narrow_well(attrs: dict[str, Any], keep: set[str] = keep) -> dict[str, Any]:
            _, ome = ome_attrs(attrs)
            well = dict(ome.get("well") or {})
            well["images"] = [im for im in well.get("images") or [] if str(im.get("path")) in keep]
            ome = dict(ome, well=well)
            return {**attrs, "ome": ome} if "ome" in attrs else {**attrs, "well": well}

        update_attributes(plate.child(w), narrow_well, what="narrow the well")

    def narrow_plate(attrs: dict[str, Any]) -> dict[str, Any]:
        _, ome = ome_attrs(attrs)
        block = dict(ome.get("plate") or {})
        block["wells"] = [w for w in block.get("wells") or [] if str(w.get("path")) in wells]
        ng = dict(attrs.get("ngffstore") or {})
        ng.pop("preview", None)
        out = {**attrs, "ngffstore": ng}
        if "ome" in attrs:
            out["ome"] = dict(ome, plate=block)
        else:
            out["plate"] = block
        return out

    update_attributes(plate, narrow_plate, what="narrow the plate")


def _write_index(dest: Location, table: Any) -> None:
    import pyarrow.parquet as pq

    from .index._common import MARKER as marker

    buf = io.BytesIO()
    pq.write_table(table, buf)
    dest.put(INDEX_FILE, buf.getvalue())
    if dest.get(marker) is None:
        dest.put(marker, dump_json({"format": "ngffstore-index/1", "index": INDEX_FILE, "created": provenance.now()}))


def _count_rows(dest: Location) -> int | None:
    import pyarrow.parquet as pq

    raw = dest.get(INDEX_FILE)
    if raw is None:
        return None
    return pq.read_metadata(io.BytesIO(raw)).num_rows


def check_copy(dest: Location, what: str) -> None:
    """Validate what was written (resave): ``ngffstore validate`` finds no error."""
    from .validation import validate

    report = validate(dest.url, storage_options=dict(dest.storage_options) or None)
    if not report.ok:
        raise ValidationError(f"{what} at {dest.url} does not validate after the copy: {report.summary()}")


# -- resave ------------------------------------------------------------------------------------------

_SIDECARS = ("rois/", "tables/", "attachments/")
"""Folders of an image whose objects are copied as they are in a resave (ROI layers, tables,
attachments: not pixels)."""


def _resave(
    source: Location, dest: Location, plan: _Plan, options: Mapping[str, Any], *, state: _State,
    started: str, t0: float, progress: bool | None, search: str | None, workers: int, verify: bool,
) -> CopySummary:
    """Rewrite every image of ``plan`` with ``options`` (write_image's ``ngff_version``,
    ``chunks``, ``shards``, ``compression``); the rest (plate and well documents, ROI layers,
    tables, attachments, index) follows."""
    import time

    from .parallel import make_bar

    version = str(options.get("ngff_version") or "")
    images: list[tuple[str, str]] = []  # (rel of the image, kind)
    plates: list[tuple[str, Node]] = []
    for top, fmt in plan.tops:
        node = try_read_node(source.child(top) if top else source, zarr_format=fmt)
        if node is None:
            continue
        ome = ome_attrs(node.attributes)[1]
        if "multiscales" in ome:
            images.append((top, "image"))
        elif "plate" in ome:
            plates.append((top, node))
            from .plate import open_plate

            plate = open_plate(source.child(top) if top else source)
            wanted = plan.fields.get(top)
            for w, ims in plate.well_images().items():
                for im in ims:
                    rel = f"{w}/{im.path}"
                    if wanted is None or rel in wanted:
                        images.append((_join(top, rel), "field"))
        else:
            raise InputError(f"{node.location.url} is neither an image nor a plate: it cannot be resaved")
    resaved = []
    nbytes = 0
    with make_bar(len(images), f"resaving to {dest.name}", progress, unit="image") as bar:
        for rel, _ in images:
            marker = f"resaved:{rel}"
            if marker not in state.done:
                nbytes += _resave_image(source.child(rel) if rel else source, dest.child(rel) if rel else dest,
                                        options, verify=verify, workers=workers)
                state.add(marker, 0, "")
                state.flush(force=True)
            resaved.append(rel)
            bar.update(1)
    for top, node in plates:
        _resave_plate(source.child(top) if top else source, dest.child(top) if top else dest, node,
                      version or None, plan.fields.get(top))
    extra = {"resave": dict(options)}
    if plan.kind == "collection":
        # the source's rows describe the old format: the index is rebuilt from the new documents
        from .index import build_index

        plan.index_table = None
        build_index(dest)
    index_rows = _finish(source, dest, plan, state, started=started, search=search, how="documents (resave)",
                         objects=len(images), nbytes=nbytes, extra=extra)
    for top, _ in plan.tops:
        check_copy(dest.child(top) if top else dest, "the resaved node")
    return CopySummary(
        source=source.url, destination=dest.url, kind=plan.kind, enumeration="documents (resave)",
        objects=len(images), copied=len(images), skipped=0, bytes=nbytes,
        nodes=tuple(t for t, _ in plan.tops), resaved=tuple(resaved), index_rows=index_rows,
        seconds=time.perf_counter() - t0,
    )


def _merge_block(new: dict[str, Any], old: Mapping[str, Any], *, omero: Any = None, image_label: Any = None) -> dict[str, Any]:
    """The new attributes with the source's ngffstore block carried over (its history first,
    then the resave's records) and its rendering kept."""
    ng_old = dict(old.get("ngffstore") or {})
    ng_new = dict(new.get("ngffstore") or {})
    history = list(ng_old.get("provenance") or []) + list(ng_new.get("provenance") or [])
    merged = {**{k: v for k, v in ng_old.items() if k not in ("stored_bytes", "writing", "preview")}, **ng_new}
    merged["provenance"] = history
    out = dict(new)
    out["ngffstore"] = merged
    if omero is not None or image_label is not None:
        _, ome = ome_attrs(out)
        ome = dict(ome)
        if omero is not None:
            ome["omero"] = omero
        if image_label is not None:
            ome["image-label"] = image_label
        if "ome" in out:
            out["ome"] = ome
        else:
            out.update(ome)
    return out


def _resave_image(src: Location, dst: Location, options: Mapping[str, Any], *, verify: bool, workers: int) -> int:
    import dask.array as da

    from .image import open_image, write_image
    from .labels import open_labels

    image = open_image(src)
    src_node = try_read_node(src)
    old = dict(src_node.attributes) if src_node is not None else {}
    old_ome = ome_attrs(old)[1]
    data = image.to_dask(0)
    write_image(
        data, dst, axes=image.axes, scale=image.scale or None, units=image.units or None,
        channels=[c.label for c in image.channels] if "c" in image.axes else None, name=image.name,
        levels=len(image.levels), overwrite=True, progress=False, **dict(options),
    )
    written = open_image(dst)
    if not bool(da.all(written.to_dask(0) == data).compute()):
        raise CopyError(f"{dst.url}: level 0 differs from {src.url} after the resave; nothing else was changed")
    update_attributes(dst, lambda a: _merge_block(a, old, omero=old_ome.get("omero")), what="carry the metadata to")
    for name in image.labels:
        labels = open_labels(src, name)
        lab_old = try_read_node(src.child("labels", name))
        write_labels_options = {"chunks": options.get("chunks")}
        from .labels import write_labels

        write_labels(labels.to_dask(0), dst, name=name, overwrite=True, progress=False, **write_labels_options)
        lab_new = open_labels(dst, name)
        if not bool(da.all(lab_new.to_dask(0) == labels.to_dask(0)).compute()):
            raise CopyError(f"{dst.url}: label image {name} differs from the source's after the resave")
        if lab_old is not None:
            old_label = lab_old.attributes
            image_label = ome_attrs(old_label)[1].get("image-label")

            def carry(a: dict[str, Any], o: Mapping[str, Any] = old_label, il: Any = image_label) -> dict[str, Any]:
                return _merge_block(a, o, image_label=il)

            update_attributes(dst.child("labels", name), carry, what="carry the label metadata to")
    # ROI layers, tables, attachments: copied as they are
    files = [k for k, _ in walk(src) if k.startswith(_SIDECARS)]
    total = 0
    with ThreadPoolExecutor(max(1, min(workers, len(files) or 1))) as pool:
        for result in pool.map(lambda k: _copy_one(src, dst, k, None, verify), files):
            if result is not None:
                total += result[1]
    return total


def _resave_plate(src: Location, dst: Location, node: Node, version: str | None, wanted: set[str] | None) -> None:
    from .plate import open_plate, write_plate_metadata, write_well_metadata
    from .plate.preview import build_preview

    plate = open_plate(src)
    zarr_version = version or ("0.5" if plate.zarr_format == 3 else "0.4")
    wells = []
    for w, ims in plate.well_images().items():
        keep = [im for im in ims if wanted is None or f"{w}/{im.path}" in wanted]
        if not keep:
            continue
        wells.append(w)
        write_well_metadata(
            [{"path": im.path, "acquisition": im.acquisition} for im in keep],
            dst.child(w),
            ngff_version=zarr_version,
        )
    write_plate_metadata(
        [tuple(w.split("/")) for w in wells],
        dst,
        rows=list(plate.rows),
        columns=list(plate.columns),
        name=plate.name,
        acquisitions=[{k: v for k, v in a.__dict__.items() if v is not None} for a in plate.acquisitions] or None,
        field_count=plate.field_count,
        ngff_version=zarr_version,
    )
    old = node.attributes
    update_attributes(dst, lambda a: _merge_block(a, old), what="carry the plate metadata to")
    build_preview(dst, progress=False, journal=False)


__all__ = ["CopyError", "CopySummary", "chunk_keys", "copy", "list_keys", "walk"]
