"""Plate heatmap: the mean intensity of every well, per channel, across an HCS plate.

Shows how to walk a plate (``open_plate`` -> wells -> fields) and reduce every field in parallel
with dask: each field is read at full resolution but block by block (``to_dask(0)``), and only
one number per (field, channel) comes back. Writes ``plate_heatmap.csv`` (well, row, column,
channel, mean, fields) and ``plate_heatmap.png`` (one heatmap panel per channel, drawn with numpy
and Pillow — no matplotlib needed).

    python examples/plate_heatmap.py DEMO/plate.ome.zarr [--scheduler tcp://...] [--out DIR]
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


def well_means(plate) -> pd.DataFrame:
    """A lazy mean per (well, field, channel) -> computed together."""
    tasks, keys = [], []
    for ref in plate:
        well = plate.well(ref.row, ref.column)
        for f, image in enumerate(well.fields):
            data = image.to_dask(0)
            c_axis = image.axes.index("c") if "c" in image.axes else None
            other = tuple(i for i in range(data.ndim) if i != c_axis)
            tasks.append(data.mean(axis=other, dtype=np.float64))
            names = [ch.label for ch in image.channels] if image.channels else [f"c{i}" for i in range(data.shape[c_axis] if c_axis is not None else 1)]
            keys.append((ref.name, ref.row, ref.column, f, names))
    return tasks, keys


def colormap(v: np.ndarray) -> np.ndarray:
    """A small viridis-like ramp for values in [0, 1] -> uint8 RGB."""
    stops = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)
    x = np.clip(v, 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    t = (x - i)[..., None]
    return (stops[i] * (1 - t) + stops[i + 1] * t).astype(np.uint8)


def draw(table: pd.DataFrame, rows: list[str], columns: list[str], path: str, cell: int = 60) -> None:
    from PIL import Image, ImageDraw

    channels = list(dict.fromkeys(table["channel"]))
    pad, title = 30, 20
    w = pad + len(columns) * cell
    h = title + pad + len(rows) * cell
    canvas = Image.new("RGB", (len(channels) * (w + 10) + 10, h + 10), "white")
    draw = ImageDraw.Draw(canvas)
    for k, ch in enumerate(channels):
        sub = table[table["channel"] == ch]
        lo, hi = float(sub["mean"].min()), float(sub["mean"].max())
        ox = 10 + k * (w + 10)
        draw.text((ox + pad, 2), f"{ch}: {lo:.0f}-{hi:.0f}", fill="black")
        for j, col in enumerate(columns):
            draw.text((ox + pad + j * cell + cell // 2 - 4, title + 4), col, fill="black")
        for i, row in enumerate(rows):
            draw.text((ox + 8, title + pad + i * cell + cell // 2 - 6), row, fill="black")
            for j, col in enumerate(columns):
                hit = sub[(sub["row"] == row) & (sub["column"] == col)]
                x0, y0 = ox + pad + j * cell, title + pad + i * cell
                if hit.empty:
                    draw.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], outline="gray")
                    continue
                v = (float(hit["mean"].iloc[0]) - lo) / (hi - lo) if hi > lo else 0.5
                draw.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], fill=tuple(int(c) for c in colormap(np.array(v))))
    canvas.save(path)


@_shared.entry
def main(argv: list[str] | None = None) -> int:
    args = _shared.parser(__doc__).parse_args(argv)
    from ngffstore.plate import open_plate

    plate = open_plate(args.store, storage_options=_shared.storage_options(args))
    tasks, keys = well_means(plate)
    with _shared.scheduler(args) as sched:
        values = dask.compute(*tasks, scheduler=sched)
    records = []
    for (well, row, column, field, names), means in zip(keys, values):
        for name, m in zip(names, np.atleast_1d(means)):
            records.append({"well": well, "row": row, "column": column, "field": field, "channel": name, "mean": float(m)})
    per_field = pd.DataFrame(records)
    table = (per_field.groupby(["well", "row", "column", "channel"], sort=False)
             .agg(mean=("mean", "mean"), fields=("field", "count")).reset_index())
    csv, png = _shared.out_path(args, "plate_heatmap.csv"), _shared.out_path(args, "plate_heatmap.png")
    table.to_csv(csv, index=False)
    draw(table, [str(r) for r in plate.rows], [str(c) for c in plate.columns], png)
    print(table.to_string(index=False))
    print(f"wrote {csv} and {png}")
    # the plate's look beside its numbers: from the stored preview when it is fresh (one GET,
    # whatever the plate size), else from each field's lowest level that fits
    from PIL import Image as PILImage

    from ngffstore.plate.thumbnail import overview_picture

    reg = plate.preview
    mosaic = plate.grid(max(reg.tile) if reg is not None and reg.fresh else 64, gap=2)
    overview = _shared.out_path(args, "plate_overview.png")
    PILImage.fromarray(overview_picture(mosaic, mosaic.compute())).save(overview)
    print(f"wrote {overview} ({'stored preview' if mosaic.preview else 'field levels'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
