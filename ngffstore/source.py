"""What the store writes from: a readable array plus what is known about it (:class:`Source`).

Input converters (the ``converters`` package, or any other plug-in) open a file lazily and
describe it with a :class:`Source`; :func:`~ngffstore.write_image`, :func:`~ngffstore.write_labels`
and :func:`~ngffstore.write_plate` recognise one and take its axes, pixel sizes, channel names and
provenance from it. ``data`` is a dask array read on demand, or, for a small input, a numpy
array (no dask needed to write it).

This module does not import dask: the type names are for annotations only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dask.array as da
    import numpy as np


@dataclass(kw_only=True)
class Source:
    """A readable image and what is known about it.

    Attributes
    ----------
    data
        A dask array (lazy) or a numpy array (small inputs), one dimension per letter of
        ``axes``. A dask array's chunks should follow the file's own layout (tiles, strips,
        planes) so each chunk is read once.
    axes
        Axis names, a subset of ``"tczyx"`` in that order (e.g. ``"cyx"``, ``"tczyx"``).
    scale
        Physical pixel size per axis name (``{"z": 0.5, "y": 0.1, "x": 0.1}``), when known.
    units
        NGFF unit name per axis name (``{"y": "micrometer", "t": "second"}``), when known.
    channel_names, channel_colors
        One entry per channel (``RRGGBB`` colours), or ``None`` when the input has none.
    name
        A short name for the image (file stem or OME-XML image name).
    metadata
        Key-value pairs the input carries (instrument, objective, wavelengths, dates...).
    inputs
        Local paths or URLs that were read, for provenance.
    channel_windows
        Display range ``(start, end)`` per channel when the input fixes one (brightfield RGB:
        ``(0, 255)``); ``None`` lets the writer take it from the pixels.
    attachments
        Small images that come with the input (a slide's label, macro and thumbnail), stored
        beside the image (``specs/attachments.md``).
    """

    data: da.Array | np.ndarray
    axes: str
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    channel_names: list[str] | None = None
    channel_colors: list[str | None] | None = None
    name: str = "image"
    metadata: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    channel_windows: list[tuple[float, float]] | None = None
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """A small image that comes with an input, e.g. a slide's ``label`` or ``macro`` image.

    ``data`` is a ``(y, x)`` or ``(y, x, samples)`` array (RGB when it has 3 samples), lazy or
    numpy, read only when the attachment is stored.
    """

    name: str
    data: da.Array | np.ndarray
    description: str = ""


__all__ = ["Attachment", "Source"]
