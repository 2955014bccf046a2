"""Writing the arrays of a multiscale node (images and labels share this engine).

The pyramid is written in *passes*. A pass reads blocks of one level (the input for the first
pass, a stored level afterwards), writes that level and derives the next few levels from each
block in memory, so every level is built from the one before it and the input is read once.
Blocks are aligned on the chunk (or shard) grid of every level they write: tasks never share a
chunk, so they run in parallel without locks, and block borders leave no seams. Block size is
bounded by ``memory_target``, so peak memory does not grow with the image.

Resuming: each finished block leaves a marker under ``.ngffstore-progress/``; a rerun with the
same fingerprint skips marked blocks. The markers are removed once the node is complete.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np

from . import parallel
from .chunkio import ChunkWriter
from .codecs import Compression
from .pyramid import downsample, level_shapes
from .storage import Location, storage_errors

PROGRESS_DIR = ".ngffstore-progress"
DEFAULT_MEMORY_TARGET = 32 * 2**20
READ_GROUP_BYTES = 8 * 2**20  # source chunks smaller than this are read several per dask call


@dataclass(frozen=True, kw_only=True)
class LevelSpec:
    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None

    @property
    def unit(self) -> tuple[int, ...]:
        """The write unit: the shard when sharded, else the chunk."""
        return self.shards or self.chunks


@dataclass(frozen=True, kw_only=True)
class PyramidSpec:
    """Everything needed to create and fill the arrays of one multiscale node."""

    levels: tuple[LevelSpec, ...]
    factors: tuple[tuple[int, ...], ...]
    dtype: str
    axes: str
    compression: Compression
    zarr_format: int
    method: str
    fill_value: Any = 0

    @classmethod
    def build(
        cls,
        *,
        shape: Sequence[int],
        dtype: Any,
        axes: str,
        factors: Sequence[Sequence[int]],
        chunks: Sequence[int],
        shards: Sequence[int] | None,
        compression: Compression,
        zarr_format: int,
        method: str,
        paths: Sequence[str] | None = None,
    ) -> PyramidSpec:
        shapes = level_shapes(shape, factors)
        levels = []
        for i, s in enumerate(shapes):
            c = tuple(max(1, min(ci, si)) for ci, si in zip(chunks, s))
            sh = None
            if shards is not None:
                sh = tuple(
                    max(ci, min(shi, -(-si // ci) * ci)) for shi, ci, si in zip(shards, c, s)
                )
            levels.append(LevelSpec(path=paths[i] if paths else str(i), shape=s, chunks=c, shards=sh))
        return cls(
            levels=tuple(levels),
            factors=tuple(tuple(f) for f in factors),
            dtype=np.dtype(dtype).str,
            axes=axes,
            compression=compression,
            zarr_format=zarr_format,
            method=method,
        )

    def fingerprint(self, extra: Any = None) -> str:
        import hashlib

        doc = {
            "levels": [(lv.path, lv.shape, lv.chunks, lv.shards) for lv in self.levels],
            "dtype": self.dtype,
            "axes": self.axes,
            "compression": str(self.compression),
            "zarr_format": self.zarr_format,
            "method": self.method,
            "extra": extra,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class Pass:
    first: int  # level read (and, for the first pass, written)
    last: int  # last level written
    block: tuple[int, ...]  # block shape at level `first`

    def grid(self, shape: Sequence[int]) -> list[tuple[int, ...]]:
        counts = [range(-(-s // b)) for s, b in zip(shape, self.block)]
        return list(itertools.product(*counts))


def plan_passes(spec: PyramidSpec, memory_target: int = DEFAULT_MEMORY_TARGET) -> list[Pass]:
    """Split the pyramid into passes whose blocks fit ``memory_target`` bytes."""
    itemsize = np.dtype(spec.dtype).itemsize
    n = len(spec.levels)
    passes: list[Pass] = []
    first = 0
    while True:
        shape = spec.levels[first].shape
        best = None
        for k in range(n - first):
            if k == 0 and n - first > 1:
                continue
            block = _block_for(spec, first, first + k)
            nbytes = math.prod(min(b, s) for b, s in zip(block, shape)) * itemsize
            if best is None or nbytes <= memory_target:
                best = (k, block)
            if nbytes > memory_target:
                break
        assert best is not None
        k, block = best
        block = _grow(block, shape, spec, first, first + k, itemsize, memory_target)
        passes.append(Pass(first=first, last=first + k, block=block))
        if first + k >= n - 1:
            return passes
        first = first + k


def _block_for(spec: PyramidSpec, first: int, last: int) -> tuple[int, ...]:
    unit = spec.levels[last].unit
    total = [1] * len(unit)
    for f in spec.factors[first:last]:
        total = [t * fi for t, fi in zip(total, f)]
    return tuple(u * t for u, t in zip(unit, total))


def _grow(
    block: tuple[int, ...],
    shape: Sequence[int],
    spec: PyramidSpec,
    first: int,
    last: int,
    itemsize: int,
    target: int,
) -> tuple[int, ...]:
    """Enlarge a small block by whole multiples of itself along z, c, t, then y (fewer tasks)."""

    def nbytes(b: Sequence[int]) -> int:
        return math.prod(min(x, s) for x, s in zip(b, shape)) * itemsize

    out = list(block)
    for name in "zcty":
        i = spec.axes.find(name)
        if i < 0:
            continue
        while out[i] < shape[i]:
            trial = out.copy()
            trial[i] += block[i]
            if nbytes(trial) > target:
                break
            out = trial
    return tuple(out)


# -- array creation --------------------------------------------------------------------------


def create_arrays(
    location: Location,
    spec: PyramidSpec,
    *,
    dimension_names: Sequence[str] | None = None,
    only_missing: bool = False,
) -> None:
    """Create (or recreate) every level array of ``spec`` below ``location``, with no data.

    With ``only_missing`` (resuming), arrays that already exist are kept with their chunks.
    """
    import zarr

    store = location.zarr_store()
    meta = "zarr.json" if spec.zarr_format == 3 else ".zarray"
    with storage_errors(location, "write"):
        for lv in spec.levels:
            if only_missing and location.exists(f"{lv.path}/{meta}"):
                continue
            kwargs: dict[str, Any] = {}
            if spec.zarr_format == 2:
                kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
            else:
                kwargs["dimension_names"] = list(dimension_names or spec.axes)
                if lv.shards is not None:
                    kwargs["shards"] = lv.shards
            zarr.create_array(
                store,
                name=lv.path,
                shape=lv.shape,
                dtype=np.dtype(spec.dtype),
                chunks=lv.chunks,
                compressors=spec.compression.zarr_compressors(spec.zarr_format, np.dtype(spec.dtype).itemsize),
                fill_value=spec.fill_value,
                zarr_format=spec.zarr_format,
                overwrite=True,
                **kwargs,
            )


@functools.lru_cache(maxsize=64)
def _cached_array(url: str, options_json: str, path: str, token: str) -> Any:
    import zarr

    location = Location(url, json.loads(options_json))
    return zarr.open_array(location.zarr_store(), path=path, mode="r+")


def _options_key(location: Location) -> str:
    """The storage options as a hashable cache key."""
    return json.dumps(dict(location.storage_options), sort_keys=True, default=str)


def open_level(location: Location, path: str, token: str) -> Any:
    return _cached_array(location.url, _options_key(location), path, token)


@functools.lru_cache(maxsize=64)
def _cached_writer(url: str, options_json: str, path: str, token: str) -> ChunkWriter | None:
    location = Location(url, json.loads(options_json))
    return ChunkWriter.for_array(location, path, _cached_array(url, options_json, path, token))


def store_region(location: Location, path: str, token: str, region: tuple[slice, ...], data: np.ndarray) -> None:
    """Write ``data`` to the chunk-aligned ``region`` of the level array at ``path``."""
    options = _options_key(location)
    writer = _cached_writer(location.url, options, path, token)
    if writer is None:
        _cached_array(location.url, options, path, token)[region] = data
    else:
        writer.write([r.start for r in region], data)


# -- the tasks -------------------------------------------------------------------------------


class Deferred:
    """A region of the source, read inside the task that writes it.

    Hiding the dask array from the outer graph keeps reading and writing of a block in one task:
    the scheduler cannot read blocks ahead of the writers, so memory holds one block per worker.
    The region is read source chunk by source chunk into one buffer, so reading needs the block
    and one chunk, not the block twice (as concatenating all its chunks at once would).
    """

    def __init__(self, array: da.Array) -> None:
        self.array = array

    def compute(self) -> np.ndarray:
        array = self.array
        if array.npartitions == 1:
            return np.asarray(array.compute(scheduler="synchronous"))
        out = np.empty(array.shape, dtype=array.dtype)
        starts = [np.cumsum((0, *c)) for c in array.chunks]
        indices = list(np.ndindex(*array.numblocks))
        # small chunks are computed a few at a time: dask's cost per call is several ms
        per_call = max(1, int(max(out.nbytes // 4, READ_GROUP_BYTES) // max(1, out.nbytes // len(indices))))
        for first in range(0, len(indices), per_call):
            group = indices[first : first + per_call]
            pieces = dask.compute(*(array.blocks[index] for index in group), scheduler="synchronous")
            for index, piece in zip(group, pieces):
                out[tuple(slice(s[i], s[i + 1]) for s, i in zip(starts, index))] = piece
            del pieces
        return out


def _region(index: Sequence[int], block: Sequence[int], shape: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(i * b, min((i + 1) * b, s)) for i, b, s in zip(index, block, shape))


def write_block(
    data: np.ndarray | None,
    *,
    location: Location,
    spec: PyramidSpec,
    pass_: Pass,
    index: tuple[int, ...],
    token: str,
    write_first: bool,
) -> int:
    """Write one block of level ``pass_.first`` (when asked) and the levels derived from it."""
    with storage_errors(location, "write"):
        region = _region(index, pass_.block, spec.levels[pass_.first].shape)
        if data is None:
            data = open_level(location, spec.levels[pass_.first].path, token)[region]
        elif isinstance(data, Deferred):
            data = data.compute()
        data = np.asarray(data)
        if write_first:
            store_region(location, spec.levels[pass_.first].path, token, region, data)
        start = [r.start for r in region]
        for level in range(pass_.first + 1, pass_.last + 1):
            factors = spec.factors[level - 1]
            data = downsample(data, factors, spec.method)
            start = [s // f for s, f in zip(start, factors)]
            target = tuple(slice(s, s + n) for s, n in zip(start, data.shape))
            store_region(location, spec.levels[level].path, token, target, data)
        marker = f"{PROGRESS_DIR}/{pass_.first}-{'.'.join(map(str, index))}"
        location.write_bytes(marker, b"")
    return int(data.nbytes)


def done_blocks(location: Location) -> set[str]:
    """Names of the blocks an earlier, interrupted run finished."""
    fs = location.fs
    path = location.key(PROGRESS_DIR)
    with storage_errors(location, "read"):
        try:
            return {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)}
        except FileNotFoundError:
            return set()


def write_pyramid(
    source: da.Array,
    location: Location,
    spec: PyramidSpec,
    *,
    scheduler: Any = None,
    progress: bool | None = None,
    memory_target: int = DEFAULT_MEMORY_TARGET,
    resume: bool = False,
) -> None:
    """Fill every level of ``spec`` from ``source`` (level-0 data), pass by pass."""
    token = uuid.uuid4().hex
    done = done_blocks(location) if resume else set()
    passes = plan_passes(spec, memory_target)
    total = sum(len(p.grid(spec.levels[p.first].shape)) for p in passes)
    bar = parallel.make_bar(total, f"writing {location.name}", progress)
    try:
        for n, pass_ in enumerate(passes):
            shape = spec.levels[pass_.first].shape
            grid = pass_.grid(shape)
            todo = [ix for ix in grid if f"{pass_.first}-{'.'.join(map(str, ix))}" not in done]
            bar.update(len(grid) - len(todo))
            if not todo:
                continue
            tasks = []
            for ix in todo:
                data = Deferred(source[_region(ix, pass_.block, shape)]) if n == 0 else None
                tasks.append(
                    dask.delayed(write_block, pure=False)(
                        data,
                        location=location,
                        spec=spec,
                        pass_=pass_,
                        index=ix,
                        token=token,
                        write_first=(n == 0),
                        dask_key_name=f"ngffstore-block-{token[:8]}-{pass_.first}-{'.'.join(map(str, ix))}",
                    )
                )
            _run(tasks, scheduler, bar)
    finally:
        bar.close()


def _run(tasks: list[Any], scheduler: Any, bar: Any) -> None:
    scheduler = parallel.parse_scheduler(scheduler)
    parallel.compute(tasks, scheduler=scheduler, bar=bar, prefix="ngffstore-block")


def clear_progress(location: Location) -> None:
    location.remove(PROGRESS_DIR)
