"""``export_regions``: the per-label measurements of a stored label image as CSV
(``ngffstore labels regions``).

The table is :meth:`Labels.regions <ngffstore.labels._verbs.LabelVerbs.regions>` (area, bounding
box, centroid; computed chunk by chunk), written to a file or returned as text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import StorageAccessError
from ..storage import Location
from .read import open_labels


@dataclass(frozen=True, kw_only=True)
class RegionsExport:
    """What :func:`export_regions` measured, and where the CSV went."""

    url: str
    """The label image's URL."""
    level: int
    rows: int
    """Labels measured (one CSV row each)."""
    output: str | None
    """The CSV file written, or None: the CSV is :attr:`text`."""
    text: str | None = None

    def to_text(self) -> str:
        where = f"; wrote {self.output}" if self.output is not None else ""
        return f"{self.rows} labels measured{where}"


def export_regions(
    image_url: str | os.PathLike[str] | Location,
    name: str,
    output: str | os.PathLike[str] | None = None,
    *,
    level: int = 0,
    scheduler: Any = "threads",
    storage_options: Mapping[str, Any] | None = None,
) -> RegionsExport:
    """Measure every label of the label image ``name`` of the image at ``image_url`` and write
    the table as CSV to ``output`` (None: return it as :attr:`RegionsExport.text`).

    Columns: ``label``, ``area_px``, ``area`` (physical), ``{axis}_min``/``{axis}_max``
    (level-0 pixels, max exclusive), ``centroid_{axis}`` (pixels) and
    ``centroid_{axis}_physical``. ``level`` > 0 measures a lower level (faster, approximate).

    Raises
    ------
    StoreNotFoundError
        The image has no label image of that name.
    StorageAccessError
        ``output`` cannot be written.
    """
    labels = open_labels(image_url, name, storage_options=storage_options)
    frame = labels.regions(level, scheduler=scheduler, progress=None)
    if output is None:
        return RegionsExport(url=labels.url, level=level, rows=len(frame), output=None,
                             text=frame.to_csv(index=False))
    try:
        frame.to_csv(output, index=False)
    except OSError as exc:
        raise StorageAccessError(f"cannot write {output}: {exc.strerror or exc}; choose another path") from None
    return RegionsExport(url=labels.url, level=level, rows=len(frame), output=os.fspath(output))


__all__ = ["RegionsExport", "export_regions"]
