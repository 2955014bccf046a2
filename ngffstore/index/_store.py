"""The index file and its journal: build, update, load, status, check, touch."""

from __future__ import annotations

import io
import json
import logging
import os
import posixpath
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .. import journal, provenance
from .._deprecated import renamed
from ..errors import NgffStoreError, StorageAccessError, StorageError, StoreNotFoundError
from ..storage import Location, storage_errors
from ._common import (
    DEFAULT_GRACE,
    FORMAT,
    INDEX_DIR,
    INDEX_FILE,
    JOURNAL,
    MARKER,
    MAX_MERGE,
    NO_INDEX_PROTOCOLS,
    WORKERS,
    IndexCheck,
    IndexNotFoundError,
    IndexReport,
    IndexStatus,
    IndexUpdateError,
    StaleIndexWarning,
    build_hint,
    rebuild_hint,
)
from ._crawl import Reader, Task, refresh, safe_path, walk
from ._schema import concat_tables, drop_prefixes, prune_unused, rows_to_table

log = logging.getLogger("ngffstore")

@dataclass
class _Snapshot:
    table: pa.Table
    meta: dict[str, Any]

    @property
    def applied(self) -> set[str]:
        return set(self.meta.get("applied") or ())


def _read_snapshot(reader: Reader, raw: bytes | None = None) -> _Snapshot | None:
    """The index file as stored (``raw``: its bytes, when already fetched)."""
    import pyarrow.parquet as pq

    if raw is None:
        raw = reader.get("", INDEX_FILE)
    if raw is None:
        return None
    try:
        # one thread: decoding a few MB is quick, and predictable on a busy machine
        table = pq.ParquetFile(pa.BufferReader(raw)).read(use_threads=False)
        meta = json.loads((table.schema.metadata or {}).get(b"ngffstore", b"{}"))
    except (pa.ArrowException, ValueError) as exc:
        raise IndexNotFoundError(
            f"{reader.root.child(INDEX_FILE).url} is not a readable index ({exc}); "
            + rebuild_hint(reader.root)
        ) from None
    return _Snapshot(table.replace_schema_metadata(None), meta if isinstance(meta, dict) else {})


_CACHE: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], _Snapshot]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def _cached_snapshot(reader: Reader) -> _Snapshot | None:
    """The index, decoded once per process and version of the file.

    Locally the file's identity comes from a stat; elsewhere the file is fetched with one GET
    (no HEAD, which a static host may not answer like S3) and its version (ETag or digest)
    tells whether the decoded copy can be reused.
    """
    key = (reader.root.url, tuple(sorted((k, repr(v)) for k, v in reader.root.storage_options.items())))
    raw: bytes | None = None
    if reader.local:
        try:
            st = os.stat(reader.path("", INDEX_FILE))
        except (FileNotFoundError, NotADirectoryError):
            return None
        validator: tuple[Any, ...] = (st.st_ino, st.st_size, st.st_mtime_ns)
    else:
        reader.count(1)
        raw, version = reader.root.get_versioned(INDEX_FILE)
        if raw is None:
            return None
        validator = (version, len(raw))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] == validator:
            _CACHE.move_to_end(key)
            return hit[1]
    snapshot = _read_snapshot(reader, raw)
    # (if the file was replaced meanwhile, the next lookup sees another validator and rereads)
    if snapshot is not None:
        with _CACHE_LOCK:
            _CACHE[key] = (validator, snapshot)
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return snapshot


def clear_cache() -> None:
    """Forget the decoded indexes kept by :func:`load_index` (the next search rereads the file)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _write_snapshot(root: Location, table: pa.Table, meta: Mapping[str, Any]) -> None:
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata({b"ngffstore": json.dumps(meta).encode()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    if root.is_local:
        # write aside, then rename: readers see the old file or the new one, never half
        tmp = root.child(INDEX_DIR, f"tmp-{uuid.uuid4().hex}.parquet")
        root.write_bytes(f"{INDEX_DIR}/{posixpath.basename(tmp.url)}", data)
        with storage_errors(root.child(INDEX_FILE), "write"):
            os.replace(tmp.url, root.child(INDEX_FILE).url)
    else:
        root.write_bytes(INDEX_FILE, data)  # a PUT replaces an object atomically


def _ensure_marker(root: Location, reader: Reader) -> None:
    if reader.get("", MARKER) is not None:
        return
    from ..nodes import exists_anything

    if not exists_anything(root):  # a typo must not create an empty collection
        raise StoreNotFoundError(
            f"nothing is stored at {root.url}: give the folder or s3:// prefix that holds the images"
        )
    root.write_json(MARKER, {"format": FORMAT, "index": INDEX_FILE, "created": provenance.now()})


def _list_journal(reader: Reader) -> dict[str, str]:
    """``{fragment name: fsspec path}`` of every fragment in the journal."""
    out = {}
    for entry in reader.list_dir(JOURNAL, refresh=True):
        name = posixpath.basename(entry["name"].rstrip("/"))
        if name.endswith(".json") and entry.get("type") != "directory":
            out[name] = entry["name"]
    return out


def _journal_if_listable(reader: Reader) -> dict[str, str]:
    """The journal, or nothing where it cannot be listed: over HTTP(S), and on a bucket that
    allows GET but not LIST (the index is then read as stored)."""
    if reader.root.protocol in NO_INDEX_PROTOCOLS:
        return {}
    try:
        return _list_journal(reader)
    except StorageAccessError as exc:
        log.info("cannot list the index journal at %s (%s); using the index as stored", reader.root.url, exc)
        return {}


def _fragment_age(name: str, now_ns: int) -> float:
    try:
        return (now_ns - int(name.split("-", 1)[0])) / 1e9
    except ValueError:
        return float("inf")


def _read_fragments(reader: Reader, names: Sequence[str]) -> list[tuple[str, int | None]]:
    """``(path, zarr_format hint)`` of each fragment, in the order given (unreadable ones skipped)."""

    def one(name: str) -> tuple[str, int | None] | None:
        body = reader.get(JOURNAL, name)
        if body is None:
            return None  # removed meanwhile: it was applied by another update
        try:
            doc = json.loads(body)
            path = str(doc["path"])
        except (ValueError, KeyError, TypeError):
            log.warning("skipping the unreadable index fragment %s", name)
            return None
        if not (path == "" or safe_path(path)):
            log.warning("skipping index fragment %s: path %r is outside the root", name, path)
            return None
        fmt = doc.get("zarr_format")
        return path.strip("/"), fmt if fmt in (2, 3) else None

    if not names:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(reader.workers, len(names)))) as pool:
        results = list(pool.map(one, names))
    return [r for r in results if r is not None]


def _minimal_paths(items: Iterable[tuple[str, int | None]]) -> list[tuple[str, int | None]]:
    """Distinct paths, dropping any path below another one (refreshing the parent covers it)."""
    hints: dict[str, int | None] = {}
    for path, hint in items:
        hints.setdefault(path, hint)
    out: list[tuple[str, int | None]] = []
    for path in sorted(hints):
        if any(path == p or p == "" or path.startswith(p + "/") for p, _ in out):
            continue
        out.append((path, hints[path]))
    return out


def _apply(
    reader: Reader, table: pa.Table, paths: Sequence[tuple[str, int | None]]
) -> tuple[pa.Table, list[str]]:
    """``table`` with the rows at and below each path replaced by what the store holds now."""
    if not paths:
        return table, []
    with ThreadPoolExecutor(max_workers=max(1, min(reader.workers, len(paths)))) as pool:
        results = list(pool.map(lambda item: refresh(reader, *item), paths))
    prefixes = [prefix for prefix, _, _ in results]
    rows = [row for _, rs, _ in results for row in rs]
    # a refresh may resolve to a parent (a label -> its image): keep one row per path
    unique = {row["path"]: row for row in rows}
    problems = [p for _, _, ps in results for p in ps]
    merged = concat_tables([drop_prefixes(table, prefixes), rows_to_table(list(unique.values()))])
    return prune_unused(merged), problems


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def index_url(root_url: Any, *, storage_options: Mapping[str, Any] | None = None) -> str:
    """The URL of the index file of the collection at ``root_url``."""
    return Location.parse(root_url, storage_options).child(INDEX_FILE).url


def build_index(
    root_url: Any,
    *,
    storage_options: Mapping[str, Any] | None = None,
    rebuild: bool = False,
    grace: float = DEFAULT_GRACE,
    workers: int = WORKERS,
) -> IndexReport:
    """Build or update the index of every image and plate field below ``root_url``.

    The first run (or ``rebuild=True``) crawls the store. Later runs fold in the journal left
    by writers (:func:`touch`) and read only the nodes it names. Safe to run while writers and
    other updates run: nothing is locked and no change is lost (see specs/index.md).

    Parameters
    ----------
    root_url
        The collection root: a folder or an ``s3://`` prefix (need not be a Zarr group).
    rebuild
        Ignore the existing index and crawl everything.
    grace
        Seconds an applied journal fragment is kept before it is deleted; an update running
        longer than half of it refuses to publish (raise it for very large crawls).
    workers
        Objects read concurrently.
    """
    if not grace >= 0:  # a negative grace (or NaN) would delete fragments not yet applied elsewhere
        from ..errors import InputError

        raise InputError(f"grace (--grace) {grace!r}: give 0 or more seconds to keep applied journal fragments (default {DEFAULT_GRACE:.0f})")
    t0 = time.monotonic()
    root = Location.parse(root_url, storage_options)
    if root.protocol in NO_INDEX_PROTOCOLS:
        raise StorageError(f"cannot write an index at {root.url}: HTTP is read-only; index the store where it is written")
    reader = Reader(root, workers)
    _ensure_marker(root, reader)  # before the crawl: writers from now on leave fragments
    snapshot = None if rebuild else _read_snapshot(reader)
    listed = _list_journal(reader)  # after reading the snapshot (see specs/index.md)
    problems: list[str] = []
    if snapshot is None:
        mode = "full"
        rows, problems = walk(reader, [Task("dir", "")])
        table = rows_to_table(rows)
        refreshed = len(rows)
        applied_now = len(listed)
        built = provenance.now()
    else:
        pending = sorted(n for n in listed if n not in snapshot.applied)
        paths = _minimal_paths(_read_fragments(reader, pending))
        table, problems = _apply(reader, snapshot.table, paths)
        mode = "incremental" if pending else "current"
        refreshed = len(paths)
        applied_now = len(pending)
        built = snapshot.meta.get("built") or provenance.now()
    elapsed = time.monotonic() - t0
    if grace > 0 and elapsed > grace / 2:
        raise IndexUpdateError(
            f"the index update of {root.url} took {elapsed:.0f} s, more than half the journal's "
            f"grace period ({grace:.0f} s), so it was not published; rerun it with a larger grace"
        )
    if mode != "current" or snapshot is None:
        table = table.sort_by("path") if table.num_rows else table
        meta = {
            "format": FORMAT,
            "software": "ngffstore",
            "built": built,
            "updated": provenance.now(),
            "rows": table.num_rows,
            "applied": sorted(listed),
        }
        _write_snapshot(root, table, meta)
    removed = _collect_garbage(root, listed, grace)
    return IndexReport(
        root=root.url,
        index_url=root.child(INDEX_FILE).url,
        mode=mode,
        rows=table.num_rows,
        nodes_refreshed=refreshed,
        objects_read=reader.reads,
        listings=reader.listings,
        fragments_applied=applied_now,
        fragments_removed=removed,
        seconds=time.monotonic() - t0,
        problems=tuple(problems),
    )


def _collect_garbage(root: Location, listed: Mapping[str, str], grace: float) -> int:
    now_ns = time.time_ns()
    old = [path for name, path in listed.items() if _fragment_age(name, now_ns) > grace]
    if not old:
        return 0
    fs = root.fs
    try:
        with storage_errors(root.child(JOURNAL), "write"):
            fs.rm(old)
    except (NgffStoreError, FileNotFoundError) as exc:  # another update removed some already
        log.info("journal clean-up at %s: %s", root.url, exc)
        for path in old:
            try:
                fs.rm_file(path)
            except (FileNotFoundError, OSError):
                continue
    return len(old)


def load_index(
    root_url: Any,
    *,
    storage_options: Mapping[str, Any] | None = None,
    fold_pending: bool = True,
    max_merge: int = MAX_MERGE,
) -> tuple[pa.Table, IndexStatus]:
    """The index table of ``root_url`` and its status, without writing anything.

    Changes journaled since the index was written (at most ``max_merge``) are read from the
    store and folded in, so the table is current; with more, a :class:`StaleIndexWarning` is
    issued and the table is returned as stored.
    """
    root = Location.parse(root_url, storage_options)
    reader = Reader(root)
    snapshot = _cached_snapshot(reader)
    if snapshot is None:
        raise IndexNotFoundError(f"no index at {root.url}: {build_hint(root)}")
    listed = _journal_if_listable(reader)
    pending_names = sorted(n for n in listed if n not in snapshot.applied)
    table = snapshot.table
    pending: list[tuple[str, int | None]] = []
    if pending_names:
        if fold_pending and len(pending_names) <= max_merge:
            pending = _minimal_paths(_read_fragments(reader, pending_names))
            table, _ = _apply(reader, table, pending)
        else:
            warnings.warn(
                f"the index at {root.url} is older than the store: {len(pending_names)} change(s) "
                f"are not in it; run 'ngffstore index {root.url}'",
                StaleIndexWarning,
                stacklevel=2,
            )
    status = IndexStatus(
        root=root.url,
        index_url=root.child(INDEX_FILE).url,
        exists=True,
        rows=snapshot.table.num_rows,
        built=snapshot.meta.get("built"),
        updated=snapshot.meta.get("updated"),
        pending=tuple(p for p, _ in pending),
        pending_changes=len(pending_names),
    )
    return table, status


def index_status(root_url: Any, *, storage_options: Mapping[str, Any] | None = None) -> IndexStatus:
    """Whether the index at ``root_url`` exists and which journaled changes it lacks."""
    root = Location.parse(root_url, storage_options)
    reader = Reader(root)
    snapshot = _read_snapshot(reader)
    if snapshot is None:
        return IndexStatus(root=root.url, index_url=root.child(INDEX_FILE).url, exists=False)
    listed = _journal_if_listable(reader)
    pending = sorted(n for n in listed if n not in snapshot.applied)
    paths = [p for p, _ in _minimal_paths(_read_fragments(reader, pending))]
    return IndexStatus(
        root=root.url,
        index_url=root.child(INDEX_FILE).url,
        exists=True,
        rows=snapshot.table.num_rows,
        built=snapshot.meta.get("built"),
        updated=snapshot.meta.get("updated"),
        pending=tuple(paths),
        pending_changes=len(pending),
    )


def check_index(
    root_url: Any, *, storage_options: Mapping[str, Any] | None = None, workers: int = WORKERS
) -> IndexCheck:
    """Compare the index with a fresh crawl of the store (finds changes nobody journaled)."""
    root = Location.parse(root_url, storage_options)
    reader = Reader(root, workers)
    snapshot = _read_snapshot(reader)
    if snapshot is None:
        return IndexCheck(root=root.url, exists=False)
    listed = _list_journal(reader)
    pending = sorted(n for n in listed if n not in snapshot.applied)
    rows, _ = walk(reader, [Task("dir", "")])
    fresh = {r["path"]: r["digest"] for r in rows}
    stored = dict(
        zip(snapshot.table.column("path").to_pylist(), snapshot.table.column("digest").to_pylist())
    )
    return IndexCheck(
        root=root.url,
        exists=True,
        added=tuple(sorted(set(fresh) - set(stored))),
        removed=tuple(sorted(set(stored) - set(fresh))),
        changed=tuple(sorted(p for p in fresh if p in stored and stored[p] != fresh[p])),
        pending=tuple(p for p, _ in _minimal_paths(_read_fragments(reader, pending))),
    )


def find_roots(url: Any, *, storage_options: Mapping[str, Any] | None = None) -> list[Location]:
    """The collection roots (folders with an index marker) at or above ``url``, nearest first."""
    return journal.find_roots(url, storage_options=storage_options)


#: Deprecated alias of :func:`ngffstore.journal.notify`, the one call writers make after a write.
touch = renamed("index.touch", journal.notify, "journal.notify")
