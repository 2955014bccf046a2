"""HCS plates: plate -> wells (row/column) -> fields, each field an ordinary multiscale image.

Writing: :func:`write_plate` from fields given directly or found by a builder —
:func:`from_manifest` (CSV), :func:`from_pattern` (file names), :func:`from_tree`
(``PLATE/ROW/COL/FIELD`` folders). :func:`write_plate_metadata` and :func:`write_well_metadata`
write only the NGFF metadata, for callers that write the field images themselves.

Reading: :func:`open_plate` -> :class:`Plate` (rows, columns, wells, acquisitions,
``well(row, column)`` -> :class:`Well` whose fields are :class:`~ngffstore.image.Image` objects)
and :meth:`Plate.grid`, a lazy whole-plate mosaic read from the pyramid level that fits.
"""

from .grid import Mosaic
from .inputs import (
    FieldPlanes,
    PlateField,
    PlateInput,
    PlateInputError,
    compile_pattern,
    from_manifest,
    from_pattern,
    from_tree,
)
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
    "FieldPlanes",
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
    "compile_pattern",
    "from_manifest",
    "from_pattern",
    "from_tree",
    "open_plate",
    "plate_attrs",
    "well_attrs",
    "write_plate",
    "write_plate_metadata",
    "write_well_metadata",
]
