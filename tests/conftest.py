"""Shared fixtures. S3 runs against real HTTP endpoints on 127.0.0.1 (moto server mode, see
``tests/s3server.py``), never against a mocked s3fs.

S3 fixtures (everything that needs ``s3_server`` is marked ``s3`` automatically, so
``pytest -m "not s3"`` never starts moto):

``s3_server`` (session)   :class:`s3server.S3TestServer` -- ``.endpoint_url``, ``.credentials``
                          (key, secret), ``.public_bucket``, ``.public_endpoint_url``,
                          ``.reset()``, ``.count()``/``.requests`` (auth server's request log),
                          ``.public`` (the public server, with its own ``count()``).
``s3_bucket``             name of a fresh, empty bucket on the auth server (deleted afterwards).
``s3_options``            ``{"endpoint_url": ..., "key": ..., "secret": ...}`` for fsspec/s3fs.
``s3_bad_options``        the same with a wrong secret (s3fs raises ``PermissionError``).
``s3_anon_options``       ``{"endpoint_url": <public server>, "anon": True}``.
``s3_env``                sets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION /
                          AWS_ENDPOINT_URL for code that reads credentials from the environment.
``store_url``             ``(url, storage_options)``, parametrised "local" / "s3".

s3fs caches filesystem instances per storage options and thread, and each instance caches the
directory listings it has seen; an instance reused from an earlier test would show shared
buckets (the public one, or any after ``s3_server.reset()``) as they were then. Every S3
function fixture therefore empties the listing caches of all live instances when it is set up
(instances are kept: building one costs ~0.2 s). ``s3_env`` drops the instances themselves
(``s3fs.S3FileSystem.clear_instance_cache()``) on setup and teardown, since an instance built
from environment variables is cached under the same key (no arguments) as one built without.
Within a test, several instances for the same bucket (e.g. a sync one and zarr's async one) do
not see each other's writes in their listing caches: use ``refresh=True`` or
``fs.invalidate_cache()`` when that matters.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import dask.array  # noqa: F401  # as library users get it (the CLI imports it leaner, see ngffstore.cli)
import pytest

try:
    from s3server import S3TestServer, forget_s3fs_instances, forget_s3fs_listings
except ImportError:  # tests/ turned into a package
    from tests.s3server import (  # type: ignore[no-redef]
        S3TestServer,
        forget_s3fs_instances,
        forget_s3fs_listings,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "s3: needs the local moto S3 servers (deselect with -m 'not s3')"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "s3_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3TestServer]:
    server = S3TestServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3TestServer) -> Iterator[str]:
    forget_s3fs_listings()
    name = s3_server.create_bucket()
    yield name
    s3_server.delete_bucket(name)


@pytest.fixture
def s3_options(s3_server: S3TestServer) -> dict[str, Any]:
    forget_s3fs_listings()
    return s3_server.storage_options


@pytest.fixture
def s3_bad_options(s3_server: S3TestServer) -> dict[str, Any]:
    forget_s3fs_listings()
    return s3_server.bad_storage_options


@pytest.fixture
def s3_anon_options(s3_server: S3TestServer) -> dict[str, Any]:
    forget_s3fs_listings()
    return s3_server.anon_options


@pytest.fixture
def s3_env(s3_server: S3TestServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = {
        "AWS_ACCESS_KEY_ID": s3_server.credentials.key,
        "AWS_SECRET_ACCESS_KEY": s3_server.credentials.secret,
        "AWS_DEFAULT_REGION": s3_server.region,
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        # keep a developer's ~/.aws out of it
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    forget_s3fs_instances()
    yield env
    forget_s3fs_instances()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> tuple[str, dict[str, Any]]:
    if request.param == "local":
        return str(tmp_path / "store"), {}
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/store", request.getfixturevalue("s3_options")
