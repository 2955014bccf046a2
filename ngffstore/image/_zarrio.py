"""Low-level reading for images: one zarr store per image, metadata GETs, chunk reads with clear errors.

Requests are kept to what a read needs:

* group documents are read through the node layer (:mod:`ngffstore.nodes`: one GET each, the
  Zarr format passed down once known); array metadata with one GET each through the image's
  store, or taken from inline consolidated metadata when the group has it;
* arrays are built from metadata already fetched (``AsyncArray(metadata=..., store_path=...)``),
  so opening a level costs nothing more, and ``.zattrs`` of arrays are never read;
* on S3, s3fs is told ``max_concurrency=1`` unless the caller chose otherwise: with its default
  (10) s3fs sends a HEAD before every whole-object GET to decide whether to split it, and a
  HEAD + LIST for every missing key (zarr probes those for sparse chunks);
* a missing object is whatever the host answers for it (404, or 403 from a host that forbids
  listings), and a host that ignores ``Range`` is refused with one clear line (:func:`read_store`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import NgffStoreError, NotNgffError, ReadError, StorageError, StoreNotFoundError
from ..nodes import Node, try_read_node
from ..storage import (
    Location,
    is_missing_error,
    is_storage_error,
    parse_json,
    storage_errors,
    translate_storage_error,
)
from ._settle import settle_pending_reads

#: Storage options added for S3 reads unless given (see the module docstring).
S3_READ_DEFAULTS = {"max_concurrency": 1}



def read_options(location: Location) -> dict[str, Any]:
    options = dict(location.storage_options)
    if location.protocol in ("s3", "s3a"):
        for key, value in S3_READ_DEFAULTS.items():
            options.setdefault(key, value)
    return options


def read_store(location: Location) -> Any:
    """A read-only zarr store for a remote ``location`` that never HEADs or LISTs.

    It is zarr's ``FsspecStore`` with the :data:`S3_READ_DEFAULTS`, and two changes to
    ``get``: an object the host says is missing (404, or the bare 403 of a host that forbids
    listings: S3 without ``s3:ListBucket``, CDNs) is absent (``None``), as zarr expects, not an
    access error; and a host that ignores ``Range`` (answers a byte range with the whole
    object) is refused with one clear :class:`StorageError` instead of decoding wrong bytes.
    """
    from zarr.storage import FsspecStore

    cls = _read_store_class(FsspecStore)
    with storage_errors(location, "read"):
        store = cls.from_url(location.url, storage_options=read_options(location), read_only=True)
    store._ngffstore_location = location
    return store


_READ_STORE: Any = None


def _read_store_class(base: Any) -> Any:
    global _READ_STORE
    if _READ_STORE is not None:
        return _READ_STORE
    from zarr.abc.store import RangeByteRequest, SuffixByteRequest

    class ReadStore(base):  # type: ignore[misc, valid-type]
        _ngffstore_location: Location | None = None

        async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
            try:
                value = await super().get(key, prototype, byte_range)
            except Exception as exc:
                if is_missing_error(exc):
                    return None
                raise
            if value is not None and byte_range is not None:
                if isinstance(byte_range, RangeByteRequest):
                    expected = byte_range.end - byte_range.start
                elif isinstance(byte_range, SuffixByteRequest):
                    expected = byte_range.suffix
                else:
                    expected = None
                if expected is not None and len(value) > expected:
                    where = self._ngffstore_location
                    url = where.child(key).url if where is not None else key
                    raise StorageError(
                        f"cannot read {url}: the host does not support HTTP Range requests (it "
                        "sent the whole object for a byte range); serve the store from a host "
                        "that does (S3, most CDNs and static web servers), or copy it locally"
                    )
            return value

    _READ_STORE = ReadStore
    return ReadStore


class Storage:
    """The zarr store of one node, opened on first use; pickles as its :class:`Location`."""

    def __init__(self, location: Location):
        self.location = location
        self._store: Any = None
        self._lock = threading.Lock()
        self.requests = 0
        """Objects requested through :meth:`get_many` (metadata GETs, not chunk reads)."""

    def __getstate__(self) -> dict[str, Any]:
        return {"location": self.location}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["location"])  # type: ignore[misc]

    @property
    def store(self) -> Any:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._open()
        return self._store

    def _open(self) -> Any:
        from zarr.storage import LocalStore

        location = self.location
        if location.is_local:
            return LocalStore(location.url, read_only=True)
        return read_store(location)

    def child(self, path: str) -> Storage:
        return Storage(self.location.child(path))

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The objects at ``keys`` (None where absent), fetched concurrently."""
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        if not keys:
            return []
        store = self.store
        prototype = default_buffer_prototype()
        self.requests += len(keys)

        async def one(key: str) -> bytes | None:
            try:
                buf = await store.get(key, prototype=prototype)
            except FileNotFoundError:  # a LocalStore whose root does not exist
                return None
            return None if buf is None else buf.to_bytes()

        async def many() -> list[bytes | None]:
            return list(await asyncio.gather(*(one(k) for k in keys)))

        with storage_errors(
            self.location.child(keys[0]) if len(keys) == 1 else self.location, "read"
        ):
            return sync(many())

    def get(self, key: str) -> bytes | None:
        return self.get_many([key])[0]

    def get_json(self, key: str) -> Any | None:
        raw = self.get(key)
        if raw is None:
            return None
        return parse_json(raw, self.location.child(key))

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()


def node_gets(node: Node | None, zarr_format: int | None) -> int:
    """GETs :func:`ngffstore.nodes.try_read_node` sent to find ``node`` (for request budgets)."""
    if node is not None and node.zarr_format == 3:
        return 1
    gets = 1 if zarr_format in (None, 3) else 0  # zarr.json
    if zarr_format == 3:
        return gets
    gets += 2  # .zattrs, .zgroup
    if node is None or node.node_type == "array" or not node.document:
        gets += 1  # .zarray
    return gets


def read_group(
    storage: Storage, zarr_format: int | None = None, *, diagnose: bool = True
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """``(zarr_format, attributes, consolidated)`` of the group at ``storage``.

    Read through the node layer (:func:`ngffstore.nodes.try_read_node`): one GET for Zarr v3
    (``zarr.json``); for v2 ``.zattrs`` and ``.zgroup`` (after a missed ``zarr.json`` when the
    format is not known yet). ``consolidated`` maps array paths to their metadata when the v3
    group carries inline consolidated metadata, else it is empty. ``diagnose`` is kept for
    callers; the node layer always tells an array, an empty v2 group and nothing apart.
    """
    location = storage.location
    node = try_read_node(location, zarr_format=zarr_format)
    storage.requests += node_gets(node, zarr_format)
    if node is None:
        hint = " (and --endpoint-url/--profile/--anon for S3)" if location.protocol == "s3" else ""
        if not location.is_local:
            hint += "; a host that forbids listings answers 403 for a missing object"
        raise StoreNotFoundError(f"no Zarr group at {location.url}: check the URL{hint}")
    if not node.is_group:
        raise NotNgffError(
            f"{location.url} is a Zarr array, not a group: give the image group's URL"
        )
    return node.zarr_format, dict(node.attributes), node.consolidated


def array_from_metadata(storage: Storage, path: str, zarr_format: int, meta: dict[str, Any]) -> Any:
    """A read-only ``zarr.Array`` built from metadata already fetched (no request)."""
    from zarr.core.array import Array, AsyncArray
    from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata
    from zarr.storage import StorePath

    doc = dict(meta)
    if zarr_format == 3:
        doc.setdefault("attributes", {})
        metadata: Any = ArrayV3Metadata.from_dict(doc)
    else:
        if doc.get("filters") == []:  # written by some tools; zarr warns and means None
            doc["filters"] = None
        metadata = ArrayV2Metadata.from_dict(doc)
    return Array(AsyncArray(metadata=metadata, store_path=StorePath(storage.store, path)))


class LevelReader:
    """Reads selections of one level's array; picklable (metadata + location, no handles)."""

    def __init__(
        self, storage: Storage, path: str, zarr_format: int, meta: dict[str, Any], index: int
    ):
        self.storage = storage
        self.path = path
        self.zarr_format = zarr_format
        self.meta = meta
        self.index = index
        self._array: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_array"] = None
        return state

    def __dask_tokenize__(self) -> Any:
        return (
            "ngffstore-level",
            self.storage.location.url,
            self.path,
            json.dumps(self.meta, sort_keys=True),
        )

    @property
    def array(self) -> Any:
        if self._array is None:
            try:
                self._array = array_from_metadata(
                    self.storage, self.path, self.zarr_format, self.meta
                )
            except NgffStoreError:
                raise
            except Exception as exc:  # unknown codec, malformed metadata
                raise ReadError(
                    f"cannot use the metadata of level {self.index} ({self.path!r}) of "
                    f"{self.storage.location.url}: {_short(exc)}"
                ) from exc
        return self._array

    @property
    def url(self) -> str:
        return self.storage.location.child(self.path).url

    def read(self, selection: tuple[Any, ...], orthogonal: bool = False) -> np.ndarray:
        """``array[selection]`` (``oindex`` when ``orthogonal``), with storage and decode errors
        turned into :class:`StorageError`/:class:`StorageAccessError` and :class:`ReadError`."""
        arr = self.array
        try:
            out = arr.oindex[selection] if orthogonal else arr[selection]
        except NgffStoreError:
            raise
        except Exception as exc:
            settle_pending_reads()  # zarr's gather leaves the other chunk reads running
            if is_storage_error(exc):
                raise translate_storage_error(
                    exc, self.storage.location.child(self.path), "read"
                ) from exc
            raise self._decode_error(selection, exc) from None
        return np.asarray(out)

    def _decode_error(self, selection: tuple[Any, ...], exc: BaseException) -> ReadError:
        """A ReadError naming the first stored object of ``selection`` that does not decode."""
        arr = self.array
        unit = tuple(arr.shards or arr.chunks)
        ranges: list[Sequence[int]] = []
        for sel, n, u in zip(selection, arr.shape, unit):
            if isinstance(sel, slice):
                start, stop, _ = sel.indices(n)
                ranges.append(range(start // u, max(start // u + 1, math.ceil(stop / u))))
            else:
                idx = np.atleast_1d(np.asarray(sel))
                ranges.append(sorted({int(i) // u for i in idx}))
        for count, coords in enumerate(itertools.product(*ranges)):
            if count >= 4096:
                break
            block = tuple(
                slice(c * u, min((c + 1) * u, n)) for c, u, n in zip(coords, unit, arr.shape)
            )
            try:
                arr[block]
            except Exception as inner:  # noqa: BLE001 - any codec error marks the culprit
                if is_storage_error(inner):
                    continue
                key = f"{self.path}/{arr.metadata.encode_chunk_key(coords)}"
                return ReadError(
                    f"cannot decode chunk {key} of {self.storage.location.url} (level {self.index}): "
                    f"{_short(inner)}; the object is corrupt or truncated — rewrite the image or "
                    "restore that object"
                )
        return ReadError(
            f"cannot decode level {self.index} ({self.path!r}) of {self.storage.location.url}: {_short(exc)}"
        )


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."
