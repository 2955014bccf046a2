"""A plate's summary from its metadata: layout, wells, fields, acquisitions (``ngffstore plate-info``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .names import describe_names
from .read import Acquisition, open_plate


@dataclass(frozen=True, kw_only=True)
class FieldInfo:
    """The first field image of a plate (the others are expected to be alike)."""

    url: str
    axes: str
    shape: tuple[int, ...]
    dtype: str
    channels: tuple[str, ...]
    levels: tuple[tuple[int, ...], ...]
    """The shape of each pyramid level."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "axes": self.axes,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "channels": list(self.channels),
            "levels": [list(shape) for shape in self.levels],
        }


@dataclass(frozen=True, kw_only=True)
class PlateInfo:
    """What :func:`plate_info` found.

    Attributes
    ----------
    wells
        The number of wells with images.
    field
        The first field image, or None when the plate has no well or the field cannot be opened
        (``first_field_error`` says why).
    well_fields
        The field paths of every well (``wells=True`` only; one GET per well).
    """

    url: str
    name: str | None
    version: str | None
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    wells: int
    field_count: int | None
    acquisitions: tuple[Acquisition, ...] = ()
    field: FieldInfo | None = None
    first_field_error: str | None = None
    well_fields: dict[str, list[str]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": self.url,
            "name": self.name,
            "version": self.version,
            "rows": list(self.rows),
            "columns": list(self.columns),
            "wells": self.wells,
            "field_count": self.field_count,
            "acquisitions": [dict(a.__dict__) for a in self.acquisitions],
        }
        if self.first_field_error is not None:
            out["first_field_error"] = self.first_field_error
        if self.field is not None:
            out["field"] = self.field.to_dict()
        if self.well_fields is not None:
            out["well_fields"] = self.well_fields
        return out

    def to_text(self) -> str:
        lines = [
            f"plate     {self.url}",
            f"name      {self.name or '-'}",
            f"format    OME-NGFF {self.version or '?'} HCS plate",
            f"layout    rows {describe_names(self.rows)}, columns {describe_names(self.columns)}",
            f"wells     {self.wells} with images, up to {self.field_count or '?'} fields each",
        ]
        if self.acquisitions:
            lines.append("acquis.   " + ", ".join(
                f"{a.id}" + (f" ({a.name})" if a.name else "") for a in self.acquisitions
            ))
        if self.field is not None:
            f = self.field
            lines.append(
                f"fields    {f.axes} {'x'.join(map(str, f.shape))} {f.dtype}, {len(f.levels)} levels "
                f"(smallest {'x'.join(map(str, f.levels[-1]))}), channels {', '.join(f.channels)}"
            )
        elif self.first_field_error is not None:
            lines.append(f"fields    cannot open the first field: {self.first_field_error}")
        for w, fs in (self.well_fields or {}).items():
            lines.append(f"  {w:<8} {', '.join(fs) or '(no fields)'}")
        return "\n".join(lines)


def plate_info(
    url: Any, *, wells: bool = False, storage_options: Mapping[str, Any] | None = None
) -> PlateInfo:
    """Summarise the HCS plate at ``url`` from its metadata: the plate group and its first field
    (no pixel is read); with ``wells``, every well's field list too (one GET per well)."""
    with open_plate(url, storage_options=storage_options) as plate:
        first: FieldInfo | None = None
        error: str | None = None
        if plate.wells:
            try:
                image = plate.field(plate.wells[0].path)
            except Exception as exc:  # noqa: BLE001 - a plate whose first field cannot be opened is still described
                error = str(exc)
            else:
                first = FieldInfo(
                    url=image.url,
                    axes=image.axes,
                    shape=tuple(image.shape),
                    dtype=str(image.dtype),
                    channels=tuple(c.label for c in image.channels),
                    levels=tuple(tuple(lv.shape) for lv in image.levels),
                )
        return PlateInfo(
            url=plate.url,
            name=plate.name,
            version=plate.version,
            rows=tuple(plate.rows),
            columns=tuple(plate.columns),
            wells=len(plate.wells),
            field_count=plate.field_count,
            acquisitions=tuple(plate.acquisitions),
            field=first,
            first_field_error=error,
            well_fields=(
                {w: [f.path for f in fs] for w, fs in plate.well_images().items()} if wells else None
            ),
        )


__all__ = ["FieldInfo", "PlateInfo", "plate_info"]
