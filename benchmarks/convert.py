"""Conversion benchmark: ngffstore vs ome-zarr-py vs ngff-zarr vs two plain-loop floors.

Same synthetic input (realistic cell images), same codec (zstd level 3) and chunks for every
tool, one run; each tool runs in its own process so its wall time and peak RSS are its own.
Every figure is printed as a ratio to floor (ii): a plain loop over row strips that reads the
input once, computes each lower level by 2x2 mean in numpy and writes every level with zarr.

    python benchmarks/convert.py                 # the issue's sizes: (a) 16384^2 BigTIFF, (b) 5-D
    python benchmarks/convert.py --scale 0.25    # edges scaled down for a quick look
    python benchmarks/convert.py --only a --tools ngffstore,floor2

Data: (a) 2-D uint16 tiled BigTIFF; (b) t=1, c=2, z=64, y=2048, x=2048 uint16 OME-TIFF.
Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 1024
MIN_SIZE = 256
LEVEL = 3


# -- input data -------------------------------------------------------------------------------


def make_inputs(workdir: str, scale: float, only: str) -> dict[str, dict]:
    import tifffile

    from ngffstore.samples import Cells, render_tile

    os.makedirs(workdir, exist_ok=True)
    out = {}
    if only in ("all", "a"):
        edge = int(16384 * scale)
        path = os.path.join(workdir, f"a_{edge}.tif")
        if not os.path.exists(path):
            cells = Cells.random(edge, edge, seed=1)
            tile = 512

            def tiles():
                for y in range(0, edge, tile):
                    for x in range(0, edge, tile):
                        h, w = min(tile, edge - y), min(tile, edge - x)
                        t = render_tile(cells, 0, y, x, h, w, height=edge, width=edge, seed=1)
                        if (h, w) != (tile, tile):
                            t = np.pad(t, ((0, tile - h), (0, tile - w)))
                        yield t

            tifffile.imwrite(path, tiles(), shape=(edge, edge), dtype=np.uint16, tile=(tile, tile), bigtiff=True)
        out["a"] = {"path": path, "shape": (edge, edge), "axes": "yx"}
    if only in ("all", "b"):
        z, edge = max(2, int(64 * scale)), int(2048 * scale)
        path = os.path.join(workdir, f"b_{z}_{edge}.ome.tif")
        if not os.path.exists(path):
            cells = [Cells.random(edge, edge, seed=10 + c) for c in range(2)]

            def planes():
                for c in range(2):
                    for k in range(z):
                        yield render_tile(cells[c], c, 0, 0, edge, edge, height=edge, width=edge, seed=k)

            tifffile.imwrite(path, planes(), shape=(1, 2, z, edge, edge), dtype=np.uint16, ome=True,
                             metadata={"axes": "TCZYX"}, bigtiff=True)
        out["b"] = {"path": path, "shape": (1, 2, z, edge, edge), "axes": "tczyx"}
    return out


# -- the tools (each runs in a child process) ---------------------------------------------------


def lazy_input(path: str, ndim: int | None = None):
    """The input as (dask array, zarr array) through tifffile's zarr store; singleton axes restored."""
    import dask.array as da
    import tifffile
    import zarr

    store = tifffile.imread(path, aszarr=True)
    arr = zarr.open_array(store, mode="r")
    data = da.from_zarr(arr)
    if ndim is not None and data.ndim < ndim:
        data = data.reshape((1,) * (ndim - data.ndim) + data.shape)
    return data, arr


def run_ngffstore(path: str, out: str, axes: str) -> None:
    from ngffstore.cli import main

    extra = ["--memory-target", os.environ["BENCH_MEMORY_TARGET"]] if os.environ.get("BENCH_MEMORY_TARGET") else []
    code = main(["convert", path, out, "--chunks", str(CHUNK), "--compression", f"zstd:{LEVEL}",
                 "--min-size", str(MIN_SIZE), "--no-progress", "--overwrite", *extra])
    assert code == 0


def _n_levels(shape: tuple[int, ...]) -> int:
    n, edge = 1, max(shape[-2:])
    while edge > MIN_SIZE:
        edge = -(-edge // 2)
        n += 1
    return n


def run_ome_zarr(path: str, out: str, axes: str) -> None:
    import zarr
    from ome_zarr.writer import write_image
    from zarr.codecs import ZstdCodec

    data, _ = lazy_input(path, len(axes))
    chunks = tuple([1] * (data.ndim - 2) + [CHUNK, CHUNK])
    group = zarr.open_group(out, mode="w")
    n = _n_levels(data.shape)
    write_image(data.rechunk(chunks), group, axes=axes, scale_factors=[2**i for i in range(1, n)],
                storage_options={"chunks": chunks, "compressors": [ZstdCodec(level=LEVEL)]})


def run_ngff_zarr(path: str, out: str, axes: str, method: str = "default") -> None:
    import ngff_zarr as nz
    from zarr.codecs import ZstdCodec

    data, _ = lazy_input(path, len(axes))
    image = nz.to_ngff_image(data, dims=list(axes))
    n = _n_levels(data.shape)
    kwargs = {}
    if method == "bin-shrink":
        kwargs["method"] = nz.Methods.ITKWASM_BIN_SHRINK
    chunks = {a: (CHUNK if a in "yx" else 1) for a in axes}
    ms = nz.to_multiscales(image, scale_factors=[2**i for i in range(1, n)], chunks=chunks, **kwargs)
    nz.to_ngff_zarr(out, ms, version="0.5", compressors=[ZstdCodec(level=LEVEL)])


def _create(group, name, shape, dtype, chunks):
    from zarr.codecs import ZstdCodec

    return group.create_array(name, shape=shape, dtype=dtype, chunks=chunks,
                              compressors=[ZstdCodec(level=LEVEL)], fill_value=0)


def _strips(path: str):
    """Yield (index of leading plane, y0, strip) reading the input once, row strip by row strip."""
    _, arr = lazy_input(path)
    lead = arr.shape[:-2]
    for idx in np.ndindex(*lead):
        for y0 in range(0, arr.shape[-2], CHUNK):
            yield idx, y0, np.asarray(arr[idx + (slice(y0, y0 + CHUNK),)])


def run_floor1(path: str, out: str, axes: str) -> None:
    """Floor (i): read the input once and write only the full-resolution level."""
    import zarr

    _, arr = lazy_input(path)
    group = zarr.open_group(out, mode="w")
    chunks = (1,) * (arr.ndim - 2) + (CHUNK, CHUNK)
    z0 = _create(group, "0", arr.shape, arr.dtype, chunks)
    for idx, y0, strip in _strips(path):
        z0[idx + (slice(y0, y0 + strip.shape[0]),)] = strip


def _mean2(a: np.ndarray) -> np.ndarray:
    if a.shape[0] % 2 or a.shape[1] % 2:
        a = np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2)), mode="edge")
    s = a[0::2, 0::2].astype(np.uint32) + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]
    return ((s + 2) // 4).astype(a.dtype)


class _LevelWriter:
    """Floor (ii)'s streaming state for one plane: rows waiting to fill a chunk row, per level."""

    def __init__(self, levels, shapes, idx, dtype):
        self.levels, self.shapes, self.idx, self.dtype = levels, shapes, idx, dtype
        self.buffers = [[] for _ in shapes]
        self.starts = [0] * len(shapes)

    def push(self, level: int, rows: np.ndarray, final: bool) -> None:
        if rows.size:
            self.buffers[level].append(rows)
        have = sum(b.shape[0] for b in self.buffers[level])
        if have < CHUNK and not (final and have):
            if final and level + 1 < len(self.shapes):
                self.push(level + 1, np.empty((0, self.shapes[level + 1][1]), self.dtype), True)
            return
        pending = self.buffers[level]
        block = np.concatenate(pending) if len(pending) > 1 else pending[0]
        take = block if final else block[: (block.shape[0] // CHUNK) * CHUNK]
        rest = block[take.shape[0]:]
        self.buffers[level] = [rest] if rest.size else []
        start = self.starts[level]
        self.levels[level][self.idx + (slice(start, start + take.shape[0]),)] = take
        self.starts[level] += take.shape[0]
        if level + 1 < len(self.shapes):
            self.push(level + 1, _mean2(take), final)


def run_floor2(path: str, out: str, axes: str) -> None:
    """Floor (ii): one pass over row strips; each lower level by 2x2 mean in numpy; zarr writes."""
    import zarr

    _, arr = lazy_input(path)
    group = zarr.open_group(out, mode="w")
    lead = arr.shape[:-2]
    shapes = [arr.shape[-2:]]
    while max(shapes[-1]) > MIN_SIZE:
        shapes.append(tuple(-(-s // 2) for s in shapes[-1]))

    def chunks(s):
        return (1,) * len(lead) + (min(CHUNK, s[0]), min(CHUNK, s[1]))

    levels = [_create(group, str(i), lead + s, arr.dtype, chunks(s)) for i, s in enumerate(shapes)]
    rows_total = arr.shape[-2]
    for idx in np.ndindex(*lead):
        writer = _LevelWriter(levels, shapes, idx, arr.dtype)
        for y0 in range(0, rows_total, CHUNK):
            strip = np.asarray(arr[idx + (slice(y0, y0 + CHUNK),)])
            writer.push(0, strip, y0 + CHUNK >= rows_total)


TOOLS = {
    "floor1": run_floor1,
    "floor2": run_floor2,
    "ngffstore": run_ngffstore,
    "ome-zarr-py": run_ome_zarr,
    "ngff-zarr": run_ngff_zarr,
    "ngff-zarr-binshrink": lambda p, o, a: run_ngff_zarr(p, o, a, "bin-shrink"),
}


def child(tool: str, path: str, out: str, axes: str) -> None:
    TOOLS[tool](path, out, axes)


def measure(tool: str, data: dict, workdir: str) -> dict:
    out = os.path.join(workdir, f"out-{tool}.zarr")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", tool, data["path"], out, data["axes"]]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs) if os.path.exists(out) else 0
    ok = proc.returncode == 0
    shutil.rmtree(out, ignore_errors=True)
    cpu = usage.ru_utime + usage.ru_stime
    return {"tool": tool, "ok": ok, "wall": wall, "cpu": cpu, "rss": usage.ru_maxrss * 1024, "bytes": size}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="edge scale of the data (1.0 = the issue's sizes)")
    ap.add_argument("--only", choices=["all", "a", "b"], default="all")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "convert"))
    ap.add_argument("--growth", action="store_true", help="also run ngffstore and floor (ii) on (a) at half the edge (1/4 the pixels) for RSS growth")
    ap.add_argument("--json", help="write the results to this JSON file")
    ap.add_argument("--memory-target", help="ngffstore's --memory-target (default: its own default)")
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    if args.memory_target:
        os.environ["BENCH_MEMORY_TARGET"] = args.memory_target
    inputs = make_inputs(args.workdir, args.scale, args.only)
    results = {}
    for key, data in inputs.items():
        rows = [measure(t, data, args.workdir) for t in tools]
        results[key] = rows
        _table(f"({key}) {data['axes']} {'x'.join(map(str, data['shape']))} uint16", rows)
    if args.growth and "a" in inputs:
        small = make_inputs(args.workdir, args.scale / 2, "a")["a"]
        for tool in ("ngffstore", "floor2"):
            r_small = measure(tool, small, args.workdir)
            r_big = next((r for r in results["a"] if r["tool"] == tool), None) or measure(tool, inputs["a"], args.workdir)
            print(f"RSS growth {tool}: {r_small['rss'] / 2**20:.0f} MiB at {small['shape']} -> "
                  f"{r_big['rss'] / 2**20:.0f} MiB at {inputs['a']['shape']} (x{r_big['rss'] / r_small['rss']:.2f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


def _table(title: str, rows: list[dict]) -> None:
    ref = next((r for r in rows if r["tool"] == "floor2" and r["ok"]), None)
    print(f"\n{title}")
    print(f"{'tool':<22}{'wall s':>9}{'x floor(ii)':>13}{'peak RSS MiB':>14}{'x floor(ii)':>13}{'stored MiB':>12}{'CPU s':>9}")
    for r in rows:
        if not r["ok"]:
            print(f"{r['tool']:<22}  FAILED")
            continue
        tr = r["wall"] / ref["wall"] if ref else float("nan")
        mr = r["rss"] / ref["rss"] if ref else float("nan")
        print(f"{r['tool']:<22}{r['wall']:>9.2f}{tr:>13.2f}{r['rss'] / 2**20:>14.0f}{mr:>13.2f}{r['bytes'] / 2**20:>12.1f}{r['cpu']:>9.1f}")


if __name__ == "__main__":
    main()
