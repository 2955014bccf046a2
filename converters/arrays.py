"""NumPy ``.npy`` files and existing Zarr arrays (v2 or v3) -> :class:`Source`.

Raw arrays rarely say what their dimensions are. Without ``axes``: 2-D is ``yx``, 5-D is
``tczyx``, and a Zarr array whose ``dimension_names`` (v3) or ``_ARRAY_DIMENSIONS`` (v2, xarray)
are letters of ``tczyx`` uses them; anything else raises :class:`AxesError` asking for
``--axes``.
"""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Any

import numpy as np

from ngffstore.errors import AxesError, InputError, NgffStoreError
from ngffstore.storage import Location, storage_errors

from ._common import CANONICAL, apply_axes, make_source, shape_text
from ._io import READ_CHUNK_BYTES, ContiguousArray, file_size, native, open_binary, short, stem
from .base import Source

if TYPE_CHECKING:
    import dask.array as da
    import zarr

TARGET_CHUNK_BYTES = READ_CHUNK_BYTES
"""``.npy`` chunks are runs of whole rows (or planes) of about this many bytes."""

_AXES_HINTS = {3: "--axes zyx (or cyx, tyx)", 4: "--axes czyx (or tzyx, tcyx)"}


def open_npy(location: Location, *, axes: str | None = None) -> Source:
    """Open a ``.npy`` file (local or remote) as a lazy :class:`Source` read in runs of whole rows.

    ``axes`` names each dimension (letters from ``tczyx``, in the file's order); the data are
    transposed to ``tczyx`` order.
    """
    where = location.url
    try:
        with open_binary(location) as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = read_header(f)
            offset = f.tell()
        _check_array(shape, dtype, where)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, NgffStoreError):
            raise
        raise InputError(
            f"cannot read {where} as .npy: {short(exc)}; check that the file is complete"
        ) from exc
    expected = offset + prod(shape) * dtype.itemsize
    if file_size(location) < expected:
        raise InputError(
            f"cannot read {where} as .npy: the file holds {file_size(location)} bytes, its header "
            f"promises {expected}; check that the file is complete"
        )
    reader = ContiguousArray(location, offset, tuple(shape), dtype, fortran_order=fortran_order)
    if fortran_order:  # contiguous along the first axes: chunks split the last ones
        chunks = row_chunks(reader.shape[::-1], reader.dtype.itemsize, TARGET_CHUNK_BYTES)[::-1]
    else:
        chunks = row_chunks(reader.shape, reader.dtype.itemsize, TARGET_CHUNK_BYTES)
    data = reader.to_dask(chunks)
    data, canonical = _label(data, axes, where)
    return make_source(data, canonical, where=where, name=stem(location))


def open_zarr(location: Location, *, axes: str | None = None) -> Source:
    """Open an existing Zarr array (v2 or v3, local or remote) as a :class:`Source`.

    Dask chunks are the array's shards, or its chunks when it is not sharded.
    """
    import zarr

    where = location.url
    try:
        with storage_errors(location, "read"):
            node = zarr.open(store=location.zarr_store(read_only=True), mode="r")
    except NgffStoreError:
        raise
    except Exception as exc:  # zarr raises several types for malformed metadata
        raise InputError(
            f"cannot open {where} as a Zarr array: {short(exc)}; "
            "give the path of a Zarr (v2 or v3) array"
        ) from exc
    if isinstance(node, zarr.Group):
        arrays = sorted(node.array_keys())
        hint = f"e.g. {where}/{arrays[0]}" if arrays else "it has no arrays at its top level"
        raise InputError(
            f"{where} is a Zarr group, not an array; give the path of one of its arrays ({hint})"
        )
    _check_array(node.shape, node.dtype, where)
    import dask.array as da

    data = da.from_zarr(node, chunks=node.shards or node.chunks)
    if native(data.dtype) != data.dtype:
        data = data.astype(native(data.dtype))
    data, canonical = _label(data, axes if axes is not None else _dimension_axes(node), where)
    return make_source(data, canonical, where=where, name=_zarr_name(location))


def row_chunks(shape: tuple[int, ...], itemsize: int, target: int) -> tuple[int, ...]:
    """Chunks of whole trailing dimensions, split along leading ones, of about ``target`` bytes."""
    chunks = list(shape)
    for i in range(len(shape)):
        inner = prod(shape[i + 1 :]) * itemsize
        chunks[i] = max(1, min(shape[i], target // max(inner, 1)))
        if inner <= target:
            break
    return tuple(chunks)


def _check_array(shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    if dtype.kind not in "biuf":
        raise InputError(
            f"{where}: unsupported data type {dtype}; "
            "save the image as booleans, integers or floats"
        )
    if 0 in shape:
        raise InputError(f"{where} is empty (shape {shape_text(tuple(shape))}); nothing to convert")


def _label(data: da.Array, axes: Any, where: str) -> tuple[da.Array, str]:
    if axes is not None:
        return apply_axes(data, axes, where)
    inferred = {2: "yx", 5: "tczyx"}.get(data.ndim)
    if inferred is None:
        hint = _AXES_HINTS.get(data.ndim, "an image needs 2 to 5 dimensions")
        raise AxesError(
            f"{where} has shape {shape_text(data.shape)}: cannot tell what its "
            f"{data.ndim} dimensions are; give them with {hint}"
        )
    return apply_axes(data, inferred, where)


def _dimension_axes(array: zarr.Array) -> str | None:
    """The array's dimension names as axes, when they are distinct letters of ``tczyx``."""
    names = getattr(array.metadata, "dimension_names", None) or array.attrs.get("_ARRAY_DIMENSIONS")
    if not isinstance(names, (list, tuple)) or len(names) != array.ndim:
        return None
    text = "".join(str(n).lower() for n in names if isinstance(n, str) and len(n) == 1)
    if len(text) != array.ndim or len(set(text)) != len(text) or not set(text) <= set(CANONICAL):
        return None
    return text if "y" in text and "x" in text else None


def _zarr_name(location: Location) -> str:
    """The array's name; for a pyramid level (``image.zarr/0``), the image's name."""
    name = stem(location)
    return stem(location.parent) if name.isdigit() else name
