"""A static HTTP host for the tests, as a CDN or S3 static website serves a published store.

:class:`StaticHTTPServer` serves one directory on 127.0.0.1 (a port chosen by the OS) from a
daemon thread of the test process:

* ``GET`` and ``HEAD`` of files, with ``Range: bytes=a-b`` / ``a-`` / ``-n`` (206 + Content-Range;
  416 for a range past the end), unless ``ranges=False`` (then a Range header gets the whole
  object with 200, as some hosts do);
* **no listings**: a folder is answered like a missing object;
* a missing object gets ``missing_status`` (403 by default, as S3 without ``s3:ListBucket``
  and most CDNs answer; 404 on request);
* every request is recorded (method, path, status, range) under a lock: ``count()`` gives the
  requests made inside a ``with`` block, as ``tests/s3server.py`` does for S3.

Only ``GET``/``HEAD`` are served; anything else gets 405. The thread stops when the server is
stopped (``stop()``, the fixture does it) or when the test process ends (daemon thread).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple, Self

HOST = "127.0.0.1"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class HTTPRequest(NamedTuple):
    method: str
    path: str
    status: int
    range: str | None


class RequestLog:
    """The requests received inside a ``with server.count() as log:`` block."""

    def __init__(self, server: StaticHTTPServer, start: int):
        self._server = server
        self.start = start
        self._frozen: list[HTTPRequest] | None = None

    @property
    def requests(self) -> list[HTTPRequest]:
        if self._frozen is not None:
            return list(self._frozen)
        return self._server.requests[self.start :]

    def count(self, method: str | None = None, *, status: int | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper()) and (status is None or r.status == status)
        )

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method.upper()]

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.method for r in self.requests))

    def summary(self) -> str:
        return "\n".join(f"{r.method} {r.path} {r.status} {r.range or ''}".rstrip() for r in self.requests)

    def __len__(self) -> int:
        return len(self.requests)


class StaticHTTPServer:
    """Serve ``root`` read-only over HTTP on 127.0.0.1 (see the module documentation)."""

    def __init__(self, root: str, *, missing_status: int = 403, ranges: bool = True):
        self.root = os.path.abspath(root)
        self.missing_status = missing_status
        self.ranges = ranges
        self._log: list[HTTPRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifetime ---------------------------------------------------------------------------
    def start(self) -> StaticHTTPServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer((HOST, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
            name="ngffstore-test-http",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the server is not running"
        return f"http://{HOST}:{self._httpd.server_address[1]}"

    def url_of(self, relative: str) -> str:
        return f"{self.url}/{relative.strip('/')}"

    # -- request log ------------------------------------------------------------------------
    @property
    def requests(self) -> list[HTTPRequest]:
        with self._lock:
            return list(self._log)

    def _record(self, request: HTTPRequest) -> None:
        with self._lock:
            self._log.append(request)

    @contextlib.contextmanager
    def count(self) -> Iterator[RequestLog]:
        with self._lock:
            start = len(self._log)
        log = RequestLog(self, start)
        try:
            yield log
        finally:
            log._frozen = self.requests[start:]


def _make_handler(server: StaticHTTPServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _file(self) -> str | None:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            full = os.path.normpath(os.path.join(server.root, path.lstrip("/")))
            if not (full == server.root or full.startswith(server.root + os.sep)):
                return None
            return full if os.path.isfile(full) else None  # folders: no listing

        def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
            # recorded before answering: a client that has its answer finds its request counted
            server._record(HTTPRequest(self.command, self.path, status, self.headers.get("Range")))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _serve(self, head: bool) -> None:
            path = self._file()
            if path is None:
                status = server.missing_status
                body = b"<Error><Code>AccessDenied</Code></Error>" if status == 403 else b"Not Found"
                self._send(status, body, {"Content-Type": "application/xml"}, head)
                return
            with open(path, "rb") as f:
                data = f.read()
            size = len(data)
            # a page, script or stylesheet with its type (as a static website serves them), the rest as bytes
            kind = _TYPES.get(os.path.splitext(path)[1].lower(), "application/octet-stream")
            headers = {"Content-Type": kind, "ETag": f'"{size}-{os.stat(path).st_mtime_ns}"'}
            if server.ranges:
                headers["Accept-Ranges"] = "bytes"
            wanted = self.headers.get("Range")
            if wanted and server.ranges:
                match = _RANGE.match(wanted.strip())
                if match is None or match.groups() == ("", ""):
                    self._send(416, b"", {"Content-Range": f"bytes */{size}"}, head)
                    return
                first, last = match.groups()
                if first == "":
                    start, stop = max(0, size - int(last)), size
                else:
                    start = int(first)
                    stop = min(size, int(last) + 1) if last else size
                if start >= size or start >= stop:
                    self._send(416, b"", {"Content-Range": f"bytes */{size}"}, head)
                    return
                headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
                self._send(206, data[start:stop], headers, head)
                return
            self._send(200, data, headers, head)

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _refuse(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._send(405, b"read-only", {}, head=False)

        do_PUT = do_POST = do_DELETE = _refuse

    return Handler
