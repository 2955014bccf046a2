"""Level 0 of a tiled TIFF page read tile by tile: each tile a region touches is read and decoded
once, in threads, straight into the result.

tifffile's Zarr store (``series.aszarr``) costs several times the decoding itself per chunk (its
event loop, a chunk dictionary, a copy per tile); a whole-slide image has hundreds of thousands
of tiles. Here a region is served by: the byte ranges of its tiles (runs of tiles adjacent in the
file read with one ``pread``, or one ranged GET each on object storage), tifffile's own decoder
for the page (``TiffPage.decode``: JPEG tables, NDPI headers, YCbCr, predictors and bit orders as
tifffile knows them), and one copy of each decoded tile into place.

The array can be presented *planar* (samples before rows: ``...SYX`` instead of tifffile's
``...YXS``): the copy of each tile into place then also reorders its samples, so an RGB slide
reaches the writer in ``cyx`` order without a transpose of the whole region afterwards.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import tifffile

from ngffstore.storage import Location, storage_errors

from ._io import FileArray, open_binary

_MERGE_GAP = 4096  # tiles closer than this in the file are read with one request
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _decode_pool() -> ThreadPoolExecutor:
    """One pool per process for decoding tiles (the decoders release the GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="ngffstore-tiles")
        return _pool


def tiled_page(series: tifffile.TiffPageSeries) -> Any | None:
    """The one tiled page that holds level 0 of ``series``, when tile-by-tile reading applies:
    one page, 2-D tiles, samples interleaved (or a single sample). None otherwise."""
    if len(series.pages) != 1:
        return None
    page = series.pages[0]
    if page is None or not isinstance(page, tifffile.TiffPage) or not page.is_tiled:
        return None
    separate, depth, _, _, _ = page.shaped
    if separate != 1 or depth != 1 or page.tiledepth != 1:
        return None
    if page.planarconfig != 1 and page.samplesperpixel > 1:
        return None
    return page


class TileArray(FileArray):
    """Level 0 of series ``index`` of a TIFF file whose level 0 is one tiled page.

    ``shape`` is tifffile's (``squeeze=False``) shape, whose last axes are ``Y, X, S`` (or
    ``Y, X`` for one sample) after dimensions of length 1; with ``planar`` the array is
    ``..., S, Y, X`` instead.
    """

    prefix = "tifftiles"

    def __init__(
        self,
        location: Location,
        index: int,
        shape: tuple[int, ...],
        dtype: Any,
        *,
        samples_axis: bool = True,
        planar: bool = False,
    ) -> None:
        file_shape = tuple(int(n) for n in shape)
        if planar:
            if not samples_axis:
                raise ValueError("a planar view needs a samples axis")
            shape = (*file_shape[:-3], file_shape[-1], file_shape[-3], file_shape[-2])
        super().__init__(location, shape, dtype)
        self.index = index
        self.samples_axis = samples_axis
        self.planar = planar

    def _open(self) -> tuple[Any, Callable[[], None]]:
        handle = None if self.location.is_local else open_binary(self.location)
        tf = tifffile.TiffFile(handle or self.location.path, name=self.location.name)
        fd = os.open(self.location.path, os.O_RDONLY) if self.location.is_local else None
        try:
            page = tiled_page(tf.series[self.index])
            if page is None:
                raise ValueError("level 0 is no longer one tiled page")
            reader = _TileReader(self, page, fd)
        except BaseException:
            tf.close()
            if fd is not None:
                os.close(fd)
            raise

        def close() -> None:
            tf.close()
            if fd is not None:
                os.close(fd)
            if handle is not None:
                handle.close()

        return reader, close


class _TileReader:
    """``__getitem__`` (slices only) over a :class:`TileArray`."""

    def __init__(self, array: TileArray, page: Any, fd: int | None) -> None:
        self.array = array
        self.fd = fd
        self.offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        self.counts = np.asarray(page.databytecounts, dtype=np.int64)
        self.decode = page.decode
        self.decode_args = {"jpegtables": page.jpegtables, "jpegheader": page.jpegheader}
        self.tile = (int(page.tilelength), int(page.tilewidth))
        self.height, self.width = int(page.imagelength), int(page.imagewidth)
        self.across = -(-self.width // self.tile[1])
        self.fill = page.nodata or 0

    def __getitem__(self, key: Any) -> np.ndarray:
        a = self.array
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (len(a.shape) - len(key))
        ranges = []
        drop = []  # axes indexed by an integer
        for axis, (k, n) in enumerate(zip(key, a.shape)):
            if not isinstance(k, slice):
                j = int(k) + (n if int(k) < 0 else 0)
                if not 0 <= j < n:
                    raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
                k = slice(j, j + 1)
                drop.append(axis)
            start, stop, step = k.indices(n)
            if step != 1:
                raise TypeError("tile reads take contiguous slices only")
            ranges.append((start, max(start, stop)))
        if a.planar:
            (s0, s1), (y0, y1), (x0, x1) = ranges[-3:]
        elif a.samples_axis:
            (y0, y1), (x0, x1), (s0, s1) = ranges[-3:]
        else:
            (y0, y1), (x0, x1), (s0, s1) = (*ranges[-2:], (0, 1))
        # tifffile's leading dimensions are all of length 1 here
        out = np.empty([hi - lo for lo, hi in ranges], dtype=a.dtype)
        if out.size == 0:
            return out.squeeze(tuple(drop))
        if a.planar:
            plane = out.reshape((s1 - s0, y1 - y0, x1 - x0))
        else:
            plane = out.reshape((y1 - y0, x1 - x0, s1 - s0))
        th, tw = self.tile
        rows = range(y0 // th, -(-y1 // th))
        cols = range(x0 // tw, -(-x1 // tw))
        work = [[r * self.across + c for c in cols] for r in rows]
        region = (y0, y1, x0, x1, s0, s1)
        if len(work) == 1:
            self._read_tiles(work[0], plane, region)
        else:
            for done in _decode_pool().map(lambda tiles: self._read_tiles(tiles, plane, region), work):
                del done
        return out.squeeze(tuple(drop)) if drop else out

    def _read_tiles(self, tiles: list[int], plane: np.ndarray, region: tuple[int, ...]) -> None:
        """Read, decode and place ``tiles`` (tile indices, in file order of one row)."""
        y0, y1, x0, x1, s0, s1 = region
        th, tw = self.tile
        for index, data in zip(tiles, self._fetch(tiles)):
            ty, tx = divmod(index, self.across)
            ty, tx = ty * th, tx * tw
            # the part of the tile inside the region, in image coordinates
            ya, yb = max(y0, ty), min(y1, ty + th, self.height)
            xa, xb = max(x0, tx), min(x1, tx + tw, self.width)
            target = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
            if data is None:
                tile = None
            else:
                tile, _, _ = self.decode(data, index, **self.decode_args)
            if tile is None:  # a tile the file does not store
                if self.array.planar:
                    plane[(slice(None), *target)] = self.fill
                else:
                    plane[target] = self.fill
                continue
            tile = tile.reshape(tile.shape[-3:])[ya - ty : yb - ty, xa - tx : xb - tx, s0:s1]
            if self.array.planar:
                plane[(slice(None), *target)] = tile.transpose(2, 0, 1)
            else:
                plane[target] = tile

    def _fetch(self, tiles: list[int]) -> list[bytes | None]:
        """The stored bytes of ``tiles`` (None for a tile of size 0); runs of tiles that are
        (nearly) adjacent in the file are read with one request."""
        offsets, counts = self.offsets[tiles], self.counts[tiles]
        out: list[bytes | None] = [None] * len(tiles)
        order = sorted((i for i in range(len(tiles)) if counts[i] > 0), key=lambda i: offsets[i])
        runs: list[list[int]] = []
        for i in order:
            if runs:
                last = runs[-1][-1]
                end = offsets[last] + counts[last]
                if 0 <= offsets[i] - end <= _MERGE_GAP:
                    runs[-1].append(i)
                    continue
            runs.append([i])
        spans = [(int(offsets[r[0]]), int(max(offsets[i] + counts[i] for i in r))) for r in runs]
        for run, (start, stop), blob in zip(runs, spans, self._read_spans(spans)):
            if len(blob) < stop - start:
                raise EOFError(f"the file ends before byte {stop} (a tile of level 0)")
            view = memoryview(blob)
            for i in run:
                first = int(offsets[i]) - start
                out[i] = bytes(view[first : first + int(counts[i])])
        return out

    def _read_spans(self, spans: list[tuple[int, int]]) -> list[bytes]:
        if self.fd is not None:
            return [os.pread(self.fd, stop - start, start) for start, stop in spans]
        location = self.array.location
        with storage_errors(location, "read"):
            parts = location.fs.cat_ranges(
                [location.path] * len(spans), [s for s, _ in spans], [e for _, e in spans]
            )
        for part in parts:
            if isinstance(part, BaseException):
                raise part
        return parts
