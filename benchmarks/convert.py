"""Conversion benchmark: ngffstore against the streaming numpy+zarr limit and its peers.

Same synthetic input (realistic cell images), same codec (zstd level 3) and chunks for every
tool; each run is a process of its own (peak RSS and CPU from ``wait4``). The tools of a case
run in interleaved rounds (the order rotates each round) and every figure is the median over
rounds of the ratio to the reference *of the same round*, so a shared, loaded machine slows
both sides of a ratio alike. Work time excludes imports (each child imports first, then times
its call); "process" is the child's whole wall time.

Cases (``--only``, comma-separated):

* ``a``: 2-D uint16 tiled BigTIFF, 16384^2 -> levels to 256 px; ``b``: 1x2x64x2048^2 OME-TIFF
  (t, c, z, y, x). Reference ``limit``: one pass over row strips that reads the input once,
  computes each lower level by 2x2 mean in numpy and writes every level with zarr. Tools:
  ngffstore through the API (``write_image``) and the CLI (``ngffstore convert``, in-process),
  ngff-zarr (default and ITKWASM bin-shrink), ome-zarr-py;
* ``small``: fixed cost, a 512x512 TIFF: ``python -m ngffstore convert`` against a five-line
  tifffile+zarr script, process wall time (imports included: that is the cost). Both run as an
  installed package runs, from compiled bytecode: a cache under the workdir
  (``PYTHONPYCACHEPREFIX``, filled by one untimed run of each), whatever
  ``PYTHONDONTWRITEBYTECODE`` says (with it set and no cache, each start compiles every
  ngffstore module, 60-80 ms the script does not pay); ``--small-no-bytecode-cache`` measures
  that instead;
* ``plate``: a 384-field plate (96 wells x 4 fields, 2 channels, one TIFF per field and
  channel) built locally with ``write_plate``, against a plain loop that writes each field's
  levels with zarr (the limit, per field).

    python benchmarks/convert.py                                   # every case, the issue's sizes
    python benchmarks/convert.py --scale 0.5 --rounds 3            # edges halved (a: 8192^2)
    python benchmarks/convert.py --only small --rounds 10
    python benchmarks/convert.py --only plate --plate-size 256

Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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

    from ngffstore.demo.samples import Cells, render_tile

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


def run_ngffstore_cli(path: str, out: str, axes: str) -> None:
    from ngffstore.cli import main

    extra = ["--memory-target", os.environ["BENCH_MEMORY_TARGET"]] if os.environ.get("BENCH_MEMORY_TARGET") else []
    code = main(["convert", path, out, "--chunks", str(CHUNK), "--compression", f"zstd:{LEVEL}",
                 "--min-size", str(MIN_SIZE), "--no-progress", "--overwrite", *extra])
    assert code == 0


def run_ngffstore(path: str, out: str, axes: str) -> None:
    """The API, as a library user calls it: open the input, ``write_image``."""
    import converters
    from ngffstore import write_image

    target = int(os.environ["BENCH_MEMORY_TARGET"]) if os.environ.get("BENCH_MEMORY_TARGET") else None
    write_image(converters.open_source(path), out, chunks=CHUNK, compression=f"zstd:{LEVEL}", min_size=MIN_SIZE,
                progress=False, overwrite=True, memory_target=target)


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


# -- fixed cost: one small image ----------------------------------------------------------------

SCRIPT = """import sys, tifffile, zarr
a = tifffile.imread(sys.argv[1])
g = zarr.open_group(sys.argv[2], mode="w")
z = g.create_array("0", shape=a.shape, chunks=(1024, 1024), dtype=a.dtype)
z[:] = a
"""


def make_small(workdir: str) -> dict:
    import tifffile

    from ngffstore.demo.samples import Cells, render_tile

    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "small_512.tif")
    if not os.path.exists(path):
        cells = Cells.random(512, 512, seed=3)
        tifffile.imwrite(path, render_tile(cells, 0, 0, 0, 512, 512, height=512, width=512, seed=3))
    script = os.path.join(workdir, "plain_script.py")
    with open(script, "w") as fh:
        fh.write(SCRIPT)
    return {"path": path, "script": script, "shape": (512, 512), "axes": "yx"}


def small_env(workdir: str, bytecode_cache: bool) -> dict[str, str] | None:
    """The small case's environment: compiled modules cached under ``workdir`` (see the module
    docstring), or this process's environment as it is."""
    if not bytecode_cache:
        return None
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(os.path.abspath(workdir), "pycache")
    return env


def small_command(tool: str, data: dict, out: str) -> list[str]:
    if tool == "script":
        return [sys.executable, data["script"], data["path"], out]
    return [sys.executable, "-m", "ngffstore", "convert", data["path"], out, "--no-progress"]


# -- a 384-field plate ------------------------------------------------------------------------------

PLATE_PATTERN = "{well}_s{field}_w{channel}.tif"


def make_plate(workdir: str, size: int, wells: int, fields: int) -> dict:
    sys.path.insert(0, HERE)
    from plate import make_inputs, wells_of

    folder = os.path.join(workdir, f"plate_{wells}x{fields}_{size}")
    make_inputs(folder, wells_of(wells), fields, size)
    return {"path": folder, "shape": (wells * fields, 2, size, size), "axes": "cyx"}


def run_plate_ngffstore(folder: str, out: str, axes: str) -> None:
    from converters.plate import from_pattern
    from ngffstore.plate import write_plate

    write_plate(from_pattern(folder, PLATE_PATTERN), out, chunks=CHUNK, compression=f"zstd:{LEVEL}",
                min_size=MIN_SIZE, progress=False, overwrite=True)


def run_plate_limit(folder: str, out: str, axes: str) -> None:
    """Each field: read its channel files, write its levels (2x2 mean in numpy) with zarr."""
    import re

    import tifffile
    import zarr

    root = zarr.open_group(out, mode="w")
    names = sorted(os.listdir(folder))
    fields: dict[tuple[str, str], list[str]] = {}
    for name in names:
        m = re.fullmatch(r"([A-Z]+)(\d+)_s(\d+)_w(\d+)\.tif", name)
        if m:
            fields.setdefault((m[1] + m[2], m[3]), []).append(name)
    for (well, field), files in fields.items():
        planes = np.stack([tifffile.imread(os.path.join(folder, f)) for f in sorted(files)])
        group = root.require_group(f"{well}/{field}")
        level, i = planes, 0
        while True:
            chunks = (1, min(CHUNK, level.shape[1]), min(CHUNK, level.shape[2]))
            _create(group, str(i), level.shape, level.dtype, chunks)[...] = level
            if max(level.shape[1:]) <= MIN_SIZE:
                break
            level = np.stack([_mean2(p) for p in level])
            i += 1


TOOLS = {
    "limit": run_floor2,
    "floor1": run_floor1,
    "ngffstore": run_ngffstore,
    "ngffstore-cli": run_ngffstore_cli,
    "ngff-zarr": run_ngff_zarr,
    "ngff-zarr-binshrink": lambda p, o, a: run_ngff_zarr(p, o, a, "bin-shrink"),
    "ome-zarr-py": run_ome_zarr,
    "plate-limit": run_plate_limit,
    "plate-ngffstore": run_plate_ngffstore,
}
#: What each tool imports before its clock starts (work time excludes imports).
IMPORTS = {
    "limit": ["dask.array", "tifffile", "zarr", "zarr.codecs"],
    "floor1": ["dask.array", "tifffile", "zarr", "zarr.codecs"],
    # what the API call itself loads (dask builds the lazy source), imported before the clock as
    # for every other tool: the figures compare the work, not the imports
    "ngffstore": ["converters", "ngffstore.image", "ngffstore.image.write", "dask.array", "tifffile", "zarr", "zarr.codecs"],
    "ngffstore-cli": ["ngffstore.cli", "ngffstore.cli.convert", "converters", "ngffstore.image", "ngffstore.attachments"],
    "ngff-zarr": ["ngff_zarr", "dask.array", "tifffile", "zarr", "zarr.codecs"],
    "ngff-zarr-binshrink": ["ngff_zarr", "dask.array", "tifffile", "zarr", "zarr.codecs"],
    "ome-zarr-py": ["ome_zarr.writer", "dask.array", "tifffile", "zarr", "zarr.codecs"],
    "plate-limit": ["tifffile", "zarr", "zarr.codecs"],
    "plate-ngffstore": ["ngffstore.plate", "converters", "ngffstore.image"],
}
CASE_TOOLS = {
    "a": ["limit", "ngffstore", "ngffstore-cli", "ngff-zarr-binshrink", "ngff-zarr", "ome-zarr-py"],
    "b": ["limit", "ngffstore", "ngffstore-cli", "ngff-zarr-binshrink", "ngff-zarr", "ome-zarr-py"],
    "small": ["script", "ngffstore-cli"],
    "plate": ["plate-limit", "plate-ngffstore"],
}
REFERENCE = {"a": "limit", "b": "limit", "small": "script", "plate": "plate-limit"}


def child(tool: str, path: str, out: str, axes: str) -> None:
    import importlib

    if tool.startswith("ngffstore-cli"):
        importlib.import_module("ngffstore.cli")  # first, as the command line imports dask
    for name in IMPORTS.get(tool, []):
        importlib.import_module(name)
    t0 = time.perf_counter()
    TOOLS[tool](path, out, axes)
    work = time.perf_counter() - t0
    # the peak RSS of this process image (VmHWM): wait4's ru_maxrss also counts the parent's
    # memory at the fork, which the benchmark's own input rendering inflates
    with open("/proc/self/status") as fh:
        hwm = next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:")), None)
    print("BENCH " + json.dumps({"work": work, "rss": hwm}), flush=True)


def measure(case: str, tool: str, data: dict, workdir: str) -> dict:
    """One run of ``tool`` in a process of its own: wall, work (imports excluded), CPU, peak RSS."""
    import tempfile

    out = os.path.join(workdir, f"out-{tool}.zarr")
    shutil.rmtree(out, ignore_errors=True)
    if case == "small":
        cmd = small_command(tool, data, out)
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", tool, data["path"], out, data["axes"]]
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, text=True, env=data.get("env"))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read(), se.read()
    ok = proc.returncode == 0
    work, rss = wall, usage.ru_maxrss * 1024
    for line in stdout.splitlines():
        if line.startswith("BENCH "):
            report = json.loads(line[6:])
            work, rss = report["work"], report.get("rss") or rss
    if not ok:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {proc.returncode}"
        print(f"  {tool} failed: {last}", file=sys.stderr)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs) if os.path.exists(out) else 0
    shutil.rmtree(out, ignore_errors=True)
    return {"tool": tool, "ok": ok, "wall": wall, "work": work, "cpu": usage.ru_utime + usage.ru_stime,
            "rss": rss, "bytes": size}


def run_case(case: str, data: dict, tools: list[str], rounds: int, workdir: str) -> dict:
    """``rounds`` interleaved rounds (the order rotates); per tool, each round's ratios to the
    reference of the same round."""
    ref = REFERENCE[case]
    tools = [ref] + [t for t in tools if t != ref]
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for r in range(rounds):
        order = tools[r % len(tools):] + tools[: r % len(tools)]
        for tool in order:
            runs[tool].append(measure(case, tool, data, workdir))
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    summary = {}
    for tool in tools:
        pairs = [(m, b) for m, b in zip(runs[tool], runs[ref]) if m["ok"] and b["ok"]]
        if not pairs:
            summary[tool] = {"ok": False}
            continue

        def med(key: str, ratio: bool = True, pairs: list = pairs) -> tuple[float, float, float]:
            vals = [m[key] / b[key] if ratio else m[key] for m, b in pairs]
            return statistics.median(vals), min(vals), max(vals)

        summary[tool] = {
            "ok": True, "rounds": len(pairs), "work": med("work", False), "work_ratio": med("work"),
            "wall": med("wall", False), "wall_ratio": med("wall"), "rss": med("rss", False),
            "rss_ratio": med("rss"), "cpu": med("cpu", False), "bytes": pairs[0][0]["bytes"],
        }
    return {"case": case, "shape": data["shape"], "axes": data["axes"], "reference": ref, "tools": summary, "runs": runs}


def _table(result: dict) -> None:
    case, ref = result["case"], result["reference"]
    shape = "x".join(map(str, result["shape"]))
    time_key = "wall" if case == "small" else "work"
    label = "process s" if case == "small" else "work s"
    print(f"\n({case}) {result['axes']} {shape} uint16 -- medians over rounds; ratios to '{ref}' within each round")
    print(f"{'tool':<22}{label:>10}{'x ' + ref:>20}{'peak RSS MiB':>14}  {'x ' + ref:>16}{'CPU s':>8}{'stored MiB':>12}")
    for tool, r in result["tools"].items():
        if not r["ok"]:
            print(f"{tool:<22}  FAILED")
            continue
        t, (tr, lo, hi) = r[time_key][0], r[time_key + "_ratio"]
        m, (mr, mlo, mhi) = r["rss"][0], r["rss_ratio"]
        rss = f"{m / 2**20:>14.0f}  {f'{mr:.2f} ({mlo:.2f}-{mhi:.2f})':>16}"
        if case == "small":  # not a child of this script: wait4 counts this process at the fork
            rss = f"{'-':>14}  {'-':>16}"
        print(f"{tool:<22}{t:>10.2f}{f'{tr:.2f} ({lo:.2f}-{hi:.2f})':>20}{rss}"
              f"{r['cpu'][0]:>8.1f}{r['bytes'] / 2**20:>12.1f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="edge scale of a and b (1.0 = the issue's sizes)")
    ap.add_argument("--only", default="a,b,small,plate", help="comma-separated cases: a, b, small, plate")
    ap.add_argument("--tools", help="comma-separated subset of the tools of a and b (the limit always runs): "
                    + ",".join(CASE_TOOLS["a"]))
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of a, b and plate (default 3)")
    ap.add_argument("--small-rounds", type=int, default=10, help="rounds of the small case (default 10)")
    ap.add_argument("--small-no-bytecode-cache", action="store_true",
                    help="run the small case's processes in this environment as it is (no bytecode cache "
                    "when PYTHONDONTWRITEBYTECODE is set)")
    ap.add_argument("--plate-size", type=int, default=512, help="edge of each plate field (default 512)")
    ap.add_argument("--plate-wells", type=int, default=96)
    ap.add_argument("--plate-fields", type=int, default=4, help="fields per well (96 x 4 = 384)")
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "convert"))
    ap.add_argument("--json", help="write the results (every run) to this JSON file")
    ap.add_argument("--memory-target", help="ngffstore's memory target in bytes (default: its own)")
    args = ap.parse_args()
    if args.memory_target:
        os.environ["BENCH_MEMORY_TARGET"] = args.memory_target
    cases = [c for c in args.only.split(",") if c]
    results = []
    for case in cases:
        if case in ("a", "b"):
            data = make_inputs(args.workdir, args.scale, case)[case]
            tools = args.tools.split(",") if args.tools else CASE_TOOLS[case]
            result = run_case(case, data, tools, args.rounds, args.workdir)
        elif case == "small":
            data = dict(make_small(args.workdir), env=small_env(args.workdir, not args.small_no_bytecode_cache))
            for tool in CASE_TOOLS[case]:  # untimed: fills the bytecode cache
                measure(case, tool, data, args.workdir)
            result = run_case(case, data, CASE_TOOLS[case], args.small_rounds, args.workdir)
        elif case == "plate":
            data = make_plate(args.workdir, args.plate_size, args.plate_wells, args.plate_fields)
            result = run_case(case, data, CASE_TOOLS[case], args.rounds, args.workdir)
        else:
            ap.error(f"unknown case {case!r}")
        results.append(result)
        _table(result)
        if case == "small":
            print("(processes run from " + ("a bytecode cache under the workdir)" if data.get("env") else
                                           "this environment's bytecode as it is)"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
