"""Provenance records: what ran, with which parameters, on what input (see specs/provenance.md).

Every ngffstore write appends one record to ``attributes["ngffstore"]["provenance"]`` of the
node it wrote; :func:`read_provenance` returns that history, oldest first.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import getpass
import hashlib
import math
import os
import platform
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._deprecated import positional_deprecated

SMALL_FILE = 16 * 2**20  # inputs up to this size get a checksum
#: Packages whose versions go into every record (those that shape what is written).
PACKAGES = ("zarr", "numcodecs", "numpy", "dask", "pyarrow", "tifffile")

_command: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "ngffstore_command", default=None
)


def now() -> str:
    """The current UTC time as ISO 8601 with microseconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def set_command(argv: Sequence[str] | None) -> None:
    """Remember the command line being run (the CLI calls this); records then include it."""
    _command.set(tuple(str(a) for a in argv) if argv is not None else None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, float) and math.isnan(value):  # NaN is no JSON
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return _jsonable(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _iso(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, _dt.UTC).isoformat(timespec="seconds")


@positional_deprecated("storage_options")
def describe_input(path: str, *, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Path, size, mtime and (for small local files) a sha256 checksum of an input.

    Remote inputs (``s3://...``) get size, mtime and ETag when ``storage_options`` reach them;
    anything that cannot be looked at is recorded by path only.
    """
    info: dict[str, Any] = {"path": str(path)}
    path = str(path)
    if "://" in path and not path.startswith("file://"):
        return _describe_remote(path, storage_options, info)
    local = path.removeprefix("file://")
    try:
        st = os.stat(local)
    except OSError:
        return info
    info["path"] = os.path.abspath(local)
    if os.path.isdir(local):
        info["kind"] = "folder"
        return info
    info["size"] = st.st_size
    info["mtime"] = _iso(st.st_mtime)
    if st.st_size <= SMALL_FILE:
        digest = hashlib.sha256()
        with open(local, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        info["sha256"] = digest.hexdigest()
    return info


def _describe_remote(
    path: str, storage_options: Mapping[str, Any] | None, info: dict[str, Any]
) -> dict[str, Any]:
    try:
        import fsspec

        fs, fspath = fsspec.core.url_to_fs(path, **dict(storage_options or {}))
        st = fs.info(fspath)
    except Exception:  # noqa: BLE001 - unreachable input: the path alone is worth recording
        return info
    if st.get("type") == "directory":
        info["kind"] = "folder"
        return info
    if st.get("size") is not None:
        info["size"] = int(st["size"])
    modified = st.get("LastModified") or st.get("mtime")
    if isinstance(modified, _dt.datetime):
        info["mtime"] = modified.astimezone(_dt.UTC).isoformat(timespec="seconds")
    elif isinstance(modified, (int, float)):
        info["mtime"] = _iso(float(modified))
    etag = st.get("ETag") or st.get("etag")
    if etag:
        info["etag"] = str(etag).strip('"')
    return info


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return None


@functools.lru_cache(maxsize=1)
def _environment() -> dict[str, Any]:
    from importlib import metadata

    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"platform": platform.platform(terse=True), "packages": packages}


def record(
    operation: str,
    parameters: Mapping[str, Any],
    *,
    inputs: Sequence[str | Mapping[str, Any]] = (),
    started: str | None = None,
    target: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A provenance record for ``operation``, finished now.

    Parameters
    ----------
    operation
        What ran: ``write_image``, ``write_labels``, ``write_plate``, ``write_rois``,
        ``write_metadata``, ``attach_table``, ``assemble``...
    parameters
        The options that shaped the output (JSON-able; other values are recorded as text).
    inputs
        Paths or URLs that were read (described by :func:`describe_input`), or ready-made
        input descriptions.
    started
        When the operation began (:func:`now`); defaults to now.
    target
        The URL written (the node's own URL).
    storage_options
        Used to describe remote inputs.
    """
    from . import __version__

    described = [
        dict(p) if isinstance(p, Mapping) else describe_input(p, storage_options=storage_options) for p in inputs
    ]
    rec: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "software": "ngffstore",
        "version": __version__,
        "operation": operation,
        "parameters": _jsonable(parameters),
        "inputs": _jsonable(described),
        "started": started or now(),
        "finished": now(),
        "user": _user(),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        **_environment(),
    }
    if target is not None:
        rec["target"] = target
    command = _command.get()
    if command:
        rec["command"] = list(command)
    return rec


def append(attrs: dict[str, Any], rec: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``attrs`` with ``rec`` appended to its provenance list (``attrs`` is not changed)."""
    block = dict(attrs.get("ngffstore") or {})
    history = list(block.get("provenance") or [])
    history.append(dict(rec))
    block["provenance"] = history
    out = dict(attrs)
    out["ngffstore"] = block
    return out


@dataclass(frozen=True, kw_only=True)
class ProvenanceRecord:
    """One entry of a node's history (``to_dict`` gives back the stored JSON)."""

    operation: str
    software: str = "ngffstore"
    version: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[Mapping[str, Any], ...] = ()
    started: str | None = None
    finished: str | None = None
    user: str | None = None
    host: str | None = None
    id: str | None = None
    target: str | None = None
    command: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _FIELDS = (
        "operation", "software", "version", "parameters", "inputs", "started", "finished",
        "user", "host", "id", "target", "command",
    )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProvenanceRecord:
        """Lenient: records written by older versions or other tools keep what they have."""
        inputs = tuple(
            dict(i) if isinstance(i, Mapping) else {"path": str(i)} for i in d.get("inputs") or ()
        )
        command = d.get("command")
        return cls(
            operation=str(d.get("operation") or "unknown"),
            software=str(d.get("software") or "unknown"),
            version=_opt_str(d.get("version")),
            parameters=dict(d.get("parameters") or {}),
            inputs=inputs,
            started=_opt_str(d.get("started")),
            finished=_opt_str(d.get("finished") or d.get("ended")),
            user=_opt_str(d.get("user")),
            host=_opt_str(d.get("host")),
            id=_opt_str(d.get("id")),
            target=_opt_str(d.get("target")),
            command=tuple(str(c) for c in command) if isinstance(command, list) else None,
            extra={k: v for k, v in d.items() if k not in cls._FIELDS and k != "ended"},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for name in self._FIELDS:
            value = getattr(self, name)
            if name == "inputs":
                value = [dict(v) for v in value]
            elif name == "parameters":
                value = dict(value)
            elif name == "command":
                if value is None:
                    continue
                value = list(value)
            elif value is None and name in ("id", "target"):
                continue
            out[name] = value
        return out

    @property
    def seconds(self) -> float | None:
        """How long the operation took, when both times are known."""
        try:
            start = _dt.datetime.fromisoformat(str(self.started))
            end = _dt.datetime.fromisoformat(str(self.finished))
        except ValueError:
            return None
        return (end - start).total_seconds()

    def to_text(self, number: int | None = None) -> str:
        """A few lines for a terminal."""
        head = f"#{number} " if number is not None else ""
        who = "@".join(p for p in (self.user, self.host) if p)
        took = f" ({self.seconds:.2f} s)" if self.seconds is not None else ""
        lines = [
            f"{head}{self.finished or self.started or '?'}  {self.operation}  "
            f"{self.software} {self.version or ''}".rstrip() + (f"  {who}" if who else "") + took
        ]
        width = max([11, *(len(k) for k in self.parameters)])
        if self.command:
            lines.append("  command".ljust(width + 3) + " ".join(self.command))
        for key, value in self.parameters.items():
            lines.append(f"  {key:<{width}} {_short(value)}")
        for item in self.inputs:
            bits = [str(item.get("path", "?"))]
            if "size" in item:
                bits.append(f"{item['size']} B")
            if "mtime" in item:
                bits.append(f"modified {item['mtime']}")
            if "sha256" in item:
                bits.append(f"sha256 {str(item['sha256'])[:16]}…")
            lines.append("  input".ljust(width + 3) + ", ".join(bits))
        return "\n".join(lines)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _short(value: Any, limit: int = 100) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def history(attrs: Mapping[str, Any]) -> list[ProvenanceRecord]:
    """The provenance records in a group's attributes, oldest first."""
    block = attrs.get("ngffstore")
    raw = block.get("provenance") if isinstance(block, Mapping) else None
    if not isinstance(raw, list):
        return []
    return [ProvenanceRecord.from_dict(r) for r in raw if isinstance(r, Mapping)]


def read_provenance(
    url: Any, *, storage_options: Mapping[str, Any] | None = None
) -> list[ProvenanceRecord]:
    """The history of the node at ``url`` (image, labels, plate, well), oldest first.

    Raises :class:`~ngffstore.StoreNotFoundError` when no Zarr group is there.
    """
    from .nodes import read_attrs
    from .storage import Location

    _, attrs = read_attrs(Location.parse(url, storage_options))
    return history(attrs)


__all__ = [
    "ProvenanceRecord",
    "append",
    "describe_input",
    "history",
    "now",
    "read_provenance",
    "record",
    "set_command",
]
