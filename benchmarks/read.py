"""Read benchmark: ngffstore vs plain zarr vs ome-zarr-py vs a floor, locally and on S3 (moto).

The same synthetic 3-channel uint16 image (``ngffstore.demo.samples.synthetic_cells``, written by
``ngffstore.write_image`` with its defaults: Zarr v3 / NGFF 0.5, zstd, 1024-pixel chunks) is read
in the same run from a local folder and from a moto S3 server on 127.0.0.1 (the one the tests
use, ``tests/s3server.py``). For each reader:

* **open**: time to open the image (median of repeats after a warm-up that builds the fsspec
  filesystem) and the requests one open sends;
* **window**: median and p95 time of random ``--window`` x ``--window`` windows (all channels),
  and requests per window;
* **thumbnail**: time and requests (after opening) to read the level ngffstore's rule picks for
  a 256-pixel thumbnail.

The **floor** is one raw GET per chunk (concurrent, through fsspec) plus decoding with the
chunk's codec, the least any Zarr reader must do. Targets: S3 window median <= 1.1x the floor,
local <= 1.1x plain zarr; open <= 4 requests; thumbnail <= 3 requests.

    python benchmarks/read.py                 # 3 x 2048 x 2048, 200 windows
    python benchmarks/read.py --size 8192     # bigger image
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, Self

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import ngffstore
from ngffstore.demo import samples
from ngffstore.image import open_image

THUMBNAIL = 256


# -- readers --------------------------------------------------------------------------------
class Reader:
    name = ""

    def __init__(self, url: str, options: dict[str, Any] | None):
        self.url, self.options = url, options or {}

    def open(self) -> Any:
        raise NotImplementedError

    def window(self, handle: Any, x: int, y: int, size: int) -> np.ndarray:
        raise NotImplementedError

    def level(self, handle: Any, level: int) -> np.ndarray:
        raise NotImplementedError


class NgffstoreReader(Reader):
    name = "ngffstore"

    def open(self) -> Any:
        return open_image(self.url, storage_options=self.options or None)

    def window(self, handle: Any, x: int, y: int, size: int) -> np.ndarray:
        return handle.window(x, y, size, size).compute()

    def level(self, handle: Any, level: int) -> np.ndarray:
        return handle.thumbnail(THUMBNAIL).compute()


class ZarrReader(Reader):
    name = "zarr"

    def open(self) -> Any:
        import zarr

        group = zarr.open_group(self.url, mode="r", storage_options=self.options or None)
        block = group.attrs.asdict().get("ome", {})
        return (
            group,
            [ds["path"] for ds in block["multiscales"][0]["datasets"]],
            group[block["multiscales"][0]["datasets"][0]["path"]],
        )

    def window(self, handle: Any, x: int, y: int, size: int) -> np.ndarray:
        return handle[2][:, y : y + size, x : x + size]

    def level(self, handle: Any, level: int) -> np.ndarray:
        return handle[0][handle[1][level]][...]


class OmeZarrReader(Reader):
    name = "ome-zarr-py"

    def open(self) -> Any:
        from ome_zarr.io import ZarrLocation
        from ome_zarr.reader import Reader as OZReader
        from zarr.storage import FsspecStore, LocalStore

        if self.url.startswith("s3://"):
            store: Any = FsspecStore.from_url(
                self.url, storage_options=self.options, read_only=True
            )
        else:
            store = LocalStore(self.url, read_only=True)
        node = next(iter(OZReader(ZarrLocation(store))()))
        return node.data

    def window(self, handle: Any, x: int, y: int, size: int) -> np.ndarray:
        return handle[0][:, y : y + size, x : x + size].compute()

    def level(self, handle: Any, level: int) -> np.ndarray:
        return handle[level].compute()


class FloorReader(Reader):
    """One raw GET per chunk through fsspec (concurrent), then the codec's decode."""

    name = "floor"

    def open(self) -> Any:
        import fsspec

        if self.url.startswith("s3://"):
            fs = fsspec.filesystem("s3", max_concurrency=1, **self.options)
            root = self.url[len("s3://") :]
        else:
            fs = fsspec.filesystem("file")
            root = self.url
        group = json.loads(fs.cat_file(f"{root}/zarr.json"))
        paths = [ds["path"] for ds in group["attributes"]["ome"]["multiscales"][0]["datasets"]]
        metas = [json.loads(fs.cat_file(f"{root}/{p}/zarr.json")) for p in paths]
        return fs, root, paths, metas

    @staticmethod
    def _decoder(meta: dict[str, Any]) -> Callable[[bytes], np.ndarray]:
        import numcodecs

        codecs = {c["name"]: c.get("configuration", {}) for c in meta["codecs"]}
        chunk = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        dtype = np.dtype(meta["data_type"]).newbyteorder("<")
        zstd = numcodecs.Zstd() if "zstd" in codecs else None

        def decode(raw: bytes) -> np.ndarray:
            if zstd is not None:
                raw = zstd.decode(raw)
            return np.frombuffer(raw, dtype=dtype).reshape(chunk)

        return decode

    def _read(self, handle: Any, level: int, sel: tuple[slice, ...]) -> np.ndarray:
        fs, root, paths, metas = handle
        meta = metas[level]
        shape = meta["shape"]
        chunk = meta["chunk_grid"]["configuration"]["chunk_shape"]
        bounds = [s.indices(n)[:2] for s, n in zip(sel, shape)]
        grids = [range(lo // c, (hi - 1) // c + 1) for (lo, hi), c in zip(bounds, chunk)]
        import itertools

        coords = list(itertools.product(*grids))
        keys = [f"{root}/{paths[level]}/c/" + "/".join(map(str, cc)) for cc in coords]
        raws = fs.cat(keys) if len(keys) > 1 else {keys[0]: fs.cat_file(keys[0])}
        decode = self._decoder(meta)
        out = np.empty(tuple(hi - lo for lo, hi in bounds), dtype=np.dtype(meta["data_type"]))
        for cc, key in zip(coords, keys):
            block = decode(raws[key])
            src, dst = [], []
            for c, n, (lo, hi) in zip(cc, chunk, bounds):
                a, b = max(lo, c * n), min(hi, (c + 1) * n)
                src.append(slice(a - c * n, b - c * n))
                dst.append(slice(a - lo, b - lo))
            out[tuple(dst)] = block[tuple(src)]
        return out

    def window(self, handle: Any, x: int, y: int, size: int) -> np.ndarray:
        return self._read(handle, 0, (slice(None), slice(y, y + size), slice(x, x + size)))

    def level(self, handle: Any, level: int) -> np.ndarray:
        return self._read(handle, level, tuple(slice(None) for _ in handle[3][level]["shape"]))


READERS = (NgffstoreReader, ZarrReader, OmeZarrReader, FloorReader)


# -- measuring ------------------------------------------------------------------------------
class NoCounter:
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def counts(self) -> dict[str, int]:
        return {}


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn(*args)
    return (time.perf_counter() - t0) * 1000, out


def fmt_counts(counts: dict[str, int], per: int = 1) -> str:
    if not counts:
        return "-"
    total = sum(counts.values()) / per
    detail = " ".join(f"{k}:{v / per:g}" for k, v in sorted(counts.items()))
    return f"{total:g} ({detail})"


def measure(
    readers: list[Reader],
    windows: list[tuple[int, int]],
    size: int,
    level: int,
    counter: Callable[[], Any],
    repeats: int,
) -> dict[str, dict[str, Any]]:
    """Time every reader on the same windows, interleaved (reader order rotates per window) so
    that load from other processes hits all readers alike; count requests in separate passes."""
    out: dict[str, dict[str, Any]] = {}
    handles = {}
    for reader in readers:
        reader.open()  # warm-up: filesystem instances, imports
        with counter() as log:
            _, handles[reader.name] = timed(reader.open)
        out[reader.name] = {
            "open_req": fmt_counts(log.counts()),
            "open_n": sum(log.counts().values()) or None,
        }
    open_times: dict[str, list[float]] = {r.name: [] for r in readers}
    win_times: dict[str, list[float]] = {r.name: [] for r in readers}
    thumb_times: dict[str, list[float]] = {r.name: [] for r in readers}
    for reader in readers:
        reader.window(handles[reader.name], *windows[0], size)  # warm-up
    for i in range(repeats):
        for reader in readers[i % len(readers) :] + readers[: i % len(readers)]:
            open_times[reader.name].append(timed(reader.open)[0])
            thumb_times[reader.name].append(timed(reader.level, handles[reader.name], level)[0])
    for i, (x, y) in enumerate(windows):
        for reader in readers[i % len(readers) :] + readers[: i % len(readers)]:
            win_times[reader.name].append(timed(reader.window, handles[reader.name], x, y, size)[0])
    sample = windows[: min(len(windows), 20)]
    for reader in readers:
        handle = reader.open()
        with counter() as log:
            for x, y in sample:
                reader.window(handle, x, y, size)
        window_counts = log.counts()
        handle = reader.open()
        with counter() as log:
            thumb = reader.level(handle, level)
        thumb_counts = log.counts()
        out[reader.name].update(
            {
                "open_ms": statistics.median(open_times[reader.name]),
                "win_med": statistics.median(win_times[reader.name]),
                "win_p95": float(np.percentile(win_times[reader.name], 95)),
                "win_req": fmt_counts(window_counts, len(sample)),
                "thumb_ms": statistics.median(thumb_times[reader.name]),
                "thumb_req": fmt_counts(thumb_counts),
                "thumb_n": sum(thumb_counts.values()) if thumb_counts else None,
                "thumb_shape": tuple(np.asarray(thumb).shape),
            }
        )
    return out


def check_same(readers: list[Reader], url_windows: list[tuple[int, int]], size: int) -> None:
    """Every reader returns the same pixels (a benchmark of wrong answers is worthless)."""
    x, y = url_windows[0]
    ref = None
    for reader in readers:
        data = np.asarray(reader.window(reader.open(), x, y, size))
        if ref is None:
            ref = data
        elif not np.array_equal(ref, data):
            raise SystemExit(f"{reader.name} returned other pixels than {readers[0].name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=2048, help="image height and width (default 2048)"
    )
    parser.add_argument("--channels", type=int, default=3, help="channels (default 3)")
    parser.add_argument(
        "--chunks", type=int, default=1024, help="chunk edge (default 1024, the writer's default)"
    )
    parser.add_argument(
        "--windows", type=int, default=200, help="random windows per reader (default 200)"
    )
    parser.add_argument("--window", type=int, default=512, help="window edge (default 512)")
    parser.add_argument(
        "--repeats", type=int, default=20, help="repeats of open and thumbnail (default 20)"
    )
    parser.add_argument("--no-s3", action="store_true", help="local only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="ngffstore-bench-")
    local_url = os.path.join(tmp, "bench.ome.zarr")
    shape = (args.channels, args.size, args.size)
    t_write, _ = timed(
        lambda: ngffstore.write_image(
            samples.synthetic_cells(shape, chunks=args.chunks),
            local_url,
            axes="cyx",
            chunks=args.chunks,
            progress=False,
        )
    )
    with open_image(local_url) as img:
        level = img.choose_level(max_size=THUMBNAIL)
        levels = [lv.shape for lv in img.levels]
    print(
        f"image {'x'.join(map(str, shape))} uint16, chunks {args.chunks}, levels {levels}, "
        f"written in {t_write / 1000:.1f} s; thumbnail({THUMBNAIL}) reads level {level}"
    )
    rng = np.random.default_rng(args.seed)
    hi = max(1, args.size - args.window)
    windows = [(int(rng.integers(0, hi)), int(rng.integers(0, hi))) for _ in range(args.windows)]

    backends: list[tuple[str, str, dict[str, Any] | None, Callable[[], Any]]] = [
        ("local", local_url, None, NoCounter)
    ]
    server = None
    if not args.no_s3:
        import s3fs
        from s3server import S3TestServer

        server = S3TestServer().start()
        bucket = server.create_bucket()
        s3fs.S3FileSystem(**server.storage_options).put(
            local_url, f"{bucket}/bench.ome.zarr", recursive=True
        )
        backends.append(
            ("s3", f"s3://{bucket}/bench.ome.zarr", server.storage_options, server.count)
        )
    rows = []
    print(
        f"load average before measuring: {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    try:
        for backend, url, options, counter in backends:
            readers = [cls(url, options) for cls in READERS]
            check_same(readers, windows, args.window)
            results = measure(readers, windows, args.window, level, counter, args.repeats)
            rows.extend((backend, reader.name, results[reader.name]) for reader in readers)
            print(f"  measured {backend}", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    header = (
        f"{'backend':<7} {'reader':<12} {'open ms':>8} {'open requests':<24} {'win med':>8} {'win p95':>8} "
        f"{'requests/window':<22} {'thumb ms':>9} {'thumb requests':<20}"
    )
    print()
    print(header)
    print("-" * len(header))
    for backend, name, r in rows:
        print(
            f"{backend:<7} {name:<12} {r['open_ms']:>8.1f} {r['open_req']:<24} {r['win_med']:>8.2f} "
            f"{r['win_p95']:>8.2f} {r['win_req']:<22} {r['thumb_ms']:>9.2f} {r['thumb_req']:<20}"
        )
    print()
    by = {(b, n): r for b, n, r in rows}
    for backend in [b for b, *_ in backends]:
        ours = by[(backend, "ngffstore")]
        for other in ("floor", "zarr", "ome-zarr-py"):
            ref = by[(backend, other)]
            print(
                f"{backend:<5} ngffstore / {other:<11}: window median {ours['win_med'] / ref['win_med']:.2f}x, "
                f"p95 {ours['win_p95'] / ref['win_p95']:.2f}x, thumbnail {ours['thumb_ms'] / ref['thumb_ms']:.2f}x, "
                f"open {ours['open_ms'] / ref['open_ms']:.2f}x"
            )
    print()
    targets = []
    if ("s3", "ngffstore") in by:
        s3 = by[("s3", "ngffstore")]
        targets.append(
            ("S3 window median <= 1.1x floor", s3["win_med"] / by[("s3", "floor")]["win_med"], 1.1)
        )
        targets.append(("open <= 4 requests", s3["open_n"], 4))
        targets.append(("thumbnail <= 3 requests", s3["thumb_n"], 3))
    local = by[("local", "ngffstore")]
    targets.append(
        (
            "local window median <= 1.1x zarr",
            local["win_med"] / by[("local", "zarr")]["win_med"],
            1.1,
        )
    )
    for label, value, limit in targets:
        ok = value is not None and value <= limit
        print(
            f"target {label:<36} {value if isinstance(value, int) else f'{value:.2f}'}  {'met' if ok else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
