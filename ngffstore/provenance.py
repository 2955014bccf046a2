"""Provenance records: what ran, with which parameters, on what input (see specs/provenance.md).

Every write appends one record to ``attributes["ngffstore"]["provenance"]`` of the node it wrote.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import os
import platform
import socket
from collections.abc import Mapping, Sequence
from typing import Any

SMALL_FILE = 16 * 2**20  # inputs up to this size get a checksum


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def describe_input(path: str) -> dict[str, Any]:
    """Path, size, mtime and (for small local files) a sha256 checksum of an input."""
    info: dict[str, Any] = {"path": path}
    if "://" in path and not path.startswith("file://"):
        return info
    local = path.removeprefix("file://")
    try:
        st = os.stat(local)
    except OSError:
        return info
    info["path"] = os.path.abspath(local)
    if os.path.isdir(local):
        return info
    info["size"] = st.st_size
    info["mtime"] = _dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")
    if st.st_size <= SMALL_FILE:
        digest = hashlib.sha256()
        with open(local, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        info["sha256"] = digest.hexdigest()
    return info


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return None


def record(
    operation: str,
    parameters: Mapping[str, Any],
    *,
    inputs: Sequence[str] = (),
    started: str | None = None,
) -> dict[str, Any]:
    """A provenance record for ``operation`` (finished now)."""
    from . import __version__

    return {
        "software": "ngffstore",
        "version": __version__,
        "operation": operation,
        "parameters": _jsonable(parameters),
        "inputs": [describe_input(p) for p in inputs],
        "started": started or now(),
        "finished": now(),
        "user": _user(),
        "host": socket.gethostname(),
        "python": platform.python_version(),
    }


def append(attrs: dict[str, Any], rec: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``attrs`` with ``rec`` appended to its provenance list."""
    block = dict(attrs.get("ngffstore") or {})
    history = list(block.get("provenance") or [])
    history.append(dict(rec))
    block["provenance"] = history
    out = dict(attrs)
    out["ngffstore"] = block
    return out
