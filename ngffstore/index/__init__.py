"""A database-free metadata index: one Parquet file at a collection root (see specs/index.md).

Layout under a collection root::

    ngffstore-index.parquet                  the index: one row per image and per plate field
    .ngffstore-index/root.json               marks the root (written before the first crawl)
    .ngffstore-index/journal/<t>-<id>.json   one fragment per write: "this node changed"

Writers never touch the index file: after a write they call :func:`ngffstore.journal.notify`
(which does not import this package), which puts a small, uniquely named fragment in the journal of every collection root above the node (no lock, no
read-modify-write). :func:`build_index` folds the journal in: it re-reads only the nodes the
pending fragments name and replaces their rows. The attributes in the store stay the source of
truth; the index can always be rebuilt from them (``rebuild=True``).

Modules: ``_common`` (constants, errors, reports), ``_schema`` (the Arrow schema),
``_crawl`` (reading nodes into rows), ``_store`` (the file, the journal and the public verbs),
``search`` (the expression language, :func:`~ngffstore.index.search.search` and
:func:`~ngffstore.index.search.open_collection`; loaded on first use). The journal's write side
is :mod:`ngffstore.journal`, which writers import instead of this package.
"""

from __future__ import annotations

from ._common import (
    DEFAULT_GRACE,
    INDEX_FILE,
    JOURNAL,
    MARKER,
    MAX_MERGE,
    IndexCheck,
    IndexNotFoundError,
    IndexReport,
    IndexStatus,
    IndexUpdateError,
    StaleIndexWarning,
)
from ._schema import FIXED_COLUMNS, FIXED_SCHEMA, concat_tables, rows_to_table
from ._store import (
    build_index,
    check_index,
    clear_cache,
    find_roots,
    index_status,
    index_url,
    load_index,
    touch,
)

__all__ = [
    "DEFAULT_GRACE",
    "FIXED_COLUMNS",
    "FIXED_SCHEMA",
    "INDEX_FILE",
    "JOURNAL",
    "MARKER",
    "MAX_MERGE",
    "IndexCheck",
    "IndexNotFoundError",
    "IndexReport",
    "IndexStatus",
    "IndexUpdateError",
    "StaleIndexWarning",
    "build_index",
    "check_index",
    "clear_cache",
    "concat_tables",
    "find_roots",
    "index_status",
    "index_url",
    "load_index",
    "rows_to_table",
    "touch",
]
