"""Synthetic, realistic-looking fluorescence images (cells with nuclei, membranes and spots).

Rendered tile by tile from one global list of cells, so an image of any size is a lazy dask array
that never needs to fit in memory — used by ``ngffstore demo``, the tests and the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.array as da
import numpy as np

CHANNELS = (("DAPI", "0000FF"), ("Membrane", "00FF00"), ("Spots", "FF0000"))


@dataclass(frozen=True)
class Cells:
    cy: np.ndarray
    cx: np.ndarray
    r: np.ndarray
    elong: np.ndarray
    angle: np.ndarray
    brightness: np.ndarray

    @classmethod
    def random(cls, height: int, width: int, *, density: float = 1 / 6000, seed: int = 0) -> Cells:
        rng = np.random.default_rng(seed)
        n = max(1, int(height * width * density))
        return cls(
            cy=rng.uniform(0, height, n),
            cx=rng.uniform(0, width, n),
            r=rng.uniform(9, 18, n),
            elong=rng.uniform(0.7, 1.0, n),
            angle=rng.uniform(0, np.pi, n),
            brightness=rng.uniform(0.4, 1.0, n),
        )


def _render(cells: Cells, channel: int, y0: int, x0: int, h: int, w: int, seed: int) -> np.ndarray:
    out = np.zeros((h, w), dtype=np.float32)
    reach = cells.r * (2.4 if channel == 1 else 1.2)
    sel = np.nonzero(
        (cells.cy + reach >= y0) & (cells.cy - reach < y0 + h) & (cells.cx + reach >= x0) & (cells.cx - reach < x0 + w)
    )[0]
    for i in sel:
        R = reach[i]
        ya, yb = max(int(cells.cy[i] - R), y0), min(int(cells.cy[i] + R) + 1, y0 + h)
        xa, xb = max(int(cells.cx[i] - R), x0), min(int(cells.cx[i] + R) + 1, x0 + w)
        if ya >= yb or xa >= xb:
            continue
        yy, xx = np.mgrid[ya:yb, xa:xb].astype(np.float32)
        dy, dx = yy - cells.cy[i], xx - cells.cx[i]
        ca, sa = np.cos(cells.angle[i]), np.sin(cells.angle[i])
        u = (dy * ca + dx * sa) / cells.r[i]
        v = (-dy * sa + dx * ca) / (cells.r[i] * cells.elong[i])
        d = np.sqrt(u * u + v * v)
        if channel == 0:  # nucleus: bright disc with a soft edge
            val = cells.brightness[i] / (1 + np.exp((d - 1) * 12))
        elif channel == 1:  # membrane: a ring around the nucleus
            val = 0.8 * cells.brightness[i] * np.exp(-((d - 2.0) ** 2) / 0.04)
        else:  # spots: a few diffraction-limited dots inside the cell
            rng = np.random.default_rng((seed, int(i)))
            val = np.zeros_like(d)
            for _ in range(int(rng.integers(1, 5))):
                sy, sx = rng.normal(0, 0.5, 2) * cells.r[i]
                val += rng.uniform(0.5, 1) * np.exp(-((dy - sy) ** 2 + (dx - sx) ** 2) / 4.0)
        np.maximum(out[ya - y0 : yb - y0, xa - x0 : xb - x0], val, out=out[ya - y0 : yb - y0, xa - x0 : xb - x0])
    return out


def render_tile(
    cells: Cells, channel: int, y0: int, x0: int, h: int, w: int, *, height: int, width: int, seed: int = 0
) -> np.ndarray:
    """One uint16 tile of one channel: signal, uneven illumination, background and shot noise."""
    signal = _render(cells, channel, y0, x0, h, w, seed)
    yy = (np.arange(y0, y0 + h, dtype=np.float32)[:, None] / height) - 0.5
    xx = (np.arange(x0, x0 + w, dtype=np.float32)[None, :] / width) - 0.5
    shading = 1.0 - 0.35 * (yy * yy + xx * xx)
    gains = (22000.0, 9000.0, 15000.0)
    expected = 300.0 + gains[channel % 3] * signal * shading
    rng = np.random.default_rng((seed, channel, y0, x0))
    noisy = expected + rng.normal(0, 1, expected.shape).astype(np.float32) * np.sqrt(expected)
    return np.clip(noisy, 0, 65535).astype(np.uint16)


def synthetic_cells(
    shape: tuple[int, ...] = (3, 2048, 2048), *, chunks: int = 1024, seed: int = 0, density: float = 1 / 6000
) -> da.Array:
    """A lazy uint16 image of cells: ``(y, x)``, ``(c, y, x)`` or ``(..., c, z, y, x)`` shaped.

    Channel 0 is nuclei (DAPI), 1 membranes, 2 spots (repeating for more channels). Extra leading
    axes and z planes reuse the same cells with different noise.
    """
    height, width = shape[-2], shape[-1]
    cells = Cells.random(height, width, density=density, seed=seed)
    lead = shape[:-2]
    chunk_shape = (1,) * len(lead) + (min(chunks, height), min(chunks, width))

    def block(block_info: dict | None = None) -> np.ndarray:
        loc = block_info[None]["array-location"]
        idx = [a for a, _ in loc[:-2]]
        (y0, y1), (x0, x1) = loc[-2], loc[-1]
        channel = idx[-1] if len(shape) == 3 else (idx[-2] if len(shape) >= 4 else 0)
        tile_seed = seed * 7919 + sum(v * 31**k for k, v in enumerate(idx))
        tile = render_tile(cells, channel, y0, x0, y1 - y0, x1 - x0, height=height, width=width, seed=tile_seed)
        return tile.reshape((1,) * len(lead) + tile.shape)

    return da.map_blocks(block, dtype=np.uint16, chunks=da.core.normalize_chunks(chunk_shape, shape))
