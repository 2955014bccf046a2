"""Storage locations: one URL type for local paths, ``file://``, ``s3://``, ``memory://``, ``http(s)://``.

A :class:`Location` is a URL plus fsspec ``storage_options``. It is cheap to pickle (no open
handles), so dask workers can reopen it, and it joins paths as strings (never with ``pathlib``,
which would drop an ``s3://`` protocol).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    ConflictError,
    NgffStoreError,
    StorageAccessError,
    StorageError,
    StoreNotFoundError,
)

if TYPE_CHECKING:
    import fsspec

#: Default of :meth:`Location.put` ``if_version``: write unconditionally.
ANY: object = type("_Any", (), {"__repr__": lambda self: "ANY"})()

#: Documents (``zarr.json``, ``.zattrs``...) larger than this are refused as untrusted input.
MAX_DOCUMENT_BYTES = 16 << 20


def dump_json(obj: Any) -> bytes:
    """The bytes ngffstore stores for a JSON document."""
    return json.dumps(obj, indent=2, allow_nan=False).encode()


def parse_json(data: bytes, location: Location) -> Any:
    """Parse a stored JSON document, with one clear error when it is corrupt or too large."""
    from .errors import ReadError

    if len(data) > MAX_DOCUMENT_BYTES:
        raise ReadError(
            f"{location.url} is {len(data)} bytes, more than the {MAX_DOCUMENT_BYTES} bytes a "
            "metadata document may have: the store is corrupt or not a Zarr store"
        )
    try:
        return json.loads(data)
    except ValueError:
        raise ReadError(f"{location.url} is not valid JSON: the metadata is corrupt") from None


REMOTE_PROTOCOLS = ("s3", "gs", "gcs", "az", "abfs", "http", "https", "memory")


def _split_protocol(url: str) -> tuple[str, str]:
    if "://" in url:
        protocol, rest = url.split("://", 1)
        return protocol.lower(), rest
    return "file", url


@dataclass(frozen=True, eq=False)
class Location:
    """Where a node lives: ``url`` plus the fsspec ``storage_options`` used to reach it."""

    url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, url: str | os.PathLike[str] | Location, storage_options: Mapping[str, Any] | None = None
    ) -> Location:
        if isinstance(url, Location):
            if storage_options:
                return cls(url.url, dict(storage_options))
            return url
        url = os.fspath(url)
        if not url:
            raise StoreNotFoundError("empty URL: give a local path or an s3:// URL")
        protocol, rest = _split_protocol(url)
        if protocol == "file":
            url = os.path.abspath(os.path.expanduser(rest))
        else:
            url = f"{protocol}://{rest.rstrip('/')}"
        return cls(url, dict(storage_options or {}))

    # -- identity -------------------------------------------------------------------------
    @property
    def protocol(self) -> str:
        return _split_protocol(self.url)[0]

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def path(self) -> str:
        """The path as the fsspec filesystem names it (no protocol for s3)."""
        protocol, rest = _split_protocol(self.url)
        if protocol in ("http", "https"):
            return self.url
        return rest

    @property
    def name(self) -> str:
        return posixpath.basename(self.url.rstrip("/"))

    def child(self, *parts: str) -> Location:
        parts = tuple(p.strip("/") for p in parts if p and p.strip("/"))
        if not parts:
            return self
        if self.is_local:
            return Location(os.path.join(self.url, *parts), self.storage_options)
        return Location("/".join((self.url.rstrip("/"),) + parts), self.storage_options)

    @property
    def parent(self) -> Location:
        if self.is_local:
            return Location(os.path.dirname(self.url), self.storage_options)
        protocol, rest = _split_protocol(self.url)
        return Location(f"{protocol}://{posixpath.dirname(rest)}", self.storage_options)

    def __repr__(self) -> str:
        return f"Location({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Location)
            and self.url == other.url
            and dict(self.storage_options) == dict(other.storage_options)
        )

    def __hash__(self) -> int:
        return hash(self.url)

    # -- filesystem ---------------------------------------------------------------------
    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        import fsspec  # not at import: local paths never need it (65 ms)

        return fsspec.filesystem(self.protocol, **dict(self.storage_options))

    def key(self, key: str) -> str:
        """The fsspec path of ``key`` below this location."""
        return self.child(key).path

    def exists(self, key: str = "") -> bool:
        """Whether an object (or, locally, a folder) is at ``key``.

        Costs a HEAD (and a LIST on S3 for a prefix): prefer :meth:`get`, which answers with the
        object itself, wherever the caller wants the content anyway.
        """
        with storage_errors(self, "read"):
            return bool(self.fs.exists(self.key(key) if key else self.path))

    # -- objects: one request each, no probes ----------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The object at ``key``, or None when the host says it is missing. One GET.

        "Missing" is whatever the host answers for an absent object: 404, or 403 AccessDenied
        (S3 without ListBucket, most CDNs). Credential errors (bad key, bad signature) raise
        :class:`StorageAccessError`.
        """
        return self.get_versioned(key)[0]

    def get_versioned(self, key: str) -> tuple[bytes | None, str | None]:
        """``(data, version)`` of the object at ``key``; ``(None, None)`` when it is missing.

        ``version`` identifies this content for :meth:`put` ``(if_version=...)``: the ETag on S3,
        a content digest elsewhere. One GET.
        """
        return _get_object(self, key)

    def put(
        self, key: str, data: bytes, *, if_version: str | None | object = ANY, content_type: str | None = None
    ) -> str:
        """Store ``data`` at ``key`` atomically and return its new version.

        A reader never sees a partial object: locally the bytes go to a temporary name in the
        same folder and are renamed over the target; on S3 a single PUT replaces the object.
        With ``if_version`` the write is conditional: ``None`` means "only if absent", a version
        from :meth:`get_versioned` means "only if unchanged since" (S3 ``If-None-Match`` /
        ``If-Match``; locally a lock on the folder around compare-and-rename).
        :class:`ConflictError` is raised when the condition fails. ``content_type`` sets the
        object's ``Content-Type`` on S3 (what a static website serves it as); a local file has
        none.
        """
        return _put_object(self, key, data, if_version, content_type)

    def delete(self, key: str) -> None:
        """Remove the object at ``key``; nothing happens when it is absent. No probe."""
        _delete_object(self, key)

    def read_bytes(self, key: str) -> bytes:
        data = self.get(key)
        if data is None:
            raise StoreNotFoundError(f"{self.child(key).url} not found: check the URL (and credentials)")
        return data

    def read_json(self, key: str) -> Any:
        return parse_json(self.read_bytes(key), self.child(key))

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` atomically (see :meth:`put`)."""
        self.put(key, data)

    def write_json(self, key: str, obj: Any) -> None:
        self.put(key, dump_json(obj))

    def remove(self, key: str = "") -> None:
        """Remove the object or tree at ``key`` (nothing happens if it is absent)."""
        target = self.child(key) if key else self
        with storage_errors(target, "write"):
            fs = self.fs
            if self.is_local:
                if os.path.isdir(target.path):
                    import shutil

                    shutil.rmtree(target.path, ignore_errors=False)
                elif os.path.lexists(target.path):
                    os.remove(target.path)
                return
            try:
                fs.rm(target.path, recursive=True)
            except FileNotFoundError:
                pass

    def size(self) -> int:
        """Bytes stored below this location."""
        with storage_errors(self, "read"):
            fs = self.fs
            if not fs.exists(self.path):
                return 0
            return int(fs.du(self.path, total=True))

    def zarr_store(self, *, read_only: bool = False) -> Any:
        """A zarr 3 store rooted at this location."""
        from zarr.storage import FsspecStore, LocalStore

        if self.is_local:
            if not read_only:
                with storage_errors(self, "write"):
                    os.makedirs(self.url, exist_ok=True)
            return LocalStore(self.url, read_only=read_only)
        with storage_errors(self, "write" if not read_only else "read"):
            return FsspecStore.from_url(
                self.url, storage_options=dict(self.storage_options), read_only=read_only
            )


def storage_options_from_cli(
    *,
    endpoint_url: str | None = None,
    profile: str | None = None,
    anon: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """fsspec ``storage_options`` for the CLI's S3 flags (AWS_* variables are honoured by botocore)."""
    options: dict[str, Any] = dict(extra or {})
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
    if profile:
        options["profile"] = profile
    if anon:
        options["anon"] = True
    return options


_ACCESS_CODES = (
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "ExpiredToken",
    "InvalidToken",
    "403",
    "Forbidden",
)


def write_text(url: Any, text: str, *, storage_options: Mapping[str, Any] | None = None) -> None:
    """Write ``text`` (UTF-8) to a file given as a local path or a URL (an exported file, a
    CSV): a local file is written in place, an object in one PUT."""
    location = Location.parse(os.fspath(url), storage_options)
    if location.is_local:
        try:
            with open(location.path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise NgffStoreError(f"cannot write {location.path}: {exc.strerror or _short(exc)}") from None
        return
    location.parent.write_bytes(location.name, text.encode("utf-8"))


def _is_access_error(exc: BaseException) -> bool:
    if isinstance(exc, PermissionError):
        return True
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError", "ProfileNotFound"):
        return True
    text = str(exc)
    return any(code in text for code in _ACCESS_CODES)


def _credential_hint(location: Location) -> str:
    if location.is_local:
        return "check the folder's permissions or choose another destination"
    if location.protocol == "s3":
        return (
            "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, --profile, or use --anon for a public bucket"
        )
    return "check the storage options and credentials"


def translate_storage_error(exc: BaseException, location: Location, action: str) -> NgffStoreError:
    """Map a backend exception to one clear :class:`NgffStoreError`."""
    if isinstance(exc, NgffStoreError):
        return exc
    if _is_access_error(exc):
        return StorageAccessError(
            f"cannot {action} {location.url}: access denied ({_short(exc)}); {_credential_hint(location)}"
        )
    text = str(exc)
    if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        return StorageError(f"cannot {action} {location.url}: the bucket does not exist; create it first")
    if isinstance(exc, FileNotFoundError):
        return StoreNotFoundError(f"cannot {action} {location.url}: not found")
    errno = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and errno in (1, 13, 30):  # EPERM, EACCES, EROFS
        return StorageAccessError(
            f"cannot {action} {location.url}: {exc.strerror or _short(exc)}; {_credential_hint(location)}"
        )
    if isinstance(exc, OSError) and errno in (20, 21):  # ENOTDIR, EISDIR
        where = getattr(exc, "filename", None) or location.url
        return StorageAccessError(
            f"cannot {action} {location.url}: {exc.strerror} ({where}); choose another destination"
        )
    if isinstance(exc, OSError) and errno == 28:  # ENOSPC
        return StorageError(f"cannot {action} {location.url}: no space left on the device; free space or choose another destination")
    return StorageError(f"cannot {action} {location.url}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


@contextlib.contextmanager
def storage_errors(location: Location, action: str) -> Iterator[None]:
    """Re-raise storage backend errors as :class:`NgffStoreError` naming ``location``."""
    try:
        yield
    except NgffStoreError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        if isinstance(exc, ValueError) and not _looks_like_storage(exc):
            raise
        raise translate_storage_error(exc, location, action) from exc
    except Exception as exc:  # botocore errors do not share a base with OSError
        if _looks_like_storage(exc):
            raise translate_storage_error(exc, location, action) from exc
        raise


def _looks_like_storage(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return (
        module.startswith(("botocore", "aiobotocore", "s3fs", "aiohttp", "fsspec", "urllib3", "requests"))
        or _is_access_error(exc)
        or "NoSuchBucket" in str(exc)
    )


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from reaching the storage (network, host, credentials, a missing
    object), not from the bytes it returned (a codec error): the errors
    :func:`translate_storage_error` is for."""
    if isinstance(exc, (PermissionError, ConnectionError, TimeoutError, FileNotFoundError)):
        return True
    return _looks_like_storage(exc)


# ---------------------------------------------------------------------------------------------
# single objects: get / put (atomic, optionally conditional) / delete
# ---------------------------------------------------------------------------------------------
_CREDENTIAL_CODES = (
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
)
_CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
_memory_lock = threading.Lock()


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _error_code(exc: BaseException) -> str:
    """The S3 error code or HTTP status behind ``exc`` (s3fs keeps the ClientError as cause)."""
    for e in (exc, exc.__cause__, exc.__context__):
        if e is None:
            continue
        response = getattr(e, "response", None)
        if isinstance(response, Mapping):
            code = (response.get("Error") or {}).get("Code")
            if code:
                return str(code)
        status = getattr(e, "status", None)  # aiohttp.ClientResponseError
        if isinstance(status, int):
            return str(status)
    return ""


def is_missing_error(exc: BaseException) -> bool:
    """Whether a backend error means "no such object" as the host tells it (404, or a bare 403).

    A host that denies listings (S3 without ``s3:ListBucket``, CDNs) answers 403 for a missing
    object; credential errors (bad key id, bad signature, expired token) are not "missing".
    """
    if isinstance(exc, NgffStoreError):
        return isinstance(exc, StoreNotFoundError)
    code = _error_code(exc)
    if code in _CREDENTIAL_CODES or type(exc).__name__ in (
        "NoCredentialsError",
        "PartialCredentialsError",
    ):
        return False
    return isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)) or code in (
        "NoSuchKey",
        "404",
        "AccessDenied",
        "403",
    )


def _fsspec_path(location: Location, key: str) -> str:
    return location.key(key) if key else location.path


def _get_object(location: Location, key: str) -> tuple[bytes | None, str | None]:
    path = _fsspec_path(location, key)
    target = location.child(key) if key else location
    try:
        if location.is_local:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None, None
            return data, _digest(data)
        fs = location.fs
        if location.protocol in ("s3", "s3a"):
            from fsspec.asyn import sync

            bucket, s3key, _ = fs.split_path(path)

            async def fetch() -> tuple[bytes, str]:
                resp = await fs._call_s3("get_object", Bucket=bucket, Key=s3key)
                try:
                    body = await resp["Body"].read()
                finally:
                    resp["Body"].close()
                return body, str(resp.get("ETag") or _digest(body))

            return sync(fs.loop, fetch)
        data = fs.cat_file(path)
        return data, _digest(data)
    except NgffStoreError:
        raise
    except Exception as exc:
        if is_missing_error(exc):
            return None, None
        if isinstance(exc, (OSError, ValueError, RuntimeError)) or _looks_like_storage(exc):
            raise translate_storage_error(exc, target, "read") from exc
        raise


def _put_object(
    location: Location, key: str, data: bytes, if_version: Any, content_type: str | None = None
) -> str:
    path = _fsspec_path(location, key)
    target = location.child(key) if key else location
    data = bytes(data)
    conditional = if_version is not ANY
    with storage_errors(target, "write"):
        if location.is_local:
            return _put_local(path, data, if_version, conditional, target)
        if location.protocol in ("http", "https"):
            from .errors import StorageAccessError as _Denied

            raise _Denied(
                f"cannot write {target.url}: http(s) URLs are read-only; write to a local path or s3://"
            )
        fs = location.fs
        if location.protocol in ("s3", "s3a"):
            from fsspec.asyn import sync

            bucket, s3key, _ = fs.split_path(path)
            extra: dict[str, str] = {}
            if conditional:
                extra = {"IfNoneMatch": "*"} if if_version is None else {"IfMatch": str(if_version)}
            if content_type:
                extra["ContentType"] = content_type

            async def send() -> str:
                resp = await fs._call_s3("put_object", Bucket=bucket, Key=s3key, Body=data, **extra)
                return str(resp.get("ETag") or _digest(data))

            try:
                etag = sync(fs.loop, send)
            except Exception as exc:
                if conditional and (
                    _error_code(exc) in _CONFLICT_CODES or isinstance(exc, FileExistsError)
                ):
                    raise ConflictError(
                        f"{target.url} was changed by another writer meanwhile"
                    ) from None
                raise
            fs.invalidate_cache(path)
            return etag
        if conditional:
            with _memory_lock:
                try:
                    current: bytes | None = fs.cat_file(path)
                except FileNotFoundError:
                    current = None
                if (None if current is None else _digest(current)) != if_version:
                    raise ConflictError(f"{target.url} was changed by another writer meanwhile")
                fs.pipe_file(path, data)
        else:
            fs.pipe_file(path, data)
        return _digest(data)


def _put_local(path: str, data: bytes, if_version: Any, conditional: bool, target: Location) -> str:
    import fcntl

    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not conditional:
            os.replace(tmp, path)
            return _digest(data)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with open(path, "rb") as f:
                    current: str | None = _digest(f.read())
            except FileNotFoundError:
                current = None
            if current != if_version:
                raise ConflictError(f"{target.url} was changed by another writer meanwhile")
            os.replace(tmp, path)
        finally:
            os.close(fd)  # closing the descriptor releases the lock
        return _digest(data)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _delete_object(location: Location, key: str) -> None:
    path = _fsspec_path(location, key)
    target = location.child(key) if key else location
    with storage_errors(target, "write"):
        if location.is_local:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            return
        try:
            location.fs.rm_file(path)
        except FileNotFoundError:
            pass
