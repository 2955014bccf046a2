"""``LabelsSummary``: what :func:`~ngffstore.labels.write_labels` wrote, the label image's summary.

A label image is an image (``IMAGE/labels/NAME``), so its summary is an
:class:`~ngffstore.image.info.ImageSummary` (levels, shapes, chunks, dtype, stored bytes) plus
what only a label image has: its parent image, and how many values, colours and properties it
holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..image.info import ImageSummary


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
            f"values    {self.value_count}{low_high}, {self.color_count} colours, "
            f"{self.property_count} with properties",
        ]
        return "\n".join(head + self._text_lines())


__all__ = ["LabelsSummary"]
