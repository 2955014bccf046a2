"""``ngffstore assemble INPUT_DIR OUTPUT_URL``: folders of 2-D planes -> one 5-D image per position.

The input is what time-lapse systems write: one folder per stage position (``pos001/``...) of
plane files named ``{name}_{t}_{c}_{z}.png|tif``, and text files at the top (an acquisition
file with ``key: value`` lines and tab-separated tables, a log). The output is a collection:

    OUTPUT_URL/                 bioformats2raw.layout container (a plate with --as-plate)
      OME/                      lists the images ("series": ["pos001", "pos002", ...])
      pos001/                   t,c,z,y,x multiscale image, acquisition key-values and tables
      pos002/ ...
      tables/<name>.parquet     the acquisition tables, attached to the collection too
      attachments/<file>        the top-level text files (acquisition file, log), verbatim

With ``--as-plate --wells CSV`` (columns ``position,well[,field]``) the output is an NGFF plate
whose field images are the positions (``OUTPUT_URL/B/3/0``). Every image carries the acquisition
key-values, the acquisition tables and a ``planes`` table (which file became which plane, and
which planes were filled with zeros), plus ``assemble.*`` key-values (pattern, position, counts).
Acquisition files inside a position folder apply to that position only (their values win).
The container's metadata is written last: an interrupted run never looks complete, and rerunning
the same command resumes it (finished positions are kept, a half-written one resumes).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, InputNotFoundError, NgffStoreError
from ._common import (
    add_output_args,
    add_pixel_size_args,
    add_run_args,
    add_storage_args,
    output_kwargs,
    storage_options_for,
)

ORDER = 12
log = logging.getLogger("ngffstore")

DEFAULT_ACQUISITION = ("*.txt",)
ATTACHMENTS_DIR = "attachments"
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
# command line
# ---------------------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "assemble",
        help="assemble folders of 2-D planes (pos*/name_t_c_z.png) into one 5-D image per position",
        description=(
            "Assemble folders of 2-D plane files into one t,c,z,y,x multiscale OME-Zarr image per "
            "position (OUTPUT_URL/<position>), or into a plate with --as-plate. Acquisition text "
            "files at the top of INPUT_DIR are parsed into key-values and tables attached to "
            "every image and to the collection. Planes are read in parallel and streamed."
        ),
        epilog=(
            "Pattern fields: {t} timepoint and {z} plane (numbers, sorted numerically), {c} channel "
            "(text), {name} any text; or a regular expression with named groups, e.g. "
            r"'(?P<c>\w+)_t(?P<t>\d+)_z(?P<z>\d+)'. Parsers: 'module:function' or 'file.py:function' "
            "called with the path of each acquisition file, or the name of an entry point in the "
            "group 'ngffstore.acquisition_parsers'."
        ),
    )
    p.add_argument("input", metavar="INPUT_DIR", help="folder of position folders (local path or s3:// URL)")
    p.add_argument("output", metavar="OUTPUT_URL", help="output collection URL: a folder path or s3://bucket/prefix")
    g = p.add_argument_group("input")
    g.add_argument("--pattern", default="{name}_{t}_{c}_{z}", help="plane file name pattern (default '{name}_{t}_{c}_{z}')")
    g.add_argument("--positions", default="pos{p}", help="position folder pattern (default 'pos{p}'); '.' when the planes lie directly in INPUT_DIR")
    g.add_argument("--channels", help="channel order, comma-separated (default: numeric, else alphabetical)")
    g.add_argument("--fill-missing", action="store_true", help="write zeros for missing planes (recorded) instead of failing")
    g.add_argument("--acquisition", action="append", metavar="GLOB", help="top-level files to parse as acquisition metadata (default '*.txt'; repeatable)")
    g.add_argument("--parser", help="acquisition parser: 'module:function', 'path/to/file.py:function' or an entry-point name (default: key: value lines and tab-separated tables)")
    add_pixel_size_args(g)
    pl = p.add_argument_group("plate")
    pl.add_argument("--as-plate", action="store_true", help="write an NGFF plate; positions become fields of wells")
    pl.add_argument("--wells", help="CSV mapping positions to wells: columns position,well[,field] (e.g. pos001,B03)")
    pl.add_argument("--plate-name", help="plate name (default: the input folder's name)")
    add_output_args(
        p,
        compression=DEFAULT_COMPRESSION,
        chunks=f"one timepoint and channel, its z-planes up to {Z_CHUNK_BYTES >> 20} MiB, 1024 along y/x",
    )
    add_run_args(p)
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.wells and not args.as_plate:
        raise InputError("--wells maps positions to wells of a plate: add --as-plate")
    options = output_kwargs(args)
    storage_options = options.pop("storage_options")
    progress = options.pop("progress")
    result = assemble(
        args.input,
        args.output,
        pattern=args.pattern,
        positions=args.positions,
        fill_missing=args.fill_missing,
        channels=[c.strip() for c in args.channels.split(",") if c.strip()] if args.channels else None,
        acquisition=args.acquisition or DEFAULT_ACQUISITION,
        parser=args.parser,
        pixel_size=args.pixel_size,
        unit=args.unit,
        as_plate=args.as_plate,
        wells=args.wells,
        plate_name=args.plate_name,
        storage_options=storage_options,
        input_storage_options=storage_options_for(args.input, args),
        progress=progress,
        **options,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.to_text())
    return 0


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class AssembleResult:
    """What :func:`assemble` wrote."""

    url: str
    kind: str  # "collection" or "plate"
    images: dict[str, Any]  # image path in the collection -> ImageSummary
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
# the Python API
# ---------------------------------------------------------------------------------------------
def assemble(
    input_dir: str | os.PathLike[str],
    output_url: str,
    *,
    pattern: str = "{name}_{t}_{c}_{z}",
    positions: str | None = "pos{p}",
    fill_missing: bool = False,
    channels: Sequence[str] | None = None,
    acquisition: Sequence[str] = DEFAULT_ACQUISITION,
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
    write_options
        Options of :func:`ngffstore.write_image`: chunks, shards, compression, min_size,
        levels, downsample_z, method, ngff_version, overwrite, scheduler, memory_target.
    """
    import converters.acquisition as acq_mod
    from converters.planes import open_plane_folder

    from .. import metadata as meta_mod
    from .. import parallel, provenance
    from ..image.options import parse_scale
    from ..image.write import prepare_destination
    from ..storage import Location

    unknown = sorted(set(write_options) - _WRITE_OPTIONS)
    if unknown:
        raise TypeError(f"assemble() got unexpected keyword argument(s) {', '.join(unknown)}")
    started = provenance.now()
    clock = time.perf_counter()
    ngff_version = str(write_options.get("ngff_version", "0.5"))
    zarr_format = 3 if ngff_version == "0.5" else 2
    overwrite = bool(write_options.get("overwrite", False))
    if wells is not None and not as_plate:
        raise InputError("wells map positions to wells of a plate: pass as_plate=True (--as-plate)")
    if as_plate and wells is None:
        raise InputError("a plate needs the wells of the positions: give --wells CSV (columns position,well)")

    # 1. the options and everything about the input are checked before anything is written
    parser_fn = acq_mod.load_parser(parser)
    from ..multiscale import DEFAULT_MEMORY_TARGET

    folder = open_plane_folder(
        input_dir, pattern=pattern, positions=positions, fill_missing=fill_missing,
        channels=channels, storage_options=input_storage_options, progress=progress,
        task_bytes=write_options.get("memory_target") or DEFAULT_MEMORY_TARGET,
    )
    write_options.setdefault("compression", DEFAULT_COMPRESSION)
    if write_options.get("chunks") is None:
        write_options["chunks"] = default_chunks(folder.sources[0].data)
    _check_write_options(write_options, folder.sources[0].data.shape)
    globs = [acquisition] if isinstance(acquisition, str) else list(acquisition)
    text_files = [e for e in folder.files if any(fnmatch.fnmatch(e.name, g) for g in globs)]
    acq = _parse_files(text_files, parser_fn, input_storage_options)
    given_scale = parse_scale(pixel_size, "tczyx") if pixel_size is not None else {}
    given_units = {a: ("second" if a == "t" else unit) for a in given_scale}
    placement = _placement(folder, wells, as_plate, input_storage_options)
    assemble_kv = {
        "assemble.pattern": folder.pattern,
        "assemble.positions": folder.positions or ".",
        "assemble.source": folder.url,
    }
    root_kv = meta_mod.parse_key_values({**acq.key_values, **assemble_kv})
    plans: list[_ImagePlan] = []
    for source in folder.sources:
        own = [e for e in source.files if any(fnmatch.fnmatch(e.name, g) for g in globs)]
        for e in source.files:
            if e not in own:
                log.info("%s is neither a plane nor an acquisition file; not assembled", e.url)
        position_acq = acq.copy()
        position_acq.update(_parse_files(own, parser_fn, input_storage_options))  # its own file wins
        text_files.extend(own)
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
        plans.append(
            _ImagePlan(
                source=source,
                path=path,
                key_values=meta_mod.parse_key_values(kv),
                tables=tables,
                scale={**position_acq.scale, **given_scale},
                units={**position_acq.units, **given_units},
            )
        )
    paths = {plan.source.position: plan.path for plan in plans}
    attachments = [e for e in folder.files if e.size <= MAX_ATTACHMENT]
    for e in folder.files:
        if e.size > MAX_ATTACHMENT:
            log.warning("%s is larger than %d MiB; not attached (it stays in the input)", e.url, MAX_ATTACHMENT >> 20)

    parameters = {
        "pattern": folder.pattern,
        "positions": folder.positions,
        "fill_missing": fill_missing,
        "channels": folder.channels,
        "times": folder.times,
        "z": folder.z_values,
        "acquisition": globs,
        "parser": acq_mod.parser_name(parser_fn),
        "pixel_size": {**acq.scale, **given_scale},
        "units": {**acq.units, **given_units},
        "as_plate": as_plate,
        "images": paths,
        **{k: v for k, v in write_options.items() if k not in ("overwrite", "scheduler")},
    }
    fingerprint = hashlib.sha256(
        json.dumps(
            {"planes": folder.fingerprint, "files": [(e.name, e.size, e.mtime) for e in folder.files],
             "parameters": parameters, "key_values": [p.key_values for p in plans]},
            sort_keys=True, default=str,
        ).encode()
    ).hexdigest()[:16]

    # 2. the container: created (or resumed) only now
    root = Location.parse(output_url, storage_options)
    resume = prepare_destination(
        root, overwrite=overwrite, fingerprint=fingerprint, zarr_format=zarr_format, operation="assemble"
    )
    import zarr

    from ..image import image_info, write_image

    images: dict[str, Any] = {}
    resumed: list[str] = []
    total = folder.n_planes
    bar = parallel.make_bar(total, f"assembling {root.name}", progress, unit="plane")
    done = 0
    # Planes are never all zeros (filled planes aside): skip zarr's per-chunk emptiness check,
    # which costs as much CPU as compressing the chunk.
    with bar, _plane_counter(bar), zarr.config.set({"array.write_empty_chunks": True}):
        for plan in plans:
            image_loc = root.child(plan.path)
            if resume and _complete_image(image_loc):
                resumed.append(plan.source.position)
                images[plan.path] = image_info(image_loc)
            else:
                images[plan.path] = write_image(
                    plan.source, image_loc, scale=plan.scale or None, units=plan.units or None,
                    metadata=plan.key_values, progress=False, stored_bytes=False, **write_options,
                )
            for name, table in plan.tables.items():
                meta_mod.attach_table(image_loc, name, table, overwrite=True)
            done += len(plan.source.planes)
            bar.update(done - bar.n)  # also when no plane task ran here (distributed, resumed)

    # 3. the container's metadata, last
    tables_info = _write_tables(root, {acq_mod.table_name(k): v for k, v in acq.tables.items()})
    attached = _copy_attachments(root, attachments, input_storage_options)
    filled = {s.position: [_plane_text(*k) for k in s.filled] for s in folder.sources}
    n_filled = sum(len(v) for v in filled.values())
    recorded_filled = {k: v[:MAX_RECORDED_FILLED] for k, v in filled.items() if v}
    record = provenance.record(
        "assemble",
        {**parameters, "filled_planes": recorded_filled, "n_filled": n_filled, "resumed": resumed},
        inputs=[folder.url, *(e.url for e in text_files)]
        + ([os.fspath(wells)] if isinstance(wells, (str, os.PathLike)) else []),
        started=started,
        target=root.url,
        storage_options=input_storage_options,
    )
    block: dict[str, Any] = {
        "metadata": meta_mod.Metadata(key_values=root_kv, tables=tables_info).to_dict(),
        "attachments": attached,
    }
    from ..nodes import read_attrs, write_group_attrs

    if as_plate:
        # the plate module writes the wells, then the plate metadata; it keeps this block
        # (less the "writing" marker, which stays until then)
        marker = (read_attrs(root)[1].get("ngffstore") or {}).get("writing")
        attrs = provenance.append({"ngffstore": {**block, "writing": marker}}, record)
        write_group_attrs(root, zarr_format, attrs)
        _write_plate(root, placement, plate_name or _name_of(folder.url), ngff_version)
    else:
        ome = _collection_metadata(root, [p.path for p in plans], ngff_version)
        write_group_attrs(root, zarr_format, provenance.append({**ome, "ngffstore": block}, record))
    _touch_index(root)
    return AssembleResult(
        url=root.url,
        kind="plate" if as_plate else "collection",
        images=images,
        positions=paths,
        planes=total,
        filled=filled,
        resumed=resumed,
        tables=sorted(tables_info),
        seconds=time.perf_counter() - clock,
    )


def default_chunks(data: Any) -> str:
    """Chunks of ``assemble``: the z-planes of one timepoint and channel, up to ``Z_CHUNK_BYTES``."""
    from ..image.options import DEFAULT_YX_CHUNK

    _, _, nz, height, width = data.shape
    plane = min(height, DEFAULT_YX_CHUNK) * min(width, DEFAULT_YX_CHUNK) * data.dtype.itemsize
    return f"z={max(1, min(nz, Z_CHUNK_BYTES // plane))}"


def _check_write_options(options: Mapping[str, Any], shape: tuple[int, ...]) -> None:
    """The errors write_image would raise for these options, raised before anything is written."""
    from ..codecs import Compression
    from ..image.options import parse_block_shape
    from ..ngff import SUPPORTED_VERSIONS
    from ..parallel import parse_scheduler
    from ..pyramid import parse_method

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


def _name_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1] or "plate"


def _plane_text(t: Any, c: Any, z: Any) -> str:
    from converters.planes import plane_text

    return plane_text(t, c, z)


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


def _complete_image(location: Any) -> bool:
    """Whether a complete NGFF image (not one being written) is at ``location``."""
    from ..metadata import node_kind
    from ..nodes import read_attrs

    try:
        _, attrs = read_attrs(location)
    except NgffStoreError:
        return False
    return node_kind(attrs) == "image" and "writing" not in (attrs.get("ngffstore") or {})


def _parse_files(files: Sequence[Any], parser: Any, storage_options: Mapping[str, Any] | None) -> Any:
    """Parse acquisition files (remote ones are copied to a temporary folder first)."""
    import converters.acquisition as acq_mod

    out = acq_mod.Acquisition()
    if not files:
        return out
    with tempfile.TemporaryDirectory(prefix="ngffstore-acq-") as tmp:
        for entry in files:
            if "://" in entry.url:
                from ..storage import Location

                local = os.path.join(tmp, entry.name)
                with open(local, "wb") as f:
                    f.write(Location.parse(entry.url, storage_options).read_bytes(""))
            else:
                local = entry.url
            parsed = acq_mod.run_parser(parser, local, display=entry.url)
            if parsed is not None:
                parsed.files = [entry.url]
                out.update(parsed)
    return out


def _placement(
    folder: Any, wells: Any, as_plate: bool, storage_options: Mapping[str, Any] | None
) -> dict[str, tuple[str, str, str]]:
    """position -> (row, column, field path) for a plate; empty for a collection."""
    if not as_plate:
        return {}
    from ..plate import names

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
            row, column = names.parse_well(well)
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
        from ..storage import Location

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


def _write_tables(root: Any, tables: Mapping[str, Any]) -> dict[str, Any]:
    """The acquisition tables as ``<root>/tables/<name>.parquet``; their TableInfo by name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .. import provenance
    from ..metadata import TABLES_DIR, TableInfo, check_table_name

    out = {}
    for name, frame in tables.items():
        check_table_name(name)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        rel = f"{TABLES_DIR}/{name}.parquet"
        root.write_bytes(rel, buffer.getvalue())
        out[name] = TableInfo(
            name=name, path=rel, rows=table.num_rows,
            columns=tuple((f.name, str(f.type)) for f in table.schema), created=provenance.now(),
        )
    return out


def _copy_attachments(root: Any, files: Sequence[Any], storage_options: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Copy the top-level text files (acquisition file, log) verbatim under ``attachments/``."""
    from ..storage import Location

    out = []
    for entry in files:
        data = Location.parse(entry.url, storage_options if "://" in entry.url else None).read_bytes("")
        rel = f"{ATTACHMENTS_DIR}/{entry.name}"
        root.write_bytes(rel, data)
        out.append({"name": entry.name, "path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                    "source": entry.url})
    return out


def _collection_metadata(root: Any, series: Sequence[str], ngff_version: str) -> dict[str, Any]:
    """Write the ``OME/`` group listing the images; return the root's NGFF attributes
    (a bioformats2raw layout container)."""
    from ..nodes import write_group_attrs

    if ngff_version == "0.5":
        write_group_attrs(root.child("OME"), 3, {"ome": {"version": "0.5", "series": list(series)}})
        return {"ome": {"version": "0.5", "bioformats2raw.layout": 3}}
    write_group_attrs(root.child("OME"), 2, {"series": list(series)})
    return {"bioformats2raw.layout": 3}


def _write_plate(root: Any, placement: Mapping[str, tuple[str, str, str]], name: str, ngff_version: str) -> None:
    """The well groups, then the plate group (the node that makes the plate valid)."""
    from ..plate import write_plate_metadata, write_well_metadata

    wells: dict[tuple[str, str], list[str]] = {}
    for row, column, fid in placement.values():
        wells.setdefault((row, column), []).append(fid)
    for (row, column), fids in wells.items():
        ordered = sorted(fids, key=lambda f: (0, int(f), f) if f.isdigit() else (1, 0, f))
        write_well_metadata(root.child(row, column), ordered, ngff_version=ngff_version)
    write_plate_metadata(
        root, [f"{r}/{c}" for r, c in wells], name=name,
        field_count=max(len(f) for f in wells.values()), ngff_version=ngff_version,
    )


def _touch_index(root: Any) -> None:
    """Tell the metadata index above the collection (if any) that it changed."""
    from ..journal import notify

    notify(root, operation="assemble")


__all__ = ["AssembleResult", "assemble"]
