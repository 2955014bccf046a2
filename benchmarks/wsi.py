"""Whole-slide conversion: wall and CPU time against two floors, peak RSS, stored size (SVS and CZI).

Generates an SVS-like slide (Aperio description with MPP, 256 x 256 JPEG tiles of RGB, a
thumbnail) from a few distinct pre-encoded tiles repeated (fast to write, real JPEG to decode),
then measures on the same cores:

- the decode floor (the issue's reference): every tile of level 0 decoded once (imagecodecs, one
  thread per core), nothing else;
- the work floor: the least any lossless pyramid converter does. Per block (the writer's
  first-pass height, one 1024-pixel chunk wide, so every chunk is a contiguous slice): every tile
  read and decoded once and put planar (c, y, x); zstd level 1 (numcodecs) on every 1024^2 chunk
  of level 0 and of every lower level (2x2 mean, ``ngffstore.pyramid.downsample``); buffers
  reused, no dask, nothing written to disk. Encoding alone costs more than decoding, so the
  issue's target of 1.3x the decode floor is below this floor;
- ``read``: level 0 read through the converter (``converters.open_source``) as the pyramid writer
  reads it: its first-pass blocks, one per core at a time, each in strips of one chunk row,
  through ``multiscale.Deferred`` (into a reused strip buffer where the writer has one): the
  converter's own cost, with dask's;
- ``ngffstore convert`` of the slide, in a fresh process: wall time, CPU (wait4) and its own peak RSS; it adds
  the writer's work (block copies, zstd encoding, downsampling, durable chunk files);
- stored bytes against the source file's bytes.

Columns ``x`` are ratios to the decode floor, ``w`` to the work floor (wall / CPU).

``--formats czi`` does the same for a Zeiss CZI mosaic written with pylibCZIrw: RGB (Bgr24)
subblocks of 1024 x 1024 (the same repeated JPEG-born pixels), zstd-compressed (libCZI's writer
encodes zstd only, not JPEG XR as slide scanners do); its decode floor is every subblock read once
through pylibCZIrw (one reader per thread, a region equal to the subblock, so libCZI decodes it
once and composes nothing else); its work floor reads the subblocks the same way.

``--breakdown`` runs the conversion again under py-spy (if installed) and sorts the samples of
busy threads (running or in disk wait, so the total can exceed the CPU time) into decode (the
codec call), read other (tiles into chunks into blocks: copies, dask, thread hand-offs),
downsample, encode, write+sync and imports by the innermost recognised frame; the wall/RSS row
is from the unprofiled run.

The machine may be shared: the floors and convert run one after the other for each size (``--rounds``
alternates them) and only their ratios are compared.

Run: ``python benchmarks/wsi.py --sizes 20000 40000 [--formats svs czi] [--rounds 3] [--workdir /tmp/wsi]
[--convert-args="..."] [--breakdown]``
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

    def level0():  # no tile repeats within 2 tile rows or 3 tile columns, whatever the size (a period that
        # depends on n let zstd find whole repeated tiles in a chunk: 80,000^2 stored at 1/4 of 40,000^2's rate)
        for r in range(n):
            for c in range(n):
                yield tiles[(7 * c + 11 * r) % VARIANTS]

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


CHUNK = 1024  # the writer's chunks (per channel), and the width of a work-floor column


def _columns(height: int, width: int, rows: int) -> list[tuple[int, int, int, int]]:
    """``(y0, y1, x0, x1)`` of the work floor's blocks: ``rows`` high, one chunk (``CHUNK``) wide,
    so that every chunk of every level is a contiguous slice of its block (no copy to encode)."""
    return [(y, min(y + rows, height), x, min(x + CHUNK, width))
            for x in range(0, width, CHUNK) for y in range(0, height, rows)]


def _pyramid_work(block: np.ndarray, levels: int, codec) -> int:
    """Encode every chunk of a planar ``(c, y, x)`` block and of each 2x2 mean of it below."""
    from ngffstore.pyramid import downsample

    stored = 0
    for level in range(levels + 1):
        if level:
            block = downsample(block, (1, 2, 2), "mean")
        for c in range(block.shape[0]):
            for y in range(0, block.shape[1], CHUNK):
                stored += len(codec.encode(block[c, y : y + CHUNK]))
    return stored


def work_floor(path: Path, fmt: str, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of the least work of a lossless pyramid converter, on the same cores.

    Per block (the writer's first-pass height, one chunk wide): every tile or subblock of level 0
    read and decoded once and put planar (c, y, x) in the block; zstd level 1 (numcodecs) on every
    chunk of level 0 and of every lower level (2x2 mean, ``ngffstore.pyramid.downsample``, down
    to the pyramid ``ngffstore convert`` writes). Nothing written to disk, buffers reused, no dask.
    """
    import threading

    import numcodecs

    import converters

    source = converters.open_source(path)
    height, width = source.data.shape[-2:]
    levels = _levels(source.data.shape)
    rows = _pass0_block(source.data, source.axes)[-2]
    codec = numcodecs.Zstd(level=1)
    local = threading.local()

    def buffer(shape):
        cached = getattr(local, "block", None)
        if cached is None or cached.shape != shape:
            cached = local.block = np.empty(shape, np.uint8)
        return cached

    if fmt == "svs":
        with tifffile.TiffFile(path) as tf:
            page = tf.pages[0]
            offsets, counts = list(page.dataoffsets), list(page.databytecounts)
            tables = page.jpegtables
        across = -(-width // TILE)
        fd = os.open(path, os.O_RDONLY)

        def fill(y0, y1, x0, x1):
            block = buffer((3, y1 - y0, x1 - x0))
            tile = getattr(local, "tile", None)
            if tile is None:
                tile = local.tile = np.empty((TILE, TILE, 3), np.uint8)
            for ty in range(y0, y1, TILE):
                for tx in range(x0, x1, TILE):
                    i = ty // TILE * across + tx // TILE
                    imagecodecs.jpeg8_decode(os.pread(fd, counts[i], offsets[i]), tables=tables, out=tile)
                    h, w = min(TILE, y1 - ty), min(TILE, x1 - tx)
                    np.copyto(block[:, ty - y0 : ty - y0 + h, tx - x0 : tx - x0 + w],
                              tile[:h, :w].transpose(2, 0, 1))
            return block

        def close():
            os.close(fd)
    else:
        from pylibCZIrw import czi

        contexts = []

        def fill(y0, y1, x0, x1):
            reader = getattr(local, "reader", None)
            if reader is None:
                context = czi.open_czi(str(path))
                contexts.append(context)
                reader = local.reader = context.__enter__()
            block = buffer((3, y1 - y0, x1 - x0))
            for ty in range(y0, y1, CZI_TILE):  # the subblocks of the block (a CZI_TILE grid)
                for tx in range(x0, x1, CZI_TILE):
                    h, w = min(CZI_TILE, y1 - ty), min(CZI_TILE, x1 - tx)
                    bgr = reader.read(roi=(tx, ty, w, h), plane={"C": 0, "Z": 0, "T": 0})
                    for c in range(3):
                        np.copyto(block[c, ty - y0 : ty - y0 + h, tx - x0 : tx - x0 + w], bgr[..., 2 - c])
            return block

        def close():
            for context in contexts:
                context.__exit__(None, None, None)

    def work(column):
        return _pyramid_work(fill(*column), levels, codec)

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(work, _columns(height, width, rows)):
            pass
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    close()
    return elapsed, cpu


CZI_TILE = 1024


def make_czi(path: Path, size: int) -> None:
    """A one-scene RGB mosaic of ``CZI_TILE`` subblocks with a scaling, written by pylibCZIrw."""
    from pylibCZIrw import czi

    tiles = [imagecodecs.jpeg8_decode(t) for t in _tiles()]
    k = CZI_TILE // TILE
    big = [np.ascontiguousarray(np.concatenate(
        [np.concatenate([tiles[(i + 4 * j + v) % VARIANTS] for i in range(k)], 1) for j in range(k)], 0)[..., ::-1])
        for v in range(4)]  # BGR, as CZI stores it
    path.unlink(missing_ok=True)
    with czi.create_czi(str(path), compression_options="zstd0:ExplicitLevel=1") as w:
        for n, y in enumerate(range(0, size, CZI_TILE)):
            for m, x in enumerate(range(0, size, CZI_TILE)):
                tile = big[(n * 3 + m) % 4][: size - y, : size - x]
                w.write(tile, location=(x, y), plane={"C": 0, "Z": 0, "T": 0})
        w.write_metadata(document_name="bench", channel_names={0: "RGB"},
                         scale_x=0.25e-6, scale_y=0.25e-6)


def czi_floor(path: Path, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of reading every subblock of the CZI once, one pylibCZIrw reader per thread."""
    import threading

    from pylibCZIrw import czi

    rects = []
    with czi.open_czi(str(path)) as r:

        def collect(_index, info):
            rect = info.logicalRect
            rects.append((rect.x, rect.y, rect.w, rect.h))
            return True

        r.enumerate_subblocks(collect)
    local, contexts = threading.local(), []

    def read(rect):
        reader = getattr(local, "reader", None)
        if reader is None:
            context = czi.open_czi(str(path))
            contexts.append(context)
            reader = local.reader = context.__enter__()
        return reader.read(roi=rect, plane={"C": 0, "Z": 0, "T": 0}).shape

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(read, rects, chunksize=8):
            pass
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    for context in contexts:
        context.__exit__(None, None, None)
    return elapsed, cpu


def _pass0_block(data, axes) -> tuple[int, ...]:
    """The pyramid writer's first-pass block for ``data`` (default memory target, 1024^2 chunks)."""
    from ngffstore.codecs import Compression
    from ngffstore.image.write import _whole_axes
    from ngffstore.multiscale import PyramidSpec, plan_passes

    spec = PyramidSpec.build(shape=data.shape, dtype=data.dtype, axes=axes,
                             factors=[(1,) * (data.ndim - 2) + (2, 2)] * _levels(data.shape),
                             chunks=(1,) * (data.ndim - 2) + (CHUNK, CHUNK), shards=None,
                             compression=Compression.parse("zstd"), zarr_format=3, method="mean",
                             whole=_whole_axes(data, axes))
    return plan_passes(spec)[0].block


def _levels(shape) -> int:
    """Downsamplings of the pyramid ``ngffstore convert`` writes (down to 256 pixels or fewer)."""
    n = 0
    while max(shape[-2:]) / 2**n > 256:
        n += 1
    return n


def converter_read(path: Path, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of reading level 0 through the converter as the writer reads it: its
    first-pass blocks, one per core at a time, each in strips of one chunk row (``CHUNK`` rows)."""
    import inspect
    import itertools
    import threading

    import converters
    from ngffstore.multiscale import Deferred

    source = converters.open_source(path)
    data = source.data
    block = _pass0_block(data, source.axes)
    strips = []  # (block region, strip region) in blocks' order
    for index in itertools.product(*(range(-(-s // b)) for s, b in zip(data.shape, block))):
        region = [slice(i * b, min((i + 1) * b, s)) for i, b, s in zip(index, block, data.shape)]
        rows = region[-2]
        strips.append([tuple(region[:-2]) + (slice(y, min(y + CHUNK, rows.stop)), region[-1])
                       for y in range(rows.start, rows.stop, CHUNK)])
    reuse = "out" in inspect.signature(Deferred.compute).parameters  # the writer's strip buffers
    local = threading.local()

    def read(regions):  # as the writer reads a block
        for region in regions:
            part = data[region]
            out = None
            if reuse:
                out = getattr(local, "out", None)
                if out is None or out.shape != part.shape:
                    out = local.out = np.empty(part.shape, part.dtype)
            Deferred(part).compute(**({"out": out} if reuse else {}))

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(read, strips):
            pass
    return time.perf_counter() - started, time.process_time() - cpu


# ``python -m ngffstore`` that also reports its peak RSS (VmHWM) on the file descriptor named first
_CONVERT = """import os, sys
from ngffstore.cli import main
code = main(sys.argv[2:])
with open("/proc/self/status") as fh:
    hwm = next((line.split()[1] for line in fh if line.startswith("VmHWM:")), "0")
os.write(int(sys.argv[1]), hwm.encode())
sys.exit(code)
"""


def convert(path: Path, out: Path, extra: list[str] = ()) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS bytes of ``ngffstore convert`` in a fresh process.

    The peak RSS is the process's own (VmHWM, reported by the process): wait4's ``ru_maxrss``
    also counts the benchmark's memory at the fork, which grows with the slide it generated.
    """
    shutil.rmtree(out, ignore_errors=True)
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CONVERT, str(write_end), "convert", str(path), str(out),
                             "--no-progress", *extra], stdout=subprocess.DEVNULL, pass_fds=(write_end,))
    os.close(write_end)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    with os.fdopen(read_end, "rb") as fh:
        hwm = fh.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"convert failed for {path}")
    return elapsed, usage.ru_utime + usage.ru_stime, int(hwm or 0) * 1024


_STAGES = (  # (stage, substrings of a py-spy frame "function (file:line)"), innermost match wins
    ("write+sync", ("sync (ngffstore/chunkio", "_put_local", "_make_folder", "_pipe (", "fdatasync")),
    ("encode", ("encode (ngffstore/chunkio", "_encode_with_zarr", "zstd")),
    ("downsample", ("downsample",)),
    ("chunk copy", ("write (ngffstore/chunkio",)),
    ("decode", ("imagecodecs/", "pylibCZIrw/")),  # the codec call itself (JPEG tile, CZI subblock)
    ("read other", ("tifffile", "converters/", "dask/", "compute (ngffstore/multiscale",
                    "read (ngffstore/multiscale")),  # tiles into chunks into blocks: copies, dask, threads
    ("imports", ("<frozen importlib._bootstrap",)),
)
_IDLE = ("concurrent/futures/thread.py:81)", "(selectors.py", "Condition.wait", "Thread.join", "Event.wait")


def breakdown(path: Path, out: Path, extra: list[str] = ()) -> dict[str, float] | None:
    """Busy thread-seconds and their share per stage of ``ngffstore convert`` under py-spy, or None without it."""
    import collections

    spy = shutil.which("py-spy")
    if spy is None:
        return None
    shutil.rmtree(out, ignore_errors=True)
    raw = out.with_suffix(".spy.txt")
    subprocess.run([spy, "record", "--rate", "50", "--format", "raw", "--output", str(raw), "--",
                    sys.executable, "-m", "ngffstore", "convert", str(path), str(out), "--no-progress", *extra],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not stack or any(k in frames[-1] for k in _IDLE):  # a thread waiting (py-spy can miss these)
            continue
        stage = next((name for frame in reversed(frames) for name, keys in _STAGES
                      if any(k in frame for k in keys)), "other")
        counts[stage] += int(n)
    raw.unlink()
    shutil.rmtree(out, ignore_errors=True)
    total = sum(counts.values()) or 1
    return {"busy s": total / 50, **{name: counts[name] / total for name in [*(s for s, _ in _STAGES), "other"]}}


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
    p.add_argument("--formats", nargs="+", choices=["svs", "czi"], default=["svs"])
    p.add_argument("--breakdown", action="store_true", help="also run each conversion under py-spy and "
                   "print the share of busy-thread samples per stage")
    p.add_argument("--convert-args", default="", help="more options for ngffstore convert, e.g. "
                   "'--memory-target 48MiB' or '--compression zstd:3'")
    args = p.parse_args()
    extra = args.convert_args.split()
    workers = len(os.sched_getaffinity(0))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(f"cores: {workers}; convert {' '.join(extra) or '(defaults)'}; {args.rounds} round(s), medians; "
          "x = ratio to the decode floor, w = ratio to the work floor (wall / cpu)")
    print("format size     source MB stored MB  floor wall/cpu s  work wall/cpu s  work x          "
          "read wall/cpu s  read x          convert wall/cpu s  convert x       convert w      peak RSS MB")
    makers = {"svs": (make_slide, decode_floor), "czi": (make_czi, czi_floor)}
    for fmt in args.formats:
        make, floor_of = makers[fmt]
        for size in args.sizes:
            slide = work / f"slide_{size}.{fmt}"
            out = work / f"slide_{size}_{fmt}.ome.zarr"
            if not slide.exists():
                t0 = time.perf_counter()
                make(slide, size)
                print(f"  (wrote {slide} in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
            read = read_cpu = float("nan")
            if not args.no_read:
                read, read_cpu = converter_read(slide, workers)
            rounds = []
            for _ in range(args.rounds):
                floor, floor_cpu = floor_of(slide, workers)
                least, least_cpu = work_floor(slide, fmt, workers)
                wall, cpu, rss = convert(slide, out, extra)
                rounds.append((floor, floor_cpu, least, least_cpu, wall, cpu, rss))

            def med(i: int, rounds=rounds) -> float:
                return statistics.median(r[i] for r in rounds)

            def ratio(i: int, j: int, rounds=rounds) -> float:
                return statistics.median(r[i] / r[j] for r in rounds)

            floor, floor_cpu, least, least_cpu, wall, cpu = (med(i) for i in range(6))
            src, stored = slide.stat().st_size, tree_bytes(out)
            print(f"{fmt:<6} {size:<8} {src / 1e6:9.0f} {stored / 1e6:9.0f}  {floor:7.1f} / {floor_cpu:6.1f}  "
                  f"{least:6.1f} / {least_cpu:6.1f}  {ratio(2, 0):6.2f} / {ratio(3, 1):5.2f}  "
                  f"{read:6.1f} / {read_cpu:6.1f}  {read / floor:6.2f} / {read_cpu / floor_cpu:5.2f}  "
                  f"{wall:8.1f} / {cpu:7.1f}  {ratio(4, 0):6.2f} / {ratio(5, 1):5.2f}  "
                  f"{ratio(4, 2):5.2f} / {ratio(5, 3):5.2f}  {max(r[6] for r in rounds) / 2**20:11.0f}", flush=True)
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
            if args.breakdown:
                shares = breakdown(slide, out, extra)
                print("  busy samples: " + ("py-spy not installed" if shares is None else
                      ", ".join(f"{k} {v:.0%}" if k != "busy s" else f"{v:.1f} thread-s: "
                                 for k, v in shares.items()).replace(": , ", ": ")), flush=True)
            if not args.keep:
                slide.unlink()

if __name__ == "__main__":
    main()
