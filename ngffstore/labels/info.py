"""What a label image holds: :class:`LabelsSummary` (what :func:`~ngffstore.labels.write_labels`
wrote) and :func:`labels_info` -> :class:`LabelsInfo` (``ngffstore labels info``).

A label image is an image (``IMAGE/labels/NAME``), so its write summary is an
:class:`~ngffstore.image.info.ImageSummary` (levels, shapes, chunks, dtype, stored bytes) plus
what only a label image has: its parent image, and how many values, colours and properties it
holds. :class:`LabelsInfo` describes a stored label image as read back: its levels, the value
statistics the writer recorded, colours, property columns and downsampling method.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..image.info import ImageSummary
from ..image.levels import Level
from ..storage import Location
from .read import open_labels


@dataclass(frozen=True, kw_only=True)
class LabelsSummary(ImageSummary):
    """The summary of one label image; ``url`` is the label image's, ``image`` its image's."""

    image: str
    value_count: int = 0
    """Distinct label values stored (0 included when present)."""
    value_range: tuple[int, int] | None = None
    """The smallest and largest value stored (None: no value)."""
    color_count: int = 0
    """Label values with a stored colour."""
    property_count: int = 0
    """Label values with stored properties."""

    def to_text(self) -> str:
        low_high = f" ({self.value_range[0]} to {self.value_range[1]})" if self.value_range else ""
        head = [
            f"labels    {self.name or '-'} of {self.image}",
            (
                f"values    {self.value_count}{low_high}, {self.color_count} colours, "
                f"{self.property_count} with properties"
            ),
        ]
        return "\n".join(head + self._text_lines())


@dataclass(frozen=True, kw_only=True)
class LabelsInfo:
    """What :func:`labels_info` found: one stored label image, from its metadata (and its values
    when the writer recorded no statistics)."""

    name: str
    url: str
    axes: str
    dtype: str
    levels: tuple[Level, ...]
    units: dict[str, str]
    value_count: int
    """Distinct label values stored (0 included when present)."""
    value_range: tuple[Any, Any] | None
    """The smallest and largest value stored (None: no value, or not recorded)."""
    color_count: int
    """Label values with a stored colour."""
    property_count: int
    """Label values with stored properties."""
    property_columns: tuple[str, ...]
    """The property names, sorted."""
    downsampling: str | None
    """The pyramid's method (the multiscale ``type``: mode or nearest)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: what ``ngffstore labels info --json`` prints."""
        values: dict[str, Any] = {"count": self.value_count}
        if self.value_range is not None:
            values.update(min=self.value_range[0], max=self.value_range[1])
        return {
            "name": self.name,
            "url": self.url,
            "axes": self.axes,
            "dtype": self.dtype,
            "levels": [
                {"path": lv.path, "shape": list(lv.shape), "chunks": list(lv.chunks),
                 "shards": list(lv.shards) if lv.shards else None, "scale": list(lv.scale)}
                for lv in self.levels
            ],
            "units": dict(self.units),
            "values": values,
            "colors": self.color_count,
            "properties": {"labels": self.property_count, "columns": list(self.property_columns)},
            "downsampling": self.downsampling,
        }

    def to_text(self) -> str:
        span = f" ({self.value_range[0]} to {self.value_range[1]})" if self.value_range is not None else ""
        columns = f"; columns: {', '.join(self.property_columns)}" if self.property_columns else ""
        lines = [
            f"label     {self.name}",
            f"url       {self.url}",
            f"axes      {self.axes}   dtype {self.dtype}   downsampling {self.downsampling}",
            f"values    {self.value_count}{span}",
            f"colours   {self.color_count}",
            f"properties {self.property_count} labels{columns}",
            "levels",
        ]
        for i, lv in enumerate(self.levels):
            shape = "x".join(map(str, lv.shape))
            chunks = "x".join(map(str, lv.chunks))
            scale = ", ".join(f"{s:g}" for s in lv.scale)
            lines.append(f"  {i}  {shape:>15}  chunks {chunks:<12} scale {scale}")
        return "\n".join(lines)


def _recorded_values(metadata: Mapping[str, Any]) -> tuple[int, tuple[Any, Any] | None] | None:
    """(count, (min, max) or None) from the statistics the writer recorded, or None when there are
    none (or they are not what the writer stores)."""
    stats = metadata.get("label_values")
    if not isinstance(stats, Mapping):
        return None
    count = stats.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return None
    if "min" in stats and "max" in stats:
        return count, (stats["min"], stats["max"])
    return count, None


def labels_info(
    image_url: str | os.PathLike[str] | Location,
    name: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> LabelsInfo:
    """Describe the label image ``name`` of the image at ``image_url`` (``IMAGE/labels/NAME``).

    Reads the label image's metadata (group and level documents). The value statistics are the
    ones :func:`~ngffstore.labels.write_labels` recorded; for label images written by other tools
    the distinct values are computed chunk by chunk (every chunk of level 0 is read).

    Raises what :func:`~ngffstore.labels.open_labels` raises (a name that is not a plain label
    name, or no label image of that name).
    """
    labels = open_labels(image_url, name, storage_options=storage_options)
    recorded = _recorded_values(labels.metadata)
    if recorded is None:
        values = labels.values()
        recorded = (
            int(values.size), (values.min().item(), values.max().item()) if values.size else None
        )
    count, value_range = recorded
    props = labels.properties
    return LabelsInfo(
        name=labels.label_name,
        url=labels.url,
        axes=labels.axes,
        dtype=str(labels.dtype),
        levels=labels.levels,
        units=labels.units,
        value_count=count,
        value_range=value_range,
        color_count=len(labels.colors),
        property_count=len(props),
        property_columns=tuple(sorted({k for p in props.values() for k in p})),
        downsampling=labels.multiscale.type,
    )


__all__ = ["LabelsInfo", "LabelsSummary", "labels_info"]
