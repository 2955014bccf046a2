"""The evaluation plot, drawn with Pillow (no matplotlib): per-image F1 as horizontal bars, or
for a plate a heatmap of the wells (mean F1 of each well's fields) on the plate's grid."""

from __future__ import annotations

from typing import Any

import numpy as np

#: viridis-like colour ramp for values in [0, 1]
STOPS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)
MAX_BARS = 400


def colour(v: float) -> tuple[int, int, int]:
    if v is None or not np.isfinite(v):
        return (220, 220, 220)
    x = float(np.clip(v, 0, 1)) * (len(STOPS) - 1)
    i = min(int(x), len(STOPS) - 2)
    t = x - i
    return tuple(int(c) for c in STOPS[i] * (1 - t) + STOPS[i + 1] * t)  # type: ignore[return-value]


def draw(evaluation: Any, path: str) -> str:
    from PIL import Image, ImageDraw

    table = evaluation.table[evaluation.table["term"] == ""]
    title = f"F1 (IoU > {evaluation.threshold:g}): {evaluation.prediction} vs {evaluation.truth}"
    if evaluation.kind == "plate" and evaluation.rows and evaluation.columns:
        per_well = table.groupby(["row", "column"])["f1"].mean()
        rows, cols = list(evaluation.rows), list(evaluation.columns)
        cell, pad, top = 44, 34, 34
        width = max(pad + len(cols) * cell + 10, 6 * len(title) + 12, pad + 220)
        canvas = Image.new("RGB", (width, top + pad + len(rows) * cell + 30), "white")
        d = ImageDraw.Draw(canvas)
        d.text((6, 6), title, fill="black")
        for j, c in enumerate(cols):
            d.text((pad + j * cell + cell // 2 - 6, top + 10), str(c), fill="black")
        for i, r in enumerate(rows):
            y0 = top + pad + i * cell
            d.text((10, y0 + cell // 2 - 6), str(r), fill="black")
            for j, c in enumerate(cols):
                x0 = pad + j * cell
                v = per_well.get((r, c))
                if v is None:
                    d.rectangle([x0, y0, x0 + cell - 3, y0 + cell - 3], outline=(160, 160, 160))
                    continue
                rgb = colour(v)
                d.rectangle([x0, y0, x0 + cell - 3, y0 + cell - 3], fill=rgb)
                ink = "black" if sum(rgb) > 380 else "white"
                d.text((x0 + 6, y0 + cell // 2 - 6), "-" if not np.isfinite(v) else f"{v:.2f}", fill=ink)
        _legend(d, pad, top + pad + len(rows) * cell + 8)
        canvas.save(path)
        return path
    table = table.head(MAX_BARS)
    names = [str(n) for n in table["image"]]
    label_w = min(300, 8 + 6 * max((len(n) for n in names), default=4))
    bar_w, row_h, top = 400, 16, 30
    canvas = Image.new("RGB", (max(label_w + bar_w + 60, 6 * len(title) + 12), top + row_h * len(names) + 40), "white")
    d = ImageDraw.Draw(canvas)
    d.text((6, 6), title, fill="black")
    for k, (n, v) in enumerate(zip(names, table["f1"])):
        y = top + k * row_h
        d.text((4, y + 2), n[-(label_w // 6 - 1):], fill="black")
        w = 0 if not np.isfinite(v) else round(float(v) * bar_w)
        d.rectangle([label_w, y + 2, label_w + max(w, 1), y + row_h - 3], fill=colour(v))
        d.text((label_w + w + 4, y + 2), "-" if not np.isfinite(v) else f"{v:.2f}", fill="black")
    _legend(d, label_w, top + row_h * len(names) + 10)
    canvas.save(path)
    return path


def _legend(d: Any, x: int, y: int, width: int = 200) -> None:
    for k in range(width):
        d.line([x + k, y, x + k, y + 10], fill=colour(k / (width - 1)))
    d.text((x - 8, y + 12), "0", fill="black")
    d.text((x + width - 4, y + 12), "1", fill="black")
