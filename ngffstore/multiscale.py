"""Writing the arrays of a multiscale node (images and labels share this engine).

The pyramid is written in *passes*. A pass reads blocks of one level (the input for the first
pass, a stored level afterwards), writes that level and derives the next few levels from each
block in memory, so every level is built from the one before it and the input is read once.
Blocks are aligned on the chunk (or shard) grid of every level they write: tasks never share a
chunk, so they run in parallel without locks, and block borders leave no seams. Block size is
bounded by ``memory_target``, so peak memory does not grow with the image; a task works through
its block in strips (see :func:`write_block`), so it holds one strip per level, not the block.

Arrays are created by writing their metadata documents (built with zarr's own metadata models in
memory) with one PUT each; chunks are encoded and stored by :mod:`ngffstore.chunkio`. Nothing on
this path probes the destination or lists it.

Resuming: when a write has more than one block, each finished block leaves a marker
``.ngffstore-progress/<run>/<pass>-<block>.json`` listing the objects the block stored and their
sizes, written only after those objects are durable. A rerun with the same fingerprint (which
covers everything that decides which object holds which bytes: levels, chunks, shards, codecs,
method, the block plan and the input's identity) reads the markers of its blocks (one GET each),
checks the sizes of the objects they list (``os.stat`` locally; one LIST per level prefix page on
object storage) and rewrites every block whose marker is missing, unreadable or does not match.
The markers are removed once the node is complete.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from . import parallel
from .chunkio import ChunkWriter
from .codecs import Compression
from .pyramid import block_empty, downsample, level_shapes
from .storage import Location, dump_json, storage_errors

if TYPE_CHECKING:
    import dask.array as da

PROGRESS_DIR = ".ngffstore-progress"
DEFAULT_MEMORY_TARGET = 32 * 2**20
READ_GROUP_BYTES = 4 * 2**20  # source chunks smaller than this are read several per dask call


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
    dimension_names: tuple[str, ...] | None = None
    #: Axes a block always holds whole (the samples of an interleaved RGB source, which are
    #: decoded together: splitting them would decode every tile once per part). The block
    #: plan's byte budget then counts one plane of these axes (see :func:`plan_passes`).
    whole: tuple[int, ...] = ()

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
        whole: Sequence[int] = (),
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
            whole=tuple(sorted(int(i) for i in whole)),
        )

    def with_paths(self, paths: Sequence[str]) -> PyramidSpec:
        """The same pyramid with its level arrays at ``paths``."""
        return replace(self, levels=tuple(replace(lv, path=p) for lv, p in zip(self.levels, paths)))

    def fingerprint(self, extra: Any = None, *, memory_target: int | None = None) -> str:
        """A digest of everything that decides which stored object holds which bytes.

        Level paths are left out (a resumed run reuses the paths recorded by the first), the
        block plan of ``memory_target`` is in, and ``extra`` carries the input's identity.
        """
        import hashlib

        plan = None
        if memory_target is not None:
            plan = [(p.first, p.last, p.block) for p in plan_passes(self, memory_target)]
        doc = {
            "levels": [(lv.shape, lv.chunks, lv.shards) for lv in self.levels],
            "factors": self.factors,
            "fill_value": self.fill_value,
            "dimension_names": self.dimension_names,
            "plan": plan,
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
    """Split the pyramid into passes whose blocks fit ``memory_target`` bytes.

    Axes in ``spec.whole`` are held whole by every block and left out of the byte count (an
    RGB block of ``memory_target`` bytes per sample): reading a third of an interleaved RGB
    tile costs its whole decoding. A task holds one strip per level of its block (see
    :func:`write_block`), not the block.
    """
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
            nbytes = _block_bytes(spec, block, shape, itemsize)
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


def _block_bytes(spec: PyramidSpec, block: Sequence[int], shape: Sequence[int], itemsize: int) -> int:
    """Bytes of ``block`` (clipped to ``shape``) counted by the plan: one plane of the whole axes."""
    return math.prod(min(b, s) for i, (b, s) in enumerate(zip(block, shape)) if i not in spec.whole) * itemsize


def _block_for(spec: PyramidSpec, first: int, last: int) -> tuple[int, ...]:
    unit = spec.levels[last].unit
    total = [1] * len(unit)
    for f in spec.factors[first:last]:
        total = [t * fi for t, fi in zip(total, f)]
    shape = spec.levels[first].shape
    return tuple(shape[i] if i in spec.whole else u * t for i, (u, t) in enumerate(zip(unit, total)))


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
    out = list(block)
    for name in "zcty":
        i = spec.axes.find(name)
        if i < 0 or i in spec.whole:
            continue
        while out[i] < shape[i]:
            trial = out.copy()
            trial[i] += block[i]
            if _block_bytes(spec, trial, shape, itemsize) > target:
                break
            out = trial
    return tuple(out)


# -- array documents -------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _documents(key: str) -> tuple[tuple[str, bytes], ...]:
    """The metadata documents of one array, built by zarr in a memory store (no I/O)."""
    import zarr
    from zarr.storage import MemoryStore

    doc = json.loads(key)
    comp = Compression(doc["compression"][0], doc["compression"][1])
    dtype = np.dtype(doc["dtype"])
    kwargs: dict[str, Any] = {}
    if doc["zarr_format"] == 2:
        kwargs["chunk_key_encoding"] = {"name": "v2", "separator": "/"}
    else:
        kwargs["dimension_names"] = doc["dimension_names"]
        if doc["shards"] is not None:
            kwargs["shards"] = tuple(doc["shards"])
    store = MemoryStore()
    zarr.create_array(
        store, name="a", shape=tuple(doc["shape"]), dtype=dtype, chunks=tuple(doc["chunks"]),
        compressors=comp.zarr_compressors(doc["zarr_format"], dtype.itemsize),
        fill_value=doc["fill_value"], zarr_format=doc["zarr_format"], **kwargs,
    )
    out = []
    for name, buffer in sorted(store._store_dict.items()):
        if name.startswith("a/"):
            out.append((name[2:], buffer.to_bytes()))
    return tuple(out)


def array_documents(spec: PyramidSpec, level: int, shape: Sequence[int] | None = None) -> dict[str, bytes]:
    """``{name: bytes}`` of the metadata documents of level ``level`` (``zarr.json``, or
    ``.zarray`` and ``.zattrs``), as zarr itself writes them; ``shape`` overrides the level's."""
    lv = spec.levels[level]
    key = json.dumps(
        {
            "shape": list(shape or lv.shape), "chunks": list(lv.chunks),
            "shards": list(lv.shards) if lv.shards else None, "dtype": spec.dtype,
            "compression": [spec.compression.name, spec.compression.level],
            "zarr_format": spec.zarr_format, "fill_value": spec.fill_value,
            "dimension_names": list(spec.dimension_names or spec.axes),
        },
        sort_keys=True,
    )
    return dict(_documents(key))


def _metadata(documents: dict[str, bytes]) -> Any:
    from zarr.core.metadata import ArrayV2Metadata, ArrayV3Metadata

    if "zarr.json" in documents:
        return ArrayV3Metadata.from_dict(json.loads(documents["zarr.json"]))
    doc = json.loads(documents[".zarray"])
    if ".zattrs" in documents:
        doc["attributes"] = json.loads(documents[".zattrs"])
    return ArrayV2Metadata.from_dict(doc)


def create_arrays(location: Location, spec: PyramidSpec) -> int:
    """Create every level array of ``spec`` below ``location`` by writing its metadata documents
    (one PUT each, no probe). Returns the bytes written."""
    puts = [(f"{lv.path}/{name}", data) for i, lv in enumerate(spec.levels)
            for name, data in array_documents(spec, i).items()]
    _put_all(location, puts)
    return sum(len(d) for _, d in puts)


def _put_all(location: Location, puts: Sequence[tuple[str, bytes]]) -> None:
    if location.is_local or len(puts) < 2:
        for key, data in puts:
            location.put(key, data)
        return
    with ThreadPoolExecutor(min(8, len(puts))) as pool:
        list(pool.map(lambda kd: location.put(*kd), puts))


_arrays_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _cached_array(url: str, options_json: str, path: str, documents_key: tuple[tuple[str, bytes], ...]) -> Any:
    """A zarr array object built from its metadata document (opening it would probe the store)."""
    from zarr.core.array import Array, AsyncArray
    from zarr.storage import StorePath

    location = Location(url, json.loads(options_json))
    store = location.zarr_store()
    return Array(AsyncArray(metadata=_metadata(dict(documents_key)), store_path=StorePath(store, path)))


def _options_key(location: Location) -> str:
    """The storage options as a hashable cache key."""
    return json.dumps(dict(location.storage_options), sort_keys=True, default=str)


def level_array(location: Location, spec: PyramidSpec, level: int) -> Any:
    """The zarr array of level ``level`` of ``spec`` below ``location``, without reading anything."""
    documents = tuple(sorted(array_documents(spec, level).items()))
    with _arrays_lock:
        return _cached_array(location.url, _options_key(location), spec.levels[level].path, documents)


def store_region(location: Location, spec: PyramidSpec, level: int, region: tuple[slice, ...],
                 data: np.ndarray, writer: ChunkWriter | None = None) -> dict[str, int]:
    """Write ``data`` to the chunk-aligned ``region`` of level ``level``; return ``{key: size}``."""
    if writer is None:
        writer = ChunkWriter.for_array(location, spec.levels[level].path, level_array(location, spec, level))
    return writer.write([r.start for r in region], data)


# -- the tasks -------------------------------------------------------------------------------


class Buffers:
    """Arrays a thread reuses from strip to strip and block to block of one pyramid write.

    Every strip of a block needs a buffer per level (the source read into one, each lower level
    downsampled into the next). Allocated afresh, they come and go hundreds of times per image:
    large ones are mapped and unmapped (a page fault per page each time), and once glibc has
    raised its mmap threshold they come from a heap that keeps them, so peak memory drifts above
    what is in use. One buffer per thread and role, grown when a larger strip needs it, is
    allocated once. :meth:`clear` drops them when the write ends.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[int, Any], np.ndarray] = {}

    def get(self, role: Any, shape: Sequence[int], dtype: Any) -> np.ndarray:
        """An uninitialised C-order array of ``shape`` for ``role`` in this thread; the previous
        array of the same role and thread is overwritten."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        key = (threading.get_ident(), role)  # each thread its own keys: no lock needed
        buffer = self._buffers.get(key)
        if buffer is None or buffer.nbytes < nbytes:
            buffer = self._buffers[key] = block_empty((max(nbytes, 1),), np.uint8)
        return buffer[:nbytes].view(dtype).reshape(tuple(shape))

    def clear(self) -> None:
        self._buffers.clear()


class Deferred:
    """A region of the source, read inside the task that writes it.

    Hiding the dask array from the outer graph keeps reading and writing of a block in one task:
    the scheduler cannot read blocks ahead of the writers, so memory holds one strip per worker.
    The region is read source chunk by source chunk into one buffer, so reading needs the block
    and one chunk, not the block twice (as concatenating all its chunks at once would).
    """

    def __init__(self, array: da.Array) -> None:
        self.array = array

    def compute(self, out: np.ndarray | None = None) -> np.ndarray:
        """The region's pixels, in ``out`` when given (of the region's shape and dtype) unless
        the region is one source chunk (then the array the source returned: no copy)."""
        array = self.array
        indices = list(np.ndindex(*array.numblocks))
        if len(indices) == 1:
            return np.asarray(self._pieces(indices)[0])
        if out is None:
            out = block_empty(array.shape, array.dtype)
        starts = [np.cumsum((0, *c)) for c in array.chunks]
        # small chunks are computed a few at a time: dask's cost per call is several ms
        per_call = max(1, int(max(out.nbytes // 8, READ_GROUP_BYTES) // max(1, out.nbytes // len(indices))))
        for first in range(0, len(indices), per_call):
            group = indices[first : first + per_call]
            pieces = self._pieces(group)
            for index, piece in zip(group, pieces):
                out[tuple(slice(s[i], s[i + 1]) for s, i in zip(starts, index))] = piece
            del pieces
        return out

    def _pieces(self, indices: Sequence[tuple[int, ...]]) -> Sequence[Any]:
        """The chunks of the array at ``indices``, as its tasks return them: the graph culled to
        them and run in this thread (``dask.compute`` would copy each single chunk once more)."""
        from dask.local import get_sync

        array = self.array
        keys = [(array.name, *index) for index in indices]
        graph = array.__dask_optimize__(array.__dask_graph__(), keys)
        return get_sync(graph, keys)  # type: ignore[no-any-return]


def _region(index: Sequence[int], block: Sequence[int], shape: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(i * b, min((i + 1) * b, s)) for i, b, s in zip(index, block, shape))


def marker_key(token: str, pass_: Pass, index: Sequence[int]) -> str:
    return f"{PROGRESS_DIR}/{token}/{pass_.first}-{'.'.join(map(str, index))}.json"


def sample_selection(spec: PyramidSpec, planes: int) -> list[np.ndarray]:
    """Indices along each axis of the smallest level that display windows are computed from:
    every index, except at most ``planes`` evenly spaced t and z planes."""
    out = []
    for name, n in zip(spec.axes, spec.levels[-1].shape):
        if name in "tz" and n > planes:
            out.append(np.unique(np.linspace(0, n - 1, planes).round().astype(int)))
        else:
            out.append(np.arange(n))
    return out


def _sample_piece(data: np.ndarray, start: Sequence[int], selection: Sequence[np.ndarray]) -> tuple[Any, np.ndarray] | None:
    """The part of ``data`` (at ``start`` of the smallest level) inside ``selection``: its
    positions in the sample and its values."""
    local, where = [], []
    for s, n, sel in zip(start, data.shape, selection):
        inside = np.nonzero((sel >= s) & (sel < s + n))[0]
        if inside.size == 0:
            return None
        where.append(inside)
        local.append(sel[inside] - s)
    return tuple(where), data[np.ix_(*local)]


def _strip_axis(spec: PyramidSpec, pass_: Pass, region: tuple[slice, ...]) -> int | None:
    """The axis a block of ``pass_`` is worked through in strips along (see :func:`write_block`),
    or ``None`` when the block is one strip (or the chunk grids do not nest along any axis)."""
    for ax, r in enumerate(region):
        if ax in spec.whole or r.stop - r.start <= spec.levels[pass_.first].unit[ax]:
            continue  # strips hold the whole axes whole, as blocks do
        # strips of a level end on its chunks, and on whole windows of the next level's mean
        nested = all(
            (spec.levels[lv].unit[ax] * spec.factors[lv - 1][ax]) % spec.levels[lv - 1].unit[ax] == 0
            and spec.levels[lv - 1].unit[ax] % spec.factors[lv - 1][ax] == 0
            for lv in range(pass_.first + 1, pass_.last + 1)
        )
        return ax if nested else None
    return None


def write_block(
    data: np.ndarray | None,
    *,
    location: Location,
    spec: PyramidSpec,
    pass_: Pass,
    index: tuple[int, ...],
    token: str,
    write_first: bool,
    marker: bool = False,
    sample: Sequence[np.ndarray] | None = None,
    values: bool = False,
    buffers: Buffers | None = None,
) -> dict[str, Any]:
    """Write one block of level ``pass_.first`` (when asked) and the levels derived from it.

    The block is worked through in strips along one axis (y rows of a 2-D image, planes of a
    stack): a strip of the last level is derived from strips of the level before, each from
    strips of the one before that, down to strips of level ``pass_.first``, each read (from
    ``data`` or the stored level) and written when needed. Memory holds one strip per level
    instead of the whole block at every level; the levels are the same, since strips end on
    whole chunks and so on an even row (a window of the mean never spans two strips). Planes no
    level combines (channels, z when only y and x are halved) are taken a chunk's worth at a
    time, each worked through in strips of its own: a strip is then chunk rows of one plane.

    Returns ``{"sizes": {key: size}, "sample": [pieces], "values": distinct values of the
    level-0 data or None}``. With ``marker``, the block's marker (listing the sizes) is
    written once every object it stored is durable. ``buffers`` (shared by the blocks of one
    write on one machine) holds the strips; without it the block has buffers of its own.
    """
    if buffers is None:
        buffers = Buffers()
    sizes: dict[str, int] = {}
    pieces: list[Any] = []
    value_sets: list[np.ndarray] = []
    result: dict[str, Any] = {"sizes": sizes, "sample": pieces, "values": None}
    first, last = pass_.first, pass_.last
    with storage_errors(location, "write"):
        region = _region(index, pass_.block, spec.levels[first].shape)
        writers = {
            lv: ChunkWriter.for_array(location, spec.levels[lv].path, level_array(location, spec, lv), deferred=True,
                                   # new arrays: an empty chunk has nothing to delete and is never stored
                                   # (the array object's zarr config, cached, must not decide it)
                                   known_empty=True, write_empty_chunks=False)
            for lv in range(first if write_first else first + 1, last + 1)
        }
        block = region

        def read(sub: tuple[slice, ...]) -> np.ndarray:
            """Level ``first`` in ``sub`` (a part of the block, in level coordinates)."""
            if data is None:
                from zarr.core.buffer.cpu import NDBuffer

                out = buffers.get("read", [r.stop - r.start for r in sub], spec.dtype)
                level_array(location, spec, first).get_basic_selection(sub, out=NDBuffer.from_numpy_array(out))
                return out
            rel = tuple(slice(r.start - b.start, r.stop - b.start) for r, b in zip(sub, block))
            whole = sub == block
            if isinstance(data, Deferred):
                part = data.array if whole else data.array[rel]
                if part.npartitions == 1:  # the source's own array, no copy
                    return Deferred(part).compute()
                return Deferred(part).compute(out=buffers.get("read", part.shape, part.dtype))
            return np.asarray(data if whole else data[rel])

        def fill(region: tuple[slice, ...]) -> None:
            """Write ``region`` of the block (all of it, or some planes of it) at every level."""
            ax = _strip_axis(spec, pass_, region)
            if ax is not None and all(spec.factors[lv][ax] == 1 for lv in range(first, last)):
                # planes no level combines (channels, or z kept whole): one plane group at a time,
                # each worked through in strips of its own (chunk rows of one plane, not a plane)
                step = spec.levels[first].unit[ax]
                for p in range(region[ax].start, region[ax].stop, step):
                    fill(tuple(slice(p, min(p + step, region[ax].stop)) if i == ax else r
                               for i, r in enumerate(region)))
                return
            # the region's extent at each level of the pass, along every axis
            starts = [[r.start for r in region]]
            stops = [[r.stop for r in region]]
            for lv in range(first + 1, last + 1):
                f = spec.factors[lv - 1]
                starts.append([s // fi for s, fi in zip(starts[-1], f)])
                stops.append([-(-s // fi) for s, fi in zip(stops[-1], f)])

            def produce(lv: int, lo: int, hi: int) -> np.ndarray:
                """Level ``lv`` of the region between ``lo`` and ``hi`` along the strip axis (or whole)."""
                if lv == first:
                    out = read(region if ax is None else
                               tuple(slice(lo, hi) if i == ax else r for i, r in enumerate(region)))
                    if values and write_first:
                        value_sets.append(np.unique(out))
                else:
                    # each part of the level below is downsampled straight into this level's strip
                    f = spec.factors[lv - 1]
                    shape = [b - a for a, b in zip(starts[lv - first], stops[lv - first])]
                    if ax is not None:
                        shape[ax] = hi - lo
                    out = buffers.get(("level", lv), shape, spec.dtype)
                    if ax is None:
                        downsample(produce(lv - 1, 0, 0), f, spec.method, out=out)
                    else:
                        step = spec.levels[lv - 1].unit[ax]
                        child_hi = min(hi * f[ax], stops[lv - 1 - first][ax])
                        at = 0
                        for c in range(lo * f[ax], child_hi, step):
                            child = produce(lv - 1, c, min(c + step, child_hi))
                            rows = -(-child.shape[ax] // f[ax])
                            downsample(child, f, spec.method,
                                       out=out[(slice(None),) * ax + (slice(at, at + rows),)])
                            at += rows
                        if at != shape[ax]:
                            raise AssertionError(f"level {lv} strip {lo}:{hi} got {at} rows along axis {ax}")
                start = list(starts[lv - first])
                if ax is not None:
                    start[ax] = lo
                if lv in writers:
                    sizes.update(writers[lv].write(start, out))
                if sample is not None and lv == len(spec.levels) - 1 and (lv > first or write_first):
                    piece = _sample_piece(out, start, sample)
                    if piece is not None:
                        pieces.append(piece)
                return out

            try:
                if ax is None:
                    produce(last, 0, 0)
                else:
                    unit = spec.levels[last].unit[ax]
                    for lo in range(starts[-1][ax], stops[-1][ax], unit):
                        produce(last, lo, min(lo + unit, stops[-1][ax]))
            finally:
                produce = None  # type: ignore[assignment]  # the recursive closure's cycle, which holds the source

        try:
            fill(block)
            for w in writers.values():  # durable and in place before the marker (or the commit)
                w.sync()
        except BaseException:
            for w in writers.values():
                w.discard()
            raise
        finally:
            fill = None  # type: ignore[assignment]  # as produce: freed now, not by the cycle collector
        if values and write_first:
            result["values"] = np.unique(np.concatenate([v.ravel() for v in value_sets]))
        if marker:
            location.put(marker_key(token, pass_, index), dump_json({"sizes": sizes}))
    return result


# -- resuming --------------------------------------------------------------------------------


def _read_markers(location: Location, keys: Sequence[str]) -> dict[str, dict[str, int] | None]:
    """``{marker key: sizes}`` of the markers present (one GET each, concurrently)."""

    def one(key: str) -> tuple[str, dict[str, int] | None]:
        data = location.get(key)
        if data is None:
            return key, None
        try:
            sizes = json.loads(data)["sizes"]
            return key, {str(k): int(v) for k, v in sizes.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return key, None  # a torn or foreign marker: the block is rewritten

    if not keys:
        return {}
    if location.is_local:
        return dict(one(k) for k in keys)
    with ThreadPoolExecutor(min(16, len(keys))) as pool:
        return dict(pool.map(one, keys))


def stored_sizes(location: Location, spec: PyramidSpec, keys: Sequence[str]) -> dict[str, int]:
    """Sizes of the stored objects among ``keys`` (absent ones are left out).

    Locally one ``os.stat`` per key; on object storage one LIST per level prefix page.
    """
    out: dict[str, int] = {}
    if location.is_local:
        for key in keys:
            try:
                out[key] = os.stat(os.path.join(location.path, *key.split("/"))).st_size
            except OSError:
                pass
        return out
    wanted = set(keys)
    fs = location.fs
    base = location.path.rstrip("/") + "/"
    with storage_errors(location, "read"):
        for lv in spec.levels:
            prefix = location.key(lv.path)
            if not any(k.startswith(lv.path + "/") for k in wanted):
                continue
            try:
                found = fs.find(prefix, detail=True, withdirs=False)
            except FileNotFoundError:
                found = {}
            for path, info in found.items():
                key = path.removeprefix(base)
                if key in wanted:
                    out[key] = int(info.get("size") or 0)
    return out


def delete_keys(location: Location, keys: Sequence[str]) -> None:
    """Delete the objects at ``keys`` (below ``location``): no probe, 1000 per request on S3."""
    keys = list(keys)
    if not keys:
        return
    with storage_errors(location, "write"):
        if location.is_local or location.protocol not in ("s3", "s3a"):
            for key in keys:
                location.delete(key)
            return
        from fsspec.asyn import sync

        fs = location.fs
        bucket, _, _ = fs.split_path(location.key(keys[0]))
        paths = [fs.split_path(location.key(k))[1] for k in keys]

        async def send() -> None:
            for i in range(0, len(paths), 1000):
                objects = [{"Key": p} for p in paths[i : i + 1000]]
                await fs._call_s3("delete_objects", Bucket=bucket, Delete={"Objects": objects, "Quiet": True})

        sync(fs.loop, send)
        fs.invalidate_cache(location.path)


# -- the pyramid -----------------------------------------------------------------------------


@dataclass(kw_only=True)
class PyramidResult:
    """What :func:`write_pyramid` stored: object sizes (this run's and the resumed blocks'), the
    display sample of the smallest level (when asked), the distinct level-0 values (when asked),
    and the marker keys it wrote or found."""

    sizes: dict[str, int]
    sample: np.ndarray | None
    values: np.ndarray | None
    markers: list[str]
    resumed_blocks: int = 0

    @property
    def chunk_bytes(self) -> int:
        return sum(self.sizes.values())


def write_pyramid(
    source: da.Array | np.ndarray,
    location: Location,
    spec: PyramidSpec,
    *,
    token: str = "run",
    scheduler: Any = None,
    progress: bool | None = None,
    memory_target: int = DEFAULT_MEMORY_TARGET,
    resume: bool = False,
    sample_planes: int | None = None,
    values: bool = False,
) -> PyramidResult:
    """Fill every level of ``spec`` from ``source`` (level-0 data), pass by pass.

    ``token`` names this write's progress markers (a resumed write passes the same token).
    ``sample_planes`` asks for the display sample of the smallest level (see
    :func:`sample_selection`), ``values`` for the distinct values of level 0; blocks skipped on
    resume are read back for those.

    A numpy ``source`` on a local scheduler is written without dask: the same blocks, each
    :func:`write_block` called in a thread pool (one thread per core), so the stored bytes are
    those of the dask path. Any other source (or a cluster) goes through dask.
    """
    in_memory = isinstance(source, np.ndarray) and parallel.parse_scheduler(scheduler) in parallel.LOCAL_THREADS
    if isinstance(source, np.ndarray) and not in_memory:
        import dask.array as da

        source = da.from_array(source, chunks=source.shape or 1)
    passes = plan_passes(spec, memory_target)
    grids = [p.grid(spec.levels[p.first].shape) for p in passes]
    total = sum(len(g) for g in grids)
    use_markers = total > 1  # one block: nothing to resume that a rerun would not redo anyway
    sample = sample_selection(spec, sample_planes) if sample_planes else None
    result = PyramidResult(sizes={}, sample=None, values=None, markers=[])
    skipped: dict[str, dict[str, int]] = {}
    if resume and use_markers:
        keys = [marker_key(token, p, ix) for p, g in zip(passes, grids) for ix in g]
        markers = {k: v for k, v in _read_markers(location, keys).items() if v is not None}
        result.markers.extend(markers)
        listed = [key for sizes in markers.values() for key in sizes]
        actual = stored_sizes(location, spec, listed) if listed else {}
        for k, sizes in markers.items():
            if all(actual.get(key) == size for key, size in sizes.items()):
                skipped[k] = sizes
        if len(skipped) < len(markers):
            import logging

            logging.getLogger("ngffstore").info(
                "%d finished blocks of %s have missing or damaged chunks; they are rewritten",
                len(markers) - len(skipped), location.url,
            )
    for sizes in skipped.values():
        result.sizes.update(sizes)
    result.resumed_blocks = len(skipped)
    pieces: list[Any] = []
    value_sets: list[np.ndarray] = []
    # strips reuse buffers across blocks when the blocks run in this process's threads
    local = parallel.parse_scheduler(scheduler) in parallel.LOCAL_THREADS
    buffers = Buffers() if local else None
    bar = parallel.make_bar(total, f"writing {location.name}", progress)
    try:
        for n, (pass_, grid) in enumerate(zip(passes, grids)):
            shape = spec.levels[pass_.first].shape
            todo = [ix for ix in grid if marker_key(token, pass_, ix) not in skipped]
            bar.update(len(grid) - len(todo))
            if not todo:
                continue
            calls = []
            for ix in todo:
                data = None
                if n == 0:
                    data = source[_region(ix, pass_.block, shape)]
                    if not in_memory:
                        data = Deferred(data)
                calls.append((data, {
                    "location": location, "spec": spec, "pass_": pass_, "index": ix, "token": token,
                    "write_first": n == 0, "marker": use_markers, "sample": sample, "values": values,
                    "buffers": buffers,
                }))
                if use_markers:
                    result.markers.append(marker_key(token, pass_, ix))
            outs = _run_threads(calls, scheduler, bar) if in_memory else _run_dask(calls, scheduler, bar)
            for out in outs:
                result.sizes.update(out["sizes"])
                pieces.extend(out["sample"])
                if out["values"] is not None:
                    value_sets.append(out["values"])
    finally:
        bar.close()
        if buffers is not None:
            buffers.clear()
    if sample is not None:
        if skipped:  # some blocks were written by an earlier run: read the sample back
            arr = level_array(location, spec, len(spec.levels) - 1)
            with storage_errors(location, "read"):
                result.sample = np.asarray(arr.get_orthogonal_selection(tuple(sample)))
        else:
            out_arr = np.zeros(tuple(len(s) for s in sample), dtype=np.dtype(spec.dtype))
            for where, piece in pieces:
                out_arr[np.ix_(*where)] = piece
            result.sample = out_arr
    if values:
        if skipped:
            result.values = _level_values(location, spec, 0)
        else:
            result.values = np.unique(np.concatenate(value_sets)) if value_sets else np.array([], dtype=spec.dtype)
    return result


def _level_values(location: Location, spec: PyramidSpec, level: int) -> np.ndarray:
    """The distinct values of a stored level, stored object by stored object."""
    arr = level_array(location, spec, level)
    unit = spec.levels[level].unit
    out: list[np.ndarray] = []
    with storage_errors(location, "read"):
        for index in itertools.product(*(range(-(-s // u)) for s, u in zip(arr.shape, unit))):
            out.append(np.unique(arr[_region(index, unit, arr.shape)]))
    return np.unique(np.concatenate(out)) if out else np.array([], dtype=spec.dtype)


def _run_dask(calls: list[tuple[Any, dict[str, Any]]], scheduler: Any, bar: Any) -> list[Any]:
    """:func:`write_block` of every call, as dask tasks on ``scheduler``."""
    import dask

    tasks = [
        dask.delayed(write_block, pure=False)(
            data, **kwargs,
            dask_key_name=f"ngffstore-block-{uuid.uuid4().hex[:8]}-{kwargs['pass_'].first}-"
                          f"{'.'.join(map(str, kwargs['index']))}",
        )
        for data, kwargs in calls
    ]
    scheduler = parallel.parse_scheduler(scheduler)
    return parallel.compute(tasks, scheduler=scheduler, bar=bar, prefix="ngffstore-block")


def _run_threads(calls: list[tuple[Any, dict[str, Any]]], scheduler: Any, bar: Any) -> list[Any]:
    """:func:`write_block` of every call in a thread pool (one thread per core; in this thread
    for one call or the synchronous scheduler), no dask."""

    def one(call: tuple[Any, dict[str, Any]]) -> Any:
        out = write_block(call[0], **call[1])
        bar.update(1)
        return out

    workers = 1 if parallel.parse_scheduler(scheduler) != "threads" else min(len(calls), parallel.cores())
    if workers <= 1:
        return [one(call) for call in calls]
    with ThreadPoolExecutor(workers, thread_name_prefix="ngffstore-block") as pool:
        return list(pool.map(one, calls))


def clear_progress(location: Location, markers: Sequence[str] = ()) -> None:
    """Remove the progress markers: locally the whole folder; elsewhere the ``markers`` given
    (those written or found by this run: no listing)."""
    if location.is_local:
        location.remove(PROGRESS_DIR)
    else:
        delete_keys(location, markers)


def done_blocks(location: Location) -> set[str]:
    """Names of the block markers an earlier, interrupted run left (a listing; for tests and tools)."""
    fs = location.fs
    path = location.key(PROGRESS_DIR)
    with storage_errors(location, "read"):
        try:
            return {p.rsplit("/", 1)[-1] for p in fs.find(path) if p.endswith(".json")}
        except FileNotFoundError:
            return set()
