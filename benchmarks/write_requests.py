"""Requests the write commands send to object storage, counted at a local moto S3 server.

    python benchmarks/write_requests.py                # convert, labels add, plate 12 wells x 2 fields
    python benchmarks/write_requests.py --wells 96     # the issue's 96-well plate

The input is the issue's: a 2-channel 2048x2048 uint16 TIFF, chunks 1024 (14 chunk objects at
levels 0-3); the label is a uint32 2048x2048 TIFF; plate fields are 256x256 uint16. The CLI runs
in this process (``ngffstore.cli.main``) against the moto server of ``tests/s3server.py``.
Not run by CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE)]  # the checkout first: tests/converters is a namespace package
sys.path.append(os.path.join(HERE, "..", "tests"))


def _row(name: str, log, chunk_prefix: str | None = None, n_fields: int = 1) -> str:
    kinds = Counter(r.kind for r in log.requests)
    chunk_puts = [r for r in log.requests if r.kind == "PUT" and "/c/" in (r.key or "")]  # v3 chunk keys
    total = len(log.requests)
    chunks = len(chunk_puts)
    other = total - chunks
    return (f"| {name} | {total} | {chunks} | {other / n_fields:.1f} | {kinds.get('HEAD', 0)} / {kinds.get('LIST', 0)} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + " |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wells", type=int, default=12)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    import tifffile
    from s3server import S3TestServer

    from ngffstore.cli import main as cli

    server = S3TestServer().start()
    try:
        bucket = server.create_bucket()
        os.environ.update(
            AWS_ACCESS_KEY_ID=server.credentials.key, AWS_SECRET_ACCESS_KEY=server.credentials.secret,
            AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=server.endpoint_url,
        )
        work = tempfile.mkdtemp()
        rng = np.random.default_rng(0)
        image = rng.integers(0, 4000, (2, 2048, 2048), dtype=np.uint16)
        tifffile.imwrite(f"{work}/img.tif", image, metadata={"axes": "CYX"})
        label = (rng.integers(0, 5, (2048, 2048)) * (np.arange(2048)[None, :] // 512 + 1)).astype(np.uint32)
        tifffile.imwrite(f"{work}/lab.tif", label)
        rows = ["| command | requests | chunk objects | other requests (per field) | HEAD / LIST | by kind |",
                "|---|---|---|---|---|---|"]
        url = f"s3://{bucket}/cells.ome.zarr"
        with server.count() as log:
            assert cli(["convert", f"{work}/img.tif", url, "--chunks", "1024", "--no-progress"]) == 0
        rows.append(_row("convert", log))
        if args.verbose:
            print(log.summary())
        with server.count() as log:
            assert cli(["labels", "add", url, f"{work}/lab.tif", "--name", "cells", "--no-progress"]) == 0
        rows.append(_row("labels add", log))
        if args.verbose:
            print(log.summary())
        # plate: wells x 2 fields of 256x256
        letters = "ABCDEFGH"
        manifest = [("well", "field", "path")]
        n = 0
        for w in range(args.wells):
            for f in range(2):
                p = f"{work}/f{n}.tif"
                tifffile.imwrite(p, rng.integers(0, 4000, (256, 256), dtype=np.uint16))
                manifest.append((f"{letters[w // 12]}{w % 12 + 1:02d}", str(f), p))
                n += 1
        with open(f"{work}/manifest.csv", "w") as fh:
            fh.write("\n".join(",".join(r) for r in manifest) + "\n")
        with server.count() as log:
            assert cli(["plate", f"s3://{bucket}/plate.ome.zarr", "--manifest", f"{work}/manifest.csv", "--no-progress"]) == 0
        rows.append(_row(f"plate build ({args.wells} wells x 2 fields)", log, n_fields=n))
        if args.verbose:
            print(log.summary())
        print("\n".join(rows))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
