"""Constants, errors and report types of the index (see specs/index.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import StorageError, StoreNotFoundError

# defined where writers find them without loading pyarrow
from ..journal import INDEX_DIR, JOURNAL, MARKER, NO_INDEX_PROTOCOLS  # noqa: F401

INDEX_FILE = "ngffstore-index.parquet"
FORMAT = "ngffstore-index/1"
#: Journal fragments are deleted once applied and older than this (seconds); an update that
#: runs for more than half of it refuses to publish (see specs/index.md, "Why nothing is lost").
DEFAULT_GRACE = 3600.0
#: Search folds at most this many pending changes in memory; beyond, it warns.
MAX_MERGE = 256
WORKERS = 16


def build_hint(root: Any) -> str:
    """What to do when ``root`` (a :class:`Location` or URL) has no index."""
    url = getattr(root, "url", str(root))
    if url.split("://", 1)[0].lower() in NO_INDEX_PROTOCOLS:
        return (
            "build it where the collection is written ('ngffstore index FOLDER' or "
            f"'ngffstore index s3://...') and publish {INDEX_FILE} with it"
        )
    return f"build it with 'ngffstore index {url}'"


def rebuild_hint(root: Any) -> str:
    url = getattr(root, "url", str(root))
    if url.split("://", 1)[0].lower() in NO_INDEX_PROTOCOLS:
        return "rebuild it where the collection is written ('ngffstore index ... --rebuild') and publish it again"
    return f"rebuild it with 'ngffstore index {url} --rebuild'"


class IndexNotFoundError(StoreNotFoundError):
    """No index at a collection root."""


class IndexUpdateError(StorageError):
    """An index update could not be published safely."""


class StaleIndexWarning(UserWarning):
    """The index is older than the store and search did not fold the changes in."""


@dataclass(frozen=True, kw_only=True)
class IndexReport:
    """What :func:`build_index` did."""

    root: str
    index_url: str
    mode: str  # "full", "incremental" or "current" (nothing to do)
    rows: int
    nodes_refreshed: int
    objects_read: int
    listings: int
    fragments_applied: int
    fragments_removed: int
    seconds: float
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def to_text(self) -> str:
        what = {
            "full": "built from a crawl of the store",
            "incremental": f"updated: {self.nodes_refreshed} changed node(s) re-read",
            "current": "already current",
        }[self.mode]
        lines = [
            f"index     {self.index_url}",
            f"rows      {self.rows}   ({what})",
            f"read      {self.objects_read} objects, {self.listings} listings in {self.seconds:.2f} s",
        ]
        if self.fragments_applied or self.fragments_removed:
            lines.append(
                f"journal   {self.fragments_applied} change(s) applied, "
                f"{self.fragments_removed} old fragment(s) removed"
            )
        if self.problems:
            lines.append(f"skipped   {len(self.problems)} unreadable node(s):")
            lines.extend(f"  {p}" for p in self.problems[:20])
            if len(self.problems) > 20:
                lines.append(f"  … and {len(self.problems) - 20} more")
        return "\n".join(lines)


@dataclass(frozen=True, kw_only=True)
class IndexStatus:
    """How an index compares with its journal (cheap: no node is read)."""

    root: str
    index_url: str
    exists: bool
    rows: int = 0
    built: str | None = None
    updated: str | None = None
    pending: tuple[str, ...] = ()  # paths of nodes changed since the index was written
    pending_changes: int = 0  # journal fragments not folded into the index file

    @property
    def current(self) -> bool:
        return self.exists and not self.pending_changes

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the fields and ``current``."""
        return {**self.__dict__, "current": self.current}

    def to_text(self) -> str:
        if not self.exists:
            return f"no index at {self.root}: {build_hint(self.root)}"
        text = f"index {self.index_url}: {self.rows} rows, updated {self.updated}"
        if self.pending_changes:
            shown = ", ".join(p or "." for p in self.pending[:5]) + (", …" if len(self.pending) > 5 else "")
            text += (
                f"; older than the store: {self.pending_changes} change(s) not folded in"
                + (f" ({shown})" if shown else "")
                + f"; run 'ngffstore index {self.root}'"
            )
        return text


@dataclass(frozen=True, kw_only=True)
class IndexCheck:
    """What a full comparison of the index with the store found (:func:`check_index`)."""

    root: str
    exists: bool
    added: tuple[str, ...] = ()  # in the store, not in the index
    removed: tuple[str, ...] = ()  # in the index, no longer in the store
    changed: tuple[str, ...] = ()  # in both, but the index row is out of date
    pending: tuple[str, ...] = ()  # journal entries not folded in yet

    @property
    def current(self) -> bool:
        return self.exists and not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the fields and ``current``."""
        return {**self.__dict__, "current": self.current}

    def to_text(self) -> str:
        if not self.exists:
            return f"no index at {self.root}: {build_hint(self.root)}"
        if self.current:
            return f"the index at {self.root} matches the store" + (
                f" ({len(self.pending)} journal change(s) to fold in)" if self.pending else ""
            )
        lines = [f"the index at {self.root} is older than the store:"]
        for label, paths in (("new", self.added), ("removed", self.removed), ("changed", self.changed)):
            if paths:
                shown = ", ".join(paths[:10]) + (", …" if len(paths) > 10 else "")
                lines.append(f"  {len(paths)} {label}: {shown}")
        lines.append(f"  run 'ngffstore index {self.root} --rebuild'")
        return "\n".join(lines)
