"""Evaluation benchmark: ``ngffstore evaluate`` on a plate of large label images.

Builds (once, kept in --work) a plate of WELLS wells x 1 field, each field SIZE x SIZE with two
label images: ``truth`` (~OBJECTS non-overlapping discs and ellipses, uint16) and ``pred`` (the
truth shifted by 1-2 px, 5 % of objects dropped, 2 % merged into a neighbour, 3 % extra
objects). Then runs, each in a fresh process::

    ngffstore evaluate PLATE -p labels:pred -t labels:truth --no-table -o out.csv

on the whole plate and on a plate of the first SMALL wells (the same well folders, linked), and
reports wall time, CPU time (user + system) and peak memory: the process's peak RSS
(``/usr/bin/time``) and the peak of the summed RSS of its process tree (sampled
every 0.1 s; what counts with ``--local-cluster``).
Peak memory should not depend on the number of fields: only a few blocks are in flight at
once, and each image's overlap table is a few thousand rows.

    python benchmarks/evaluate.py                         # 96 wells, 2048^2, ~500 objects
    python benchmarks/evaluate.py --wells 12 --size 1024  # a quick run
    python benchmarks/evaluate.py --scheduler tcp://...   # or --local-cluster 2
    python benchmarks/evaluate.py --big 20000             # one 20,000 x 20,000 image instead

Not run by CI.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def wells_of(n: int) -> list[tuple[str, str]]:
    rows, cols = (8, 12) if n <= 96 else (16, 24)
    return [("ABCDEFGHIJKLMNOP"[r], str(c + 1)) for r in range(rows) for c in range(cols)][:n]


def synthetic_truth(size: int, objects: int, seed: int, mean_r: float | None = None) -> np.ndarray:
    """~``objects`` ellipses on a ``size`` x ``size`` uint16 label image (no overlaps)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((size, size), dtype=np.uint16)
    mean_r = mean_r or max(3.0, 0.35 * size / np.sqrt(objects))
    label = 0
    for _ in range(objects * 3):
        if label >= objects:
            break
        ry, rx = rng.uniform(0.6, 1.3, size=2) * mean_r
        cy, cx = rng.uniform(rx, size - rx), rng.uniform(rx, size - rx)
        y0, y1 = int(max(cy - ry, 0)), int(min(cy + ry + 1, size))
        x0, x1 = int(max(cx - rx, 0)), int(min(cx + rx + 1, size))
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disc = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        window = out[y0:y1, x0:x1]
        if window[disc].any():
            continue
        label += 1
        window[disc] = label
    return out


def synthetic_prediction(truth: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 10_000)
    pred = np.roll(truth, (int(rng.integers(1, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
    ids = np.unique(pred)[1:]
    drop = rng.choice(ids, size=len(ids) // 20, replace=False)
    pred[np.isin(pred, drop)] = 0
    keep = np.setdiff1d(ids, drop)
    for a, b in itertools.pairwise(keep[: len(keep) // 50 + 1]):
        pred[pred == b] = a
    size = truth.shape[0]
    mean_r = max(3.0, 0.35 * size / np.sqrt(max(len(ids), 1)))  # extra objects of the usual size
    extra = synthetic_truth(size, max(1, len(ids) * 3 // 100), seed + 20_000, mean_r=mean_r)
    free = (pred == 0) & (extra > 0)
    pred[free] = extra[free] + ids.max()
    return pred


def build(path: str, wells: int, size: int, objects: int) -> None:
    from ngffstore.labels import write_labels
    from ngffstore.plate import write_plate

    if os.path.exists(os.path.join(path, "zarr.json")):
        print(f"reusing {path}")
        return
    t0 = time.perf_counter()
    blank = np.zeros((size, size), dtype=np.uint8)
    fields = [(r, c, 0, blank) for r, c in wells_of(wells)]
    write_plate(fields, path, axes="yx", levels=1, chunks=1024, scheduler="threads", progress=False)
    for k, (r, c) in enumerate(wells_of(wells)):
        url = os.path.join(path, r, c, "0")
        truth = synthetic_truth(size, objects, seed=k)
        write_labels(truth, url, name="truth", chunks=1024, scheduler="threads", progress=False)
        write_labels(synthetic_prediction(truth, k), url, name="pred", chunks=1024, scheduler="threads", progress=False)
        print(f"\rbuilt {k + 1}/{wells} fields", end="", flush=True)
    print(f"\rbuilt {wells} fields of {size}^2 in {time.perf_counter() - t0:.0f} s")


def subset(big: str, path: str, wells: int) -> None:
    """A plate of the first ``wells`` wells of ``big`` (well folders linked, not copied)."""
    from ngffstore.plate import write_plate_metadata

    if os.path.exists(os.path.join(path, "zarr.json")):
        return
    chosen = wells_of(wells)
    for r, c in chosen:
        os.makedirs(os.path.join(path, r), exist_ok=True)
        os.symlink(os.path.join(big, r, c), os.path.join(path, r, c))
    write_plate_metadata([f"{r}/{c}" for r, c in chosen], path, field_count=1)


def _block_labels(block_id: tuple[int, int], *, block: int, objects: int, grid: int, which: str) -> np.ndarray:
    seed = block_id[0] * grid + block_id[1]
    truth = synthetic_truth(block, objects, seed).astype(np.uint32)
    out = truth if which == "truth" else synthetic_prediction(truth.astype(np.uint16), seed).astype(np.uint32)
    offset = np.uint32(seed * 4 * objects)  # ids unique across blocks
    return np.where(out > 0, out + offset, 0).astype(np.uint32)


def build_big(path: str, size: int, objects: int, block: int = 2000) -> None:
    """One ``size`` x ``size`` image with ``truth`` and ``pred`` label images made block by block
    (``objects`` per ``block`` x ``block`` tile, ids unique across tiles), written out of core."""
    import dask.array as da

    from ngffstore.image import write_image
    from ngffstore.labels import write_labels

    if os.path.exists(os.path.join(path, "labels", "pred", "zarr.json")):
        print(f"reusing {path}")
        return
    t0 = time.perf_counter()
    grid = -(-size // block)
    write_image(da.zeros((size, size), dtype=np.uint8, chunks=4096), path, axes="yx", levels=1,
                overwrite=True, progress=False)
    for which in ("truth", "pred"):
        full = da.map_blocks(_block_labels, dtype=np.uint32, chunks=((block,) * grid, (block,) * grid),
                             block=block, objects=objects, grid=grid, which=which)
        write_labels(full[:size, :size], path, name=which, chunks=1024, progress=False)
    print(f"built one {size}^2 image ({grid * grid * objects} objects) in {time.perf_counter() - t0:.0f} s")


def measure(cmd: list[str]) -> dict[str, float]:
    """Wall time, CPU time and peak RSS of the command (from ``/usr/bin/time``, a small process:
    on Linux a child's ``ru_maxrss`` includes what it held before ``exec``, i.e. this process
    copied at fork), and the peak summed RSS of its process tree (sampled every 0.1 s)."""
    import tempfile

    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "time.txt")
        with open(os.path.join(tmp, "out"), "w+") as out, open(os.path.join(tmp, "err"), "w+") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(["/usr/bin/time", "-o", report, "-f", "%M %U %S", *cmd],
                                    stdout=out, stderr=err, text=True)
            peak = [0]
            stop = threading.Event()

            def sample() -> None:
                try:
                    root = psutil.Process(proc.pid)
                except psutil.NoSuchProcess:
                    return
                while not stop.is_set():
                    try:
                        total = sum(p.memory_info().rss for p in root.children(recursive=True))
                        peak[0] = max(peak[0], total)
                    except psutil.Error:
                        pass
                    time.sleep(0.1)

            watcher = threading.Thread(target=sample, daemon=True)
            watcher.start()
            proc.wait()
            wall = time.perf_counter() - t0
            stop.set()
            watcher.join()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        with open(report) as fh:
            fields = fh.read().split()[-3:]
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr}")
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(float(fields[1]) + float(fields[2]), 1),
        "max_rss_mb": round(int(fields[0]) / 1024),
        "tree_peak_rss_mb": round(peak[0] / 2**20),
        "stdout": stdout.strip(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wells", type=int, default=96)
    p.add_argument("--small", type=int, default=24, help="wells of the second, smaller run (default 24)")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--objects", type=int, default=500)
    p.add_argument("--work", default=os.path.join("/tmp", "ngffstore-bench-evaluate"))
    p.add_argument("--scheduler", default="threads")
    p.add_argument("--local-cluster", type=int, default=None)
    p.add_argument("--big", type=int, default=None, metavar="SIZE",
                   help="instead: one SIZE x SIZE image (e.g. 20000), ~OBJECTS per 2000^2 tile")
    args = p.parse_args()
    if args.big:
        path = os.path.join(args.work, f"big-{args.big}x{args.objects}.ome.zarr")
        os.makedirs(args.work, exist_ok=True)
        build_big(path, args.big, args.objects)
        cmd = [sys.executable, "-m", "ngffstore", "evaluate", path, "-p", "labels:pred", "-t", "labels:truth",
               "--no-table", "--no-progress"]
        cmd += ["--local-cluster", str(args.local_cluster)] if args.local_cluster else ["--scheduler", args.scheduler]
        r = measure(cmd)
        print(f"one {args.big}^2 image: {r['wall_s']:.1f} s wall ({r['cpu_s']:.0f} s CPU), peak RSS "
              f"{r['max_rss_mb']} MB (process), {r['tree_peak_rss_mb']} MB (tree, sampled)")
        print(r["stdout"])
        return 0
    tag = f"{args.wells}x{args.size}x{args.objects}-v2"
    big = os.path.join(args.work, f"plate-{tag}.ome.zarr")
    small = os.path.join(args.work, f"plate-{tag}-first{args.small}.ome.zarr")
    os.makedirs(args.work, exist_ok=True)
    build(big, args.wells, args.size, args.objects)
    subset(big, small, args.small)
    results = {}
    for name, plate, n in (("small", small, args.small), ("full", big, args.wells)):
        cmd = [sys.executable, "-m", "ngffstore", "evaluate", plate, "-p", "labels:pred", "-t", "labels:truth",
               "--no-table", "--no-progress", "-o", os.path.join(args.work, f"{name}.csv")]
        cmd += ["--local-cluster", str(args.local_cluster)] if args.local_cluster else ["--scheduler", args.scheduler]
        r = measure(cmd)
        results[name] = {"fields": n, **{k: v for k, v in r.items() if k != "stdout"}}
        print(f"{n:>4} fields of {args.size}^2 (~{args.objects} objects): {r['wall_s']:7.1f} s wall ({r['cpu_s']:.0f} s CPU), "
              f"peak RSS {r['max_rss_mb']:.0f} MB (process), {r['tree_peak_rss_mb']:.0f} MB (tree, sampled)")
        print("      " + r["stdout"].splitlines()[2].strip() if len(r["stdout"].splitlines()) > 2 else "")
    print(json.dumps({"cpus": os.cpu_count(), "scheduler": args.local_cluster or args.scheduler, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
