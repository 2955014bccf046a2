"""``write_plate``: fields of view -> an NGFF HCS plate (plate -> rows -> wells -> field images).

Order of work, so that an interrupted build never reads as a complete plate:

1. every input is checked (names, duplicates, files, shapes; headers only) — one
   :class:`PlateInputError` lists every offender and nothing is written;
2. the plate group is marked "being written" (a rerun with the same inputs resumes: finished
   fields are skipped, an interrupted field resumes block by block);
3. the fields are written as ordinary multiscale images with :func:`~ngffstore.write_image`,
   in parallel (one task per field on threads, processes or a dask.distributed cluster; one
   progress bar over fields). Plates with fewer fields than twice the local workers are written
   field after field instead, each with every worker on its blocks;
4. the well groups, then the row groups, then the plate group (the node that makes it valid).

:func:`write_plate_metadata` and :func:`write_well_metadata` write just the metadata (for
callers that write the field images themselves).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import dask
import numpy as np

from .. import journal, parallel, provenance
from .._deprecated import data_first
from ..errors import InputError, NgffStoreError
from ..image import write as image_write
from ..ngff import SUPPORTED_VERSIONS, ome_attrs, wrap_ome
from ..nodes import read_attrs, write_group_attrs
from ..source import Source
from ..storage import Location, storage_errors
from .inputs import PlateInput, PlateInputError, as_plate_input
from .names import (
    check_name,
    column_key,
    describe_names,
    outside_kind,
    parse_names,
    parse_well,
    row_key,
    well_name,
)
from .registration import bump_generation
from .resolve import ResolvedField, assign_paths, resolve

log = logging.getLogger("ngffstore")

METADATA_CONCURRENCY = 32
_NOT_FIELD_OPTIONS = {"data", "url", "storage_options", "overwrite", "scheduler", "progress", "axes", "name", "_known_empty"}


FIELD_OPTIONS = frozenset(inspect.signature(image_write.write_image).parameters) - _NOT_FIELD_OPTIONS
"""The options of :func:`~ngffstore.write_image` that :func:`write_plate` passes to every field."""


# -- the summary -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlateSummary:
    """What :func:`write_plate` wrote."""

    url: str
    name: str | None
    version: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    wells: int
    fields: int
    field_count: int
    acquisitions: tuple[int, ...]
    field_axes: str
    field_shape: tuple[int, ...]
    field_dtype: str
    levels: tuple[tuple[int, ...], ...]
    resumed_fields: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        shape = "x".join(map(str, self.field_shape))
        lines = [
            f"plate     {self.url}",
            f"name      {self.name or '-'}",
            f"format    OME-NGFF {self.version} HCS plate",
            (
                f"layout    rows {describe_names(self.rows)}, columns {describe_names(self.columns)} "
                f"({len(self.rows) * len(self.columns)} positions)"
            ),
            f"wells     {self.wells} with images, {self.fields} fields (up to {self.field_count} per well)",
            (
                f"fields    {self.field_axes} {shape} {self.field_dtype}, {len(self.levels)} levels "
                f"(smallest {'x'.join(map(str, self.levels[-1]))})"
            ),
        ]
        if self.acquisitions:
            lines.append("acquis.   " + ", ".join(map(str, self.acquisitions)))
        if self.resumed_fields:
            lines.append(f"resumed   {self.resumed_fields} fields were already written")
        lines.append(f"time      {self.seconds:.1f} s")
        return "\n".join(lines)


# -- metadata documents ------------------------------------------------------------------------


def _version(ngff_version: str) -> tuple[str, int]:
    if ngff_version not in SUPPORTED_VERSIONS:
        raise InputError(f"NGFF version {ngff_version!r} is not supported; use 0.5 or 0.4")
    return ngff_version, (3 if ngff_version == "0.5" else 2)


def plate_attrs(
    wells: Iterable[Any],
    *,
    rows: Any = None,
    columns: Any = None,
    name: str | None = None,
    acquisitions: Sequence[Mapping[str, Any] | int] | None = None,
    field_count: int | None = None,
    ngff_version: str = "0.5",
) -> dict[str, Any]:
    """The group attributes of a plate (``{"ome": {"plate": ...}}`` for 0.5, ``{"plate": ...}``
    for 0.4). ``wells`` are well names (``B03``), paths (``B/3``) or ``(row, column)`` pairs;
    rows and columns default to the smallest standard plate that holds them."""
    from .names import infer_layout

    version, _ = _version(ngff_version)
    pairs = []
    for w in wells:
        pair = parse_well(w if not (isinstance(w, str) and "/" in w) else tuple(w.split("/", 1)))
        if pair not in pairs:
            pairs.append(pair)
    if not pairs:
        raise InputError("a plate needs at least one well")
    probe = [("A" if rows is not None else r, "1" if columns is not None else c) for r, c in pairs]
    inferred = infer_layout(probe) if rows is None or columns is None else ([], [])  # only what is not given
    row_names = parse_names(rows, "row") if rows is not None else inferred[0]
    column_names = parse_names(columns, "column") if columns is not None else inferred[1]
    for n in row_names:
        check_name(n, "row name")
    for n in column_names:
        check_name(n, "column name")
    outside = [well_name(r, c) for r, c in pairs if r not in row_names or c not in column_names]
    if outside:
        raise PlateInputError(
            [(outside_kind(row_names, column_names), ", ".join(outside))]
        )
    pairs.sort(key=lambda p: (row_names.index(p[0]), column_names.index(p[1])))
    plate: dict[str, Any] = {}
    if name:
        plate["name"] = str(name)
    plate["rows"] = [{"name": r} for r in row_names]
    plate["columns"] = [{"name": c} for c in column_names]
    plate["wells"] = [
        {"path": f"{r}/{c}", "rowIndex": row_names.index(r), "columnIndex": column_names.index(c)}
        for r, c in pairs
    ]
    if field_count:
        plate["field_count"] = int(field_count)
    if acquisitions:
        plate["acquisitions"] = [dict(a) if isinstance(a, Mapping) else {"id": int(a)} for a in acquisitions]
    # 0.5 keeps the version in "ome", but ome-zarr-models warns without plate.version (its issue
    # 218), and ome-zarr-py writes it too: the schema allows it
    plate["version"] = version
    return wrap_ome({"plate": plate}, version)


def well_attrs(images: Iterable[Any], *, ngff_version: str = "0.5") -> dict[str, Any]:
    """The group attributes of a well: ``images`` are field paths (``"0"``, ``1``) or
    ``{"path": ..., "acquisition": ...}`` mappings."""
    version, _ = _version(ngff_version)
    out = []
    for item in images:
        entry = dict(item) if isinstance(item, Mapping) else {"path": str(item)}
        entry["path"] = check_name(str(entry["path"]), "field path")
        if entry.get("acquisition") is None:
            entry.pop("acquisition", None)
        out.append(entry)
    if not out:
        raise InputError("a well needs at least one field image")
    well: dict[str, Any] = {"images": out}
    if version == "0.4":
        well["version"] = "0.4"
    return wrap_ome({"well": well}, version)


@data_first("plate.write_well_metadata", "images")
def write_well_metadata(
    images: Iterable[Any],
    url: str | Location,
    *,
    ngff_version: str = "0.5",
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the well group at ``url`` listing its field ``images`` (see :func:`well_attrs`).

    Write it after the field images, so a well only lists fields that exist. Returns the
    attributes written.
    """
    _, zarr_format = _version(ngff_version)
    attrs = well_attrs(images, ngff_version=ngff_version)
    write_group_attrs(Location.parse(url, storage_options), zarr_format, attrs)
    return attrs


@data_first("plate.write_plate_metadata", "wells")
def write_plate_metadata(
    wells: Iterable[Any],
    url: str | Location,
    *,
    rows: Any = None,
    columns: Any = None,
    name: str | None = None,
    acquisitions: Sequence[Mapping[str, Any] | int] | None = None,
    field_count: int | None = None,
    ngff_version: str = "0.5",
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the plate group at ``url`` (and its row groups) for ``wells`` (see :func:`plate_attrs`).

    Write it last, after the wells and their fields: it is the node that makes the plate
    valid. ngffstore's own attributes already on the group (provenance) are kept. Returns the
    attributes written.
    """
    _, zarr_format = _version(ngff_version)
    location = Location.parse(url, storage_options)
    attrs = plate_attrs(
        wells, rows=rows, columns=columns, name=name, acquisitions=acquisitions,
        field_count=field_count, ngff_version=ngff_version,
    )
    try:
        _, old = read_attrs(location)
    except NgffStoreError:
        old = {}
    block = dict(old.get("ngffstore") or {})
    block.pop("writing", None)
    attrs["ngffstore"] = block
    # the caller wrote field images: a stored preview no longer shows them for sure
    bump_generation(attrs)
    attrs = provenance.append(
        attrs,
        provenance.record(
            "write_plate_metadata",
            {"wells": len(_plate_block(attrs)["wells"]), "ngff_version": ngff_version},
            target=location.url,
        ),
    )
    rows_used = sorted({w["path"].split("/")[0] for w in _plate_block(attrs)["wells"]}, key=row_key)
    _write_groups(location, [(r, zarr_format, {}) for r in rows_used])
    write_group_attrs(location, zarr_format, attrs)
    return attrs


def _plate_block(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return dict(ome_attrs(attrs)[1]["plate"])


def _write_groups(root: Location, docs: Sequence[tuple[str, int, dict[str, Any]]]) -> None:
    """Write group documents at paths below ``root`` concurrently, through one store.

    ``docs`` holds ``(path, zarr_format, attributes)``; the same documents as
    :func:`~ngffstore.nodes.write_group_attrs` writes one by one.
    """
    if not docs:
        return
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    objects: list[tuple[str, dict[str, Any]]] = []
    for path, zarr_format, attrs in docs:
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        if zarr_format == 3:
            objects.append((prefix + "zarr.json", {"zarr_format": 3, "node_type": "group", "attributes": attrs}))
        else:
            objects.append((prefix + ".zgroup", {"zarr_format": 2}))
            objects.append((prefix + ".zattrs", attrs))
    store = root.zarr_store()
    buffer = default_buffer_prototype().buffer

    async def put_all() -> None:
        limit = asyncio.Semaphore(METADATA_CONCURRENCY)

        async def put(key: str, obj: dict[str, Any]) -> None:
            async with limit:
                await store.set(key, buffer.from_bytes(json.dumps(obj, indent=2, allow_nan=False).encode()))

        await asyncio.gather(*(put(k, o) for k, o in objects))

    with storage_errors(root, "write"):
        sync(put_all())


# -- writing fields ----------------------------------------------------------------------------


class _FieldJob:
    """One field to write (a plain class: dask must not look inside it for collections)."""

    def __init__(
        self, location: Location, source: Any, options: dict[str, Any], *, resume: bool,
        scheduler: Any, label: str,
    ):
        self.location = location
        self.source = source
        self.options = options
        self.resume = resume
        self.scheduler = scheduler
        self.label = label


def _is_complete(location: Location) -> bool:
    try:
        _, attrs = read_attrs(location)
    except NgffStoreError:
        return False
    _, ome = ome_attrs(attrs)
    return "multiscales" in ome and "writing" not in (attrs.get("ngffstore") or {})


#: A field whose lazy pixels take less than this is read into memory before it is written.
LOAD_FIELD_BELOW = 64 * 2**20


def _loaded(source: Any, scheduler: Any) -> Any:
    """``source`` with its lazy pixels read into memory when the field is small and written in
    this thread: the writer's numpy path then needs no dask task per block (a quarter less CPU
    per field of a plate of small fields; the same bytes stored)."""
    data = source.data if isinstance(source, Source) else source
    if (scheduler not in ("synchronous", "sync", "single-threaded") or not hasattr(data, "dask")
            or data.nbytes >= LOAD_FIELD_BELOW):
        return source
    pixels = np.asarray(parallel.in_memory(data, "synchronous"))
    return replace(source, data=pixels) if isinstance(source, Source) else pixels


def _write_field(job: _FieldJob) -> Any:
    """Write one field image; None when an earlier run already finished it."""
    if job.resume and _is_complete(job.location):
        return None
    try:
        # a fresh plate is empty below: the field skips its destination GETs, and the plate
        # journals itself for the index once, after the last field
        return image_write.write_image(
            _loaded(job.source, job.scheduler), job.location, scheduler=job.scheduler, progress=False,
            overwrite=False,
            stored_bytes=False, _known_empty=not job.resume, **job.options,
        )
    except NgffStoreError as exc:
        try:
            named = type(exc)(f"{job.label}: {exc}")
        except TypeError:  # an error type with another signature: keep it as it is
            raise exc from None
        raise named from exc


def _local_workers(scheduler: Any) -> int:
    n = dask.config.get("num_workers", None)
    return int(n) if n else (os.cpu_count() or 1)


def _fingerprint(fields: Sequence[ResolvedField], settings: Mapping[str, Any]) -> str:
    doc: dict[str, Any] = {"settings": settings, "fields": []}
    for f in fields:
        described: list[Any] = []
        for p in f.inputs:
            entry: dict[str, Any] = {"path": p}
            local = p.removeprefix("file://")
            if "://" not in local:
                try:
                    st = os.stat(local)
                    entry.update(size=st.st_size, mtime=st.st_mtime_ns)
                except OSError:
                    pass
            described.append(entry)
        if not described:  # arrays: no stable identity, never resumed
            described = [os.urandom(8).hex()]
        doc["fields"].append([f.row, f.column, f.path, f.layout, described])
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_plate(
    fields: PlateInput | Iterable[Any],
    url: str | Location,
    *,
    rows: Any = None,
    columns: Any = None,
    name: str | None = None,
    acquisitions: Sequence[Mapping[str, Any] | int] | None = None,
    axes: str | None = None,
    input_storage_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    overwrite: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    preview: bool = True,
    **field_options: Any,
) -> PlateSummary:
    """Write an NGFF HCS plate at ``url`` from its fields of view.

    Parameters
    ----------
    fields
        A :class:`PlateInput` (e.g. from a ``converters.plate`` builder: ``from_manifest``,
        ``from_pattern``, ``from_tree``), or ``(row, column, field, source[, acquisition])``
        tuples, where ``source`` is a :class:`~ngffstore.source.Source` or a numpy/dask/Zarr
        array (a file path still works for one release, with a DeprecationWarning).
        Rows are letters (or 1-based numbers), columns numbers; wells may be named ``B03``.
    rows, columns
        The plate's rows and columns (``8``, ``"A-H"``, ``["A", "B"]``); default: the smallest
        standard plate (6 to 1536 wells) that holds every well.
    name, acquisitions
        Plate name; acquisitions as ids or ``{"id", "name", "starttime", ...}`` mappings
        (default: the ids the fields name, if any).
    axes
        Axes of each input file (``open_source``'s ``axes``) or array, when they cannot be
        inferred.
    field_options
        Any option of :func:`~ngffstore.write_image` for every field image (``chunks``,
        ``shards``, ``compression``, ``min_size``, ``levels``, ``method``, ``scale``, ``units``,
        ``channels``, ``ngff_version``, ``memory_target``, ``metadata``...).
    scheduler, progress
        As for ``write_image``; one progress bar counts fields.
    preview
        Store the plate preview (a low-resolution mosaic of every well, ``PLATE/preview``,
        see :func:`~ngffstore.plate.preview.build_preview`) after the plate; default True.

    Raises
    ------
    PlateInputError
        The input has problems (all listed in one message); nothing was written.
    OutputExistsError
        Something is at ``url`` and ``overwrite`` is not set.
    """
    started = provenance.now()
    t0 = _clock()
    allowed = FIELD_OPTIONS
    unknown = sorted(set(field_options) - allowed)
    if unknown:
        raise TypeError(
            f"write_plate() got unknown option(s) {', '.join(unknown)}; field options are those of "
            f"write_image: {', '.join(sorted(allowed))}"
        )
    ngff_version = str(field_options.get("ngff_version", "0.5"))
    version, zarr_format = _version(ngff_version)
    plate_input = as_plate_input(fields, input_storage_options)
    resolved = resolve(plate_input, rows=rows, columns=columns, acquisitions=acquisitions, axes=axes)
    if resolved.problems:
        raise PlateInputError(resolved.problems)
    field_count = assign_paths(resolved.fields)
    plate_name = name or plate_input.name
    location = Location.parse(url, storage_options)

    settings = {
        "version": version, "rows": resolved.rows, "columns": resolved.columns,
        "options": {k: v for k, v in sorted(field_options.items())}, "axes": axes,
    }
    fingerprint = _fingerprint(resolved.fields, settings)
    resume = image_write.prepare_destination(
        location, overwrite=overwrite, fingerprint=fingerprint, zarr_format=zarr_format,
        operation="write_plate",
    )
    ordered = sorted(
        resolved.fields,
        key=lambda f: (row_key(f.row), column_key(f.column), int(f.path)),
    )
    summaries = _write_fields(
        ordered, location, field_options, resume=resume, scheduler=scheduler, progress=progress,
        plate_name=plate_name,
    )

    # metadata last: wells, rows, then the plate
    wells: dict[str, list[ResolvedField]] = {}
    for f in ordered:
        wells.setdefault(f.well, []).append(f)
    docs = [
        (w, zarr_format, well_attrs(({"path": f.path, "acquisition": f.acquisition} for f in fs), ngff_version=version))
        for w, fs in wells.items()
    ]
    docs += [(r, zarr_format, {}) for r in unique_rows(wells)]
    _write_groups(location, docs)
    attrs = plate_attrs(
        [tuple(w.split("/")) for w in wells], rows=resolved.rows, columns=resolved.columns,
        name=plate_name, acquisitions=resolved.acquisitions, field_count=field_count,
        ngff_version=version,
    )
    template = next((s for s in summaries if s is not None), None)
    if template is None:
        from ..image.info import image_info

        template = image_info(location.child(*ordered[0].well.split("/"), ordered[0].path), stored_bytes=False)
    attrs["ngffstore"] = {}
    attrs = provenance.append(
        attrs,
        provenance.record(
            "write_plate",
            {
                "rows": resolved.rows, "columns": resolved.columns, "wells": len(wells),
                "fields": len(ordered), "field_count": field_count, "name": plate_name,
                "source": plate_input.description or "fields", "axes": axes,
                "field_options": dict(field_options), "ngff_version": version,
            },
            inputs=plate_input.inputs,
            started=started,
            target=location.url,
        ),
    )
    write_group_attrs(location, zarr_format, attrs)
    if preview:
        from .preview import build_preview

        build_preview(location, scheduler=scheduler, progress=False, journal=False)
    journal.notify(location, operation="write_plate", zarr_format=zarr_format)
    resumed = sum(1 for s in summaries if s is None)
    return PlateSummary(
        url=location.url, name=plate_name, version=version, rows=tuple(resolved.rows),
        columns=tuple(resolved.columns), wells=len(wells), fields=len(ordered),
        field_count=field_count,
        acquisitions=tuple(a["id"] for a in resolved.acquisitions or ()),
        field_axes=template.axes, field_shape=tuple(template.shape), field_dtype=str(template.dtype),
        levels=tuple(tuple(lv.shape) for lv in template.levels), resumed_fields=resumed,
        seconds=_clock() - t0,
    )


def unique_rows(wells: Iterable[str]) -> list[str]:
    return sorted({w.split("/")[0] for w in wells}, key=row_key)


def _clock() -> float:
    import time

    return time.perf_counter()


def _write_fields(
    fields: Sequence[ResolvedField],
    location: Location,
    field_options: Mapping[str, Any],
    *,
    resume: bool,
    scheduler: Any,
    progress: bool | None,
    plate_name: str | None,
) -> list[Any]:
    scheduler = parallel.parse_scheduler(scheduler)
    distributed = parallel.is_distributed(scheduler)
    workers = 1 if scheduler in ("synchronous", "sync", "single-threaded") else _local_workers(scheduler)
    per_field = distributed or (workers > 1 and len(fields) >= 2 * workers)
    inner = "synchronous" if per_field else scheduler
    jobs = []
    for f in fields:
        options = dict(field_options)
        options["name"] = f"{well_name(f.row, f.column)} field {f.fid}"
        kv = {"well": well_name(f.row, f.column), "field": str(f.fid)}
        if f.acquisition is not None:
            kv["acquisition"] = str(f.acquisition)
        if plate_name:
            kv["plate"] = plate_name
        options["metadata"] = {**kv, **dict(field_options.get("metadata") or {})}
        if f.array_axes is not None:
            options["axes"] = f.array_axes
        jobs.append(
            _FieldJob(
                location.child(f.row, f.column, f.path), f.source, options, resume=resume,
                scheduler=inner, label=f.label,
            )
        )
    desc = f"writing plate {plate_name or location.name}"
    with parallel.make_bar(len(jobs), desc, progress, unit="field") as bar:
        if not per_field:
            results = []
            for job in jobs:
                results.append(_write_field(job))
                bar.update(1)
            return results
        token = os.urandom(4).hex()
        tasks = [
            dask.delayed(_write_field, pure=False)(job, dask_key_name=f"ngffstore-field-{token}-{i}")
            for i, job in enumerate(jobs)
        ]
        if distributed:
            return parallel.compute(tasks, scheduler=scheduler, bar=bar, prefix="ngffstore-field")
        # field writes wait on storage as much as on the CPU: a few more threads than cores
        n = min(len(jobs), max(4, 2 * workers)) if scheduler == "threads" else workers
        with dask.config.set(num_workers=n):
            return parallel.compute(tasks, scheduler=scheduler, bar=bar, prefix="ngffstore-field")


__all__ = [
    "PlateSummary",
    "plate_attrs",
    "well_attrs",
    "write_plate",
    "write_plate_metadata",
    "write_well_metadata",
]
