"""Plate build and overview on object storage with a real region's latency: ngffstore vs ome-zarr-py.

A small HTTP proxy on 127.0.0.1 sits in front of a moto S3 server (``tests/s3server.py``) and
holds every request for ``--latency`` ms (default 20, about what one request to a bucket in
the same region costs) before forwarding it. Both tools then, in the same run:

* **build** the same plate of WELLS x FIELDS fields (2-channel SIZE x SIZE uint16, default 96 x
  2 x 256^2): ngffstore ``write_plate``; ome-zarr-py ``write_image`` per field into its well
  group, then ``write_well_metadata`` per well and ``write_plate_metadata`` (its documented way);
* **read the plate overview** in a fresh process: ngffstore ``open_plate(url).grid(level=-1)``
  (``grid(64)``: every field at 64 px, served by the stored plate preview) and ``grid(level=-1, fields=[0])`` (field 0
  of every well, read field by field), and ome-zarr-py's ``Reader`` (plate node, ``data[-1]``:
  field 0 of every well);

and prints wall time, the requests the server saw (per kind) and requests per field beyond
the chunk objects. Targets (issue "one storage layer"): at most 12 requests per field beyond
its chunk objects, build at least 3x and overview at least 5x faster than ome-zarr-py.

    python benchmarks/s3_latency.py                       # 96 wells x 2 fields x 256^2, 20 ms
    python benchmarks/s3_latency.py --wells 12 --latency 50

Not run by CI.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)


# -- the latency proxy ------------------------------------------------------------------------


class LatencyProxy:
    """Forward HTTP requests to ``target`` (host, port) after ``latency`` seconds each."""

    def __init__(self, target: tuple[str, int], latency: float):
        self.target, self.latency = target, latency
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(proxy.latency)
                conn = getattr(self, "_upstream", None)
                if conn is None:
                    conn = self._upstream = http.client.HTTPConnection(*proxy.target, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                except (ConnectionError, http.client.HTTPException):
                    conn.close()
                    conn = self._upstream = http.client.HTTPConnection(*proxy.target, timeout=120)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- inputs -----------------------------------------------------------------------------------


def wells_of(n: int) -> list[tuple[str, int]]:
    rows, cols = (8, 12) if n <= 96 else (16, 24)
    return [(chr(ord("A") + r), c + 1) for r in range(rows) for c in range(cols)][:n]


def field_data(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(100, 400, size=(2, size, size), dtype=np.uint16)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(12):
        cy, cx, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(6, 20))]
        base[:, (yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += 2000
    return base


# -- the builds -------------------------------------------------------------------------------


def build_ngffstore(url: str, options: dict, wells: list[tuple[str, int]], fields: int, size: int) -> float:
    from ngffstore.plate import write_plate

    plate_fields = [
        (row, col, f, field_data(size, i * fields + f))
        for i, (row, col) in enumerate(wells)
        for f in range(fields)
    ]
    t0 = time.perf_counter()
    write_plate(plate_fields, url, axes="cyx", storage_options=options, progress=False)
    return time.perf_counter() - t0


def build_ome_zarr(url: str, options: dict, wells: list[tuple[str, int]], fields: int, size: int) -> float:
    import zarr
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata
    from zarr.storage import FsspecStore

    data = {(row, col, f): field_data(size, i * fields + f) for i, (row, col) in enumerate(wells) for f in range(fields)}
    t0 = time.perf_counter()
    store = FsspecStore.from_url(url, storage_options=options)
    root = zarr.open_group(store, mode="w")
    rows = sorted({r for r, _ in wells})
    cols = sorted({str(c) for _, c in wells}, key=int)
    for row, col in wells:
        well = root.require_group(row).require_group(str(col))
        for f in range(fields):
            image = well.require_group(str(f))
            write_image(data[(row, col, f)], image, axes="cyx")
        write_well_metadata(well, [{"path": str(f)} for f in range(fields)])
    write_plate_metadata(root, rows, cols, [f"{r}/{c}" for r, c in wells])
    return time.perf_counter() - t0


# -- the overview readers (each in a fresh process) ---------------------------------------------


def read_ngffstore(url: str, options: dict, fields: list[int] | None = None) -> tuple[float, tuple[int, ...]]:
    import ngffstore.plate as plates

    t0 = time.perf_counter()
    plate = plates.open_plate(url, storage_options=options)
    # every field at 64 px (ome-zarr-py's lowest level here is 16 px): the stored preview serves it
    grid = plate.grid(64) if fields is None else plate.grid(level=-1, fields=fields)
    data = grid.compute()
    return time.perf_counter() - t0, tuple(np.asarray(data).shape)


def read_ome_zarr(url: str, options: dict) -> tuple[float, tuple[int, ...]]:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    t0 = time.perf_counter()
    nodes = list(Reader(parse_url(url))())
    data = np.asarray(nodes[0].data[-1].compute())
    return time.perf_counter() - t0, tuple(data.shape)


def child(tool: str, url: str) -> None:
    import dask.array  # noqa: F401  - imports are not timed
    import s3fs  # noqa: F401
    import zarr  # noqa: F401

    options = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"], "key": os.environ["AWS_ACCESS_KEY_ID"],
               "secret": os.environ["AWS_SECRET_ACCESS_KEY"]}
    fn = {
        "ngffstore": read_ngffstore,  # every field, from the stored plate preview
        "ngffstore-field0": lambda u, o: read_ngffstore(u, o, [0]),  # field 0 of each well, per field
        "ome-zarr-py": read_ome_zarr,  # field 0 of each well
    }[tool]
    seconds, shape = fn(url, options)
    print(json.dumps({"seconds": seconds, "shape": shape}))


def env_for(endpoint: str, key: str, secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONPATH=os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]),
    )
    return env


def chunk_objects(log) -> int:
    """PUTs of chunk objects (keys with a ``c/`` chunk path or a v2 ``0.0.0``-style key)."""
    n = 0
    for r in log:
        if r.method != "PUT" or not r.key:
            continue
        leaf = r.key.rsplit("/", 1)[-1]
        if "/c/" in r.key or (leaf and all(p.isdigit() for p in leaf.split("."))):
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=96)
    parser.add_argument("--fields", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--latency", type=float, default=20.0, help="milliseconds added to every request")
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from s3server import MotoS3Server

    wells = wells_of(args.wells)
    n_fields = len(wells) * args.fields
    server = MotoS3Server("public")
    server.launch()
    server.wait_ready()
    key, secret = server.credentials
    host, port = server.endpoint_url.split("//", 1)[1].split(":")
    try:
        with LatencyProxy((host, int(port)), args.latency / 1000.0) as proxy:
            options = {"endpoint_url": proxy.url, "key": key, "secret": secret}
            rows = []
            for tool, build in (("ngffstore", build_ngffstore), ("ome-zarr-py", build_ome_zarr)):
                bucket = server.create_bucket(f"lat-{tool.replace('-', '')}")
                url = f"s3://{bucket}/plate.zarr"
                with server.count() as log:
                    seconds = build(url, options, wells, args.fields, args.size)
                chunks = chunk_objects(log)
                for reader in ([tool, "ngffstore-field0"] if tool == "ngffstore" else [tool]):
                    with server.count() as rlog:
                        proc = subprocess.run(
                            [sys.executable, __file__, "--child", reader, url],
                            env=env_for(proxy.url, key, secret), capture_output=True, text=True, check=False,
                        )
                    if proc.returncode:
                        raise SystemExit(f"{reader} overview failed:\n{proc.stderr[-3000:]}")
                    read = json.loads(proc.stdout.strip().splitlines()[-1])
                    rows.append((reader, seconds, len(log), chunks, log.counts(), read, len(rlog), rlog.counts()))
    finally:
        server.stop()

    print(f"\n{len(wells)} wells x {args.fields} fields of 2 x {args.size}^2 uint16, "
          f"{args.latency:.0f} ms per request ({os.cpu_count()} cores)")
    print(f"{'tool':<17} {'build s':>8} {'requests':>9} {'chunks':>7} {'beyond/field':>13}  "
          f"{'overview s':>10} {'requests':>9}")
    for tool, seconds, total, chunks, counts, read, rtotal, rcounts in rows:
        print(f"{tool:<17} {seconds:8.1f} {total:9d} {chunks:7d} {(total - chunks) / n_fields:13.1f}  "
              f"{read['seconds']:10.2f} {rtotal:9d}   build {counts}  overview {rcounts}")
    ours, field0, theirs = rows[0], rows[1], rows[2]
    print(f"build: ngffstore {theirs[1] / ours[1]:.1f}x faster than ome-zarr-py (target >= 3x); "
          f"overview: {theirs[5]['seconds'] / ours[5]['seconds']:.1f}x faster from the preview, "
          f"{theirs[5]['seconds'] / field0[5]['seconds']:.1f}x field by field (target >= 5x); "
          f"requests per field beyond chunks: {(ours[2] - ours[3]) / n_fields:.1f} (target <= 12)")


if __name__ == "__main__":
    main()
