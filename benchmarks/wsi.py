"""Whole-slide conversion: wall time against the JPEG decode floor, peak RSS, stored size.

Generates an SVS-like slide (Aperio description with MPP, 256 x 256 JPEG tiles of RGB, a
thumbnail) from a few distinct pre-encoded tiles repeated (fast to write, real JPEG to decode),
then measures on the same cores:

- the floor: every tile of level 0 decoded once (imagecodecs, one thread per core);
- ``read``: level 0 read through the converter (``converters.open_source``), block by block in
  the pyramid writer's first-pass blocks, one block per core at a time: the converter's own cost;
- ``ngffstore convert`` of the slide, in a fresh process: wall time and peak RSS (wait4); it adds
  the writer's work (block copies, zstd encoding, downsampling, durable chunk files);
- stored bytes against the source file's bytes.

The machine may be shared: floor, read and convert run one after the other for each size and only
their ratios are compared.

Run: ``python benchmarks/wsi.py --sizes 20000 40000 [--rounds 3] [--workdir /tmp/wsi] [--convert-args="..."]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile

TILE = 256
VARIANTS = 16


def _tiles() -> list[bytes]:
    y, x = np.mgrid[0:TILE, 0:TILE].astype(np.float64)
    out = []
    rng = np.random.default_rng(0)
    for i in range(VARIANTS):
        phase = rng.uniform(0, 6, 3)
        planes = [150 + 80 * np.sin(x / (9 + i + 3 * c) + phase[c]) * np.cos(y / (13 + c)) for c in range(3)]
        noise = rng.normal(0, 6, (TILE, TILE, 3))
        rgb = np.clip(np.stack(planes, -1) + noise, 0, 255).astype(np.uint8)
        out.append(bytes(imagecodecs.jpeg8_encode(rgb, level=85)))
    return out


def make_slide(path: Path, size: int) -> None:
    tiles = _tiles()
    n = -(-size // TILE)

    def level0():
        for i in range(n * n):
            yield tiles[(i * 7 + i // n) % VARIANTS]

    desc = (f"Aperio Image Library v12.0.15 \r\n{size}x{size} [0,100 {size}x{size}] (256x256) JPEG/RGB Q=85"
            f"|AppMag = 20|MPP = 0.25")
    with tifffile.TiffWriter(path, bigtiff=True) as t:
        t.write(level0(), shape=(size, size, 3), dtype=np.uint8, tile=(TILE, TILE), compression="jpeg",
                photometric="rgb", description=desc, metadata=None)
        thumb = np.full((size // 64, size // 64, 3), 200, np.uint8)
        t.write(thumb, compression="jpeg", photometric="rgb", description="Aperio Image Library thumbnail",
                metadata=None)


def decode_floor(path: Path, workers: int) -> tuple[float, float]:
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        spans = list(zip(page.dataoffsets, page.databytecounts))
    fd = os.open(path, os.O_RDONLY)

    def decode(span):
        offset, count = span
        return imagecodecs.jpeg8_decode(os.pread(fd, count, offset)).shape

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(decode, spans, chunksize=64):
            pass
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    os.close(fd)
    return elapsed, cpu


def converter_read(path: Path, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of reading level 0 through the converter in the writer's blocks."""
    import itertools

    import converters
    from ngffstore.codecs import Compression
    from ngffstore.image.write import _whole_axes
    from ngffstore.multiscale import Deferred, PyramidSpec, plan_passes

    source = converters.open_source(path)
    data = source.data
    n = 0
    while max(data.shape[-2:]) / 2**n > 256:
        n += 1
    spec = PyramidSpec.build(shape=data.shape, dtype=data.dtype, axes=source.axes,
                             factors=[(1,) * (data.ndim - 2) + (2, 2)] * n,
                             chunks=(1,) * (data.ndim - 2) + (1024, 1024), shards=None,
                             compression=Compression.parse("zstd"), zarr_format=3, method="mean",
                             whole=_whole_axes(data, source.axes))
    block = plan_passes(spec)[0].block
    regions = [tuple(slice(i * b, (i + 1) * b) for i, b in zip(index, block))
               for index in itertools.product(*(range(-(-s // b)) for s, b in zip(data.shape, block)))]

    def read(region):  # as the writer reads a block
        return Deferred(data[region]).compute().shape

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(read, regions):
            pass
    return time.perf_counter() - started, time.process_time() - cpu


def convert(path: Path, out: Path, extra: list[str] = ()) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS bytes of ``ngffstore convert`` in a fresh process."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ngffstore", "convert", str(path), str(out),
                             "--no-progress", *extra], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"convert failed for {path}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    import statistics

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[20000, 40000])
    p.add_argument("--workdir", default="/tmp/ngffstore-wsi-bench")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--rounds", type=int, default=1, help="floor and convert alternate this many times per "
                   "size; ratios are medians of the ratios within each round (a shared machine)")
    p.add_argument("--no-read", action="store_true", help="skip the converter-only read")
    p.add_argument("--convert-args", default="", help="more options for ngffstore convert, e.g. "
                   "'--memory-target 48MiB' or '--compression zstd:3'")
    args = p.parse_args()
    extra = args.convert_args.split()
    workers = len(os.sched_getaffinity(0))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"cores: {workers}; convert {' '.join(extra) or '(defaults)'}; {args.rounds} round(s), medians")
    print("size     source MB stored MB  floor wall/cpu s  read wall/cpu s  ratio wall/cpu  "
          "convert wall/cpu s  ratio wall/cpu  peak RSS MB")
    for size in args.sizes:
        slide = work / f"slide_{size}.svs"
        out = work / f"slide_{size}.ome.zarr"
        if not slide.exists():
            t0 = time.perf_counter()
            make_slide(slide, size)
            print(f"  (wrote {slide} in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        read = read_cpu = float("nan")
        if not args.no_read:
            read, read_cpu = converter_read(slide, workers)
        rounds = []
        for _ in range(args.rounds):
            floor, floor_cpu = decode_floor(slide, workers)
            wall, cpu, rss = convert(slide, out, extra)
            rounds.append((floor, floor_cpu, wall, cpu, rss))
        floor, floor_cpu, wall, cpu, rss = (statistics.median(r[i] for r in rounds) for i in range(5))
        ratio = statistics.median(r[2] / r[0] for r in rounds)
        ratio_cpu = statistics.median(r[3] / r[1] for r in rounds)
        src, stored = slide.stat().st_size, tree_bytes(out)
        print(f"{size:<8} {src / 1e6:9.0f} {stored / 1e6:9.0f}  {floor:7.1f} / {floor_cpu:6.1f}  "
              f"{read:6.1f} / {read_cpu:6.1f}  {read / floor:6.2f} / {read_cpu / floor_cpu:5.2f}  "
              f"{wall:8.1f} / {cpu:7.1f}  {ratio:6.2f} / {ratio_cpu:5.2f}  {max(r[4] for r in rounds) / 2**20:11.0f}",
              flush=True)
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
            slide.unlink()


if __name__ == "__main__":
    main()
