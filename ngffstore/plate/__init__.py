"""HCS plates: plate -> wells (row/column) -> fields, each field an ordinary multiscale image.

Writing: :func:`write_plate` from fields given directly (arrays, Sources) or found by a builder
of the input converters — ``converters.plate``'s ``from_manifest`` (CSV), ``from_pattern``
(file names), ``from_tree`` (``PLATE/ROW/COL/FIELD`` folders). :func:`write_plate_metadata` and :func:`write_well_metadata`
write only the NGFF metadata, for callers that write the field images themselves.

Reading: :func:`open_plate` -> :class:`Plate` (rows, columns, wells, acquisitions,
``well(row, column)`` -> :class:`Well` whose fields are :class:`~ngffstore.image.Image` objects)
and :meth:`Plate.grid`, a lazy whole-plate mosaic read from the pyramid level that fits.
"""

from .grid import Mosaic
from .inputs import PlateField, PlateInput, PlateInputError
from .read import Acquisition, FieldRef, Plate, Well, WellNotFoundError, WellRef, open_plate
from .write import (
    PlateSummary,
    plate_attrs,
    well_attrs,
    write_plate,
    write_plate_metadata,
    write_well_metadata,
)

__all__ = [
    "Acquisition",
    "FieldRef",
    "Mosaic",
    "Plate",
    "PlateField",
    "PlateInput",
    "PlateInputError",
    "PlateSummary",
    "Well",
    "WellNotFoundError",
    "WellRef",
    "open_plate",
    "plate_attrs",
    "well_attrs",
    "write_plate",
    "write_plate_metadata",
    "write_well_metadata",
]

# the file-reading builders moved to the input converters (converters.plate); their old names
# here keep working for one release
_MOVED = frozenset({"FieldPlanes", "compile_pattern", "from_manifest", "from_pattern", "from_tree"})


def __getattr__(name: str) -> object:
    if name in _MOVED:
        from .. import plugins
        from .._deprecated import REMOVED_IN, warn_deprecated

        warn_deprecated(f"ngffstore.plate.{name} is deprecated; use converters.plate.{name} (removed in {REMOVED_IN})")
        return getattr(plugins.converters(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
