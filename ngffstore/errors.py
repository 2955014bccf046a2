"""Typed errors raised by ngffstore.

Every error a user can cause is an :class:`NgffStoreError` that also inherits the matching
builtin, so callers may catch either. ``str(error)`` is one line: what went wrong, where,
and what to do about it. The CLI prints that line and exits with ``error.exit_code``.
"""

from __future__ import annotations


class NgffStoreError(Exception):
    """Base class of every error ngffstore raises on purpose."""

    exit_code: int = 1


class InputError(NgffStoreError, ValueError):
    """An input file or array cannot be used (unreadable, truncated, wrong shape or dtype)."""


class InputNotFoundError(InputError, FileNotFoundError):
    """An input file or folder does not exist."""


class AxesError(InputError):
    """The axes of an input cannot be inferred or do not match its dimensions."""


class StoreNotFoundError(NgffStoreError, FileNotFoundError):
    """Nothing (or no NGFF node of the expected kind) exists at a URL."""


class NotNgffError(NgffStoreError, ValueError):
    """A Zarr node exists but it is not the OME-NGFF node that was expected."""


class ValidationError(NgffStoreError, ValueError):
    """Metadata or data violate the OME-NGFF rules or ngffstore's extensions."""


class OutputExistsError(NgffStoreError, FileExistsError):
    """The destination already holds data and ``overwrite`` was not given."""


class StorageAccessError(NgffStoreError, PermissionError):
    """Credentials are missing or wrong, or the destination cannot be written."""

    exit_code = 2


class StorageError(NgffStoreError, OSError):
    """The storage backend failed (network, bucket missing, disk full)."""

    exit_code = 2


class ReadError(NgffStoreError, OSError):
    """Stored data could not be read or decoded (missing level, corrupt chunk)."""


class MemoryCapError(NgffStoreError, MemoryError):
    """A read would exceed the configured memory cap."""


class RegionError(NgffStoreError, ValueError):
    """A requested region lies outside the image or is empty."""


class SchedulerError(NgffStoreError, ConnectionError):
    """A dask scheduler cannot be reached or used."""

    exit_code = 2


class ConflictError(NgffStoreError, RuntimeError):
    """A concurrent writer changed a document between our read and our write (and retries ran out)."""

    exit_code = 3
