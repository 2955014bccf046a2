"""HCS plate layouts from files: CSV manifests, filename patterns, folder trees, plane files.

A builder reads a layout, never pixels: :func:`from_manifest` (a CSV table), :func:`from_pattern`
(file names in a folder) and :func:`from_tree` (``PLATE/ROW/COL/FIELD`` folders). Each returns a
:class:`FilePlateInput` (an :class:`ngffstore.plate.PlateInput`): the fields found plus the
problems seen on the way (names that do not parse, files that do not match).
:func:`ngffstore.write_plate` opens its files (headers only, :meth:`FilePlateInput.opened`) and
reports every problem together with its own checks in one ``PlateInputError``, before anything
is written.

A field's image is one file, or several plane files (:class:`FieldPlanes`) stacked along the
channel, z and time axes named by the layout. Filename patterns use the converters' one pattern
syntax (:class:`converters.planes.NamePattern`): ``{well}_s{field}_w{channel}.tif``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ngffstore.errors import InputError, InputNotFoundError, NgffStoreError
from ngffstore.plate import PlateField, PlateInput
from ngffstore.plate.inputs import describe_field, unique
from ngffstore.plate.names import natural_key, parse_column, parse_row, parse_well, well_name
from ngffstore.storage import Location, storage_errors

from ._common import to_canonical
from ._open import open_source
from .base import Source
from .planes import NamePattern

#: Named parts a filename pattern (or a manifest) may use.
PARTS = ("well", "row", "column", "field", "channel", "z", "t", "acquisition")
PLANE_AXES = ("t", "c", "z")
OPEN_THREADS = 16

_IMAGE_SUFFIXES = (
    ".ome.tiff", ".ome.tif", ".tiff", ".tif", ".btf", ".tf8", ".png", ".jpg", ".jpeg", ".npy",
)
_PART_REGEX = {
    "well": r"[A-Za-z]{1,2}[_-]?\d{1,3}|[rR]\d{1,3}[cC]\d{1,3}",
    "row": r"[A-Za-z]{1,2}|\d{1,3}",
    "column": r"\d{1,4}",
    "field": r"[A-Za-z0-9]+?",
    "channel": r"[^/]+?",
    "z": r"\d+",
    "t": r"\d+",
    "acquisition": r"\d+",
}
_ALIASES = {"col": "column", "site": "field", "c": "channel", "wavelength": "channel", "plane": "z"}


# -- the input model ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FieldPlanes:
    """A field stored as several files, one per plane: ``planes`` maps a key (one value per
    letter of ``axes``, a subset of ``tcz`` in that order) to a file path or URL."""

    axes: str
    planes: tuple[tuple[tuple[Any, ...], str], ...]

    @property
    def files(self) -> list[str]:
        return [path for _, path in self.planes]


@dataclass(kw_only=True)
class FilePlateInput(PlateInput):
    """A plate layout whose fields are files (paths, URLs or :class:`FieldPlanes`), opened by
    :meth:`opened` when the plate is written (headers only)."""

    def opened(self, *, axes: str | None = None) -> PlateInput:
        return open_fields(self, axes=axes)


def open_fields(plate_input: PlateInput, *, axes: str | None = None) -> PlateInput:
    """``plate_input`` with every file field (a path, URL or :class:`FieldPlanes`) opened as a
    :class:`Source` (headers only, in threads) and plane files stacked. Missing and unreadable
    files and plane files that do not stack become problems of the returned input (their fields
    are left out); Sources and arrays are kept as they are."""
    problems = list(plate_input.problems)
    fields = _open_all(plate_input.fields, plate_input.storage_options, axes, problems)
    return PlateInput(
        fields=fields, problems=problems, name=plate_input.name, inputs=list(plate_input.inputs),
        storage_options=plate_input.storage_options, description=plate_input.description,
    )


def _is_file(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike, FieldPlanes))


def _open_all(
    fields: Sequence[PlateField],
    storage_options: Mapping[str, Any] | None,
    axes: str | None,
    problems: list[tuple[str, str]],
) -> list[PlateField]:
    files: list[str] = []
    for f in fields:
        if isinstance(f.source, FieldPlanes):
            files.extend(f.source.files)
        elif isinstance(f.source, (str, os.PathLike)):
            files.append(os.fspath(f.source))
    files = unique(files)
    sources: dict[str, Source] = {}
    errors: dict[str, NgffStoreError] = {}

    def open_one(path: str) -> None:
        try:
            sources[path] = open_source(path, axes=axes, storage_options=storage_options)
        except NgffStoreError as exc:
            errors[path] = exc

    if files:
        with ThreadPoolExecutor(min(OPEN_THREADS, len(files))) as pool:
            list(pool.map(open_one, files))
    missing = [p for p in files if isinstance(errors.get(p), InputNotFoundError)]
    if missing:
        problems.append(("missing files", ", ".join(missing)))
    for p in files:
        if p in errors and p not in missing:
            problems.append(("unreadable files", str(errors[p])))
    values = _plane_values([f.source for f in fields if isinstance(f.source, FieldPlanes)])
    out: list[PlateField] = []
    for f in fields:
        if not _is_file(f.source):
            out.append(f)
            continue
        label = describe_field(str(f.row), str(f.column), f.field, f.acquisition)
        try:
            if isinstance(f.source, FieldPlanes):
                src = _stack(f.source, values[f.source.axes], sources, label, problems)
            else:
                src = sources.get(os.fspath(f.source))
        except NgffStoreError as exc:
            problems.append(("unusable images", f"{label}: {exc}"))
            src = None
        if src is not None:
            out.append(dataclasses.replace(f, source=src))
    return out


# -- records -> fields (shared by the builders) -----------------------------------------------


@dataclass
class _Record:
    parts: dict[str, str]
    file: str
    where: str


def _group(records: Sequence[_Record], problems: list[tuple[str, str]], plane_axes: str) -> list[PlateField]:
    """Fields from records: one file per field, or plane files keyed by ``plane_axes``."""
    fields: dict[tuple[str, str, Any, int | None], dict[tuple[Any, ...], tuple[str, str]]] = {}
    order: list[tuple[str, str, Any, int | None]] = []
    for rec in records:
        p = rec.parts
        try:
            if p.get("well"):
                row, column = parse_well(p["well"])
            else:
                row, column = parse_row(p.get("row", "")), parse_column(p.get("column", ""))
            fid = _field_id(p.get("field"))
            acq = _int_part(p.get("acquisition"), "acquisition") if p.get("acquisition") not in (None, "") else None
            key = tuple(_plane_value(p.get(_PART_OF[a]), a) for a in plane_axes)
        except InputError as exc:
            problems.append(("values that do not parse", f"{rec.where}: {exc}"))
            continue
        fkey = (row, column, fid, acq)
        planes = fields.get(fkey)
        if planes is None:
            planes = fields[fkey] = {}
            order.append(fkey)
        if key in planes:
            what = well_name(row, column) + f" field {fid}"
            if plane_axes:
                what += " " + " ".join(f"{a}={v}" for a, v in zip(plane_axes, key))
            problems.append(("duplicated fields", f"{what} ({planes[key][1]} and {rec.where})"))
            continue
        planes[key] = (rec.file, rec.where)
    out = []
    for fkey in order:
        row, column, fid, acq = fkey
        planes = fields[fkey]
        wheres = [w for _, w in planes.values()]
        if plane_axes:
            source: Any = FieldPlanes(
                axes=plane_axes, planes=tuple((k, f) for k, (f, _) in planes.items())
            )
        else:
            source = next(iter(planes.values()))[0]
        out.append(PlateField(row, column, fid, source, acq, where=wheres[0]))
    return out


_PART_OF = {"t": "t", "c": "channel", "z": "z"}


def _field_id(value: Any) -> Any:
    if value is None or str(value).strip() == "":
        return 0
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text):
        raise InputError(f"{text!r} is not a field id; use a number or letters and digits")
    return text


def _int_part(value: Any, what: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise InputError(f"{what} {text!r} is not a whole number")
    return int(text)


def _plane_value(value: Any, axis: str) -> Any:
    text = "" if value is None else str(value).strip()
    if text == "":
        raise InputError(f"no {_PART_OF[axis]} value")
    if axis == "c":
        return int(text) if text.isdigit() else text
    return _int_part(text, _PART_OF[axis])


# -- (a) CSV manifest --------------------------------------------------------------------------

_COLUMN_ALIASES = {
    "row": "row", "column": "column", "col": "column", "well": "well",
    "field": "field", "site": "field", "fov": "field", "position": "field",
    "channel": "channel", "c": "channel", "wavelength": "channel",
    "z": "z", "plane": "z", "slice": "z",
    "t": "t", "time": "t", "timepoint": "t", "frame": "t",
    "acquisition": "acquisition", "acq": "acquisition",
    "file": "file", "path": "file", "filename": "file", "image": "file",
}


def from_manifest(path: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None) -> PlateInput:
    """Fields from a CSV manifest with a header: ``row, column, field, [channel, z, t,] file``.

    ``well`` (``B03``) may replace ``row`` and ``column``; ``acquisition`` is optional.
    Relative file paths are relative to the manifest's folder. Several lines for one field with
    different ``channel``/``z``/``t`` values are stacked into one image.
    """
    location = Location.parse(path, storage_options)
    with storage_errors(location, "read"):
        if not location.fs.exists(location.path):
            raise InputNotFoundError(f"{location.url}: no such manifest; check the path")
        raw = location.fs.cat_file(location.path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{location.url} is not a UTF-8 text file; save the manifest as CSV (UTF-8)") from None
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = [r for r in reader]
    name = location.name
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputError(f"{location.url} is empty; give a CSV with a header line (row,column,field,file)")
    header = [_COLUMN_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in rows[0]]
    if "file" not in header or not ("well" in header or ("row" in header and "column" in header)):
        raise InputError(
            f"{location.url}: the header {','.join(h.strip() for h in rows[0])!r} needs columns row, column "
            "(or well) and file; optional: field, channel, z, t, acquisition"
        )
    unknown = [rows[0][i].strip() for i, h in enumerate(header) if h not in PARTS and h != "file"]
    if unknown:
        raise InputError(
            f"{location.url}: unknown column(s) {', '.join(unknown)}; use row, column, well, field, channel, "
            "z, t, acquisition, file"
        )
    folder = location.parent
    problems: list[tuple[str, str]] = []
    records = []
    for n, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        where = f"{name} line {n}"
        if len(cells) != len(header):
            problems.append(("lines with the wrong number of cells", f"{where} ({len(cells)} cells, header has {len(header)})"))
            continue
        parts = {h: c.strip() for h, c in zip(header, cells)}
        file = parts.pop("file")
        if not file:
            problems.append(("lines without a file", where))
            continue
        records.append(_Record(parts, _resolve(folder, file), where))
    plane_axes = "".join(a for a in PLANE_AXES if _PART_OF[a] in header)
    fields = _group(records, problems, plane_axes)
    if not fields and not problems:
        raise InputError(f"{location.url} lists no fields; add one line per field (or plane)")
    return FilePlateInput(
        fields=fields, problems=problems, name=_stem(name), inputs=[location.url],
        storage_options=dict(storage_options) if storage_options else None,
        description=f"manifest {location.url}",
    )


def _resolve(folder: Location, file: str) -> str:
    if "://" in file or os.path.isabs(file):
        return file
    return folder.child(*file.replace("\\", "/").split("/")).url


def _stem(name: str) -> str:
    return re.sub(r"\.(csv|tsv|txt)$", "", name, flags=re.IGNORECASE)



# -- (b) folder + filename pattern -------------------------------------------------------------


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex from a filename pattern: ``{well}_s{field}_w{channel}.tif`` (``*`` matches any
    text within a folder name, ``{name:REGEX}`` sets a part's regex), or a regex with named
    groups (``(?P<well>...)``). Matching is case-insensitive for ``{}`` patterns. The syntax is
    :class:`~converters.planes.NamePattern`'s, with the plate's parts."""
    compiled = NamePattern.parse(
        pattern, groups=_PART_REGEX, aliases=_ALIASES, known=PARTS, ignore_case=True,
        example="{well}_s{field}_w{channel}.tif",
    )
    names = compiled.fields
    if "well" not in names and not ("row" in names and "column" in names):
        raise InputError(
            f"the pattern {pattern!r} must name the well: {{well}} (B03, r02c03) or {{row}} and {{column}}"
        )
    return compiled.regex


def _list_files(location: Location) -> list[str]:
    """Relative paths (``/``-separated) of the files below ``location``, hidden ones left out."""
    with storage_errors(location, "read"):
        fs = location.fs
        if not fs.exists(location.path):
            raise InputNotFoundError(f"{location.url}: no such folder; check the path")
        if not fs.isdir(location.path):
            raise InputError(f"{location.url} is a file; give the folder that holds the images")
        if location.is_local:
            out = []
            for root, dirs, files in os.walk(location.path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.endswith(".zarr"))
                rel = os.path.relpath(root, location.path)
                for f in files:
                    if not f.startswith("."):
                        out.append(f if rel == "." else f"{rel.replace(os.sep, '/')}/{f}")
            return sorted(out, key=natural_key)
        base = location.path.rstrip("/") + "/"
        found = fs.find(location.path)
        out = [p[len(base):] for p in found if p.startswith(base)]
        return sorted(
            (p for p in out if not any(part.startswith(".") for part in p.split("/"))), key=natural_key
        )


def is_image_file(name: str) -> bool:
    return name.lower().endswith(_IMAGE_SUFFIXES)


def from_pattern(
    folder: str | os.PathLike[str], pattern: str, *, storage_options: Mapping[str, Any] | None = None
) -> PlateInput:
    """Fields from the image files below ``folder`` whose paths (relative, ``/``-separated)
    match ``pattern`` (see :func:`compile_pattern`).

    Parts: ``{well}`` or ``{row}`` + ``{column}``, and optionally ``{field}``, ``{channel}``,
    ``{z}``, ``{t}``, ``{acquisition}``. Files with ``channel``/``z``/``t`` parts are stacked into
    one image per field. Image files that do not match are reported as problems; other files
    (metadata, text) are ignored.
    """
    regex = compile_pattern(pattern)
    location = Location.parse(folder, storage_options)
    files = _list_files(location)
    images = [f for f in files if is_image_file(f)]
    problems: list[tuple[str, str]] = []
    records = []
    names = {_ALIASES.get(n, n) for n in regex.groupindex}
    for rel in images:
        m = regex.fullmatch(rel) or (regex.fullmatch(posixpath.basename(rel)) if "/" not in pattern else None)
        if m is None:
            problems.append((f"image files not matching the pattern {pattern!r}", rel))
            continue
        parts = {_ALIASES.get(k, k): v for k, v in m.groupdict().items() if v is not None}
        records.append(_Record(parts, location.child(*rel.split("/")).url, rel))
    if not images:
        example = f" (it holds e.g. {', '.join(files[:3])})" if files else ""
        raise InputError(f"no image files in {location.url}{example}; give the folder that holds the images")
    plane_axes = "".join(a for a in PLANE_AXES if _PART_OF[a] in names)
    fields = _group(records, problems, plane_axes)
    return FilePlateInput(
        fields=fields, problems=problems, name=location.name, inputs=[location.url],
        storage_options=dict(storage_options) if storage_options else None,
        description=f"folder {location.url} with pattern {pattern!r}",
    )


# -- (c) folder tree PLATE/ROW/COL/FIELD ----------------------------------------------------------


def from_tree(folder: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None) -> PlateInput:
    """Fields from a folder tree ``PLATE/ROW/COL/FIELD``.

    ``ROW`` is a row name (``B`` or ``2``), ``COL`` a column number. Below a column, each field
    is an image file (its name without suffix is the field id, e.g. ``0.tif``) or a folder of
    image files: one file is the field's image; several are stacked as channels, in name order,
    labelled by their names.
    """
    location = Location.parse(folder, storage_options)
    files = _list_files(location)
    problems: list[tuple[str, str]] = []
    groups: dict[tuple[str, str, str], list[str]] = {}
    order: list[tuple[str, str, str]] = []
    for rel in files:
        parts = rel.split("/")
        if not is_image_file(parts[-1]):
            continue
        if len(parts) not in (3, 4):
            problems.append(("files outside the ROW/COL/FIELD layout", rel))
            continue
        field_name = parts[2] if len(parts) == 4 else _strip_suffix(parts[2])
        key = (parts[0], parts[1], field_name)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(rel)
    if not files or not (groups or problems):
        raise InputError(f"no image files in {location.url}; expected ROW/COL/FIELD image files or folders")
    out: list[PlateField] = []
    for key in order:
        row_text, col_text, field_name = key
        rels = groups[key]
        try:
            row, column = parse_row(row_text), parse_column(col_text)
            fid = _field_id(field_name)
        except InputError as exc:
            problems.append(("folders that are not ROW/COL/FIELD", f"{'/'.join(key)}: {exc}"))
            continue
        urls = [location.child(*r.split("/")).url for r in rels]
        if len(rels) == 1:
            source: Any = urls[0]
        else:
            if any(len(r.split("/")) == 3 for r in rels):
                problems.append(("duplicated fields", f"{'/'.join(key)} ({', '.join(rels)})"))
                continue
            source = FieldPlanes(
                axes="c",
                planes=tuple(((_strip_suffix(r.split("/")[-1]),), u) for r, u in zip(rels, urls)),
            )
        out.append(PlateField(row, column, fid, source, None, where="/".join(key)))
    return FilePlateInput(
        fields=out, problems=problems, name=location.name, inputs=[location.url],
        storage_options=dict(storage_options) if storage_options else None,
        description=f"folder tree {location.url}",
    )


def _strip_suffix(name: str) -> str:
    lowered = name.lower()
    for s in _IMAGE_SUFFIXES:
        if lowered.endswith(s) and len(name) > len(s):
            return name[: -len(s)]
    return name


# -- plane files -> one image per field -------------------------------------------------------


def _plane_values(all_planes: Sequence[FieldPlanes]) -> dict[str, list[list[Any]]]:
    """The values of each stacking axis over the whole plate, in stacking order: numbers sorted,
    channel names in order of first appearance. Every field must have every combination."""
    out: dict[str, list[list[Any]]] = {}
    for axes in unique(p.axes for p in all_planes):
        group = [p for p in all_planes if p.axes == axes]
        values = []
        for i, a in enumerate(axes):
            vals = unique(k[i] for p in group for k, _ in p.planes)
            if a != "c" or all(isinstance(v, int) for v in vals):
                vals = sorted(vals, key=natural_key)
            values.append(vals)
        out[axes] = values
    return out


def _stack(
    planes: FieldPlanes,
    values: Sequence[Sequence[Any]],
    sources: Mapping[str, Any],
    label: str,
    problems: list[tuple[str, str]],
) -> Source | None:
    """One lazy image from a field's plane files, stacked along ``planes.axes`` (t, c, z)."""
    import dask.array as da

    opened = [(key, path, sources[path]) for key, path in planes.planes if path in sources]
    if len(opened) < len(planes.planes):
        return None  # reported as missing or unreadable
    first = opened[0][2]
    layouts = {(s.axes, tuple(s.data.shape), str(s.data.dtype)) for _, _, s in opened}
    if len(layouts) > 1:
        desc = sorted(f"{a} {'x'.join(map(str, sh))} {dt}" for a, sh, dt in layouts)
        problems.append(("fields whose plane files differ in shape or dtype", f"{label} ({' / '.join(desc)})"))
        return None
    clash = [a for a in planes.axes if a in first.axes]
    if clash:
        problems.append(
            ("plane files that already have the axis the layout stacks along",
             f"{label}: {os.path.basename(opened[0][1])} has axes {first.axes}, the layout adds {''.join(clash)}")
        )
        return None
    by_key = {k: s for k, _, s in opened}
    lacking = [
        " ".join(f"{_axis_word(a)} {v}" for a, v in zip(planes.axes, combo))
        for combo in itertools.product(*values)
        if combo not in by_key
    ]
    if lacking:
        problems.append(("fields with missing planes", f"{label} lacks {', '.join(lacking[:4])}"
                         + (f" (+{len(lacking) - 4})" if len(lacking) > 4 else "")))
        return None

    def build(level: int, prefix: tuple[Any, ...]) -> Any:
        if level == len(values):
            return by_key[prefix].data
        return da.stack([build(level + 1, prefix + (v,)) for v in values[level]])

    data = build(0, ())
    axes = planes.axes + first.axes
    # a single z or t plane needs no axis; a single channel keeps its name
    for i in reversed(range(len(planes.axes))):
        if planes.axes[i] != "c" and len(values[i]) == 1:
            data = data[(slice(None),) * i + (0,)]
            axes = axes[:i] + axes[i + 1:]
    data, axes_c = to_canonical(data, axes)
    channel_names: list[str] | None = None
    channel_colors: list[str | None] | None = None
    if "c" in planes.axes:
        ci = planes.axes.index("c")
        channel_names, channel_colors = [], []
        for v in values[ci]:
            src = next(s for k, _, s in opened if k[ci] == v)  # every field has every plane
            own = src.channel_names or []
            channel_names.append(own[0] if len(own) == 1 else (f"channel {v}" if isinstance(v, int) else str(v)))
            colors = src.channel_colors or []
            channel_colors.append(colors[0] if len(colors) == 1 else None)
        if not any(channel_colors):
            channel_colors = None
    elif first.channel_names:
        channel_names, channel_colors = list(first.channel_names), first.channel_colors
    inputs = [p for _, p, _ in opened]
    return Source(
        data=data, axes=axes_c, scale=dict(first.scale), units=dict(first.units),
        channel_names=channel_names, channel_colors=channel_colors, name=first.name,
        metadata=dict(first.metadata), inputs=inputs,
    )


def _axis_word(axis: str) -> str:
    return {"c": "channel", "z": "z", "t": "t"}[axis]


__all__ = [
    "PARTS",
    "FieldPlanes",
    "FilePlateInput",
    "compile_pattern",
    "from_manifest",
    "from_pattern",
    "from_tree",
    "is_image_file",
    "open_fields",
]
