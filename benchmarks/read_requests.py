"""Requests the read commands send, counted at a local moto S3 server and a static HTTP host.

    python benchmarks/read_requests.py            # the table of issue 15 (reads)
    python benchmarks/read_requests.py --verbose  # and every request

The image is the issue's: a 2-channel 2048x2048 uint16 TIFF converted with chunks 1024 (14 chunk
objects at levels 0-3), then indexed. The plate is a 6-well (2 x 3) plate of 2 fields of 256x256.
The same store is copied to a folder served by ``tests/httpserver.py`` (Range support, no
listings, 403 for a missing object, as a CDN). The CLI runs in this process
(``ngffstore.cli.main``); its output is discarded. Not run by CI.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
from collections import Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), os.path.join(HERE, "..", "tests")]  # the checkout before tests/converters


def _row(name: str, kinds: Counter, code: int) -> str:
    total = sum(kinds.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    return f"| {name} | {total} | {kinds.get('HEAD', 0)} / {kinds.get('LIST', 0)} | {detail} | {code} |"


def _run(cli, argv: list[str]) -> int:
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli(argv)
    except SystemExit as exc:  # argparse
        raise RuntimeError(f"{argv}: {err.getvalue()}") from exc
    if code and argv[0] in ("convert", "plate") or code and argv[:1] == ["index"] and len(argv) == 2:
        raise RuntimeError(f"{argv}: {err.getvalue()}")
    return code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    import tifffile
    from httpserver import StaticHTTPServer
    from s3server import S3TestServer

    from ngffstore.cli import main as cli

    server = S3TestServer().start()
    work = tempfile.mkdtemp()
    try:
        bucket = server.create_bucket()
        os.environ.update(
            AWS_ACCESS_KEY_ID=server.credentials.key, AWS_SECRET_ACCESS_KEY=server.credentials.secret,
            AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=server.endpoint_url,
        )
        rng = np.random.default_rng(0)
        image = rng.integers(0, 4000, (2, 2048, 2048), dtype=np.uint16)
        tifffile.imwrite(f"{work}/img.tif", image, metadata={"axes": "CYX"})
        manifest = [("well", "field", "path")]
        n = 0
        for w in range(6):
            for f in range(2):
                p = f"{work}/f{n}.tif"
                tifffile.imwrite(p, rng.integers(0, 4000, (256, 256), dtype=np.uint16))
                manifest.append((f"{'AB'[w // 3]}{w % 3 + 1:02d}", str(f), p))
                n += 1
        with open(f"{work}/manifest.csv", "w") as fh:
            fh.write("\n".join(",".join(r) for r in manifest) + "\n")
        local = f"{work}/store"
        assert _run(cli, ["convert", f"{work}/img.tif", f"{local}/cells.ome.zarr", "--chunks", "1024", "--no-progress"]) == 0
        assert _run(cli, ["plate", f"{local}/plate.ome.zarr", "--manifest", f"{work}/manifest.csv", "--no-progress"]) == 0
        assert _run(cli, ["index", local]) == 0
        # the same bytes on S3 (one PUT per file, nothing else)
        fs = __import__("s3fs").S3FileSystem(**server.storage_options)
        for dirpath, _, files in os.walk(local):
            for name in files:
                full = os.path.join(dirpath, name)
                fs.put_file(full, f"{bucket}/store/{os.path.relpath(full, local)}")
        http = StaticHTTPServer(local).start()
        s3 = f"s3://{bucket}/store"
        commands = [
            ("info", ["info", "{root}/cells.ome.zarr"]),
            ("validate", ["validate", "{root}/cells.ome.zarr"]),
            ("search", ["search", "{root}", 'channel == "c0"']),
            ("index --status", ["index", "{root}", "--status"]),
            ("validate (6-well plate)", ["validate", "{root}/plate.ome.zarr"]),
            ("thumbnail", ["thumbnail", "{root}/cells.ome.zarr", "-o", f"{work}/t.png", "--max-size", "256"]),
        ]
        rows = ["| command | requests | HEAD / LIST | by kind | exit |", "|---|---|---|---|---|"]
        for name, argv in commands:
            with server.count() as log:
                code = _run(cli, [a.format(root=s3) for a in argv])
            rows.append(_row(f"`{name}` on S3", Counter(r.kind for r in log.requests), code))
            if args.verbose:
                print(name, "S3\n" + log.summary())
            with http.count() as hlog:
                code = _run(cli, [a.format(root=http.url) for a in argv])
            rows.append(_row(f"`{name}` over HTTP", Counter(r.method for r in hlog.requests), code))
            if args.verbose:
                print(name, "HTTP\n" + hlog.summary())
        http.stop()
        print("\n".join(rows))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
