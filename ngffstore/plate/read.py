"""``open_plate``: read NGFF HCS plates (0.4/0.5) lazily, locally or on S3.

Opening a plate reads the plate group only (one GET on Zarr v3); a well's metadata is read when
the well is asked for, a field's when the field is opened (it is an ordinary
:class:`~ngffstore.image.Image`). :meth:`Plate.grid` reads every well's metadata at once
(concurrently), then one level per field.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from ..errors import NgffStoreError, NotNgffError, StoreNotFoundError
from ..image._zarrio import Storage, read_group
from ..ngff import ome_attrs
from ..nodes import StoredNode
from ..paths import UnsafePathError, check_relative_path
from ..storage import Location
from .names import (
    FieldRef,
    describe_names,
    field_slots,  # noqa: F401 - re-exported: its old home
    parse_column,
    parse_row,
    parse_well,
    well_name,
)
from .registration import Registration, registered_preview

if TYPE_CHECKING:
    from ..image import Image
    from .grid import Mosaic

OPEN_THREADS = 16


class WellNotFoundError(StoreNotFoundError):
    """The plate has no such well (outside its rows/columns, or no images there)."""


@dataclass(frozen=True, kw_only=True)
class WellRef:
    """A well the plate lists: its path (``B/3``), row and column names and indices."""

    path: str
    row: str
    column: str
    row_index: int
    column_index: int

    @property
    def name(self) -> str:
        """``B03``-style name."""
        return well_name(self.row, self.column)


@dataclass(frozen=True, kw_only=True)
class Acquisition:
    """One ``plate.acquisitions`` entry."""

    id: int
    name: str | None = None
    description: str | None = None
    starttime: int | None = None
    endtime: int | None = None
    maximumfieldcount: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Acquisition:
        return cls(
            id=int(d["id"]), name=d.get("name"), description=d.get("description"),
            starttime=d.get("starttime"), endtime=d.get("endtime"),
            maximumfieldcount=d.get("maximumfieldcount"),
        )


def open_plate(
    url: str | os.PathLike[str] | Location,
    *,
    storage_options: Mapping[str, Any] | None = None,
    memory_cap: int | None = None,
) -> Plate:
    """Open the NGFF plate at ``url`` (a path, ``file://``, ``s3://`` or ``https://`` URL).

    Only the plate group is read. ``memory_cap`` (bytes) bounds :meth:`Plate.grid` and the
    fields' region reads (default 1 GiB).

    Raises
    ------
    StoreNotFoundError
        Nothing is stored at ``url``.
    NotNgffError
        A Zarr group is there but it is not a plate (an image, a well, plain Zarr), or the
        plate metadata is malformed.
    """
    location = Location.parse(url, storage_options)
    storage = Storage(location)
    zarr_format, attrs, _ = read_group(storage)
    return Plate(storage=storage, zarr_format=zarr_format, attrs=attrs, memory_cap=memory_cap)


def _plate_block(url: str, attrs: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    version, ome = ome_attrs(attrs)
    plate = ome.get("plate")
    if isinstance(plate, Mapping):
        return version, plate
    if "multiscales" in ome:
        raise NotNgffError(f"{url} is an image, not a plate: open it with open_image")
    if isinstance(ome.get("well"), Mapping):
        raise NotNgffError(f"{url} is a plate well, not a plate: open the plate (the folder two levels up)")
    if "writing" in (attrs.get("ngffstore") or {}):
        raise NotNgffError(
            f"{url} is a plate whose writing did not finish: rerun the same command to resume it"
        )
    raise NotNgffError(f"{url} has no 'plate' metadata: not an OME-NGFF plate")


class Plate(StoredNode):
    """An NGFF HCS plate, opened from its metadata; see :func:`open_plate`.

    Picklable (URL, storage options and the plate metadata) and a context manager.
    """

    def __init__(
        self, *, storage: Storage, zarr_format: int, attrs: Mapping[str, Any], memory_cap: int | None = None
    ):
        self._storage = storage
        self.zarr_format = zarr_format
        self._attrs = dict(attrs)
        self.memory_cap = memory_cap
        version, block = _plate_block(storage.location.url, attrs)
        self.version = version or block.get("version")
        document = storage.location.child("zarr.json" if zarr_format == 3 else ".zattrs").url
        try:
            self.rows = tuple(str(r["name"]) for r in block.get("rows") or [])
            self.columns = tuple(str(c["name"]) for c in block.get("columns") or [])
            wells = []
            for i, w in enumerate(block.get("wells") or []):
                path = check_relative_path(w["path"], document=document, what=f"well path (wells[{i}])")
                row, _, column = path.partition("/")
                ri = w.get("rowIndex", w.get("row_index"))
                ci = w.get("columnIndex", w.get("column_index"))
                ri = int(ri) if isinstance(ri, int) else (self.rows.index(row) if row in self.rows else -1)
                ci = int(ci) if isinstance(ci, int) else (self.columns.index(column) if column in self.columns else -1)
                if 0 <= ri < len(self.rows):
                    row = self.rows[ri]
                if 0 <= ci < len(self.columns):
                    column = self.columns[ci]
                wells.append(WellRef(path=path, row=row, column=column, row_index=ri, column_index=ci))
            self.wells: tuple[WellRef, ...] = tuple(wells)
            self.acquisitions = tuple(Acquisition.from_dict(a) for a in block.get("acquisitions") or [])
        except UnsafePathError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise NotNgffError(f"{self.url}: malformed 'plate' metadata ({exc})") from None
        if not self.rows or not self.columns:
            raise NotNgffError(f"{self.url}: the plate metadata lists no rows or no columns")
        fc = block.get("field_count")
        self.field_count: int | None = int(fc) if isinstance(fc, int) else None
        self.name: str | None = block.get("name")
        self._init_caches()

    def _init_caches(self) -> None:
        self._well_images: dict[str, tuple[FieldRef, ...]] = {}

    # -- pickling and lifetime ---------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "storage": self._storage, "zarr_format": self.zarr_format, "attrs": self._attrs,
            "memory_cap": self.memory_cap,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def close(self) -> None:
        self._storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Plate {self.url} rows {describe_names(self.rows)} x columns {describe_names(self.columns)}, "
            f"{len(self.wells)} wells, NGFF {self.version or '?'}>"
        )

    def __len__(self) -> int:
        return len(self.wells)

    def __iter__(self) -> Iterator[WellRef]:
        return iter(self.wells)

    # -- metadata ---------------------------------------------------------------------------
    # -- wells ------------------------------------------------------------------------------
    def well_ref(self, row: Any, column: Any = None) -> WellRef:
        """The plate's entry for a well: ``("B", 3)``, ``("B", "03")``, ``"B03"``, ``"B/3"``."""
        if column is None:
            text = str(row)
            for w in self.wells:
                if w.path == text:
                    return w
            row, column = parse_well(tuple(text.split("/", 1)) if "/" in text else text)
        want_row, want_col = _norm(row, parse_row), _norm(column, parse_column)
        for w in self.wells:
            if _norm(w.row, parse_row) == want_row and _norm(w.column, parse_column) == want_col:
                return w
        where = f"{want_row}/{want_col}"
        rows = {_norm(r, parse_row) for r in self.rows}
        columns = {_norm(c, parse_column) for c in self.columns}
        if want_row in rows and want_col in columns:
            raise WellNotFoundError(f"well {where} of {self.url} has no images (the plate lists {len(self.wells)} wells)")
        raise WellNotFoundError(
            f"no well {where} in {self.url}: the plate has rows {describe_names(self.rows)} and columns "
            f"{describe_names(self.columns)}"
        )

    def well(self, row: Any, column: Any = None) -> Well:
        """The well at ``row``, ``column`` (or a name like ``"B03"``); reads its metadata (one GET)."""
        ref = self.well_ref(row, column)
        images = self._well_images.get(ref.path)
        if images is None:
            images = self._fetch_wells([ref.path])[ref.path]
        return Well(plate=self, ref=ref, images=images)

    def field(self, row: Any, column: Any = None, field: int | str = 0) -> Image:
        """One field of a well as an :class:`~ngffstore.image.Image`."""
        return self.well(row, column).field(field)

    def well_images(self) -> dict[str, tuple[FieldRef, ...]]:
        """``{well path: its field images}`` for every well, read concurrently (one GET each)."""
        missing = [w.path for w in self.wells if w.path not in self._well_images]
        if missing:
            self._fetch_wells(missing)
        return {w.path: self._well_images[w.path] for w in self.wells}

    def _fetch_wells(self, paths: Sequence[str]) -> dict[str, tuple[FieldRef, ...]]:
        key = "zarr.json" if self.zarr_format == 3 else ".zattrs"
        docs = self._storage.get_many([f"{p}/{key}" for p in paths])
        out = {}
        import json

        for path, raw in zip(paths, docs):
            images: tuple[FieldRef, ...] = ()
            if raw is not None:
                try:
                    doc = json.loads(raw)
                    attrs = doc.get("attributes", {}) if self.zarr_format == 3 else doc
                    well = ome_attrs(attrs or {})[1].get("well") or {}
                    document = self.location.child(path, key).url
                    images = tuple(
                        FieldRef(
                            path=check_relative_path(
                                im["path"], document=document, what=f"well image path (images[{j}])"
                            ),
                            acquisition=im.get("acquisition"),
                        )
                        for j, im in enumerate(well.get("images") or [])
                    )
                except UnsafePathError:
                    raise
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise NotNgffError(f"{self.location.child(path).url}: malformed 'well' metadata ({exc})") from None
            self._well_images[path] = images
            out[path] = images
        return out

    # -- the plate overview -----------------------------------------------------------------
    def grid(
        self,
        max_size: int | None = None,
        *,
        level: int | None = None,
        c: Any = None,
        z: Any = 0,
        t: Any = 0,
        fields: int | Sequence[int] | None = None,
        gap: int = 0,
        memory_cap: int | None = None,
        preview: bool | None = None,
    ) -> Mosaic:
        """A lazy mosaic of every well (rows x columns of the plate), each well a small grid of
        its fields; wells or fields without images are zeros.

        Parameters
        ----------
        max_size
            Longest edge of one field in the mosaic; each field is read from the lowest level
            that is still at least that large (:func:`~ngffstore.image.choose_level`, the rule
            of every reader verb) and reduced to it (nearest neighbour).
        level
            Read this level of every field instead (negative counts from the lowest level).
            With neither, level 0 (full resolution).
        c, z, t
            As for :meth:`Image.window`: one index (axis dropped), a list (kept) or None (all);
            ``z`` and ``t`` default to 0.
        fields
            Field positions to show (0 = the first field of each well); default all.
        gap
            Pixels of zeros between wells.
        preview
            None (default): read the plate's stored preview when it is registered, fresh and
            serves the request (``max_size`` given and no larger than its tiles, z=0, t=0,
            every field, no ``level``): one GET, whatever the plate size. False: always read
            the fields. True: the preview or :class:`ReadError`. See ``specs/plate-preview.md``.
        """
        from .grid import plate_grid

        return plate_grid(
            self, max_size=max_size, level=level, c=c, z=z, t=t, fields=fields, gap=gap,
            memory_cap=memory_cap if memory_cap is not None else self.memory_cap, use_preview=preview,
        )

    @property
    def preview(self) -> Registration | None:
        """The stored preview's registration (:class:`~ngffstore.plate.registration.Registration`,
        with ``fresh`` and ``reason``), or None; read from the plate document (no request)."""
        return registered_preview(self)


def _norm(value: Any, parse: Any) -> str:
    try:
        return str(parse(value))
    except NgffStoreError:  # a foreign name that ngffstore would not write: compare it as it is
        return str(value)


class Well:
    """One well of a plate: its field images (opened on demand as :class:`Image`)."""

    def __init__(self, *, plate: Plate, ref: WellRef, images: tuple[FieldRef, ...]):
        self.plate = plate
        self.ref = ref
        self.images = images

    @property
    def path(self) -> str:
        return self.ref.path

    @property
    def row(self) -> str:
        return self.ref.row

    @property
    def column(self) -> str:
        return self.ref.column

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def url(self) -> str:
        return self.plate.location.child(*self.path.split("/")).url

    @property
    def acquisitions(self) -> tuple[int, ...]:
        return tuple(sorted({im.acquisition for im in self.images if im.acquisition is not None}))

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[Image]:
        return iter(self.fields)

    def __repr__(self) -> str:
        return f"<Well {self.name} of {self.plate.url}: {len(self.images)} fields>"

    def _field_ref(self, field: int | str) -> FieldRef:
        if isinstance(field, str):
            for im in self.images:
                if im.path == field:
                    return im
            raise WellNotFoundError(
                f"well {self.path} of {self.plate.url} has no field {field!r}: it has "
                f"{', '.join(im.path for im in self.images) or 'none'}"
            )
        if not 0 <= int(field) < len(self.images):
            raise WellNotFoundError(
                f"well {self.path} of {self.plate.url} has {len(self.images)} fields: field {field} is out of range"
            )
        return self.images[int(field)]

    def field(self, field: int | str = 0) -> Image:
        """Field ``field`` (an index in the well's list, or its path) as an Image (two GETs)."""
        from ..image import open_image

        ref = self._field_ref(field)
        return open_image(
            self.plate.location.child(*self.path.split("/"), ref.path), memory_cap=self.plate.memory_cap
        )

    @property
    def fields(self) -> tuple[Image, ...]:
        """Every field as an Image, opened concurrently."""
        if not self.images:
            return ()
        with ThreadPoolExecutor(min(OPEN_THREADS, len(self.images))) as pool:
            return tuple(pool.map(self.field, range(len(self.images))))


__all__ = ["Acquisition", "FieldRef", "Plate", "Well", "WellNotFoundError", "WellRef", "open_plate"]
