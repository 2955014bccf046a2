"""What a plate is built from: fields (row, column, field, image) and the three layout builders.

A builder reads a layout, never pixels: :func:`from_manifest` (a CSV table), :func:`from_pattern`
(file names in a folder) and :func:`from_tree` (``PLATE/ROW/COL/FIELD`` folders). Each returns a
:class:`PlateInput`: the fields found plus the problems seen on the way (names that do not parse,
files that do not match), which :func:`~ngffstore.plate.write_plate` reports together with its
own checks in one :class:`PlateInputError`, before anything is written.

A field's image is one file, or several plane files (:class:`FieldPlanes`) stacked along the
channel, z and time axes named by the layout.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, InputNotFoundError
from ..storage import Location, storage_errors
from .names import natural_key, parse_column, parse_row, parse_well, well_name

#: Named parts a filename pattern (or a manifest) may use.
PARTS = ("well", "row", "column", "field", "channel", "z", "t", "acquisition")
PLANE_AXES = ("t", "c", "z")

_IMAGE_SUFFIXES = (
    ".ome.tiff", ".ome.tif", ".tiff", ".tif", ".btf", ".tf8", ".png", ".jpg", ".jpeg", ".npy",
)
_MAX_LISTED = 6


# -- errors ----------------------------------------------------------------------------------


class PlateInputError(InputError):
    """The plate input has problems; nothing was written.

    ``str(error)`` is one line listing every offender, grouped by kind; :attr:`problems` holds
    them as ``"kind: offender"`` strings.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.grouped: dict[str, list[str]] = {}
        for kind, item in problems:
            self.grouped.setdefault(kind, []).append(item)
        self.problems = [f"{kind}: {item}" for kind, item in problems]
        super().__init__(_format(self.grouped))


def _format(grouped: Mapping[str, list[str]]) -> str:
    parts = []
    for kind, items in grouped.items():
        shown = items[:_MAX_LISTED]
        more = f" (and {len(items) - len(shown)} more)" if len(items) > len(shown) else ""
        parts.append(f"{kind}: {', '.join(shown)}{more}")
    n = sum(len(v) for v in grouped.values())
    return f"the plate input has {n} problem{'s' if n != 1 else ''}, nothing was written — " + "; ".join(parts)


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


@dataclass(frozen=True)
class PlateField:
    """One field of view: its well (``row``, ``column``), its id in the well, and its image.

    ``source`` is a file path or URL, a :class:`FieldPlanes`, a ``converters.Source``, or a
    numpy/dask/Zarr array. ``field`` is the instrument's field id (a number or text); fields are
    stored as ``0, 1, ...`` in the order of their ids. ``acquisition`` is an NGFF acquisition id.
    """

    row: Any
    column: Any
    field: Any
    source: Any
    acquisition: int | None = None
    where: str = ""
    """Where the field came from (a manifest line, a file), for messages."""


@dataclass(kw_only=True)
class PlateInput:
    """The fields a builder found, the problems it saw, and what to record as the input."""

    fields: list[PlateField]
    problems: list[tuple[str, str]] = field(default_factory=list)
    name: str | None = None
    inputs: list[str] = field(default_factory=list)
    storage_options: dict[str, Any] | None = None
    description: str = ""

    def __len__(self) -> int:
        return len(self.fields)

    def __iter__(self) -> Any:
        return iter(self.fields)

    def raise_problems(self) -> None:
        if self.problems:
            raise PlateInputError(self.problems)


def as_plate_input(fields: Any, storage_options: Mapping[str, Any] | None = None) -> PlateInput:
    """A :class:`PlateInput` from one, or from ``(row, column, field, source[, acquisition])``
    tuples, mappings or :class:`PlateField` objects."""
    if isinstance(fields, PlateInput):
        if storage_options and not fields.storage_options:
            fields.storage_options = dict(storage_options)
        return fields
    out: list[PlateField] = []
    for i, item in enumerate(fields):
        if isinstance(item, PlateField):
            out.append(item)
        elif isinstance(item, Mapping):
            missing = [k for k in ("field", "source") if k not in item]
            if "well" in item and ("row" not in item or "column" not in item):
                row, column = item["well"], None
            else:
                row, column = item.get("row"), item.get("column")
                if row is None or column is None:
                    missing.append("row/column (or well)")
            if missing:
                raise InputError(f"field {i}: missing {', '.join(missing)}; give row, column, field and source")
            out.append(PlateField(row, column, item["field"], item["source"], item.get("acquisition"), where=f"field {i}"))
        elif isinstance(item, (tuple, list)) and len(item) in (4, 5):
            out.append(PlateField(*item, where=f"field {i}"))  # type: ignore[misc]
        else:
            raise InputError(
                f"field {i} is {type(item).__name__}; give (row, column, field, source) tuples or PlateField"
            )
    return PlateInput(fields=out, storage_options=dict(storage_options) if storage_options else None)


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
    return PlateInput(
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

_PLACEHOLDER = re.compile(r"\{(\w+)(?::([^{}]*))?\}")
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


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex from a filename pattern: ``{well}_s{field}_w{channel}.tif`` (``*`` matches any
    text within a folder name, ``{name:REGEX}`` sets a part's regex), or a regex with named
    groups (``(?P<well>...)``). Matching is case-insensitive for ``{}`` patterns."""
    if "(?P<" in pattern:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise InputError(f"the pattern {pattern!r} is not a valid regular expression: {exc}") from None
        names = list(regex.groupindex)
    else:
        out = []
        names = []
        pos = 0
        for m in _PLACEHOLDER.finditer(pattern):
            out.append(_literal(pattern[pos:m.start()]))
            name = _ALIASES.get(m.group(1).lower(), m.group(1).lower())
            if name not in PARTS:
                raise InputError(
                    f"unknown part {{{m.group(1)}}} in the pattern {pattern!r}; use {', '.join('{' + p + '}' for p in PARTS)}"
                )
            if name in names:
                raise InputError(f"the pattern {pattern!r} names {{{name}}} twice")
            names.append(name)
            out.append(f"(?P<{name}>{m.group(2) or _PART_REGEX[name]})")
            pos = m.end()
        out.append(_literal(pattern[pos:]))
        if "{" in pattern[pos:] or "}" in pattern[pos:]:
            raise InputError(f"unbalanced braces in the pattern {pattern!r}; parts look like {{well}}")
        try:
            regex = re.compile("".join(out), re.IGNORECASE)
        except re.error as exc:
            raise InputError(f"cannot use the pattern {pattern!r}: {exc}") from None
    canonical = [_ALIASES.get(n, n) for n in names]
    unknown = [n for n in canonical if n not in PARTS]
    if unknown:
        raise InputError(f"unknown group(s) {', '.join(unknown)} in the pattern; use {', '.join(PARTS)}")
    if "well" not in canonical and not ("row" in canonical and "column" in canonical):
        raise InputError(
            f"the pattern {pattern!r} must name the well: {{well}} (B03, r02c03) or {{row}} and {{column}}"
        )
    return regex


def _literal(text: str) -> str:
    """Literal pattern text as a regex; ``*`` matches any text within one folder name."""
    return "[^/]*?".join(re.escape(p) for p in text.split("*"))


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
    return PlateInput(
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
    return PlateInput(
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


def describe_field(row: str, column: str, fid: Any, acquisition: int | None = None) -> str:
    text = f"{well_name(row, column)} field {fid}"
    return text if acquisition is None else f"{text} (acquisition {acquisition})"


def unique(values: Iterable[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


__all__ = [
    "FieldPlanes",
    "PlateField",
    "PlateInput",
    "PlateInputError",
    "as_plate_input",
    "compile_pattern",
    "from_manifest",
    "from_pattern",
    "from_tree",
]
