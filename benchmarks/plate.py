"""Plate benchmark: the whole-plate overview from S3, ngffstore vs ome-zarr-py, and the plate build.

A plate of WELLS wells x FIELDS fields of 2-channel SIZE x SIZE uint16 (default 96 x 4 x 1024,
realistic cell images, one TIFF per field and channel named ``B03_s1_w1.tif``) is built with
``write_plate`` on a moto S3 server on 127.0.0.1 (``tests/s3server.py``, auth off, so every
request is plain HTTP to a local Python server), then read back:

* overview: from a fresh process (imports not timed), open the plate and compute the mosaic of
  the lowest level — ngffstore ``open_plate(url).grid(level=-1)`` (every field, and field 0
  only), ome-zarr-py ``Reader(parse_url(url))`` then ``node.data[-1]`` (its plate reader shows
  field 0 of each well). Wall time and the S3 requests the server saw, per kind;
* build: ``write_plate`` (fields in parallel, one progress bar) against ``write_image`` on the
  same fields one after another (each with its default threaded scheduler), on S3 and on local
  disk, for the first ``--build-fields`` fields (default 24: moto stores ~50 objects/s, and each
  field is ~30 objects plus ~60 HEAD/LIST/GET). Each run writes to a bucket of its own (moto's
  listings slow down as a bucket fills up).

The plate that is read is written by ``write_plate`` to local disk and copied to S3 in one batch
(the same objects a direct build writes, in a fraction of the time).

    python benchmarks/plate.py                            # 96 wells x 4 fields x 1024^2
    python benchmarks/plate.py --wells 12 --fields 2 --size 512

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

PATTERN = "{well}_s{field}_w{channel}.tif"


# -- inputs -----------------------------------------------------------------------------------


def wells_of(n: int) -> list[str]:
    """The first ``n`` wells of a 96-well plate (384 beyond 96), row by row."""
    from ngffstore.plate.names import row_letters

    rows, cols = (8, 12) if n <= 96 else (16, 24)
    return [f"{row_letters(r)}{c + 1:02d}" for r in range(rows) for c in range(cols)][:n]


def make_inputs(folder: str, wells: list[str], fields: int, size: int) -> None:
    """One TIFF per field and channel; a few rendered cell images, shifted per field."""
    import tifffile

    from ngffstore.demo.samples import Cells, render_tile

    os.makedirs(folder, exist_ok=True)
    done = os.path.join(folder, ".complete")
    if os.path.exists(done):
        return
    bases = []
    for k in range(4):
        cells = Cells.random(size, size, seed=k)
        bases.append([render_tile(cells, c, 0, 0, size, size, height=size, width=size, seed=k) for c in range(2)])
    rng = np.random.default_rng(0)
    for well in wells:
        for s in range(1, fields + 1):
            k, dy, dx = int(rng.integers(4)), int(rng.integers(size)), int(rng.integers(size))
            for c in range(2):
                plane = np.roll(bases[k][c], (dy, dx), axis=(0, 1))
                tifffile.imwrite(os.path.join(folder, f"{well}_s{s}_w{c + 1}.tif"), plane)
    open(done, "w").close()


# -- the S3 server ------------------------------------------------------------------------------


def start_server():
    from s3server import MotoS3Server

    server = MotoS3Server("public")
    server.launch()
    server.wait_ready()
    return server


def options_for(server) -> dict:
    key, secret = server.credentials
    return {"endpoint_url": server.endpoint_url, "key": key, "secret": secret}


def env_for(server) -> dict:
    key, secret = server.credentials
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=server.endpoint_url, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONPATH=os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]),
    )
    return env


# -- the readers (each runs in a fresh process) ---------------------------------------------------


def read_ngffstore(url: str, out: str, fields: str) -> float:
    import ngffstore.plate as plates

    options = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"], "key": os.environ["AWS_ACCESS_KEY_ID"],
               "secret": os.environ["AWS_SECRET_ACCESS_KEY"]}
    t0 = time.perf_counter()
    plate = plates.open_plate(url, storage_options=options)
    mosaic = plate.grid(level=-1, fields=None if fields == "all" else [int(fields)])
    data = mosaic.compute()
    seconds = time.perf_counter() - t0
    np.save(out, data)
    return seconds


def read_ome_zarr(url: str, out: str, fields: str) -> float:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    t0 = time.perf_counter()
    nodes = list(Reader(parse_url(url))())
    data = np.asarray(nodes[0].data[-1].compute())
    seconds = time.perf_counter() - t0
    np.save(out, data)
    return seconds


def child(tool: str, url: str, out: str, fields: str) -> None:
    import dask  # noqa: F401  - imports are not timed
    import s3fs  # noqa: F401
    import zarr  # noqa: F401

    fn = {"ngffstore": read_ngffstore, "ome-zarr-py": read_ome_zarr}[tool]
    print(json.dumps({"seconds": fn(url, out, fields)}))


def timed_read(server, tool: str, url: str, out: str, fields: str = "all") -> dict:
    with server.count() as log:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", tool, url, out, fields],
            env=env_for(server), capture_output=True, text=True, check=False,
        )
    if proc.returncode:
        raise SystemExit(f"{tool} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["requests"] = log.counts()
    result["total"] = len(log)
    return result


# -- the builds ---------------------------------------------------------------------------------


def subset_input(folder: str, wells: list[str], fields: int, limit: int):
    """The first ``limit`` fields of the plate input (for the build comparison)."""
    from converters.plate import from_pattern

    plate_input = from_pattern(folder, PATTERN)
    keep = {(w, s) for w, s in [(w, s) for w in wells for s in range(1, fields + 1)][:limit]}
    plate_input.fields = [f for f in plate_input.fields
                          if (f"{f.row}{int(f.column):02d}", f.field) in keep]
    return plate_input


def build_plate(plate_input, url: str, options: dict | None, scheduler: str) -> float:
    from ngffstore.plate import write_plate

    t0 = time.perf_counter()
    write_plate(plate_input, url, storage_options=options, scheduler=scheduler, progress=False, overwrite=True)
    return time.perf_counter() - t0


def build_one_by_one(folder: str, base: str, options: dict | None, wells: list[str], fields: int, limit: int) -> float:
    """``write_image`` on each field in turn (its two channel files stacked), default scheduler."""
    import dask.array as da

    import converters
    import ngffstore

    jobs = [(w, s) for w in wells for s in range(1, fields + 1)][:limit]
    t0 = time.perf_counter()
    for well, s in jobs:
        planes = [converters.open_source(os.path.join(folder, f"{well}_s{s}_w{c}.tif")) for c in (1, 2)]
        ngffstore.write_image(da.stack([p.data for p in planes]), f"{base}/{well}/{s}", axes="cyx",
                              storage_options=options, progress=False, overwrite=True)
    return time.perf_counter() - t0


def compare_builds(server, folder: str, wells: list[str], fields: int, n: int, scheduler: str, tmp: str) -> None:
    """write_plate against write_image one field after another, on S3 and on local disk."""
    s3 = options_for(server)
    warm = server.create_bucket("warm-up")
    build_plate(subset_input(folder, wells, fields, 2), f"s3://{warm}/p", s3, scheduler)  # s3fs clients
    build_one_by_one(folder, f"s3://{warm}/f", s3, wells, fields, 1)
    rows = []
    for where in ("s3", "local"):
        if where == "s3":
            plate_url, fields_url, opts = f"s3://{server.create_bucket('build-plate')}/p", None, s3
            fields_url = f"s3://{server.create_bucket('build-fields')}/f"
        else:
            plate_url, fields_url, opts = os.path.join(tmp, "p.zarr"), os.path.join(tmp, "f"), None
        plate_s = build_plate(subset_input(folder, wells, fields, n), plate_url, opts, scheduler)
        seq_s = build_one_by_one(folder, fields_url, opts, wells, fields, n)
        rows.append((where, plate_s, seq_s))
    print(f"\nbuild of {n} fields ({os.cpu_count()} cores; write_plate scheduler {scheduler}):")
    for where, plate_s, seq_s in rows:
        print(f"  {where:<6} write_plate {plate_s:6.1f} s ({plate_s / n:.2f} s/field)   one by one {seq_s:6.1f} s "
              f"({seq_s / n:.2f} s/field)   plate / one-by-one = {plate_s / seq_s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=96)
    parser.add_argument("--fields", type=int, default=4)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--build-fields", type=int, default=24,
                        help="fields of the build comparison (moto takes ~1-2 s per field; default 24)")
    parser.add_argument("--scheduler", default="threads", help="scheduler of the plate build")
    parser.add_argument("--workdir", default=os.path.join(HERE, "out", "plate"))
    parser.add_argument("--child", nargs=4, metavar=("TOOL", "URL", "OUT", "FIELDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    wells = wells_of(args.wells)
    n_fields = len(wells) * args.fields
    folder = os.path.join(args.workdir, f"input_{args.wells}x{args.fields}_{args.size}")
    t0 = time.perf_counter()
    make_inputs(folder, wells, args.fields, args.size)
    print(f"inputs: {n_fields} fields x 2 channels of {args.size}x{args.size} uint16 in {folder} "
          f"({time.perf_counter() - t0:.0f} s)")

    server = start_server()
    try:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            # the plate to read: written by write_plate (to local disk, then copied to S3 in one
            # batch: moto stores ~50 objects/s, a direct build of a full plate takes ~15 min)
            local = os.path.join(tmp, "plate.zarr")
            t0 = time.perf_counter()
            from converters.plate import from_pattern
            from ngffstore.plate import write_plate

            summary = write_plate(from_pattern(folder, PATTERN), local, progress=True)
            built = time.perf_counter() - t0
            import s3fs

            bucket = server.create_bucket("plate")
            t0 = time.perf_counter()
            s3fs.S3FileSystem(**options_for(server)).put(local, f"{bucket}/plate.zarr", recursive=True)
            print(f"plate: {summary.wells} wells, {summary.fields} fields, levels {summary.levels}; "
                  f"write_plate to local disk {built:.0f} s, copied to S3 in {time.perf_counter() - t0:.0f} s")
            url = f"s3://{bucket}/plate.zarr"

            results = {}
            for name, tool, fields in (
                ("ngffstore all fields", "ngffstore", "all"),
                ("ngffstore field 0", "ngffstore", "0"),
                ("ome-zarr-py (field 0)", "ome-zarr-py", "0"),
            ):
                out = os.path.join(tmp, f"{tool}-{fields}.npy")
                results[name] = timed_read(server, tool, url, out, fields)
                results[name]["out"] = out
            ours0 = np.load(results["ngffstore field 0"]["out"])
            theirs = np.load(results["ome-zarr-py (field 0)"]["out"])
            same = ours0.shape == theirs.shape and np.array_equal(ours0, theirs)
            shapes = {k: np.load(v["out"]).shape for k, v in results.items()}
            print(f"\noverview of the lowest level from S3, in a fresh process (imports not timed), "
                  f"{len(wells)} wells x {args.fields} fields:")
            ref = results["ome-zarr-py (field 0)"]["seconds"]
            for name, r in results.items():
                shown = n_fields if "all" in name else len(wells)
                print(f"  {name:<22} {r['seconds']:6.2f} s  {ref / r['seconds']:5.1f}x ome-zarr-py  "
                      f"{r['total']:5d} requests ({r['total'] / shown:.1f} per field shown) {r['requests']}  "
                      f"mosaic {shapes[name]}")
            print(f"  same pixels as ome-zarr-py (field 0): {same}")

            compare_builds(server, folder, wells, args.fields, min(args.build_fields, n_fields), args.scheduler, tmp)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
