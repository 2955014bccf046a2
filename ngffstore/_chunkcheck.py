"""``validate --data``: decode the stored objects (chunks, or shards) of an image's levels.

Every object of a level's chunk grid (the shard grid of a sharded array) is fetched with one GET
and decoded with the array's own codecs, on a store in memory that holds only that object, so a
decoding problem is pinned to one key. An object is:

* **corrupt** when it does not decode to its chunk's shape and data type (truncated, garbled,
  wrong codec, a shard whose index points outside the object);
* **missing but expected** when it is absent although the next coarser level has data (values
  other than the fill value) over its region: every downsampling method (mean, nearest, mode,
  min, max) gives the fill value only where the finer level holds just the fill value, so that
  chunk cannot have been left out as empty, which is the only reason a writer skips one.

A missing object where the coarser level is empty too (or at the coarsest level) is an empty
chunk and reads as the fill value, as Zarr specifies. ``sample`` decodes that many objects per
level, chosen at random, instead of all.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .storage import Location

#: Objects fetched at once (per level); fewer for shards, which are large.
BATCH = 32
SHARD_BATCH = 4


@dataclass
class DataFindings:
    """What the decoding of one image's levels found."""

    checked: int = 0
    """Objects fetched and decoded (or found missing)."""
    stored: int = 0
    """Objects the checked levels' grids have (the number ``checked`` is a sample of)."""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _arrays(location: Location, zarr_format: int, levels: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Any]:
    from .image._zarrio import Storage, array_from_metadata

    storage = Storage(location)
    return [array_from_metadata(storage, path, zarr_format, dict(doc)) for path, doc in levels]


def _memory_array(array: Any) -> tuple[Any, dict[str, Any]]:
    """An array with ``array``'s metadata on a store in memory (the dict it reads objects from)."""
    from zarr.core.array import Array, AsyncArray
    from zarr.storage import MemoryStore, StorePath

    objects: dict[str, Any] = {}
    store = MemoryStore(store_dict=objects)
    return Array(AsyncArray(metadata=array.metadata, store_path=StorePath(store, ""))), objects


def check_levels(
    location: Location,
    zarr_format: int,
    levels: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    sample: int | None = None,
    rng: random.Random | None = None,
) -> DataFindings:
    """Decode the objects of ``levels`` (``(path, array document)``, finest first) of the image at
    ``location``; see the module documentation."""
    from zarr.core.buffer import default_buffer_prototype

    findings = DataFindings()
    try:
        arrays = _arrays(location, zarr_format, levels)
    except Exception:  # noqa: BLE001 - metadata zarr cannot use is reported by the metadata checks
        return findings
    rng = rng or random.Random()
    prototype = default_buffer_prototype()
    for j, ((path, _), array) in enumerate(zip(levels, arrays)):
        unit = tuple(array.shards or array.chunks)
        grid = [range(math.ceil(n / u)) for n, u in zip(array.shape, unit)]
        coords = list(itertools.product(*grid))
        findings.stored += len(coords)
        if sample is not None and sample < len(coords):
            coords = rng.sample(coords, sample)
        memory, objects = _memory_array(array)
        batch = SHARD_BATCH if array.shards else BATCH
        for start in range(0, len(coords), batch):
            part = coords[start : start + batch]
            keys = [array.metadata.encode_chunk_key(c) for c in part]
            raws = _get_many(location.child(path), keys)
            for c, key, raw in zip(part, keys, raws):
                findings.checked += 1
                block = tuple(slice(i * u, min((i + 1) * u, n)) for i, u, n in zip(c, unit, array.shape))
                if raw is None:
                    if j + 1 < len(arrays) and _coarser_has_data(arrays[j + 1], array, block):
                        findings.errors.append(
                            f"level {j} ({path!r}): chunk {path}/{key} is missing, but level {j + 1} "
                            "has data over its region: the object was lost or never written"
                        )
                    continue
                objects.clear()
                objects[key] = prototype.buffer.from_bytes(raw)
                problem = _decode(memory, block, len(raw))
                if problem is not None:
                    findings.errors.append(
                        f"level {j} ({path!r}): chunk {path}/{key} is corrupt ({problem}); "
                        "rewrite the image or restore that object"
                    )
    return findings


def _get_many(location: Location, keys: list[str]) -> list[bytes | None]:
    """One GET per key, concurrently, through the level's read store (a missing key: None)."""
    from .image._zarrio import Storage

    storage = Storage(location)
    try:
        return storage.get_many(keys)
    finally:
        storage.close()


def _decode(memory: Any, block: tuple[slice, ...], size: int) -> str | None:
    """Why the object in ``memory`` does not decode to ``block``'s shape, or None."""
    try:
        out = np.asarray(memory[block])
    except Exception as exc:  # noqa: BLE001 - any codec error marks the object as corrupt
        text = " ".join(str(exc).split()) or type(exc).__name__
        return f"{size} bytes that do not decode: {text[:150]}"
    expected = tuple(s.stop - s.start for s in block)
    if out.shape != expected:
        return f"{size} bytes that decode to shape {out.shape}, not {expected}"
    return None


def _coarser_has_data(coarse: Any, fine: Any, block: tuple[slice, ...]) -> bool:
    """Whether ``coarse`` (the next level) holds values other than its fill value over ``block``
    of ``fine``."""
    region = []
    for s, nf, nc in zip(block, fine.shape, coarse.shape):
        start = math.floor(s.start * nc / nf)
        stop = max(start + 1, math.ceil(s.stop * nc / nf))
        region.append(slice(start, min(stop, nc)))
    try:
        values = np.asarray(coarse[tuple(region)])
    except Exception:  # noqa: BLE001 - that level's own objects are checked (and reported) too
        return False
    fill = coarse.fill_value
    if fill is None:
        return bool(values.size)
    return bool(np.any(values != np.asarray(fill, dtype=values.dtype)))


__all__ = ["DataFindings", "check_levels"]
