"""Folders of 2-D planes -> one 5-D multiscale image per position, in a collection or a plate.

The input is what time-lapse systems write: one folder per stage position (``pos001/``...) of
plane files named ``{name}_{t}_{c}_{z}.png|tif``, and text files at the top (an acquisition
file with ``key: value`` lines and tab-separated tables, a log). The output is a collection:

    OUTPUT_URL/                 bioformats2raw.layout container (a plate with as_plate=True)
      OME/                      lists the images ("series": ["pos001", "pos002", ...])
      pos001/                   t,c,z,y,x multiscale image, acquisition key-values and tables
      pos002/ ...
      tables/<name>.parquet     the acquisition tables, attached to the collection too
      attachments/<file>        the top-level text files (acquisition file, log), verbatim

With ``as_plate=True`` and ``wells`` (a CSV with columns ``position,well[,field]``) the output is
an NGFF plate whose field images are the positions (``OUTPUT_URL/B/3/0``). Every image carries
the acquisition key-values, the acquisition tables and a ``planes`` table (which file became
which plane, and which planes were filled with zeros), plus ``assemble.*`` key-values (pattern,
position, counts). Acquisition files inside a position folder apply to that position only
(their values win). The container's metadata is written after its images (its tables,
attached with :func:`ngffstore.metadata.write_table`, right after): an interrupted run does
not look complete, and rerunning the same call resumes it (finished positions are kept, a
half-written one resumes). The container layout is written by :mod:`ngffstore.collection`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ngffstore import collection, journal, parallel, provenance
from ngffstore import image as image_mod
from ngffstore import metadata as meta_mod
from ngffstore.codecs import Compression
from ngffstore.errors import InputError, InputNotFoundError, NgffStoreError
from ngffstore.image import ImageSummary
from ngffstore.image.options import DEFAULT_YX_CHUNK, parse_block_shape, parse_scale
from ngffstore.image.write import prepare_destination
from ngffstore.multiscale import DEFAULT_MEMORY_TARGET
from ngffstore.ngff import SUPPORTED_VERSIONS
from ngffstore.parallel import parse_scheduler
from ngffstore.plate.names import parse_well
from ngffstore.pyramid import parse_method
from ngffstore.storage import Location

from . import acquisition as acq_mod
from .planes import PlaneFolder, open_plane_folder, plane_text

log = logging.getLogger("ngffstore")

DEFAULT_PATTERN = "{name}_{t}_{c}_{z}"
DEFAULT_POSITIONS = "pos{p}"
DEFAULT_ACQUISITION = ("*.txt",)
MAX_ATTACHMENT = 16 * 2**20
MAX_RECORDED_FILLED = 1000
DEFAULT_COMPRESSION = "blosc-lz4"
"""Plane folders are large and arrive fast: LZ4 with byte shuffle compresses 16-bit planes about as
well as zstd level 3 at several times its speed (the default of ``convert`` stays zstd)."""
Z_CHUNK_BYTES = 4 * 2**20
"""Default chunks hold the z-planes of one timepoint and channel up to this size: a few large
objects instead of one small object per plane (fewer files, fewer S3 requests)."""
_WRITE_OPTIONS = frozenset(
    {
        "chunks", "shards", "compression", "min_size", "levels", "downsample_z", "method",
        "ngff_version", "overwrite", "scheduler", "memory_target",
    }
)


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class AssembleResult:
    """What :func:`assemble` wrote."""

    url: str
    kind: str  # "collection" or "plate"
    images: dict[str, ImageSummary]  # image path in the container -> its summary
    positions: dict[str, str]  # position -> image path
    planes: int
    filled: dict[str, list[str]]
    resumed: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": self.kind,
            "planes": self.planes,
            "seconds": round(self.seconds, 3),
            "positions": self.positions,
            "filled": self.filled,
            "resumed": self.resumed,
            "tables": self.tables,
            "images": {path: s.to_dict() for path, s in self.images.items()},
        }

    def to_text(self) -> str:
        n_filled = sum(len(v) for v in self.filled.values())
        lines = [
            f"{self.kind:<10} {self.url}",
            (
                f"images     {len(self.images)} ({self.planes} planes, {n_filled} filled with zeros) "
                f"in {self.seconds:.1f} s"
            ),
        ]
        if self.tables:
            lines.append("tables     " + ", ".join(self.tables))
        for position, path in self.positions.items():
            s = self.images[path]
            shape = "x".join(str(n) for n in s.shape)
            extra = f"  filled {len(self.filled[position])}" if self.filled.get(position) else ""
            again = "  (already written)" if position in self.resumed else ""
            lines.append(
                f"  {path:<12} {position:<10} {s.axes} {shape} {s.dtype}  {len(s.levels)} levels"
                f"  channels {', '.join(s.channels)}{extra}{again}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# assembling
# ---------------------------------------------------------------------------------------------
def assemble(
    input_dir: str | os.PathLike[str],
    output_url: str,
    *,
    pattern: str = DEFAULT_PATTERN,
    positions: str | None = DEFAULT_POSITIONS,
    fill_missing: bool = False,
    channels: Sequence[str] | None = None,
    acquisition: str | Sequence[str] | None = None,
    parser: Any = None,
    pixel_size: Any = None,
    unit: str = "micrometer",
    as_plate: bool = False,
    wells: Any = None,
    plate_name: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    input_storage_options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    **write_options: Any,
) -> AssembleResult:
    """Assemble a folder of plane folders into one 5-D multiscale image per position.

    Parameters
    ----------
    input_dir
        The folder of position folders (local path or fsspec URL).
    output_url
        The collection to write (a ``bioformats2raw.layout`` container, or a plate).
    pattern, positions, fill_missing, channels
        See :func:`converters.planes.open_plane_folder`.
    acquisition
        Globs of the top-level files given to the parser (default ``*.txt``).
    parser
        Acquisition parser: a callable, ``module:function`` or an entry-point name
        (:func:`converters.acquisition.load_parser`); default: ``key: value`` lines and
        tab-separated tables.
    pixel_size, unit
        Physical pixel sizes (``0.325``, ``2,0.325,0.325`` or ``t=60,z=2,y=0.3,x=0.3``; t in
        seconds) overriding those found in the acquisition files.
    as_plate, wells, plate_name
        Write a plate; ``wells`` is a CSV file (or a DataFrame, or a ``{position: well}``
        mapping) with columns ``position,well[,field]``.
    storage_options, input_storage_options
        fsspec options of the output and the input.
    progress
        Show a progress bar (None: when the output is a terminal).
    write_options
        Options of :func:`ngffstore.write_image`: chunks, shards, compression (default
        ``blosc-lz4``), min_size, levels, downsample_z, method, ngff_version, overwrite,
        scheduler, memory_target.

    Returns
    -------
    AssembleResult
        The images written (their summaries), where each position went, the planes filled.
    """
    unknown = sorted(set(write_options) - _WRITE_OPTIONS)
    if unknown:
        raise TypeError(f"assemble() got unexpected keyword argument(s) {', '.join(unknown)}")
    started = provenance.now()
    clock = time.perf_counter()
    if wells is not None and not as_plate:
        raise InputError("wells map positions to wells of a plate: pass as_plate=True (--as-plate)")
    if as_plate and wells is None:
        raise InputError("a plate needs the wells of the positions: give --wells CSV (columns position,well)")

    # 1. the options and everything about the input are checked before anything is written
    parser_fn = acq_mod.load_parser(parser)
    folder = open_plane_folder(
        input_dir, pattern=pattern, positions=positions, fill_missing=fill_missing,
        channels=channels, storage_options=input_storage_options, progress=progress,
        task_bytes=write_options.get("memory_target") or DEFAULT_MEMORY_TARGET,
    )
    if write_options.get("compression") is None:
        write_options["compression"] = DEFAULT_COMPRESSION
    if write_options.get("chunks") is None:
        write_options["chunks"] = default_chunks(folder.sources[0].data)
    _check_write_options(write_options, folder.sources[0].data.shape)
    globs = [acquisition] if isinstance(acquisition, str) else list(acquisition or DEFAULT_ACQUISITION)
    plan = _plan(
        folder, parser_fn, globs, pixel_size=pixel_size, unit=unit, wells=wells, as_plate=as_plate,
        storage_options=input_storage_options,
    )
    parameters = {
        "pattern": folder.pattern,
        "positions": folder.positions,
        "fill_missing": fill_missing,
        "channels": folder.channels,
        "times": folder.times,
        "z": folder.z_values,
        "acquisition": globs,
        "parser": acq_mod.parser_name(parser_fn),
        "pixel_size": {**plan.acquisition.scale, **plan.given_scale},
        "units": {**plan.acquisition.units, **plan.given_units},
        "as_plate": as_plate,
        "images": plan.paths,
        **{k: v for k, v in write_options.items() if k not in ("overwrite", "scheduler")},
    }
    fingerprint = hashlib.sha256(
        json.dumps(
            {"planes": folder.fingerprint, "files": [(e.name, e.size, e.mtime) for e in folder.files],
             "parameters": parameters, "key_values": [p.key_values for p in plan.images]},
            sort_keys=True, default=str,
        ).encode()
    ).hexdigest()[:16]

    # 2. the container: created (or resumed) only now, then its images
    ngff_version = str(write_options.get("ngff_version", "0.5"))
    root = Location.parse(output_url, storage_options)
    resume = prepare_destination(
        root, overwrite=bool(write_options.get("overwrite", False)), fingerprint=fingerprint,
        zarr_format=3 if ngff_version == "0.5" else 2, operation="assemble",
    )
    images, resumed = _write_images(root, plan.images, resume, folder.n_planes, progress, write_options)

    # 3. the container's metadata, last; its tables just after
    attached = collection.copy_files(root, plan.attachments, storage_options=input_storage_options)
    filled = {s.position: [plane_text(*k) for k in s.filled] for s in folder.sources}
    record = provenance.record(
        "assemble",
        {
            **parameters,
            "filled_planes": {k: v[:MAX_RECORDED_FILLED] for k, v in filled.items() if v},
            "n_filled": sum(len(v) for v in filled.values()),
            "resumed": resumed,
        },
        inputs=[folder.url, *plan.text_files]
        + ([os.fspath(wells)] if isinstance(wells, (str, os.PathLike)) else []),
        started=started,
        target=root.url,
        storage_options=input_storage_options,
    )
    block = {
        "metadata": meta_mod.Metadata(key_values=plan.root_key_values).to_dict(),
        "attachments": attached,
    }
    attrs = provenance.append({"ngffstore": block}, record)
    if as_plate:
        collection.finish_plate(
            root, [plan.placement[s.position] for s in folder.sources],
            name=plate_name or _name_of(folder.url), ngff_version=ngff_version, attrs=attrs,
        )
    else:
        collection.finish_collection(root, [p.path for p in plan.images], ngff_version=ngff_version, attrs=attrs)
    tables = {acq_mod.table_name(k): v for k, v in plan.acquisition.tables.items()}
    for name, table in tables.items():
        meta_mod.write_table(table, root, name=name, overwrite=True)
    journal.notify(root, operation="assemble")
    return AssembleResult(
        url=root.url,
        kind="plate" if as_plate else "collection",
        images=images,
        positions=plan.paths,
        planes=folder.n_planes,
        filled=filled,
        resumed=resumed,
        tables=sorted(tables),
        seconds=time.perf_counter() - clock,
    )


def default_chunks(data: Any) -> str:
    """Chunks of ``assemble``: the z-planes of one timepoint and channel, up to ``Z_CHUNK_BYTES``."""
    _, _, nz, height, width = data.shape
    plane = min(height, DEFAULT_YX_CHUNK) * min(width, DEFAULT_YX_CHUNK) * data.dtype.itemsize
    return f"z={max(1, min(nz, Z_CHUNK_BYTES // plane))}"


def _check_write_options(options: Mapping[str, Any], shape: tuple[int, ...]) -> None:
    """The errors write_image would raise for these options, raised before anything is written."""
    version = str(options.get("ngff_version", "0.5"))
    if version not in SUPPORTED_VERSIONS:
        raise InputError(f"NGFF version {version!r} is not supported; use 0.5 or 0.4")
    Compression.parse(options.get("compression", "zstd"))
    parse_method(options.get("method", "mean"))
    parse_block_shape(options.get("chunks"), "tczyx", shape, "chunk size")
    parse_block_shape(options.get("shards"), "tczyx", shape, "shard size")
    if options.get("shards") is not None and version == "0.4":
        raise InputError("shards need Zarr v3: use NGFF 0.5 (--ngff-version 0.5) or drop --shards")
    parse_scheduler(options.get("scheduler"))



@dataclass(kw_only=True)
class _ImagePlan:
    """One image to write: its source, place, key-values, tables and physical pixel sizes."""

    source: Any
    path: str
    key_values: dict[str, Any]
    tables: dict[str, Any]
    scale: dict[str, float]
    units: dict[str, str]


@dataclass(kw_only=True)
class _Plan:
    """Everything to write, worked out from the input before anything is written."""

    images: list[_ImagePlan]
    acquisition: acq_mod.Acquisition  # of the top-level files: the container's
    root_key_values: dict[str, Any]
    placement: dict[str, tuple[str, str, str]]  # position -> (row, column, field) in a plate
    text_files: list[str]  # the acquisition files read (URLs)
    attachments: list[collection.AttachedFile]
    given_scale: dict[str, float]
    given_units: dict[str, str]

    @property
    def paths(self) -> dict[str, str]:
        """Position -> image path in the container."""
        return {p.source.position: p.path for p in self.images}


def _plan(
    folder: PlaneFolder,
    parser: Any,
    globs: Sequence[str],
    *,
    pixel_size: Any,
    unit: str,
    wells: Any,
    as_plate: bool,
    storage_options: Mapping[str, Any] | None,
) -> _Plan:
    """Parse the acquisition files, place the positions, and plan one image per position."""

    def acquisition_files(entries: Sequence[Any]) -> list[Any]:
        return [e for e in entries if any(fnmatch.fnmatch(e.name, g) for g in globs)]

    top = acquisition_files(folder.files)
    text_files = [e.url for e in top]
    acq = acq_mod.read_acquisition_files(text_files, parser, storage_options=storage_options)
    given_scale = parse_scale(pixel_size, "tczyx") if pixel_size is not None else {}
    given_units = {a: ("second" if a == "t" else unit) for a in given_scale}
    placement = _placement(folder, wells, as_plate, storage_options)
    assemble_kv = {
        "assemble.pattern": folder.pattern,
        "assemble.positions": folder.positions or ".",
        "assemble.source": folder.url,
    }
    images: list[_ImagePlan] = []
    for source in folder.sources:
        own = acquisition_files(source.files)
        for e in source.files:
            if e not in own:
                log.info("%s is neither a plane nor an acquisition file; not assembled", e.url)
        position_acq = acq.copy()
        own_urls = [e.url for e in own]
        position_acq.update(acq_mod.read_acquisition_files(own_urls, parser, storage_options=storage_options))
        text_files.extend(own_urls)
        kv = {**position_acq.key_values, **assemble_kv, "assemble.position": source.position}
        kv.update({f"assemble.{k}": v for k, v in source.fields.items()})
        kv["assemble.filled_planes"] = len(source.filled)
        path = source.position
        if as_plate:
            row, column, fid = placement[source.position]
            kv["assemble.well"] = f"{row}{column.zfill(2) if column.isdigit() else column}"
            kv["assemble.field"] = fid
            path = f"{row}/{column}/{fid}"
        tables = {acq_mod.table_name(k): v for k, v in position_acq.tables.items()}
        tables["planes" if "planes" not in tables else "assemble_planes"] = source.planes_table()
        images.append(
            _ImagePlan(
                source=source,
                path=path,
                key_values=meta_mod.parse_key_values(kv),
                tables=tables,
                scale={**position_acq.scale, **given_scale},
                units={**position_acq.units, **given_units},
            )
        )
    for e in folder.files:
        if e.size > MAX_ATTACHMENT:
            log.warning("%s is larger than %d MiB; not attached (it stays in the input)", e.url, MAX_ATTACHMENT >> 20)
    return _Plan(
        images=images,
        acquisition=acq,
        root_key_values=meta_mod.parse_key_values({**acq.key_values, **assemble_kv}),
        placement=placement,
        text_files=text_files,
        attachments=[
            collection.AttachedFile(name=e.name, url=e.url, size=e.size)
            for e in folder.files if e.size <= MAX_ATTACHMENT
        ],
        given_scale=given_scale,
        given_units=given_units,
    )


def _write_images(
    root: Location,
    plans: Sequence[_ImagePlan],
    resume: bool,
    total: int,
    progress: bool | None,
    write_options: Mapping[str, Any],
) -> tuple[dict[str, ImageSummary], list[str]]:
    """Write (or, resuming, keep) each planned image with its tables; ``(summaries by path,
    positions kept from an interrupted run)``."""
    import zarr

    images: dict[str, ImageSummary] = {}
    resumed: list[str] = []
    bar = parallel.make_bar(total, f"assembling {root.name}", progress, unit="plane")
    done = 0
    # Planes are never all zeros (filled planes aside): skip zarr's per-chunk emptiness check,
    # which costs as much CPU as compressing the chunk.
    with bar, _plane_counter(bar), zarr.config.set({"array.write_empty_chunks": True}):
        for plan in plans:
            image_loc = root.child(plan.path)
            if resume and collection.is_complete_image(image_loc):
                resumed.append(plan.source.position)
                images[plan.path] = image_mod.image_info(image_loc)
            else:
                images[plan.path] = image_mod.write_image(
                    plan.source, image_loc, scale=plan.scale or None, units=plan.units or None,
                    metadata=plan.key_values, progress=False, stored_bytes=False, **write_options,
                )
            for name, table in plan.tables.items():
                meta_mod.write_table(table, image_loc, name=name, overwrite=True)
            done += len(plan.source.planes)
            bar.update(done - bar.n)  # also when no plane task ran here (distributed, resumed)
    return images, resumed


def _name_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] or "plate"


def _plane_counter(bar: Any) -> Any:
    """A dask callback that advances ``bar`` by the planes each read task returns (local schedulers)."""
    import numpy as np
    from dask.callbacks import Callback

    class PlaneCounter(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            name = key[0] if isinstance(key, tuple) else key
            if isinstance(name, str) and name.startswith("planes-"):
                shape = getattr(result, "shape", ())
                bar.update(int(np.prod(shape[:-2])) if len(shape) > 2 else 1)

    return PlaneCounter()


def _placement(
    folder: Any, wells: Any, as_plate: bool, storage_options: Mapping[str, Any] | None
) -> dict[str, tuple[str, str, str]]:
    """position -> (row, column, field path) for a plate; empty for a collection."""
    if not as_plate:
        return {}
    rows = _wells_rows(wells, storage_options)
    positions = [s.position for s in folder.sources]
    known = set(positions)
    problems: list[str] = []
    placed: dict[str, tuple[str, str, str | None]] = {}
    for line, (position, well, fid) in rows:
        where = f"{_wells_where(wells)} line {line}"
        if position in placed:
            problems.append(f"{where}: position {position} is listed twice")
            continue
        if position not in known:
            problems.append(f"{where}: no position folder {position!r}")
            continue
        try:
            row, column = parse_well(well)
        except InputError as exc:
            problems.append(f"{where}: {exc}")
            continue
        placed[position] = (row, column, fid)
    unplaced = [p for p in positions if p not in placed]
    if unplaced:
        problems.append(f"position(s) without a well: {', '.join(unplaced[:8])}{' ...' if len(unplaced) > 8 else ''}")
    if problems:
        raise InputError(
            f"the wells CSV does not fit the positions: {'; '.join(problems[:6])}"
            f"{f' (and {len(problems) - 6} more)' if len(problems) > 6 else ''}; "
            "give one line position,well (e.g. pos001,B03) per position folder"
        )
    out: dict[str, tuple[str, str, str]] = {}
    next_field: dict[tuple[str, str], int] = {}
    taken: dict[tuple[str, str, str], str] = {}
    for position in positions:
        row, column, fid = placed[position]
        if fid is None:
            n = next_field.get((row, column), 0)
            while (row, column, str(n)) in taken:
                n += 1
            fid = str(n)
            next_field[(row, column)] = n + 1
        if not fid.isalnum():
            raise InputError(f"field {fid!r} of position {position} must be letters and digits (an NGFF rule)")
        if (row, column, fid) in taken:
            raise InputError(
                f"positions {taken[(row, column, fid)]} and {position} are both field {fid} of well "
                f"{row}{column}; give distinct fields or leave the field column empty"
            )
        taken[(row, column, fid)] = position
        out[position] = (row, column, fid)
    return out


def _wells_where(wells: Any) -> str:
    return os.fspath(wells) if isinstance(wells, (str, os.PathLike)) else "wells"


def _wells_rows(wells: Any, storage_options: Mapping[str, Any] | None) -> list[tuple[int, tuple[str, str, str | None]]]:
    """``(line, (position, well, field or None))`` from a CSV file, a DataFrame or a mapping."""
    import pandas as pd

    if isinstance(wells, Mapping):
        return [(i + 1, (str(p), str(w), None)) for i, (p, w) in enumerate(wells.items())]
    if isinstance(wells, pd.DataFrame):
        frame = wells.astype(str)
        header_line = 1
    else:
        where = os.fspath(wells)
        location = Location.parse(where, storage_options if "://" in where else None)
        try:
            data = location.read_bytes("")
        except NgffStoreError:
            raise InputNotFoundError(f"wells CSV {where}: no such file; check the path") from None
        try:
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, sep=None, engine="python")
        except (ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"wells CSV {where} is not readable CSV ({str(exc).splitlines()[0]})") from None
        header_line = 1
    columns = {str(c).strip().lower(): c for c in frame.columns}
    if "position" not in columns or "well" not in columns:
        if frame.shape[1] in (2, 3) and not isinstance(wells, pd.DataFrame):
            # no header line: the first line is data
            frame = pd.concat([pd.DataFrame([list(frame.columns)], columns=frame.columns), frame], ignore_index=True)
            names = ["position", "well", "field"][: frame.shape[1]]
            frame.columns = names
            columns = {n: n for n in names}
            header_line = 0
        else:
            raise InputError(
                f"{_wells_where(wells)} needs columns position and well (e.g. 'position,well' then "
                f"'pos001,B03'); it has {', '.join(map(str, frame.columns))}"
            )
    out = []
    for i, row in enumerate(frame.itertuples(index=False), start=header_line + 1):
        values = dict(zip(frame.columns, row))
        position = str(values[columns["position"]]).strip()
        well = str(values[columns["well"]]).strip()
        fid = str(values[columns["field"]]).strip() if "field" in columns else ""
        if not position and not well:
            continue
        out.append((i, (position, well, fid or None)))
    if not out:
        raise InputError(f"{_wells_where(wells)} lists no positions")
    return out


__all__ = ["DEFAULT_COMPRESSION", "AssembleResult", "assemble", "default_chunks"]
