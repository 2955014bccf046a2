"""A real S3 HTTP endpoint on 127.0.0.1 for the tests: moto in server mode, in subprocesses.

Nothing here mocks s3fs or botocore: the tests talk HTTP to moto servers bound to 127.0.0.1 on
ports chosen by the OS. Two servers run, because moto cannot do both kinds of access in one:

* the **auth** server (``S3TestServer.endpoint_url``) checks signatures for real (moto's IAM
  auth, ``INITIAL_NO_AUTH_ACTION_COUNT`` = 0 after setup). An IAM user with an admin policy and
  an access key is created during moto's no-auth window; requests signed with that key and
  secret succeed, a wrong secret gives 403 ``SignatureDoesNotMatch``, an unknown key id gives
  403 ``InvalidAccessKeyId``.
* the **public** server (``S3TestServer.public_endpoint_url``) has auth off. It holds the
  public bucket (``S3TestServer.public_bucket``), whose bucket policy allows anonymous
  ``s3:GetObject``/``s3:ListBucket``. Anonymous (unsigned) requests may only read there; signed
  requests are not checked (any key/secret may write, e.g. to set up public test data).

Why two: with IAM auth on, moto 5 authenticates every S3 request by reading its
``Authorization`` header (``moto.iam.access_control.IAMRequestBase.__init__``), so an unsigned
request fails with ``KeyError: 'HTTP_AUTHORIZATION'`` -> HTTP 500 (which s3fs and botocore then
retry), whatever the bucket policy or ACL says. The auth switch (``moto.settings``
``INITIAL_NO_AUTH_ACTION_COUNT`` and ``ActionAuthenticatorMixin.request_count``) and all moto
backends are process-global, so the two servers cannot share one process either; each runs in
its own subprocess. That also keeps moto's global state out of the pytest process.

Each server wraps moto's WSGI app in :class:`_RecordingApp`, which

* records every S3 request (method, decoded path, raw query, kind, bucket, key, status,
  anonymous) under a lock, readable from the test process through ``/_ngffstore/requests``
  (not itself recorded; ``_ngffstore`` can never be a bucket name);
* answers unsigned requests itself with 403 ``AccessDenied`` where moto would not: every
  unsigned request on the auth server (as S3 does for a private bucket, instead of moto's 500),
  and unsigned writes (anything but GET/HEAD/OPTIONS) on the public server.

One fix to moto itself, applied only inside the server subprocess: moto recomputes the SigV4
signature from werkzeug's ``request.url``, in which escapes such as ``%2F`` in the query are
already decoded, so without the fix every signed ``ListObjectsV2`` with a prefix or delimiter
(any ``s3fs.ls``) fails with ``SignatureDoesNotMatch`` (getmoto/moto#5948). See
:func:`_patch_moto_signature_check`.

The subprocess exits when its stdin closes, i.e. when the test process ends or dies, so it
never outlives the pytest session; :meth:`S3TestServer.stop` closes it explicitly.

Run as a script (``python s3server.py --mode auth|public``) it is the server subprocess.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple

HOST = "127.0.0.1"
REGION = "us-east-1"
PUBLIC_BUCKET = "ngffstore-public"
#: Objects put into the public bucket at start (and after :meth:`S3TestServer.reset`).
PUBLIC_SEED = {"hello.txt": b"hello, public world\n"}
#: Key/secret used for the IAM setup and for seeding the public server (auth is off then).
SETUP_KEY, SETUP_SECRET = "testing", "testing"
CONTROL_PREFIX = "/_ngffstore/"
STARTUP_TIMEOUT = 60.0

# Query parameters that make a bucket-level GET something other than a listing
# (GetBucketLocation, GetBucketPolicy, ...). A bucket-level GET without any of them is a LIST.
_BUCKET_SUBRESOURCES = frozenset(
    [
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metadataConfiguration",
        "metadataTable",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "tagging",
        "uploads",
        "versioning",
        "website",
    ]
)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# ---------------------------------------------------------------------------------------------
# request records (shared by both sides)
# ---------------------------------------------------------------------------------------------
class S3Request(NamedTuple):
    """One HTTP request an S3 server received.

    ``kind`` is the HTTP method, except that a bucket listing (ListObjectsV2 ``GET
    /bucket?list-type=2``, ListObjects, ListObjectVersions, and ListBuckets ``GET /``) is
    ``"LIST"`` and a multi-object delete (``POST /bucket?delete``) is ``"BULK_DELETE"``.
    ``path`` is URL-decoded (``/bucket/a/b.zarr/zarr.json``), ``query`` is the raw query
    string. ``key`` is None for bucket-level requests, ``bucket`` None for ``GET /``.
    """

    method: str
    path: str
    query: str
    kind: str
    bucket: str | None
    key: str | None
    status: int | None
    anonymous: bool
    seq: int

    @property
    def params(self) -> dict[str, str]:
        """The query parameters (last value wins, blank values kept)."""
        return dict(urllib.parse.parse_qsl(self.query, keep_blank_values=True))


def classify(method: str, path: str, query: str) -> tuple[str, str | None, str | None]:
    """``(kind, bucket, key)`` of a path-style S3 request (see :class:`S3Request`)."""
    method = method.upper()
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0] or None
    key = parts[1] if len(parts) > 1 and parts[1] != "" else None
    params = {k for k, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    kind = method
    if method == "GET" and key is None:
        if bucket is None or "list-type" in params or "versions" in params:
            kind = "LIST"
        elif not params & _BUCKET_SUBRESOURCES:
            kind = "LIST"  # ListObjects v1
    elif method == "POST" and key is None and "delete" in params:
        kind = "BULK_DELETE"
    return kind, bucket, key


class RequestLog:
    """The requests a server received inside a ``with server.count() as log:`` block.

    While the block runs, every access reads the server's log afresh; after it, the log is
    frozen. ``kind`` arguments are the :attr:`S3Request.kind` values ("GET", "HEAD", "PUT",
    "POST", "DELETE", "LIST", "BULK_DELETE", ...), case-insensitive; None means all.
    """

    def __init__(self, server: MotoS3Server, start: int):
        self._server = server
        self.start = start
        self._frozen: list[S3Request] | None = None

    def _freeze(self) -> None:
        self._frozen = self._server._fetch(self.start)

    @property
    def requests(self) -> list[S3Request]:
        if self._frozen is not None:
            return list(self._frozen)
        return self._server._fetch(self.start)

    def filter(
        self,
        kind: str | None = None,
        *,
        bucket: str | None = None,
        key: str | None = None,
        prefix: str | None = None,
    ) -> list[S3Request]:
        """Requests of ``kind`` (and bucket / exact key / key prefix, when given)."""
        kind = kind.upper() if kind else None
        return [
            r
            for r in self.requests
            if (kind is None or r.kind == kind)
            and (bucket is None or r.bucket == bucket)
            and (key is None or r.key == key)
            and (prefix is None or (r.key or "").startswith(prefix))
        ]

    def count(self, kind: str | None = None, **filters: str) -> int:
        """How many requests of ``kind`` (all kinds if None); filters as in :meth:`filter`."""
        return len(self.filter(kind, **filters))

    def keys(self, kind: str | None = None, **filters: str) -> list[str | None]:
        """Object keys of the requests of ``kind``, in arrival order (duplicates kept)."""
        return [r.key for r in self.filter(kind, **filters)]

    def counts(self) -> dict[str, int]:
        """``{kind: count}`` for all kinds seen."""
        return dict(Counter(r.kind for r in self.requests))

    def summary(self) -> str:
        """One line per request, for assertion messages."""
        return "\n".join(
            f"{r.kind:<6} {r.status} {r.method} {r.path}{'?' + r.query if r.query else ''}"
            for r in self.requests
        )

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self) -> Iterator[S3Request]:
        return iter(self.requests)

    def __repr__(self) -> str:
        return f"<RequestLog {self.counts()}>"


class Credentials(NamedTuple):
    key: str
    secret: str


# ---------------------------------------------------------------------------------------------
# test-process side
# ---------------------------------------------------------------------------------------------
def forget_s3fs_listings() -> None:
    """Drop the directory listings cached by every live ``s3fs.S3FileSystem`` instance.

    s3fs caches one instance per storage options (and thread), and each instance caches the
    listings it has seen, so an instance reused from an earlier test could show a bucket as
    it was then. This keeps the instances (building one costs ~0.2 s: botocore loads the S3
    service model) but empties their listing caches.
    """
    s3fs = sys.modules.get("s3fs")
    if s3fs is None:
        return
    for fs in list(getattr(s3fs.S3FileSystem, "_cache", {}).values()):
        fs.invalidate_cache()


def forget_s3fs_instances() -> None:
    """``s3fs.S3FileSystem.clear_instance_cache()``: the next instance is built afresh."""
    s3fs = sys.modules.get("s3fs")
    if s3fs is not None:
        s3fs.S3FileSystem.clear_instance_cache()


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MotoS3Server:
    """One moto server subprocess (``mode`` "auth" or "public") with a request log."""

    def __init__(self, mode: str):
        if mode not in ("auth", "public"):
            raise ValueError(f"mode must be 'auth' or 'public', not {mode!r}")
        self.mode = mode
        self.endpoint_url = ""
        self.port = 0
        self.credentials: Credentials | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path = ""
        self._mark = 0
        self._open_windows: set[int] = set()
        self._lock = threading.Lock()
        self._client: Any = None

    # -- process ------------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the subprocess; :meth:`wait_ready` waits for it."""
        fd, self._log_path = tempfile.mkstemp(prefix=f"ngffstore-moto-{self.mode}-", suffix=".log")
        env = dict(os.environ)
        for var in ("INITIAL_NO_AUTH_ACTION_COUNT", "TEST_SERVER_MODE", "MOTO_CALL_RESET_API"):
            env.pop(var, None)
        env["PYTHONUNBUFFERED"] = "1"
        with os.fdopen(fd, "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--mode", self.mode],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                close_fds=True,
            )

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._proc.poll() is not None:
                break
            ready, _, _ = select.select([self._proc.stdout], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(self._proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        try:
            info = json.loads(line)
        except ValueError:
            log = self.read_log()
            self.stop()
            raise RuntimeError(
                f"moto {self.mode} server did not start (stdout {line!r}); its log:\n{log}"
            ) from None
        self.port = int(info["port"])
        self.endpoint_url = f"http://{HOST}:{self.port}"
        self.credentials = Credentials(info["key"], info["secret"])

    def start(self) -> MotoS3Server:
        self.launch()
        self.wait_ready()
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop the subprocess (closing its stdin makes it exit; kill if it does not)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            proc.stdout.close()  # type: ignore[union-attr]
        if proc.returncode in (0, -9, -15) and self._log_path:
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)

    def read_log(self) -> str:
        """The subprocess's stderr (moto/werkzeug errors and tracebacks)."""
        try:
            with open(self._log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- control channel ----------------------------------------------------------------------
    def _control(self, name: str, method: str = "GET", **params: Any) -> Any:
        url = f"{self.endpoint_url}{CONTROL_PREFIX}{name}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
        with _NO_PROXY_OPENER.open(req, timeout=30) as resp:
            return json.loads(resp.read())

    def _next_seq(self) -> int:
        return int(self._control("seq")["next"])

    def _fetch(self, since: int) -> list[S3Request]:
        data = self._control("requests", since=since)
        return [S3Request(*row) for row in data["requests"]]

    # -- request log --------------------------------------------------------------------------
    @property
    def requests(self) -> list[S3Request]:
        """All S3 requests since the server started or :meth:`clear_requests` was called."""
        return self._fetch(self._mark)

    def clear_requests(self) -> None:
        """Forget the recorded requests (those of open :meth:`count` windows are kept)."""
        with self._lock:
            self._mark = self._next_seq()
            keep_from = min([self._mark, *self._open_windows])
        self._control("trim", "POST", before=keep_from)

    @contextlib.contextmanager
    def count(self) -> Iterator[RequestLog]:
        """``with server.count() as log:`` -- the requests received inside the block."""
        log = RequestLog(self, self._next_seq())
        with self._lock:
            self._open_windows.add(log.start)
        try:
            yield log
        except BaseException:
            with contextlib.suppress(Exception):  # keep the block's own error
                log._freeze()
            raise
        else:
            log._freeze()
        finally:
            with self._lock:
                self._open_windows.discard(log.start)

    # -- S3 helpers (boto3, signed) -----------------------------------------------------------
    @property
    def client(self) -> Any:
        """A boto3 S3 client for this server, signed with its credentials."""
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                assert self.credentials is not None
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=REGION,
                    aws_access_key_id=self.credentials.key,
                    aws_secret_access_key=self.credentials.secret,
                    config=Config(proxies={}, retries={"max_attempts": 2, "mode": "standard"}),
                )
            return self._client

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"test-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=name)
        return name

    def empty_bucket(self, name: str) -> None:
        """Delete every object version, delete marker and pending multipart upload."""
        from botocore.exceptions import ClientError

        client = self.client
        try:
            for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
                objects = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                for i in range(0, len(objects), 1000):
                    client.delete_objects(
                        Bucket=name, Delete={"Objects": objects[i : i + 1000], "Quiet": True}
                    )
            for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
                for upload in page.get("Uploads", []):
                    client.abort_multipart_upload(
                        Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise

    def delete_bucket(self, name: str) -> None:
        """Empty and delete ``name``; no error if it does not exist."""
        from botocore.exceptions import ClientError

        self.empty_bucket(name)
        try:
            self.client.delete_bucket(Bucket=name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise

    def bucket_names(self) -> list[str]:
        return [b["Name"] for b in self.client.list_buckets().get("Buckets", [])]


class S3TestServer:
    """The two moto servers of a test session (see the module docstring).

    The request log (:attr:`requests`, :meth:`count`, :meth:`clear_requests`) is the auth
    server's; the public server has its own at ``.public.count()`` etc.
    """

    public_bucket = PUBLIC_BUCKET
    region = REGION

    def __init__(self) -> None:
        self.auth = MotoS3Server("auth")
        self.public = MotoS3Server("public")

    def start(self) -> S3TestServer:
        try:
            self.auth.launch()
            self.public.launch()
            self.auth.wait_ready()
            self.public.wait_ready()
            self._seed_public()
            self.public.clear_requests()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        self.auth.stop()
        self.public.stop()

    # -- addresses and credentials ------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return self.auth.endpoint_url

    @property
    def public_endpoint_url(self) -> str:
        return self.public.endpoint_url

    @property
    def credentials(self) -> Credentials:
        """Key id and secret of the IAM user (admin policy) of the auth server."""
        assert self.auth.credentials is not None
        return self.auth.credentials

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options for the auth server, with the valid credentials."""
        key, secret = self.credentials
        return {"endpoint_url": self.endpoint_url, "key": key, "secret": secret}

    @property
    def bad_storage_options(self) -> dict[str, Any]:
        """As :attr:`storage_options` but with a wrong secret (403 SignatureDoesNotMatch)."""
        return {**self.storage_options, "secret": "wrong-" + self.credentials.secret}

    @property
    def anon_options(self) -> dict[str, Any]:
        """fsspec/s3fs options for anonymous access to the public server."""
        return {"endpoint_url": self.public_endpoint_url, "anon": True}

    @property
    def public_writer_options(self) -> dict[str, Any]:
        """Signed options for the public server (it accepts any signed request)."""
        key, secret = self.credentials
        return {"endpoint_url": self.public_endpoint_url, "key": key, "secret": secret}

    # -- request log of the auth server -------------------------------------------------------
    @property
    def requests(self) -> list[S3Request]:
        return self.auth.requests

    def count(self) -> contextlib.AbstractContextManager[RequestLog]:
        return self.auth.count()

    def clear_requests(self) -> None:
        self.auth.clear_requests()
        self.public.clear_requests()

    # -- buckets ------------------------------------------------------------------------------
    def create_bucket(self, name: str | None = None) -> str:
        return self.auth.create_bucket(name)

    def delete_bucket(self, name: str) -> None:
        self.auth.delete_bucket(name)

    def _seed_public(self) -> None:
        client = self.public.client
        if PUBLIC_BUCKET not in self.public.bucket_names():
            client.create_bucket(Bucket=PUBLIC_BUCKET)
        for key, body in PUBLIC_SEED.items():
            client.put_object(Bucket=PUBLIC_BUCKET, Key=key, Body=body)
        # HeadObject is no IAM action, but moto checks "s3:HeadObject" for an anonymous HEAD.
        statement = [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:HeadObject"],
                "Resource": f"arn:aws:s3:::{PUBLIC_BUCKET}/*",
            },
            {
                "Sid": "PublicList",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{PUBLIC_BUCKET}",
            },
        ]
        client.put_bucket_policy(
            Bucket=PUBLIC_BUCKET,
            Policy=json.dumps({"Version": "2012-10-17", "Statement": statement}),
        )

    def reset(self) -> None:
        """Delete every bucket of the auth server, restore the public server to its seed."""
        for name in self.auth.bucket_names():
            self.auth.delete_bucket(name)
        for name in self.public.bucket_names():
            self.public.delete_bucket(name)
        self._seed_public()
        self.clear_requests()
        forget_s3fs_listings()


# ---------------------------------------------------------------------------------------------
# server-process side
# ---------------------------------------------------------------------------------------------
_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>ngffstore-test</RequestId></Error>"
)


_raw_request = threading.local()  # the request-target (path?query) as the client sent it


def _patch_moto_signature_check() -> None:  # pragma: no cover - runs in the subprocess
    """Make moto check SigV4 signatures against the request-target as sent.

    moto rebuilds the URL to sign from werkzeug's ``request.url``, an IRI in which werkzeug
    has decoded escapes like ``%2F``; so any signed request with such a query
    (``ListObjectsV2 ?prefix=a%2F&delimiter=%2F``, i.e. every ``s3fs.ls``) fails with
    ``SignatureDoesNotMatch`` (getmoto/moto#5948). The middleware stores the raw target per
    request thread; the canonical request is computed from it, as AWS does.
    """
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase._create_aws_request

    def _create_aws_request(self: Any) -> Any:
        request = original(self)
        raw = getattr(_raw_request, "target", None)
        if raw:
            request.url = raw
        return request

    IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]


class _RecordingApp:
    """WSGI middleware around moto: records requests, rejects disallowed anonymous ones."""

    def __init__(self, app: Any, mode: str):
        self.app = app
        self.mode = mode
        self.lock = threading.Lock()
        # moto checks If-Match / If-None-Match and then stores the object without a lock, so two
        # conditional PUTs racing on one key could both succeed; S3 makes the pair atomic. The
        # conditional PUTs are therefore served one at a time.
        self.conditional_lock = threading.Lock()
        self.rows: dict[int, list[Any]] = {}
        self.next_seq = 0

    @staticmethod
    def _is_signed(environ: dict[str, Any], query: str) -> bool:
        if environ.get("HTTP_AUTHORIZATION"):
            return True
        params = {k.lower() for k, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)}
        return bool(params & {"x-amz-signature", "signature", "awsaccesskeyid"})

    def _json(self, start_response: Any, payload: Any) -> list[bytes]:
        body = json.dumps(payload).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _control(self, environ: dict[str, Any], start_response: Any, name: str) -> list[bytes]:
        params = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
        with self.lock:
            if name == "seq":
                return self._json(start_response, {"next": self.next_seq})
            if name == "requests":
                since = int(params.get("since", 0))
                rows = [list(row) for seq, row in sorted(self.rows.items()) if seq >= since]
                return self._json(start_response, {"next": self.next_seq, "requests": rows})
            if name == "trim":
                before = int(params.get("before", 0))
                for seq in [s for s in self.rows if s < before]:
                    del self.rows[seq]
                return self._json(start_response, {"kept": len(self.rows)})
        start_response("404 Not Found", [("Content-Length", "0")])
        return []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        _raw_request.target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        raw_path = environ.get("PATH_INFO", "")
        # WSGI gives the decoded path as latin-1 text; S3 keys are UTF-8.
        path = raw_path.encode("latin-1").decode("utf-8", errors="replace")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path[len(CONTROL_PREFIX) :])
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)

        method = environ.get("REQUEST_METHOD", "GET").upper()
        query = environ.get("QUERY_STRING", "")
        kind, bucket, key = classify(method, path, query)
        anonymous = not self._is_signed(environ, query)
        with self.lock:
            seq = self.next_seq
            self.next_seq += 1
            row = [method, path, query, kind, bucket, key, None, anonymous, seq]
            self.rows[seq] = row

        if anonymous and (self.mode == "auth" or method not in _READ_METHODS):
            with self.lock:
                row[6] = 403
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(_ACCESS_DENIED)))],
            )
            return [] if method == "HEAD" else [_ACCESS_DENIED]

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            with self.lock:
                row[6] = int(status.split(" ", 1)[0])
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        if method == "PUT" and (environ.get("HTTP_IF_MATCH") or environ.get("HTTP_IF_NONE_MATCH")):
            with self.conditional_lock:
                return list(self.app(environ, recording_start_response))
        return self.app(environ, recording_start_response)


def _serve(mode: str) -> None:  # pragma: no cover - runs in the subprocess
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines

    import boto3
    from botocore.config import Config
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    # Die with the test process: it holds our stdin open and never writes to it.
    def watch_parent() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()

    _patch_moto_signature_check()
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")  # no auth during setup
    app = _RecordingApp(DomainDispatcherApplication(create_backend_app), mode)
    server = make_server(HOST, 0, app, threaded=True)
    port = server.server_port
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()

    endpoint = f"http://{HOST}:{port}"
    key, secret = SETUP_KEY, SETUP_SECRET
    if mode == "auth":
        iam = boto3.session.Session().client(
            "iam",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=SETUP_KEY,
            aws_secret_access_key=SETUP_SECRET,
            config=Config(proxies={}),
        )
        iam.create_user(UserName="ngffstore-test")
        iam.put_user_policy(
            UserName="ngffstore-test",
            PolicyName="admin",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        access_key = iam.create_access_key(UserName="ngffstore-test")["AccessKey"]
        key, secret = access_key["AccessKeyId"], access_key["SecretAccessKey"]
        iam.close()
        # What POST /moto-api/reset-auth with "0" does: authenticate every request from now on.
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
    with app.lock:
        app.rows.clear()

    sys.stdout.write(json.dumps({"port": port, "key": key, "secret": secret}) + "\n")
    sys.stdout.flush()
    threading.Event().wait()  # serve until the watchdog or a signal ends the process


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["auth", "public"], required=True)
    _serve(parser.parse_args().mode)
