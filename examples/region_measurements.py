"""Region measurements: per-label intensity statistics joined with the label properties.

For a label image of an image (default ``nuclei``), computes per label and channel the pixel
count, mean, min and max intensity, chunk-wise with dask: each block contributes per-label sums
(``numpy.bincount``) that are added up — no block needs any other. The table is joined with the
label's geometry (``Labels.regions()``: area, bbox, centroid) and its NGFF ``properties``, and
written as ``region_measurements.parquet``.

    python examples/region_measurements.py DEMO/cells.ome.zarr [--labels nuclei] [--out DIR]
"""

from __future__ import annotations

import sys

import dask
import numpy as np
import pandas as pd

try:
    from . import _shared
except ImportError:
    import _shared


def block_sums(labels: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``(4, size)``: pixel count, sum, min and max of ``values`` per label value in one block."""
    lab = labels.ravel().astype(np.int64)
    v = values.ravel().astype(np.float64)
    out = np.empty((4, size))
    out[0] = np.bincount(lab, minlength=size)[:size]
    out[1] = np.bincount(lab, weights=v, minlength=size)[:size]
    out[2] = np.inf
    out[3] = -np.inf
    np.minimum.at(out[2], lab, v)
    np.maximum.at(out[3], lab, v)
    return out


def combine(parts: list[np.ndarray]) -> np.ndarray:
    out = parts[0].copy()
    for p in parts[1:]:
        out[:2] += p[:2]
        np.minimum(out[2], p[2], out=out[2])
        np.maximum(out[3], p[3], out=out[3])
    return out


def measure(image, labels, *, scheduler=None) -> pd.DataFrame:
    """Per-label intensity statistics of every channel of ``image`` (level 0, block by block)."""
    lab = labels.to_dask(0)
    lab = lab[tuple(0 if a in "tcz" else slice(None) for a in labels.axes)]
    size = int(lab.max().compute(scheduler=scheduler)) + 1
    data = image.to_dask(0)
    frames = []
    names = [c.label for c in image.channels] or [f"c{i}" for i in range(image.shape[image.axes.index("c")])]
    tasks = []
    for ci, name in enumerate(names):
        index = tuple(ci if a == "c" else (0 if a in "tz" else slice(None)) for a in image.axes)
        channel = data[index].rechunk(lab.chunks)
        lb, cb = lab.to_delayed().ravel(), channel.to_delayed().ravel()
        parts = [dask.delayed(block_sums)(a, b, size) for a, b in zip(lb, cb)]
        tasks.append(dask.delayed(combine)(parts))
    for name, total in zip(names, dask.compute(*tasks, scheduler=scheduler)):
        count = total[0]
        keep = np.nonzero(count[1:] > 0)[0] + 1
        frames.append(pd.DataFrame({
            "label": keep, "channel": name, "pixels": count[keep].astype(np.int64),
            "mean": total[1][keep] / count[keep], "min": total[2][keep], "max": total[3][keep],
        }))
    return pd.concat(frames, ignore_index=True)


@_shared.entry
def main(argv: list[str] | None = None) -> int:
    p = _shared.parser(__doc__)
    p.add_argument("--labels", default="nuclei", help="label image name (default nuclei)")
    args = p.parse_args(argv)
    from ngffstore.image import open_image
    from ngffstore.labels import open_labels

    so = _shared.storage_options(args)
    image = open_image(args.store, storage_options=so)
    labels = open_labels(image.url, args.labels, storage_options=so)
    with _shared.scheduler(args) as sched:
        intensities = measure(image, labels, scheduler=sched)
        regions = labels.regions(scheduler=sched)
    wide = intensities.pivot(index="label", columns="channel", values=["mean", "min", "max"])
    wide.columns = [f"{stat}_{ch}" for stat, ch in wide.columns]
    table = regions.merge(wide.reset_index(), on="label", how="left")
    props = labels.properties_frame
    props = props() if callable(props) else props  # a property on Labels
    if props is not None and len(props):
        props = props.reset_index().rename(columns={"label-value": "label"})
        table = table.merge(props, on="label", how="left")
    out = _shared.out_path(args, "region_measurements.parquet")
    table.to_parquet(out, index=False)
    print(table.head(10).to_string(index=False))
    print(f"{len(table)} labels -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
