"""Axis names and the final assembly of a :class:`Source`, shared by every converter.

Every converter returns its data with axes in canonical ``tczyx`` order. A user's ``axes`` (one
letter per dimension, in the input's own order) overrides what a converter infers; the data are
then transposed to canonical order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from ngffstore.errors import AxesError

from .base import Source

if TYPE_CHECKING:
    import dask.array as da

CANONICAL = "tczyx"

_EXAMPLES = {2: "yx", 3: "zyx", 4: "czyx", 5: "tczyx"}


def example_axes(ndim: int) -> str:
    """A plausible ``--axes`` value for an array of ``ndim`` dimensions, for error messages."""
    return _EXAMPLES.get(ndim, "tczyx")


def shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def parse_axes(axes: Any, shape: tuple[int, ...], where: str) -> str:
    """Lower-case ``axes`` after checking it names each dimension of ``shape`` once."""
    if not isinstance(axes, str):
        raise AxesError(f"{where}: axes must be a string such as 'zyx', not {axes!r}")
    text = axes.strip().lower()
    example = example_axes(len(shape))
    unknown = sorted(set(text) - set(CANONICAL))
    if unknown:
        raise AxesError(
            f"{where}: unknown axis letter(s) {''.join(unknown)!r} in axes {axes!r}; "
            f"use letters from 'tczyx', e.g. --axes {example}"
        )
    repeated = sorted({a for a in text if text.count(a) > 1})
    if repeated:
        raise AxesError(f"{where}: axes {axes!r} repeat {''.join(repeated)!r}; name each axis once")
    if "y" not in text or "x" not in text:
        raise AxesError(f"{where}: axes {axes!r} must include y and x, e.g. --axes {example}")
    if len(text) != len(shape):
        raise AxesError(
            f"{where} has shape {shape_text(shape)} ({len(shape)} dimensions) but axes {axes!r} "
            f"has {len(text)} letters; give one letter per dimension, e.g. --axes {example}"
        )
    return text


def to_canonical(data: da.Array, axes: str) -> tuple[da.Array, str]:
    """Transpose ``data`` so that its ``axes`` follow ``tczyx`` order."""
    order = sorted(range(len(axes)), key=lambda i: CANONICAL.index(axes[i]))
    if order != list(range(len(axes))):
        data = data.transpose(order)
    return data, "".join(axes[i] for i in order)


def apply_axes(
    data: da.Array, axes: Any, where: str, *, keep: Collection[int] = ()
) -> tuple[da.Array, str]:
    """Label ``data`` with the user's ``axes`` and transpose it to canonical order.

    ``axes`` names either every dimension of ``data`` or only its "visible" ones: those longer
    than 1 plus the dimensions in ``keep``; the other size-1 dimensions are then dropped.
    """
    visible = [i for i, n in enumerate(data.shape) if n > 1 or i in keep]
    if isinstance(axes, str) and len(axes.strip()) != data.ndim and len(visible) < data.ndim:
        data = data[tuple(slice(None) if i in visible else 0 for i in range(data.ndim))]
    text = parse_axes(axes, data.shape, where)
    return to_canonical(data, text)


def make_source(
    data: da.Array,
    axes: str,
    *,
    where: str,
    name: str,
    scale: Mapping[str, float] | None = None,
    units: Mapping[str, str | None] | None = None,
    channel_names: list[str] | None = None,
    channel_colors: list[str | None] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Source:
    """A :class:`Source`, keeping only the scales, units and channels that fit ``axes``."""
    n_channels = data.shape[axes.index("c")] if "c" in axes else None
    if channel_names is not None and len(channel_names) != n_channels:
        channel_names = None
    if channel_colors is not None and (
        len(channel_colors) != n_channels or not any(channel_colors)
    ):
        channel_colors = None
    return Source(
        data=data,
        axes=axes,
        scale={a: float(v) for a, v in (scale or {}).items() if a in axes and a != "c" and v > 0},
        units={a: u for a, u in (units or {}).items() if a in axes and a != "c" and u},
        channel_names=channel_names,
        channel_colors=channel_colors,
        name=name,
        metadata=dict(metadata or {}),
        inputs=[where],
    )
