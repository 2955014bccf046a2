"""Storage locations: one URL type for local paths, ``file://``, ``s3://``, ``memory://``, ``http(s)://``.

A :class:`Location` is a URL plus fsspec ``storage_options``. It is cheap to pickle (no open
handles), so dask workers can reopen it, and it joins paths as strings (never with ``pathlib``,
which would drop an ``s3://`` protocol).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import fsspec

from .errors import (
    NgffStoreError,
    StorageAccessError,
    StorageError,
    StoreNotFoundError,
)

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
        return fsspec.filesystem(self.protocol, **dict(self.storage_options))

    def key(self, key: str) -> str:
        """The fsspec path of ``key`` below this location."""
        return self.child(key).path

    def exists(self, key: str = "") -> bool:
        with storage_errors(self, "read"):
            return bool(self.fs.exists(self.key(key) if key else self.path))

    def read_bytes(self, key: str) -> bytes:
        with storage_errors(self.child(key), "read"):
            return self.fs.cat_file(self.key(key))

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self.child(key)
        with storage_errors(target, "write"):
            if self.is_local:
                os.makedirs(os.path.dirname(target.path), exist_ok=True)
            self.fs.pipe_file(target.path, data)

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, json.dumps(obj, indent=2, allow_nan=False).encode())

    def remove(self, key: str = "") -> None:
        """Remove the object or tree at ``key`` (nothing happens if it is absent)."""
        target = self.child(key) if key else self
        with storage_errors(target, "write"):
            fs = self.fs
            if fs.exists(target.path):
                fs.rm(target.path, recursive=True)

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
        module.startswith(("botocore", "aiobotocore", "s3fs", "aiohttp", "fsspec"))
        or _is_access_error(exc)
        or "NoSuchBucket" in str(exc)
    )
