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

HTTP fixtures (``tests/httpserver.py``: a static host on 127.0.0.1 with Range support, no
listings, 403 for a missing object, counting requests):

``http_host``             a factory ``http_host(folder, missing_status=403, ranges=True)`` of
                          started :class:`httpserver.StaticHTTPServer`; stopped after the test.
``demo_collection``       (session) the demo collection (``ngffstore demo``, size 512) in a folder.
``read_backend``          (session, parametrised "local" / "s3" / "http") the demo collection on
                          that backend: a :class:`ReadBackend` with ``.root`` (URL),
                          ``.options`` (storage options), ``.cli`` (CLI storage flags) and
                          ``.count()`` (request counting at the server; local: None).

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
    from httpserver import StaticHTTPServer
    from s3server import S3TestServer, forget_s3fs_instances, forget_s3fs_listings
except ImportError:  # tests/ turned into a package
    from tests.httpserver import StaticHTTPServer  # type: ignore[no-redef]
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


# ---------------------------------------------------------------------------------------------
# HTTP and the read contract's backends
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def http_host() -> Iterator[Any]:
    servers: list[StaticHTTPServer] = []

    def start(folder: Any, *, missing_status: int = 403, ranges: bool = True) -> StaticHTTPServer:
        server = StaticHTTPServer(str(folder), missing_status=missing_status, ranges=ranges).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def demo_collection(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ngffstore.demo import build_demo

    root = tmp_path_factory.mktemp("read-contract") / "demo"
    # 512: two pyramid levels and 4 chunks per plane, so level choice and chunk seams are read
    return build_demo(str(root), size=512, scheduler="threads", progress=False)


class ReadBackend:
    """The demo collection as one backend serves it (see ``read_backend``)."""

    def __init__(
        self, name: str, root: str, options: dict[str, Any], cli: list[str], server: Any, written_at: str
    ):
        self.name, self.root, self.options, self.cli, self.server = name, root, options, cli, server
        self.written_at = written_at
        """The folder the collection was written to (provenance records it)."""

    def url(self, relative: str = "") -> str:
        if not relative:
            return self.root
        return f"{self.root}/{relative}" if "://" in self.root else os.path.join(self.root, relative)

    def count(self) -> Any:
        return self.server.count() if self.server is not None else None

    def __repr__(self) -> str:
        return f"<ReadBackend {self.name} {self.root}>"


@pytest.fixture(scope="session")
def local_demo(demo_collection: Any) -> ReadBackend:
    """The demo collection read from its local folder, as a :class:`ReadBackend`."""
    root = str(demo_collection.root)
    return ReadBackend("local", root, {}, [], None, root)


@pytest.fixture(scope="session")
def _s3_demo(demo_collection: Any, s3_server: S3TestServer) -> ReadBackend:
    import s3fs

    bucket = s3_server.create_bucket()
    options = dict(s3_server.storage_options)
    fs = s3fs.S3FileSystem(**options)
    local, remote = [], []
    for dirpath, _, files in os.walk(demo_collection.root):
        for name in files:
            full = os.path.join(dirpath, name)
            local.append(full)
            remote.append(f"{bucket}/demo/" + os.path.relpath(full, demo_collection.root).replace(os.sep, "/"))
    fs.put(local, remote)
    return ReadBackend(
        "s3", f"s3://{bucket}/demo", options, ["--endpoint-url", s3_server.endpoint_url], s3_server,
        str(demo_collection.root),
    )


@pytest.fixture(scope="session")
def _http_demo(demo_collection: Any) -> Iterator[ReadBackend]:
    server = StaticHTTPServer(demo_collection.root).start()
    yield ReadBackend("http", server.url, {}, [], server, str(demo_collection.root))
    server.stop()


@pytest.fixture(
    scope="session", params=["local", pytest.param("s3", marks=pytest.mark.s3), "http"]
)
def read_backend(request: pytest.FixtureRequest, demo_collection: Any) -> ReadBackend:
    if request.param == "local":
        return ReadBackend("local", str(demo_collection.root), {}, [], None, str(demo_collection.root))
    return request.getfixturevalue(f"_{request.param}_demo")
