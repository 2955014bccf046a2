"""Reading label images: :func:`open_labels` returns a :class:`Labels` reader.

A label image is an NGFF multiscale image, so :class:`Labels` is an
:class:`~ngffstore.image.read.Image` opened at ``IMAGE/labels/NAME``: ``window``, ``thumbnail``,
``point``, ``to_dask`` and ``to_xarray`` and the level rule are the image's. Region verbs
resample with nearest neighbour only, so a label read at any size holds stored values only.
What a label image adds (colours, properties, values, regions, overlay) is in
:mod:`ngffstore.labels._verbs`; the class is put together in :mod:`ngffstore.image.read` so that
``image.label(name)`` returns it without the image reader importing this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..image.read import Labels
from ..storage import Location
from ._verbs import REGION_BLOCK_PIXELS


def open_labels(
    image_url: str | os.PathLike[str] | Location,
    name: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    memory_cap: int | None = None,
) -> Labels:
    """Open the label image ``name`` of the image at ``image_url`` (``IMAGE/labels/NAME``).

    Raises
    ------
    InputError
        ``name`` is not a plain label name.
    StoreNotFoundError
        The image has no label image of that name (the message lists the names it has).
    """
    return Labels.open(Location.parse(image_url, storage_options), name, memory_cap=memory_cap)


__all__ = ["REGION_BLOCK_PIXELS", "Labels", "open_labels"]
