"""Key-value pairs, tags, a description and tables attached to an image, plate or well.

Stored under ``attributes["ngffstore"]["metadata"]`` of the node's group (see
``specs/metadata.md``); tables are Parquet files under ``<node>/tables/``. Every write is a
read-modify-write of the group document that leaves the NGFF keys untouched, appends a
provenance record and leaves an index fragment (:func:`ngffstore.journal.notify`).
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import journal, nodes, provenance
from ._deprecated import data_first, deprecation_message, warn_deprecated
from .errors import (
    ConflictError,
    InputError,
    InputNotFoundError,
    NgffStoreError,
    NotNgffError,
    OutputExistsError,
    ReadError,
    StoreNotFoundError,
    ValidationError,
)
from .ngff import ome_attrs
from .paths import check_file_name, check_relative_path
from .storage import Location, dump_json, parse_json, storage_errors

TABLES_DIR = "tables"
MAX_KEY_LENGTH = 256
MAX_TEXT_LENGTH = 100_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Scalar = str | int | float | bool


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TableInfo:
    """A table attached to a node: where its Parquet file is and what it holds."""

    name: str
    path: str
    rows: int
    columns: tuple[tuple[str, str], ...] = ()
    format: str = "parquet"
    source: str | None = None
    created: str | None = None

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> TableInfo:
        columns = tuple(
            (str(c.get("name")), str(c.get("type")))
            for c in d.get("columns") or ()
            if isinstance(c, Mapping)
        )
        return cls(
            name=name,
            path=str(d.get("path") or f"{TABLES_DIR}/{name}.parquet"),
            rows=int(d.get("rows") or 0),
            columns=columns,
            format=str(d.get("format") or "parquet"),
            source=d.get("source"),
            created=d.get("created"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "columns": [{"name": n, "type": t} for n, t in self.columns],
        }
        if self.source is not None:
            out["source"] = self.source
        if self.created is not None:
            out["created"] = self.created
        return out


@dataclass(frozen=True, kw_only=True)
class Metadata:
    """The ``ngffstore.metadata`` block of a node."""

    key_values: Mapping[str, Scalar] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str | None = None
    tables: Mapping[str, TableInfo] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Metadata:
        """Lenient parse of a stored block (values written by other tools are kept as found)."""
        d = d if isinstance(d, Mapping) else {}
        kv = d.get("key_values")
        tags = d.get("tags")
        tables = d.get("tables")
        description = d.get("description")
        return cls(
            key_values=dict(kv) if isinstance(kv, Mapping) else {},
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            description=str(description) if description not in (None, "") else None,
            tables={
                str(k): TableInfo.from_dict(str(k), v)
                for k, v in (tables.items() if isinstance(tables, Mapping) else ())
                if isinstance(v, Mapping)
            },
        )

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Metadata:
        block = attrs.get("ngffstore")
        return cls.from_dict(block.get("metadata") if isinstance(block, Mapping) else None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.key_values:
            out["key_values"] = dict(self.key_values)
        if self.tags:
            out["tags"] = list(self.tags)
        if self.description:
            out["description"] = self.description
        if self.tables:
            out["tables"] = {name: t.to_dict() for name, t in self.tables.items()}
        return out

    def to_text(self) -> str:
        lines = []
        if self.description:
            lines.append(f"description  {self.description}")
        if self.tags:
            lines.append("tags         " + ", ".join(self.tags))
        if self.key_values:
            width = max(len(k) for k in self.key_values)
            lines.append("key-values")
            lines.extend(f"  {k:<{width}}  {_text(v)}" for k, v in self.key_values.items())
        if self.tables:
            lines.append("tables")
            for t in self.tables.values():
                cols = ", ".join(n for n, _ in t.columns[:8]) + (", …" if len(t.columns) > 8 else "")
                lines.append(f"  {t.name}  {t.rows} rows  ({cols})  {t.path}")
        return "\n".join(lines) if lines else "(no metadata)"


def _same(a: Metadata, b: Metadata) -> bool:
    return json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# ---------------------------------------------------------------------------------------------
# the group document
# ---------------------------------------------------------------------------------------------
def node_kind(attrs: Mapping[str, Any]) -> str | None:
    """``image``, ``label`` (a label image), ``labels``, ``plate``, ``well`` or None."""
    _, ome = ome_attrs(attrs)
    if isinstance(ome.get("plate"), Mapping):
        return "plate"
    if isinstance(ome.get("well"), Mapping):
        return "well"
    if isinstance(ome.get("multiscales"), list) and ome.get("multiscales"):
        return "label" if isinstance(ome.get("image-label"), Mapping) else "image"
    if isinstance(ome.get("labels"), list):
        return "labels"
    return None


def read_object(fs: Any, path: str) -> bytes:
    """One GET: ``start=0`` keeps s3fs from asking the size first (a HEAD, and a LIST on 404)."""
    try:
        return fs.cat_file(path, start=0)
    except OSError as exc:
        if "Range" in str(exc) or "416" in str(exc):  # an empty object: no byte range to read
            return fs.cat_file(path)
        raise


def read_group_document(location: Location) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """``(zarr_format, document, attributes)`` of the group at ``location`` (one GET for v3).

    ``document`` is the whole ``zarr.json`` (v3) or the ``.zattrs`` object (v2). To change the
    attributes, use :func:`update_node` (a conditional read-modify-write), not this and a write.
    """
    node = nodes.read_group(location)
    attrs = dict(node.attributes)
    if node.zarr_format == 3:
        doc = dict(node.document)
        doc["attributes"] = attrs
        return 3, doc, attrs
    return 2, attrs, attrs


def write_group_document(location: Location, zarr_format: int, document: dict[str, Any]) -> None:
    """Write back (unconditionally, atomically) what :func:`read_group_document` returned.

    Only for a writer that owns the node (e.g. while creating it); a change to a shared node
    goes through :func:`update_node`, which loses no concurrent update.
    """
    if zarr_format == 3:
        location.put(nodes.V3_DOCUMENT, dump_json(document))
        return
    location.put(nodes.V2_ATTRS, dump_json(document))
    sync_consolidated(location)


def sync_consolidated(location: Location) -> None:
    """Bring the copy of ``.zattrs`` in a v2 ``.zmetadata`` at ``location`` up to date.

    Called after the attributes were committed. ``.zmetadata`` is read (with its version)
    before ``.zattrs``, and written back only if unchanged since: whichever writer writes it
    last therefore copies a ``.zattrs`` read after every committed change. One GET when no
    ``.zmetadata`` is there.
    """
    for _attempt in range(nodes.UPDATE_ATTEMPTS):
        data, version = location.get_versioned(".zmetadata")
        if data is None:
            return
        consolidated = parse_json(data, location.child(".zmetadata"))
        meta = consolidated.get("metadata") if isinstance(consolidated, dict) else None
        if not isinstance(meta, dict) or ".zattrs" not in meta:
            return
        raw = location.get(nodes.V2_ATTRS)
        attrs = parse_json(raw, location.child(nodes.V2_ATTRS)) if raw is not None else {}
        if meta[".zattrs"] == attrs:
            return
        meta[".zattrs"] = attrs
        try:
            location.put(".zmetadata", dump_json(consolidated), if_version=version)
            return
        except ConflictError:
            time.sleep(random.uniform(0, 0.05))
    raise ConflictError(
        f"cannot update {location.child('.zmetadata').url}: other writers changed it "
        f"{nodes.UPDATE_ATTEMPTS} times in a row; run 'ngffstore meta get' there to check it"
    )


def update_node(
    location: Location,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    zarr_format: int | None = None,
    node: nodes.Node | None = None,
    what: str = "update",
) -> nodes.Node:
    """Read-modify-write of a group's attributes that loses no concurrent update.

    :func:`ngffstore.nodes.update_attributes` (conditional write, re-read and re-apply
    ``change`` on conflict), then the v2 consolidated copy, if any (:func:`sync_consolidated`).
    ``change`` must be a pure function of the attributes it gets (it may run several times);
    it may raise to refuse the change (nothing is written then).
    """
    changed = False

    def tracked(attrs: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal changed
        new = change(attrs)
        changed = new is not None
        return new

    written = nodes.update_attributes(location, tracked, zarr_format=zarr_format, node=node, what=what)
    if changed and written.zarr_format == 2:
        sync_consolidated(location)
    return written


def update_group(
    location: Location,
    zarr_format: int,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    what: str = "update",
) -> nodes.Node:
    """:func:`update_node` for a group that may not exist yet (created with ``change({})``).

    The creation is conditional too ("only if absent"): of two writers creating the group at
    once, one creates it and the other applies its change on top. For registries kept in a
    group of their own (``labels/``, ``tables/``, a plate's wells).
    """
    node = nodes.try_read_node(location, zarr_format=zarr_format)
    if node is None:
        attrs = change({})
        if attrs is None:
            raise StoreNotFoundError(f"no Zarr group at {location.url}")
        try:
            version = nodes.write_group(location, zarr_format, attrs, if_version=None)
            return nodes.Node(
                location=location, zarr_format=zarr_format, node_type="group",
                attributes=dict(attrs), document=nodes.group_document(zarr_format, attrs)
                if zarr_format == 3 else {"zarr_format": 2}, version=version,
            )
        except ConflictError:
            node = None  # created meanwhile: update what is there
    return update_node(location, change, zarr_format=zarr_format, node=node, what=what)


def _check_node(location: Location, attrs: Mapping[str, Any], action: str) -> str:
    kind = node_kind(attrs)
    if kind is None and "bioformats2raw.layout" in ome_attrs(attrs)[1]:
        kind = "collection"  # a bioformats2raw container (see ngffstore.collection)
    if kind not in ("image", "label", "plate", "well", "collection"):
        raise NotNgffError(
            f"cannot {action} at {location.url}: it is not an OME-NGFF image, plate or well "
            "(or a bioformats2raw collection)"
        )
    block = attrs.get("ngffstore")
    if isinstance(block, Mapping) and "writing" in block:
        raise ValidationError(
            f"cannot {action} at {location.url}: the node is being written (or a write was "
            "interrupted); finish or rerun that write first"
        )
    return kind


def _with_metadata(attrs: dict[str, Any], meta: Metadata, record: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` with ``meta`` as its metadata block and ``record`` appended to its provenance."""
    block = dict(attrs.get("ngffstore") or {})
    block["metadata"] = meta.to_dict()
    return provenance.append({**attrs, "ngffstore": block}, record)


def _touch(location: Location, record: Mapping[str, Any], zarr_format: int) -> None:
    journal.notify(location, operation=str(record.get("operation")), zarr_format=zarr_format)


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def _check_text(what: str, text: Any, limit: int = MAX_KEY_LENGTH) -> str:
    if not isinstance(text, str):
        raise ValidationError(f"{what} must be text, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ValidationError(f"{what} is empty; give a non-empty name")
    if len(text) > limit:
        raise ValidationError(f"{what} {text[:40]!r}… is longer than {limit} characters")
    if _CONTROL.search(text):
        raise ValidationError(f"{what} {text!r} contains control characters (newline, tab...)")
    return text


def parse_key_values(key_values: Mapping[str, Any]) -> dict[str, Scalar]:
    """Validate key-value pairs: text keys; text, number or true/false values."""
    if not isinstance(key_values, Mapping):
        raise ValidationError("key_values must be a mapping of key -> value")
    out: dict[str, Scalar] = {}
    for key, value in key_values.items():
        k = _check_text("key", key)
        if hasattr(value, "item") and callable(value.item) and not isinstance(value, str):
            value = value.item()  # numpy scalars
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"key-value {k!r}: {value} is no number that JSON can store")
        if not isinstance(value, (str, int, float, bool)):
            raise ValidationError(
                f"key-value {k!r}: values are text, numbers or true/false, not "
                f"{type(value).__name__}; give one key per value"
            )
        if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
            raise ValidationError(f"key-value {k!r}: the value is longer than {MAX_TEXT_LENGTH} characters")
        out[k] = value
    return out


def parse_tags(tags: Iterable[Any] | str) -> tuple[str, ...]:
    """Validate tags (deduplicated, in the order given)."""
    if isinstance(tags, str):
        tags = [tags]
    out: dict[str, None] = {}
    for tag in tags:
        out[_check_text("tag", tag)] = None
    return tuple(out)


def check_table_name(name: str) -> str:
    """A table name is a file name: letters, digits, ``_ . -``; never ``/`` or ``..``
    (:class:`InputError`, the rule ROI layer names follow)."""
    return check_file_name(name, what="table name")


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def read_metadata(url: Any, *, storage_options: Mapping[str, Any] | None = None) -> Metadata:
    """The key-values, tags, description and tables of the node at ``url``."""
    location = Location.parse(url, storage_options)
    _, _, attrs = read_group_document(location)
    return Metadata.from_attrs(attrs)


@data_first("write_metadata", "key_values")
def write_metadata(
    key_values: Mapping[str, Any] | None,
    url: Any,
    *,
    tags: Sequence[str] | str | None = None,
    description: str | None = None,
    remove_keys: Sequence[str] | str | None = None,
    remove_tags: Sequence[str] | str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Metadata:
    """Add or change metadata of the image, plate or well at ``url``.

    ``write_metadata({"strain": "BY4741"}, url, tags=["good"])``; ``write_metadata(None, url,
    tags=[...])`` changes tags only. The old order ``write_metadata(url, key_values=...)`` works
    until 0.3 with a DeprecationWarning.

    Parameters
    ----------
    key_values
        Pairs to set (merged into the existing ones); values are text, numbers or true/false;
        None or ``{}`` for none.
    tags
        Tags to add (existing tags are kept).
    description
        New description (``""`` removes it).
    remove_keys, remove_tags
        Keys and tags to remove (absent ones are ignored).

    Returns
    -------
    Metadata
        The node's metadata after the write. Nothing is written when nothing changes.
    """
    started = provenance.now()
    location = Location.parse(url, storage_options)
    kv = parse_key_values(key_values or {})
    add_tags = parse_tags(tags or ())
    drop_keys = set(parse_tags(remove_keys or ()))
    drop_tags = set(parse_tags(remove_tags or ()))
    if description is not None:
        if not isinstance(description, str):
            raise ValidationError("description must be text")
        if len(description) > MAX_TEXT_LENGTH:
            raise ValidationError(f"the description is longer than {MAX_TEXT_LENGTH} characters")

    parameters: dict[str, Any] = {}
    if kv:
        parameters["key_values"] = kv
    if drop_keys:
        parameters["remove_keys"] = sorted(drop_keys)
    if add_tags:
        parameters["tags"] = list(add_tags)
    if drop_tags:
        parameters["remove_tags"] = sorted(drop_tags)
    if description is not None:
        parameters["description"] = description
    record = provenance.record("write_metadata", parameters, started=started, target=location.url)
    result: Metadata | None = None

    def change(attrs: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal result
        _check_node(location, attrs, "write metadata")
        current = Metadata.from_attrs(attrs)
        new_kv = {k: v for k, v in current.key_values.items() if k not in drop_keys}
        new_kv.update(kv)
        new_tags = tuple(t for t in dict.fromkeys(current.tags + add_tags) if t not in drop_tags)
        new_description = current.description
        if description is not None:
            new_description = description.strip() or None
        result = Metadata(
            key_values=new_kv, tags=new_tags, description=new_description, tables=current.tables
        )
        if _same(result, current):  # (type-aware: 0, 0.0 and false are different values)
            return None
        return _with_metadata(attrs, result, record)

    before = nodes.read_group(location)
    written = update_node(location, change, node=before, what="write metadata of")
    if written is not before:
        _touch(location, record, written.zarr_format)
    assert result is not None
    return result


def _load_table(table: Any, storage_options: Mapping[str, Any] | None) -> tuple[Any, str | None]:
    """``(pyarrow.Table, source path or None)`` from a DataFrame, Table or CSV/TSV/Parquet file."""
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table, None
    try:
        import pandas as pd

        if isinstance(table, pd.DataFrame):
            return pa.Table.from_pandas(table, preserve_index=False), None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if not isinstance(table, (str, os.PathLike)):
        raise InputError(
            f"cannot attach a {type(table).__name__} as a table: give a pandas DataFrame, "
            "a pyarrow Table or a .csv/.tsv/.parquet file"
        )
    path = os.fspath(table)
    lower = path.lower()
    kind = (
        "parquet" if lower.endswith((".parquet", ".pq"))
        else "tsv" if lower.endswith((".tsv", ".tab", ".txt"))
        else "csv" if lower.endswith(".csv")
        else None
    )
    if kind is None:
        raise InputError(f"{path}: unknown table format; give a .csv, .tsv or .parquet file")
    import fsspec

    remote = "://" in path and not path.startswith("file://")
    try:
        fs, fspath = fsspec.core.url_to_fs(path, **(dict(storage_options or {}) if remote else {}))
        with storage_errors(Location.parse(path), "read"):
            data = fs.cat_file(fspath)
    except FileNotFoundError:
        raise InputNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder; give a table file") from None
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(io.BytesIO(data))
        else:
            import pyarrow.csv as pacsv

            parse = pacsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",")
            table = pacsv.read_csv(io.BytesIO(data), parse_options=parse)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable {kind.upper()} table ({first})") from None
    source = path if remote else os.path.abspath(path.removeprefix("file://"))
    return table, source


def write_table(
    table: Any,
    url: Any,
    *,
    name: str,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> TableInfo:
    """Attach ``table`` to the image, plate or well at ``url`` as ``tables/<name>.parquet``.

    ``table`` is a pandas DataFrame, a pyarrow Table, or a ``.csv`` / ``.tsv`` /
    ``.parquet`` file (CSV and TSV are converted to Parquet, column types inferred). An existing
    table of that name is replaced only with ``overwrite``.
    """
    import pyarrow.parquet as pq

    started = provenance.now()
    location = Location.parse(url, storage_options)
    check_table_name(name)
    node = nodes.read_group(location)
    fmt = node.zarr_format
    _check_node(location, node.attributes, "attach a table")
    if name in Metadata.from_attrs(node.attributes).tables and not overwrite:
        raise _table_exists(location, name)
    table, source = _load_table(table, storage_options)
    if table.num_columns == 0:
        raise InputError(f"table {name!r} has no columns")
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    # the data first, under a name no committed document points at; the attributes last
    rel = f"{TABLES_DIR}/{name}.parquet"
    try:
        location.put(rel, buffer.getvalue(), if_version=None)
    except ConflictError:  # taken (by the table being replaced, or a leftover): a fresh name
        rel = f"{TABLES_DIR}/{name}.{uuid.uuid4().hex[:12]}.parquet"
        location.put(rel, buffer.getvalue(), if_version=None)
    info = TableInfo(
        name=name,
        path=rel,
        rows=table.num_rows,
        columns=tuple((f.name, str(f.type)) for f in table.schema),
        source=source,
        created=provenance.now(),
    )
    record = provenance.record(
        "attach_table",
        {"name": name, "rows": info.rows, "columns": [n for n, _ in info.columns], "overwrite": overwrite},
        inputs=[source] if source else (),
        started=started,
        target=location.url,
        storage_options=storage_options,
    )
    replaced: str | None = None

    def change(attrs: dict[str, Any]) -> dict[str, Any]:
        nonlocal replaced
        _check_node(location, attrs, "attach a table")
        current = Metadata.from_attrs(attrs)
        old = current.tables.get(name)
        if old is not None and not overwrite:
            raise _table_exists(location, name)
        replaced = old.path if old is not None and old.path != rel else None
        new = Metadata(
            key_values=current.key_values,
            tags=current.tags,
            description=current.description,
            tables={**current.tables, name: info},
        )
        return _with_metadata(attrs, new, record)

    try:
        written = update_node(location, change, node=node, what="attach a table to")
    except BaseException:
        location.delete(rel)  # never referenced: the document was not written
        raise
    if replaced is not None and _inside(replaced):
        location.delete(replaced)
    _sync_tables_group(location, fmt)
    _touch(location, record, written.zarr_format)
    return info


def _table_exists(location: Location, name: str) -> OutputExistsError:
    return OutputExistsError(
        f"{location.url} already has a table {name!r}; pass overwrite=True (--overwrite) to replace it"
    )


def _inside(path: str) -> bool:
    """Whether a stored table path stays inside the node's ``tables/`` folder."""
    return path.startswith(f"{TABLES_DIR}/") and ".." not in path.split("/")


def _sync_tables_group(location: Location, zarr_format: int) -> None:
    """``tables/`` is a plain Zarr group listing the tables (so Zarr sees a group there).

    It mirrors the tables of the node's attributes (the source of truth), re-read inside the
    conditional update: the writer that writes it last copies the latest committed list.
    """

    def change(attrs: dict[str, Any]) -> dict[str, Any] | None:
        node = nodes.read_group(location, zarr_format=zarr_format)
        tables = Metadata.from_attrs(node.attributes).tables
        listing = {n: t.path.removeprefix(f"{TABLES_DIR}/") for n, t in sorted(tables.items())}
        block = dict(attrs.get("ngffstore") or {})
        if block.get("tables") == listing:
            return None
        block["tables"] = listing
        return {**attrs, "ngffstore": block}

    update_group(location.child(TABLES_DIR), zarr_format, change, what="list the tables of")


def attach_table(
    url: Any,
    name: str,
    table: Any,
    *,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> TableInfo:
    """Deprecated: ``write_table(table, url, name=name)`` (removed in 0.3)."""
    warn_deprecated(deprecation_message("attach_table(url, name, table)", "write_table(table, url, name=...)"))
    return write_table(table, url, name=name, overwrite=overwrite, storage_options=storage_options)


def list_tables(url: Any, *, storage_options: Mapping[str, Any] | None = None) -> dict[str, TableInfo]:
    """The tables attached to the node at ``url``, by name (one GET: the node's document)."""
    return dict(sorted(read_metadata(url, storage_options=storage_options).tables.items()))


def remove_table(url: Any, name: str, *, storage_options: Mapping[str, Any] | None = None) -> None:
    """Remove the table ``name`` from the node at ``url``: the attributes first (conditional
    update, with a provenance record), then its Parquet file.

    Raises
    ------
    StoreNotFoundError
        The node has no table of that name (the message lists those it has).
    """
    started = provenance.now()
    location = Location.parse(url, storage_options)
    check_table_name(name)
    record = provenance.record("remove_table", {"name": name}, started=started, target=location.url)
    removed: str | None = None

    def change(attrs: dict[str, Any]) -> dict[str, Any]:
        nonlocal removed
        _check_node(location, attrs, "remove a table")
        current = Metadata.from_attrs(attrs)
        if name not in current.tables:
            available = ", ".join(sorted(current.tables)) or "none"
            raise StoreNotFoundError(f"no table {name!r} on {location.url} (tables: {available})")
        removed = current.tables[name].path
        new = Metadata(
            key_values=current.key_values,
            tags=current.tags,
            description=current.description,
            tables={k: v for k, v in current.tables.items() if k != name},
        )
        return _with_metadata(attrs, new, record)

    written = update_node(location, change, what="remove a table from")
    if removed is not None and _inside(removed):
        location.delete(removed)
    _sync_tables_group(location, written.zarr_format)
    _touch(location, record, written.zarr_format)


def read_table(url: Any, name: str, *, storage_options: Mapping[str, Any] | None = None) -> Any:
    """The table ``name`` attached to the node at ``url``, as a pandas DataFrame."""
    import pyarrow.parquet as pq

    location = Location.parse(url, storage_options)
    meta = read_metadata(location)
    info = meta.tables.get(name)
    if info is None:
        available = ", ".join(sorted(meta.tables)) or "none"
        raise StoreNotFoundError(f"no table {name!r} on {location.url} (tables: {available})")
    document = location.child("zarr.json").url
    check_relative_path(name, document=document, what="table name", single=True)
    check_relative_path(info.path, document=document, what=f"path of table {name!r}")
    try:
        data = location.read_bytes(info.path)
    except StoreNotFoundError:
        raise StoreNotFoundError(
            f"table {name!r} of {location.url} is listed but {info.path} is missing; attach it again"
        ) from None
    try:
        return pq.read_table(io.BytesIO(data)).to_pandas()
    except Exception as exc:
        if isinstance(exc, NgffStoreError):
            raise
        raise ReadError(f"table {name!r} of {location.url} is not readable Parquet ({exc})") from None


__all__ = [
    "Metadata",
    "TableInfo",
    "attach_table",
    "list_tables",
    "node_kind",
    "read_group_document",
    "read_metadata",
    "read_object",
    "read_table",
    "remove_table",
    "sync_consolidated",
    "update_group",
    "update_node",
    "write_group_document",
    "write_metadata",
    "write_table",
]
