"""Synthetic time-lapse acquisitions as folders of 2-D planes, with acquisition and log files.

What a time-lapse microscope leaves behind (the input of ``ngffstore assemble``)::

    run/
      acquisition.txt        Key: value lines, [Channels] and [Positions] tab-separated tables
      experiment.log         time-stamped log lines
      pos001/exp_0_DAPI_0.png, exp_0_DAPI_1.png, ... exp_{t}_{channel}_{z}.png
      pos002/...

Planes are realistic cells (:mod:`ngffstore.demo.samples`) that drift over time, blur and dim away
from the focal plane and bleach slowly, with shot noise; 16-bit grey PNG (or TIFF). Every plane
is a deterministic function of its indices, so :meth:`SampleFolder.plane` gives back exactly the
pixels written, for tests.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .samples import Cells, render_tile

_CHANNEL_SETTINGS = {  # exposure (ms), excitation, emission (nm), power (%)
    "DAPI": (50, 395, 460, 20),
    "GFP": (100, 470, 525, 35),
    "mCherry": (150, 555, 610, 40),
    "Cy5": (200, 640, 700, 50),
}


@dataclass(frozen=True, kw_only=True)
class SampleFolder:
    """A synthetic acquisition folder written by :func:`write_plane_folder`."""

    root: str
    positions: tuple[str, ...]
    channels: tuple[str, ...]
    times: tuple[int, ...]
    z: int
    shape: tuple[int, int]
    name: str = "exp"
    fmt: str = "png"
    digits: int = 0
    seed: int = 0
    pixel_size: float = 0.325
    z_step: float = 2.0
    interval: float = 300.0
    skipped: tuple[tuple[int, int, int, int], ...] = field(default_factory=tuple)

    @property
    def n_planes(self) -> int:
        return len(self.positions) * len(self.times) * len(self.channels) * self.z - len(self.skipped)

    def file_name(self, t: int, c: int, z: int) -> str:
        d = self.digits
        return f"{self.name}_{t:0{d}d}_{self.channels[c]}_{z:0{d}d}.{self.fmt}"

    def path(self, position: int, t: int, c: int, z: int) -> str:
        """Path of the plane of position index ``position``, timepoint *value* ``t``, indices c, z."""
        return os.path.join(self.root, self.positions[position], self.file_name(t, c, z))

    def plane(self, position: int, t: int, c: int, z: int) -> np.ndarray:
        """The pixels of one plane (``t`` is the timepoint value), exactly as written."""
        return render_plane(position, t, c, z, shape=self.shape, n_z=self.z, seed=self.seed)

    def stack(self, position: int) -> np.ndarray:
        """The (t, c, z, y, x) image of one position, timepoints in numeric order (zeros where skipped)."""
        out = np.zeros((len(self.times), len(self.channels), self.z, *self.shape), dtype=np.uint16)
        skipped = set(self.skipped)
        for ti, t in enumerate(sorted(self.times)):
            for c in range(len(self.channels)):
                for z in range(self.z):
                    if (position, t, c, z) not in skipped:
                        out[ti, c, z] = self.plane(position, t, c, z)
        return out


def render_plane(
    position: int, t: int, c: int, z: int, *, shape: tuple[int, int], n_z: int, seed: int = 0
) -> np.ndarray:
    """One uint16 plane: the cells of ``position`` at timepoint ``t``, channel ``c``, z-plane ``z``."""
    height, width = shape
    base = Cells.random(height, width, density=1 / 3000, seed=seed * 1000 + position)
    rng = np.random.default_rng((seed, position, 7))
    n = len(base.cy)
    velocity = rng.normal(0, 0.6, (2, n))  # pixels per timepoint
    drift = rng.normal(0, 0.3, 2) * t  # the stage drifts a little
    defocus = abs(z - (n_z - 1) / 2)
    bleach = 0.997**t
    cells = Cells(
        cy=(base.cy + velocity[0] * t + drift[0]) % height,
        cx=(base.cx + velocity[1] * t + drift[1]) % width,
        r=base.r * (1 + 0.12 * defocus),
        elong=base.elong,
        angle=base.angle + 0.01 * t,
        brightness=base.brightness * bleach / (1 + 0.35 * defocus**2),
    )
    noise_seed = ((seed * 1009 + position) * 1_000_003 + t) * 1009 + z
    return render_tile(cells, c, 0, 0, height, width, height=height, width=width, seed=noise_seed % 2**32)


def _write_plane(args: tuple[str, str, int, int, int, int, tuple[int, int], int, int]) -> None:
    path, fmt, position, t, c, z, shape, n_z, seed = args
    data = render_plane(position, t, c, z, shape=shape, n_z=n_z, seed=seed)
    if fmt == "png":
        import imagecodecs

        with open(path, "wb") as f:
            f.write(imagecodecs.png_encode(data, level=1))
    else:
        import tifffile

        tifffile.imwrite(path, data, photometric="minisblack")


def write_plane_folder(
    root: str | os.PathLike[str],
    *,
    positions: int = 2,
    channels: Sequence[str] = ("DAPI", "GFP"),
    timepoints: int | Sequence[int] = 4,
    z: int = 3,
    shape: int | tuple[int, int] = 64,
    name: str = "exp",
    fmt: str = "png",
    digits: int = 0,
    seed: int = 0,
    skip: Iterable[tuple[int, int, int, int]] = (),
    pixel_size: float = 0.325,
    z_step: float = 2.0,
    interval: float = 300.0,
    workers: int = 1,
) -> SampleFolder:
    """Write a synthetic acquisition: planes in ``pos001/``... plus ``acquisition.txt`` and a log.

    Parameters
    ----------
    positions, channels, timepoints, z
        How many positions, which channels, how many timepoints (or their values, e.g.
        ``(1, 2, 10)``) and z-planes.
    shape
        Plane height and width (one number for a square).
    name, fmt, digits
        Files are ``{name}_{t}_{channel}_{z}.{fmt}`` (``png`` 16-bit grey or ``tif``), numbers
        zero-padded to ``digits``.
    skip
        ``(position, t, c, z)`` planes not to write (missing planes).
    workers
        Processes that render and encode planes (for large folders).
    """
    if fmt not in ("png", "tif"):
        raise ValueError(f"fmt must be 'png' or 'tif', not {fmt!r}")
    size = (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))
    times = tuple(range(timepoints)) if isinstance(timepoints, int) else tuple(int(t) for t in timepoints)
    sample = SampleFolder(
        root=os.fspath(root),
        positions=tuple(f"pos{i + 1:03d}" for i in range(positions)),
        channels=tuple(channels),
        times=times,
        z=z,
        shape=size,
        name=name,
        fmt=fmt,
        digits=digits,
        seed=seed,
        pixel_size=pixel_size,
        z_step=z_step,
        interval=interval,
        skipped=tuple(sorted(set(skip))),
    )
    skipped = set(sample.skipped)
    jobs = []
    for p, folder in enumerate(sample.positions):
        os.makedirs(os.path.join(sample.root, folder), exist_ok=True)
        for t in times:
            for c in range(len(sample.channels)):
                for k in range(z):
                    if (p, t, c, k) in skipped:
                        continue
                    jobs.append((sample.path(p, t, c, k), fmt, p, t, c, k, size, z, seed))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_write_plane, jobs, chunksize=16))
    else:
        for job in jobs:
            _write_plane(job)
    _write_text_files(sample)
    return sample


def _write_text_files(sample: SampleFolder) -> None:
    start = _dt.datetime(2024, 3, 5, 9, 30, 0)
    rng = np.random.default_rng(sample.seed)
    n_t = len(sample.times)
    lines = [
        "# Acquisition settings (synthetic, written by ngffstore.demo.sample_folders)",
        f"Experiment: {sample.name}",
        f"Date: {start:%Y-%m-%d %H:%M:%S}",
        "User: jdoe",
        "Microscope: Nikon Ti2-E",
        "Objective: Plan Apo 20x/0.75 Air",
        "Camera: Hamamatsu ORCA-Fusion BT",
        "Binning: 1",
        f"Pixel size (um): {sample.pixel_size}",
        f"Z step (um): {sample.z_step}",
        f"Time interval (s): {sample.interval:g}",
        f"Positions: {len(sample.positions)}",
        f"Timepoints: {n_t}",
        f"Z planes: {sample.z}",
        f"Channels: {', '.join(sample.channels)}",
        "Temperature (C): 37.0",
        "CO2 (%): 5.0",
        "Autofocus: true",
        "",
        "[Channels]",
        "Channel\tExposure (ms)\tExcitation (nm)\tEmission (nm)\tPower (%)",
    ]
    for ch in sample.channels:
        exposure, excitation, emission, power = _CHANNEL_SETTINGS.get(ch, (100, 500, 550, 30))
        lines.append(f"{ch}\t{exposure}\t{excitation}\t{emission}\t{power}")
    lines += ["", "[Positions]", "Position\tX (um)\tY (um)\tZ (um)"]
    for pos in sample.positions:
        x, y = rng.uniform(-20000, 20000, 2)
        lines.append(f"{pos}\t{x:.1f}\t{y:.1f}\t{rng.uniform(140, 160):.2f}")
    with open(os.path.join(sample.root, "acquisition.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")

    first = (
        f"{start:%Y-%m-%d %H:%M:%S}.000 INFO  acquisition started: {len(sample.positions)} "
        f"positions x {n_t} timepoints x {len(sample.channels)} channels x {sample.z} z-planes"
    )
    log = [first]
    skipped = set(sample.skipped)
    for ti, t in enumerate(sample.times):
        when = start + _dt.timedelta(seconds=ti * sample.interval)
        for p, pos in enumerate(sample.positions):
            offset = rng.normal(0, 0.3)
            log.append(f"{when:%Y-%m-%d %H:%M:%S}.{p * 137 % 1000:03d} INFO  {pos} t={t} autofocus offset {offset:+.2f} um")
            for c, ch in enumerate(sample.channels):
                if any((p, t, c, k) in skipped for k in range(sample.z)):
                    log.append(f"{when:%Y-%m-%d %H:%M:%S}.{p * 137 % 1000:03d} WARN  {pos} t={t} {ch}: camera timeout, plane(s) not saved")
    log.append(f"{start + _dt.timedelta(seconds=n_t * sample.interval):%Y-%m-%d %H:%M:%S}.000 INFO  acquisition finished")
    with open(os.path.join(sample.root, "experiment.log"), "w", encoding="utf-8") as f:
        f.write("\n".join(log) + "\n")


__all__ = ["SampleFolder", "render_plane", "write_plane_folder"]
