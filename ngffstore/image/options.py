"""Parsing per-axis options (axes, chunks, shards, pixel sizes) given as numbers, lists or text."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import AxesError, InputError
from ..ngff import CANONICAL_ORDER

DEFAULT_YX_CHUNK = 1024


def parse_axes(axes: str | Sequence[str] | None, ndim: int) -> str:
    """Axis names for an ``ndim`` array: given, or inferred for 2-D (yx) and 5-D (tczyx)."""
    if axes is None:
        if ndim == 2:
            return "yx"
        if ndim == 5:
            return "tczyx"
        raise AxesError(
            f"cannot infer the axes of a {ndim}-D array; give them, e.g. axes='zyx' or 'cyx' "
            f"(--axes on the command line)"
        )
    text = "".join(axes).lower() if not isinstance(axes, str) else axes.lower()
    if len(text) != ndim:
        raise AxesError(f"axes {text!r} has {len(text)} letters but the data has {ndim} dimensions")
    bad = [a for a in text if a not in CANONICAL_ORDER]
    if bad or len(set(text)) != len(text):
        raise AxesError(f"axes {text!r} must use each of the letters t, c, z, y, x at most once")
    if "y" not in text or "x" not in text:
        raise AxesError(f"axes {text!r} must include y and x")
    return text


def canonical(axes: str) -> tuple[str, tuple[int, ...]]:
    """The NGFF order of ``axes`` (t, c, z, y, x) and the permutation that gets there."""
    order = tuple(sorted(range(len(axes)), key=lambda i: CANONICAL_ORDER.index(axes[i])))
    return "".join(axes[i] for i in order), order


def _items(value: Any, axes: str, what: str) -> dict[str, float]:
    """Per-axis numbers from ``{"y": 2}``, ``"z=2,y=1"``, ``"2,1,1"``, ``[2, 1, 1]`` or ``2``.

    Unnamed lists apply to the trailing axes (``"0.5,0.1,0.1"`` on tczyx sets z, y, x); one
    unnamed number applies to y and x.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out = {str(k).lower(): float(v) for k, v in value.items()}
    else:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]
        elif isinstance(value, (int, float)):
            parts = [value]
        else:
            parts = list(value)
        try:
            if parts and all(isinstance(p, str) and "=" in p for p in parts):
                out = {}
                for p in parts:
                    k, v = p.split("=", 1)
                    out[k.strip().lower()] = float(v)
            else:
                nums = [float(p) for p in parts]
                if len(nums) == 1:
                    out = {"y": nums[0], "x": nums[0]}
                elif len(nums) <= len(axes):
                    out = dict(zip(axes[len(axes) - len(nums):], nums))
                else:
                    raise InputError(f"{what} {value!r} has more values than the {len(axes)} axes {axes!r}")
        except ValueError:
            raise InputError(f"cannot read {what} {value!r}: use numbers like '0.5', '1,0.5,0.5' or 'z=1,y=0.5'") from None
    unknown = [k for k in out if k not in axes]
    if unknown:
        raise InputError(f"{what} names axes {unknown} that the image (axes {axes!r}) does not have")
    return out


def parse_scale(value: Any, axes: str) -> dict[str, float]:
    out = _items(value, axes, "pixel size")
    for k, v in out.items():
        if not v > 0:
            raise InputError(f"pixel size of axis {k} must be positive, got {v}")
    return out


def parse_translation(value: Any, axes: str) -> dict[str, float]:
    """Physical offset of the first pixel per axis; any finite number, negative included."""
    out = _items(value, axes, "translation")
    for k, v in out.items():
        if not math.isfinite(v):
            raise InputError(f"translation of axis {k} must be a finite number, got {v}")
    return out


def parse_block_shape(value: Any, axes: str, shape: Sequence[int], what: str) -> tuple[int, ...] | None:
    """Chunk or shard shape, one integer per axis; ``None`` when not given."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == len(axes) and all(
        not isinstance(v, str) for v in value
    ):
        items = dict(zip(axes, (float(v) for v in value)))
    else:
        items = _items(value, axes, what)
    out = []
    for a in axes:
        v = items.get(a)
        if v is None:
            out.append(None)
            continue
        if not float(v).is_integer() or v < 1:
            raise InputError(f"{what} along {a} must be a positive integer, got {v}")
        out.append(int(v))
    return tuple(out)  # type: ignore[return-value]


def default_chunks(axes: str, shape: Sequence[int], given: tuple[int | None, ...] | None) -> tuple[int, ...]:
    out = []
    for i, a in enumerate(axes):
        v = given[i] if given else None
        if v is None:
            v = DEFAULT_YX_CHUNK if a in "yx" else 1
        out.append(max(1, min(int(v), int(shape[i]))))
    return tuple(out)


def resolve_shards(
    axes: str, shape: Sequence[int], chunks: Sequence[int], given: tuple[int | None, ...] | None
) -> tuple[int, ...] | None:
    if given is None:
        return None
    out = []
    for i, a in enumerate(axes):
        v = given[i] if given[i] is not None else chunks[i]
        v = min(v, -(-int(shape[i]) // chunks[i]) * chunks[i])  # a shard never exceeds the array
        if v % chunks[i]:
            raise InputError(
                f"shard size {v} along {a} is not a multiple of the chunk size {chunks[i]}; "
                "choose shards that are whole multiples of the chunks"
            )
        out.append(int(v))
    return tuple(out)
