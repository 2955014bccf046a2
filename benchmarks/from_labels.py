"""``rois from-labels`` benchmark: fragmented label images -> one ROI layer, time and peak memory.

    python benchmarks/from_labels.py                     # both cases below
    python benchmarks/from_labels.py --case noise --size 2048

Cases (written once with ``write_labels`` into a temporary store, then converted with
``ngffstore.rois.from_labels``; one run each, wall time of the conversion only):

* **noise**: a ``size`` x ``size`` (default 1024) uint8 label image of uniform noise with values
  0..9 (every pixel its own fragment: the worst case for outline tracing);
* **objects**: an ``objects-size`` (default 8192) square uint16 image with 40,000 rectangular and
  round objects on a 200 x 200 grid (about 41 x 41 px cells, random sizes, some objects cut by
  block edges).

Time should grow with the pixels, not with the number of fragments. Peak memory is the process's
``VmHWM``. Not run by CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def peak_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")


def noise(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 10, (size, size)).astype(np.uint8)


def objects(size: int, n_side: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros((size, size), dtype=np.uint16)
    cell = size / n_side
    yy, xx = np.mgrid[0 : int(cell) + 2, 0 : int(cell) + 2]
    value = 1
    for i in range(n_side):
        for j in range(n_side):
            y0, x0 = int(i * cell), int(j * cell)
            h = w = int(cell)
            r = rng.uniform(0.25, 0.5) * cell
            cy, cx = rng.uniform(r, cell - r, 2)
            if value % 2:
                mask = (yy[:h, :w] - cy) ** 2 + (xx[:h, :w] - cx) ** 2 <= r * r
            else:
                mask = (abs(yy[:h, :w] - cy) <= r) & (abs(xx[:h, :w] - cx) <= r * 0.7)
            block = out[y0 : y0 + h, x0 : x0 + w]
            block[mask[: block.shape[0], : block.shape[1]]] = value
            value += 1
    return out


def run_case(name: str, labels: np.ndarray, root: str) -> dict[str, float]:
    from ngffstore import write_image
    from ngffstore.labels import write_labels
    from ngffstore.rois import from_labels

    url = os.path.join(root, f"{name}.zarr")
    write_image(np.zeros(labels.shape, np.uint8), url, axes="yx", progress=False)
    write_labels(labels, url, name="cells", axes="yx", progress=False)
    n_values = int(np.count_nonzero(np.bincount(labels.ravel())[1:]))
    start = time.perf_counter()
    layer = from_labels(url, label="cells", layer="traced", progress=False)
    seconds = time.perf_counter() - start
    count = getattr(layer, "count", None)
    if count is None and isinstance(layer, dict):
        count = layer.get("count")
    return {"pixels": labels.size, "values": n_values, "rois": count, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=["noise", "objects", "both"], default="both")
    p.add_argument("--size", type=int, default=1024, help="edge of the noise image")
    p.add_argument("--objects-size", type=int, default=8192, help="edge of the objects image")
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="ngffstore-from-labels-")
    try:
        cases = []
        if args.case in ("noise", "both"):
            cases.append(("noise", lambda: noise(args.size)))
        if args.case in ("objects", "both"):
            cases.append(("objects", lambda: objects(args.objects_size)))
        for name, make in cases:
            labels = make()
            r = run_case(name, labels, root)
            print(
                f"{name:<8} {labels.shape[0]}x{labels.shape[1]} {labels.dtype}: {r['values']} values -> "
                f"{r['rois']} ROIs in {r['seconds']:.1f} s "
                f"({r['seconds'] / r['pixels'] * 1e9:.0f} ns/pixel); peak RSS so far {peak_mib():.0f} MiB"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
