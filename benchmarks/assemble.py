"""Assembly benchmark: ``ngffstore assemble`` vs the floor of reading every plane once.

Data: a synthetic time-lapse folder (``ngffstore.demo.sample_folders``): 3 positions x 3 channels x
5 z x 100 timepoints of 512x512 uint16 planes as 16-bit PNG (4,500 files), plus an acquisition
file and a log. Written once under ``benchmarks/out/assemble/`` and reused.

- floor: every plane file decoded once with the reader ``assemble`` uses
  (``converters.planes.read_plane``), by a thread pool of 2, nothing written;
- ngffstore: ``assemble`` of the whole folder into a collection of three 5-D images with its
  default options (blosc-lz4 with shuffle, the 5 z-planes of a timepoint and channel per chunk,
  two levels) on the default (threads) scheduler; then again with ``compression="zstd"`` (zstd
  level 3, the default of ``convert``). ``--compression`` and ``--chunks`` choose others.

Both read files that are in the page cache (the folder is read once before either runs); the
floor runs before and after ngffstore and the faster run counts. Printed: wall time, CPU time
(all threads of the process), planes per second, and each as a ratio to the floor (target
<= 1.5). On a shared machine wall times are noisy; the CPU ratio is the steadier figure.

    python benchmarks/assemble.py
    python benchmarks/assemble.py --timepoints 20      # a quicker look
    python benchmarks/assemble.py --fmt tif            # uncompressed TIFF planes (floor = I/O only)

Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def make_folder(workdir: str, *, positions: int, channels: int, z: int, timepoints: int, size: int, fmt: str):
    from ngffstore.demo.sample_folders import write_plane_folder

    names = ("DAPI", "GFP", "mCherry", "Cy5")[:channels]
    root = os.path.join(workdir, f"run_{positions}x{channels}x{z}x{timepoints}_{size}_{fmt}")
    marker = os.path.join(root, ".complete")
    if not os.path.exists(marker):
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        print(f"writing {positions * channels * z * timepoints} planes to {root} ...", flush=True)
        write_plane_folder(
            root, positions=positions, channels=names, timepoints=timepoints, z=z, shape=size,
            fmt=fmt, digits=0, workers=os.cpu_count() or 1,
        )
        open(marker, "w").close()
        print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return root


def plane_files(root: str) -> list[str]:
    out = []
    for folder in sorted(os.listdir(root)):
        path = os.path.join(root, folder)
        if os.path.isdir(path):
            out.extend(os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith((".png", ".tif")))
    return out


def warm(files: list[str]) -> int:
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            total += len(fh.read())
    return total


def floor(files: list[str], threads: int = 2) -> tuple[float, float]:
    """(wall, CPU) seconds to decode every plane once with assemble's reader, on ``threads`` threads."""
    from converters.planes import read_header, read_plane
    from ngffstore.storage import Location

    locations = [Location.parse(f) for f in files]
    header = read_header(locations[0])
    c0, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(lambda loc: read_plane(loc, header), locations, chunksize=8):
            pass
    return time.perf_counter() - t0, time.process_time() - c0


def run_assemble(root: str, out: str, **options) -> tuple[float, float, dict]:
    """(wall, CPU) seconds of ``assemble`` and its result."""
    from converters.assemble import assemble

    shutil.rmtree(out, ignore_errors=True)
    c0, t0 = time.process_time(), time.perf_counter()
    result = assemble(root, out, progress=False, **options)
    return time.perf_counter() - t0, time.process_time() - c0, result.to_dict()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--positions", type=int, default=3)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--z", type=int, default=5)
    ap.add_argument("--timepoints", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--fmt", choices=["png", "tif"], default="png")
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "assemble"))
    ap.add_argument("--memory-target", type=int, default=None, help="assemble's memory_target in bytes")
    ap.add_argument("--compression", action="append", help="codec(s) to run; 'default' for assemble's own (default: default, then zstd)")
    ap.add_argument("--chunks", help="assemble's chunks (default: its own, the z-stack up to 4 MiB), e.g. z=1")
    ap.add_argument("--json", help="write the results to this JSON file")
    args = ap.parse_args()
    args.compression = args.compression or ["default", "zstd"]

    root = make_folder(
        args.workdir, positions=args.positions, channels=args.channels, z=args.z,
        timepoints=args.timepoints, size=args.size, fmt=args.fmt,
    )
    files = plane_files(root)
    n = len(files)
    size = warm(files)
    print(f"input     {n} planes, {size / 2**20:.0f} MiB of {args.fmt.upper()} files in {root}")
    print(f"cpus      {os.cpu_count()}")

    import distributed  # noqa: F401  - dask imports it on first compute; keep that out of the timings

    runs = []
    first = floor(files)
    for compression in args.compression:
        options = {} if compression == "default" else {"compression": compression}
        if args.chunks:
            options["chunks"] = args.chunks
        if args.memory_target:
            options["memory_target"] = args.memory_target
        out = os.path.join(args.workdir, "out.zarr")
        wall, cpu, _ = run_assemble(root, out, **options)
        stored = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        runs.append({"compression": compression, "wall_s": wall, "cpu_s": cpu, "stored_bytes": stored})
    second = floor(files)
    floor_wall, floor_cpu = min(first[0], second[0]), min(first[1], second[1])

    print()
    print(f"{'':40} {'wall s':>8} {'CPU s':>8} {'planes/s':>9} {'x floor':>8} {'CPU x floor':>12} {'stored':>9}")
    print(f"{'floor: read every plane, 2 threads':40} {floor_wall:8.2f} {floor_cpu:8.2f} {n / floor_wall:9.0f} "
          f"{1:8.2f} {1:12.2f} {'-':>9}")
    for r in runs:
        name = f"ngffstore assemble ({r['compression']}{', chunks ' + args.chunks if args.chunks else ''})"
        print(f"{name:40} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {n / r['wall_s']:9.0f} "
              f"{r['wall_s'] / floor_wall:8.2f} {r['cpu_s'] / floor_cpu:12.2f} {r['stored_bytes'] / 2**20:7.0f} MiB")
    print()
    print(f"input {size / 2**20:.0f} MiB; target: ngffstore <= 1.5 x floor; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"planes": n, "input_bytes": size, "floor": {"wall_s": floor_wall, "cpu_s": floor_cpu},
                       "runs": runs}, f, indent=2)


if __name__ == "__main__":
    main()
