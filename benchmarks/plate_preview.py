"""Plate preview benchmark: a whole-plate overview with and without the stored preview, and
ome-zarr-py reading the same plate, on a moto S3 server (requests counted at the server).

A 384-well plate (16 x 24) of FIELDS fields per well (default 4) of small 2-channel SIZE x SIZE
uint16 fields (default 64, 2 levels) is written with ``write_plate`` (which stores the preview)
to local disk and copied to S3 in one batch. Then, each reader in a fresh process (imports not
timed), the overview is computed:

* ``ngffstore, per field``: ``open_plate(url).grid(T, preview=False)`` — every field read from
  its level that fits T (the preview's tile), the path without a preview;
* ``ngffstore, preview``: ``open_plate(url).grid(T)`` — the stored preview;
* ``ome-zarr-py``: ``Reader(parse_url(url))`` then ``node.data[-1]`` (its plate reader shows field
  0 of each well, at the lowest level);

and the maintenance commands: ``plate preview URL --check`` (the full freshness check) and
``plate preview URL --force`` (a rebuild on S3). Prints a table: requests by kind, total, wall
time, and the ratio of per-field to preview requests (target: at least 50x).

    python benchmarks/plate_preview.py                 # 384 wells x 4 fields x 64^2
    python benchmarks/plate_preview.py --fields 1 --size 128

Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)


import plate as plate_benchmark  # benchmarks/ is sys.path[0] when run as a script
from plate import (  # benchmarks/ is sys.path[0] when run as a script
    env_for,
    options_for,
    start_server,
)


def _options() -> dict:
    return {"endpoint_url": os.environ["AWS_ENDPOINT_URL"], "key": os.environ["AWS_ACCESS_KEY_ID"],
            "secret": os.environ["AWS_SECRET_ACCESS_KEY"]}


def read_ngffstore(url: str, out: str, mode: str, tile: int) -> float:
    from ngffstore.plate import open_plate

    t0 = time.perf_counter()
    plate = open_plate(url, storage_options=_options())
    mosaic = plate.grid(tile, preview=(mode == "preview") or False)
    data = mosaic.compute()
    seconds = time.perf_counter() - t0
    np.save(out, data)
    return seconds


def read_ome_zarr(url: str, out: str, mode: str, tile: int) -> float:
    """ome-zarr-py's plate reader (field 0 of each well, lowest level), as benchmarks/plate.py runs it."""
    return plate_benchmark.read_ome_zarr(url, out, "0")


def run_cli(url: str, out: str, mode: str, tile: int) -> float:
    from ngffstore.cli import main

    args = ["plate", "preview", url, "--endpoint-url", os.environ["AWS_ENDPOINT_URL"], "--no-progress"]
    args.append("--check" if mode == "check" else "--force")
    t0 = time.perf_counter()
    main(args)
    return time.perf_counter() - t0


def child(tool: str, url: str, out: str, mode: str, tile: str) -> None:
    import dask  # noqa: F401  - imports are not timed
    import s3fs  # noqa: F401
    import zarr  # noqa: F401

    import ngffstore.plate  # noqa: F401

    fn = {"ngffstore": read_ngffstore, "ome-zarr-py": read_ome_zarr, "cli": run_cli}[tool]
    print(json.dumps({"seconds": fn(url, out, mode, int(tile))}))


def timed(server, tool: str, url: str, out: str, mode: str, tile: int) -> dict:
    with server.count() as log:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", tool, url, out, mode, str(tile)],
            env=env_for(server), capture_output=True, text=True, check=False,
        )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise SystemExit(f"{tool} {mode} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["requests"] = log.counts()
    result["total"] = len(log)
    return result


def make_fields(n_fields: int, size: int) -> list:
    from ngffstore.plate.names import row_letters

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for r in range(16):
        for c in range(24):
            for f in range(n_fields):
                base = (np.sin(yy / (3 + r) + f) + np.cos(xx / (3 + c))) * 500 + 1500
                a = np.stack([base, base[::-1] * 0.5 + 200 * f]) + rng.integers(0, 50, (2, size, size))
                out.append((row_letters(r), c + 1, f, a.astype(np.uint16)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fields", type=int, default=4, help="fields per well (default 4)")
    parser.add_argument("--size", type=int, default=64, help="field edge in pixels (default 64)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    from ngffstore.plate import write_plate

    server = start_server()
    try:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            local = os.path.join(tmp, "plate.zarr")
            t0 = time.perf_counter()
            fields = make_fields(args.fields, args.size)
            summary = write_plate(fields, local, axes="cyx", rows=16, columns=24, min_size=args.size // 2,
                                  progress=True, scheduler="threads")
            built = time.perf_counter() - t0
            from ngffstore.plate import open_plate

            reg = open_plate(local).preview
            tile = max(reg.tile)
            import s3fs

            bucket = server.create_bucket("plate")
            t0 = time.perf_counter()
            s3fs.S3FileSystem(**options_for(server)).put(local, f"{bucket}/plate.zarr", recursive=True)
            print(f"plate: 384 wells x {args.fields} fields of 2x{args.size}x{args.size} uint16, levels "
                  f"{summary.levels}; write_plate (with its preview) to local disk {built:.0f} s, copied to S3 in "
                  f"{time.perf_counter() - t0:.0f} s; preview tile {reg.tile}, levels "
                  f"{[lv['shape'] for lv in reg.levels]}")
            url = f"s3://{bucket}/plate.zarr"
            rows = {}
            for name, tool, mode in (
                ("ngffstore, per field", "ngffstore", "fields"),
                ("ngffstore, preview", "ngffstore", "preview"),
                ("ome-zarr-py (field 0 per well)", "ome-zarr-py", "-"),
                ("plate preview --check", "cli", "check"),
                ("plate preview --force (rebuild on S3)", "cli", "force"),
            ):
                out = os.path.join(tmp, f"{tool}-{mode}.npy")
                rows[name] = timed(server, tool, url, out, mode, tile)
                rows[name]["out"] = out
            a = np.load(rows["ngffstore, per field"]["out"])
            b = np.load(rows["ngffstore, preview"]["out"])
            print(f"\noverview {a.shape} {a.dtype}; preview equals per-field reads: {np.array_equal(a, b)} "
                  f"(max abs difference {int(np.abs(a.astype(np.int64) - b).max())})")
            print(f"\n{'reader':<40} {'requests':>9} {'GET':>7} {'other':>18} {'seconds':>8}")
            for name, r in rows.items():
                kinds = dict(r["requests"])
                gets = kinds.pop("GET", 0)
                other = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "-"
                print(f"{name:<40} {r['total']:>9} {gets:>7} {other:>18} {r['seconds']:>8.2f}")
            ratio = rows["ngffstore, per field"]["total"] / max(rows["ngffstore, preview"]["total"], 1)
            print(f"\nper-field / preview requests: {ratio:.0f}x (target >= 50x)")
    finally:
        server.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        main()
