"""``write_viewer``: publish the static browser viewer with a collection."""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..errors import InputError, NgffStoreError, NotNgffError, StoreNotFoundError, ValidationError
from ..nodes import try_read_node
from ..storage import Location, storage_errors
from ._codecs import unsupported_codecs
from ._page import PAGE, SCRIPT, STYLESHEET, render_page

#: The built bundle inside the package (``js/``: ``npm ci && npm run build`` writes it).
BUNDLE = {SCRIPT: "viewer.js", STYLESHEET: "viewer.css"}
CONTENT_TYPES = {
    PAGE: "text/html; charset=utf-8",
    SCRIPT: "text/javascript; charset=utf-8",
    STYLESHEET: "text/css; charset=utf-8",
}


class UnviewableStoreError(ValidationError):
    """A node of the collection uses something the browser viewer cannot read (e.g. a codec)."""


@dataclass(frozen=True, kw_only=True)
class ViewerReport:
    """What :func:`write_viewer` wrote and checked."""

    root: str
    out: str
    data: str
    """Where the page reads the collection from (relative to the page, or a URL)."""
    files: tuple[tuple[str, int], ...]
    rows: int
    checked: int
    """Images (and their label images) whose array documents were checked (0 with ``check=False``)."""
    notes: tuple[str, ...] = field(default=())

    def to_text(self) -> str:
        lines = [f"wrote the viewer of {self.root} ({self.rows} index rows) to {self.out}:"]
        lines += [f"  {name}  {size:,} bytes" for name, size in self.files]
        if self.checked:
            lines.append(f"checked {self.checked} images: every codec is one the viewer decodes")
        lines.append(f"the page reads the collection from {self.data}")
        lines += [f"note: {n}" for n in self.notes]
        page = posixpath.join(self.out, PAGE) if "://" in self.out else os.path.join(self.out, PAGE)
        lines.append(f"open {page} through the host that serves the collection (not as a file:// page)")
        return "\n".join(lines)


def _bundle(name: str) -> bytes:
    try:
        return resources.files(__package__).joinpath("static", BUNDLE[name]).read_bytes()
    except FileNotFoundError:
        raise NgffStoreError(
            f"the viewer bundle static/{BUNDLE[name]} is missing from this ngffstore installation: "
            "reinstall ngffstore (or build it: cd ngffstore/viewer/js && npm ci && npm run build)"
        ) from None


def _index_rows(root: Location) -> tuple[list[dict[str, Any]], list[str]]:
    from ..index import INDEX_FILE, IndexNotFoundError, load_index

    try:
        table, status = load_index(root.url, storage_options=root.storage_options or None, fold_pending=False)
    except IndexNotFoundError:
        node = try_read_node(root)
        if node is not None:
            ome = node.attributes.get("ome", node.attributes)
            kind = "an image" if "multiscales" in ome else "a plate" if "plate" in ome else "a Zarr node"
            raise NotNgffError(
                f"{root.url} is {kind}, not a collection with an index: run 'ngffstore view' on the "
                f"collection folder that holds {INDEX_FILE} (build one there with 'ngffstore index FOLDER')"
            ) from None
        raise StoreNotFoundError(
            f"no collection index at {root.url} ({INDEX_FILE}): the viewer lists what the index holds; "
            f"build it with 'ngffstore index {root.url}' (or write a demo with 'ngffstore demo DEST')"
        ) from None
    rows = table.select([c for c in ("path", "zarr_format", "labels") if c in table.column_names]).to_pylist()
    notes = []
    if status.pending_changes:
        notes.append(
            f"the index lacks {status.pending_changes} journaled change(s), which the viewer will not show: "
            f"run 'ngffstore index {root.url}'"
        )
    return rows, notes


def _check_image(root: Location, row: Mapping[str, Any]) -> None:
    """Read the array documents of one image (and its label images); raise on a codec the viewer lacks."""
    path = str(row["path"])
    fmt = row.get("zarr_format")
    fmt = int(fmt) if fmt else None
    groups = [path] + [f"{path}/labels/{name}" for name in row.get("labels") or []]
    for group_path in groups:
        group = try_read_node(root.child(*group_path.split("/")), zarr_format=fmt)
        if group is None:
            raise StoreNotFoundError(
                f"the index lists {group_path} but {root.url}/{group_path} is missing: rebuild the index "
                f"with 'ngffstore index {root.url} --rebuild'"
            )
        ome = group.attributes.get("ome", group.attributes)
        for ms in ome.get("multiscales") or []:
            for dataset in ms.get("datasets") or []:
                level = group.location.child(*str(dataset["path"]).split("/"))
                array = try_read_node(level, zarr_format=group.zarr_format)
                if array is None or array.is_group:
                    raise StoreNotFoundError(f"{level.url} is not a Zarr array: the image {group_path} is incomplete")
                document = array.document
                if group.zarr_format == 2 and not document:
                    document = level.read_json(".zarray")
                bad = unsupported_codecs(document, group.zarr_format)
                if bad:
                    raise UnviewableStoreError(
                        f"{level.url} is compressed with {', '.join(bad)}, which the browser viewer cannot "
                        "decode (it reads zstd, blosc, gzip, zlib, lz4): rewrite the image with one of them, "
                        "e.g. 'ngffstore convert ... --compression zstd', or pass --no-check to publish anyway"
                    )


def _relative(target: Location, start: Location) -> str | None:
    """``target`` relative to the folder ``start`` when both are on the same filesystem/bucket."""
    if target.protocol != start.protocol:
        return None
    if target.is_local:
        rel = os.path.relpath(target.url, start.url).replace(os.sep, "/")
    else:
        t, s = target.path.strip("/"), start.path.strip("/")
        if t.split("/", 1)[0] != s.split("/", 1)[0]:
            return None  # another bucket: another host
        rel = posixpath.relpath(t, s)
    return "." if rel == "." else rel + "/"


def _put(location: Location, name: str, data: bytes) -> None:
    """Write one file of the viewer (on S3 with its Content-Type, so a static website serves it)."""
    location.put(name, data, content_type=CONTENT_TYPES[name])


def write_viewer(
    root: Any,
    *,
    out: Any = None,
    data_url: str | None = None,
    title: str | None = None,
    check: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> ViewerReport:
    """Write the static browser viewer (``index.html``, one script, one stylesheet) for a collection.

    Parameters
    ----------
    root
        The collection: a folder or ``s3://`` URL holding a collection index.
    out
        Where to write the viewer (default: ``root`` itself, so it is published with the data).
    data_url
        Where the page finds the collection, as the browser sees it (an ``https://`` URL or a
        path relative to the page). Default: the collection relative to ``out``.
    title
        The page title (default: the collection's folder name).
    check
        Read every indexed image's array documents and refuse codecs the viewer cannot decode.
    storage_options
        fsspec options for ``s3://`` URLs (``root`` and ``out`` share them).
    """
    from .. import __version__

    def parse(url: Any) -> Location:
        plain = Location.parse(url)  # a local path takes no storage options (they are for s3://)
        return plain if plain.is_local else Location.parse(url, storage_options)

    loc = parse(root)
    if loc.protocol in ("http", "https"):
        raise InputError(
            f"{loc.url} is read-only over HTTP: run 'ngffstore view' where the collection is written "
            "(a folder or s3://) and publish the files it writes"
        )
    rows, notes = _index_rows(loc)
    target = loc if out is None else parse(out)
    if target.is_local and os.path.isfile(target.url):
        raise InputError(f"--out {target.url} is a file: give a folder for the viewer")
    if data_url is None:
        data_url = _relative(loc, target)
        if data_url is None:
            raise InputError(
                f"the viewer at {target.url} cannot find {loc.url} by a relative path: pass "
                "--data-url, the address under which the browser reads the collection (https://...)"
            )
    if check and rows:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda r: _check_image(loc, r), rows))
    script, stylesheet = _bundle(SCRIPT), _bundle(STYLESHEET)
    digest = hashlib.sha256(script + stylesheet).hexdigest()[:12]
    name = title or loc.name or loc.url
    from ..index import INDEX_FILE

    config = {"data": data_url, "index": INDEX_FILE, "title": name, "version": __version__}
    page = render_page(config, title=name, version=__version__).replace(
        f'src="{SCRIPT}"', f'src="{SCRIPT}?v={digest}"'
    ).replace(f'href="{STYLESHEET}"', f'href="{STYLESHEET}?v={digest}"')
    files = {SCRIPT: script, STYLESHEET: stylesheet, PAGE: page.encode()}
    if target.is_local:
        with storage_errors(target, "write"):
            os.makedirs(target.url, exist_ok=True)
    for file_name in (SCRIPT, STYLESHEET, PAGE):  # the page last: it names the other two
        _put(target, file_name, files[file_name])
    return ViewerReport(
        root=loc.url,
        out=target.url,
        data=data_url,
        files=tuple((n, len(files[n])) for n in (PAGE, SCRIPT, STYLESHEET)),
        rows=len(rows),
        checked=len(rows) if check else 0,
        notes=tuple(notes),
    )
