"""Acquisition text files -> key-values and tables, with a pluggable parser interface.

The built-in parser (:func:`parse_acquisition_text`, registered as ``default``) reads the text
files acquisition software writes next to its planes:

- ``Key: value`` lines become key-value pairs (numbers become numbers; ``true``/``false``
  become booleans). The colon must be followed by a space or end the line, so ``12:30:00`` or
  ``Time (h:m:s)`` are not split. Keys start with a letter. Under a ``[Section]`` line keys are
  prefixed ``Section.``. A key repeated with other values keeps them all, joined by ``"; "``.
- Blocks of tab-separated lines become tables (pandas DataFrames): the first line is the
  header, a block ends at a line without a tab. A table is named after the ``[Section]`` or
  the ``Title:`` line (a key without a value) just before it, else ``table_<n>``. Columns whose
  values are all numbers become numeric.
- A few well-known keys also give the physical size of the axes: pixel size (y, x), z step (z)
  and time interval (t), with their unit from the key (``Pixel size (um)``) or the value
  (``0.325 µm``, ``5 min``).
- Anything else (comments, free text, log lines that start with a time stamp) is ignored.

Other formats plug in as a *parser*: any callable ``parser(path: str)`` that receives the path
of a local file and returns an :class:`Acquisition`, a mapping with some of the keys
``key_values``, ``tables``, ``scale``, ``units``, or ``None`` when the file is not one it reads.
Name it on the command line as ``--parser module:function`` (``module`` importable, or a
``path/to/file.py``), or publish it as an entry point in the group
``ngffstore.acquisition_parsers`` and name it by its entry-point name (``--parser NAME``)::

    # pyproject.toml of a facility's package
    [project.entry-points."ngffstore.acquisition_parsers"]
    nikon = "facility_parsers.nikon:parse"
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ngffstore.errors import InputError, InputNotFoundError, NgffStoreError
from ngffstore.ngff import normalize_unit
from ngffstore.paths import check_relative_path
from ngffstore.storage import Location

from ._io import short

log = logging.getLogger("ngffstore")

ENTRY_POINT_GROUP = "ngffstore.acquisition_parsers"
"""Entry-point group where packages register acquisition parsers by name."""

Scalar = str | int | float | bool
ParserResult = Any  # Acquisition | Mapping[str, Any] | None
AcquisitionParser = Callable[[str], ParserResult]

_KEY_VALUE = re.compile(r"^(?P<key>[A-Za-z][^\t:]*?)\s*:(?:\s+(?P<value>.*?))?\s*$")
_SECTION = re.compile(r"^\[(?P<name>[^\[\]]+)\]$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_QUANTITY = re.compile(r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[^\d\s].*)?$")
_UNIT_IN_KEY = re.compile(r"[\(\[]\s*(?P<unit>[^\)\]]+?)\s*[\)\]]\s*$")
_TABLE_NAME_BAD = re.compile(r"[^A-Za-z0-9_.\-]+")
_SCALE_KEYS = {
    "pixelsize": "yx",
    "pixelsizexy": "yx",
    "pixelsizeum": "yx",
    "pixelspacing": "yx",
    "xypixelsize": "yx",
    "pixelwidth": "x",
    "pixelheight": "y",
    "pixelsizex": "x",
    "pixelsizey": "y",
    "zstep": "z",
    "zstepsize": "z",
    "zspacing": "z",
    "zinterval": "z",
    "pixelsizez": "z",
    "timeinterval": "t",
    "frameinterval": "t",
    "timepointinterval": "t",
    "interval": "t",
}


@dataclass(kw_only=True)
class Acquisition:
    """What acquisition files say: key-values, tables and physical axis sizes.

    Attributes
    ----------
    key_values
        Text, number or boolean values by key.
    tables
        pandas DataFrames by table name (letters, digits, ``_ . -``).
    scale, units
        Physical size per axis name (``{"y": 0.325, "x": 0.325, "z": 2.0, "t": 300.0}``) and
        its NGFF unit (``{"y": "micrometer", "t": "second"}``).
    files
        The files these came from.
    """

    key_values: dict[str, Scalar] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def update(self, other: Acquisition) -> None:
        """Merge ``other`` into this one (its values win; a table name taken gets a suffix)."""
        self.key_values.update(other.key_values)
        for name, table in other.tables.items():
            self.tables[_unique(name, self.tables)] = table
        self.scale.update(other.scale)
        self.units.update(other.units)
        self.files.extend(f for f in other.files if f not in self.files)

    def copy(self) -> Acquisition:
        return Acquisition(
            key_values=dict(self.key_values),
            tables=dict(self.tables),
            scale=dict(self.scale),
            units=dict(self.units),
            files=list(self.files),
        )


# ---------------------------------------------------------------------------------------------
# the built-in parser
# ---------------------------------------------------------------------------------------------
def parse_value(text: str) -> Scalar:
    """``"12"`` -> 12, ``"0.5"`` -> 0.5, ``"true"`` -> True; anything else stays text."""
    value = text.strip()
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        number = float(value)
        return number if math.isfinite(number) else value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def table_name(text: str) -> str:
    """A table name from a title: allowed characters only (``Stage positions`` -> ``Stage_positions``)."""
    name = _TABLE_NAME_BAD.sub("_", text.strip()).strip("_.-")
    while ".." in name:
        name = name.replace("..", ".")
    # a name from an acquisition file becomes a stored object's name: one plain segment
    return check_relative_path(name[:128].strip("_.-") or "table", document=f"table title {text!r}",
                               what="table name", single=True)


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def parse_acquisition_text(text: str, *, source: str = "<text>") -> Acquisition:
    """Key-values, tables and axis sizes from the text of an acquisition file (see module doc)."""
    out = Acquisition(files=[source] if source != "<text>" else [])
    section: str | None = None
    title: str | None = None
    block: list[list[str]] = []
    block_line = 0
    values: dict[str, list[Scalar]] = {}

    def flush() -> None:
        nonlocal block, title
        if block:
            name = _unique(table_name(title) if title else f"table_{len(out.tables) + 1}", out.tables)
            out.tables[name] = _frame(block, f"{source} line {block_line}")
        block, title = [], None

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if block and "\t" in line:
            block.append(line.split("\t"))
            continue
        if block:
            flush()
        if not stripped or stripped.startswith(("#", ";", "//")):
            continue
        match = _SECTION.match(stripped)
        if match:
            section = title = match.group("name").strip()
            continue
        match = _KEY_VALUE.match(stripped)
        if match:
            key = match.group("key").strip()
            value = match.group("value")
            if value is None or value == "":
                title = key
                continue
            title = section
            full = f"{section}.{key}" if section else key
            parsed = parse_value(value)
            seen = values.setdefault(full, [])
            if parsed not in seen:
                seen.append(parsed)
            continue
        if "\t" in line:
            block = [line.split("\t")]
            block_line = number
            continue
        # free text: log lines, comments without a marker... nothing to keep as metadata
    flush()
    for key, found in values.items():
        out.key_values[key] = found[0] if len(found) == 1 else "; ".join(str(v) for v in found)
    _axis_sizes(out)
    return out


def _frame(rows: list[list[str]], where: str) -> pd.DataFrame:
    header = [cell.strip() for cell in rows[0]]
    width = len(header)
    names: list[str] = []
    for i, name in enumerate(header):
        name = name or f"column_{i + 1}"
        names.append(_unique(name, dict.fromkeys(names)))
    body = []
    for row in rows[1:]:
        cells = [cell.strip() for cell in row]
        if len(cells) > width:
            if any(cells[width:]):
                log.warning("%s: a row has %d fields, the header %d; extra fields dropped", where, len(cells), width)
            cells = cells[:width]
        body.append(cells + [""] * (width - len(cells)))
    frame = pd.DataFrame(body, columns=names, dtype=object)
    for name in names:
        column = frame[name]
        present = [parse_value(v) for v in column if v != ""]
        if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            frame[name] = pd.to_numeric(column.replace("", None))
        else:
            frame[name] = column.astype(str)
    return frame


def _axis_sizes(acq: Acquisition) -> None:
    """Pixel size, z step and time interval from well-known keys (the first of each wins)."""
    for key, value in acq.key_values.items():
        base = key.rsplit(".", 1)[-1]
        unit_match = _UNIT_IN_KEY.search(base)
        bare = _UNIT_IN_KEY.sub("", base) if unit_match else base
        normal = re.sub(r"[^a-z]", "", bare.lower().replace("µ", "u"))
        axes = _SCALE_KEYS.get(normal)
        if axes is None:
            continue
        unit_text = unit_match.group("unit") if unit_match else None
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            number = float(value)
        else:
            match = _QUANTITY.match(str(value).strip())
            if not match:
                continue
            number = float(match.group("num"))
            unit_text = match.group("unit") or unit_text
        if not number > 0 or not math.isfinite(number):
            continue
        unit = normalize_unit(unit_text) if unit_text else None
        if unit_text and unit is None:
            continue  # a unit we cannot name in NGFF: leave the axis uncalibrated
        for axis in axes:
            if axis in acq.scale:
                continue
            acq.scale[axis] = number
            if unit is not None:
                acq.units[axis] = unit
            elif axis == "t":
                acq.units[axis] = "second"
            else:
                acq.units[axis] = "micrometer"


def parse_acquisition_file(path: str) -> Acquisition:
    """The built-in parser: :func:`parse_acquisition_text` on the file at ``path`` (UTF-8 or Latin-1)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_acquisition_text(text, source=path)


BUILTIN_PARSERS: dict[str, AcquisitionParser] = {
    "default": parse_acquisition_file,
    "key-value": parse_acquisition_file,
}


# ---------------------------------------------------------------------------------------------
# pluggable parsers
# ---------------------------------------------------------------------------------------------
def available_parsers() -> dict[str, str]:
    """Parser names usable as ``--parser NAME``: built-ins and entry points, with their targets."""
    out = {name: f"{fn.__module__}:{fn.__name__}" for name, fn in BUILTIN_PARSERS.items()}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        out.setdefault(ep.name, ep.value)
    return out


def load_parser(spec: str | AcquisitionParser | None) -> AcquisitionParser:
    """The parser named by ``spec``.

    ``spec`` is ``None`` (the built-in parser), a callable, ``module:function`` (``module``
    importable or a path to a ``.py`` file; ``function`` may be dotted), or the name of a
    built-in parser or of an entry point in the group ``ngffstore.acquisition_parsers``.
    """
    if spec is None:
        return parse_acquisition_file
    if callable(spec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"parser {spec!r} is neither a callable nor a 'module:function' name")
    text = spec.strip()
    if text in BUILTIN_PARSERS:
        return BUILTIN_PARSERS[text]
    if ":" not in text:
        return _entry_point(text)
    module_name, _, attr = text.rpartition(":")
    module = _import(module_name, text)
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise InputError(
                f"parser {text!r}: {module_name} has no attribute {attr!r}; check the function name"
            ) from None
    if not callable(target):
        raise InputError(f"parser {text!r} is a {type(target).__name__}, not a function")
    return target


def _entry_point(name: str) -> AcquisitionParser:
    found = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = ", ".join(sorted(available_parsers()))
        raise InputError(
            f"no acquisition parser named {name!r} (known: {known}); give 'module:function' or "
            f"install a package that registers it in the entry-point group {ENTRY_POINT_GROUP}"
        )
    try:
        target = found[0].load()
    except Exception as exc:  # a broken plug-in package: say which
        raise InputError(f"cannot load the acquisition parser {name!r} ({found[0].value}): {short(exc)}") from exc
    if not callable(target):
        raise InputError(f"acquisition parser {name!r} ({found[0].value}) is not callable")
    return target


def _import(module_name: str, spec: str) -> Any:
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        path = os.path.abspath(os.path.expanduser(module_name))
        if not os.path.isfile(path):
            raise InputNotFoundError(f"parser {spec!r}: no such file {path}")
        name = "ngffstore_parser_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise InputError(f"parser {spec!r}: cannot load {path} as Python")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # pickling the parser (for workers) finds its module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise InputError(f"parser {spec!r}: importing {path} failed: {short(exc)}") from exc
        return module
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InputError(
            f"parser {spec!r}: no module named {exc.name!r}; install it or put it on PYTHONPATH"
        ) from None
    except Exception as exc:
        raise InputError(f"parser {spec!r}: importing {module_name} failed: {short(exc)}") from exc


def parser_name(parser: AcquisitionParser) -> str:
    """``module:function`` of a parser, for messages and provenance."""
    module = getattr(parser, "__module__", None) or "?"
    name = getattr(parser, "__qualname__", None) or getattr(parser, "__name__", None) or repr(parser)
    return f"{module}:{name}"


def run_parser(parser: AcquisitionParser, path: str, *, display: str | None = None) -> Acquisition | None:
    """Apply ``parser`` to the local file ``path``; its result checked and made an :class:`Acquisition`."""
    where = display or path
    try:
        result = parser(path)
    except NgffStoreError:
        raise
    except Exception as exc:  # a plug-in failing on a file is a bad input, said in one line
        raise InputError(
            f"the acquisition parser {parser_name(parser)} failed on {where}: {short(exc)}"
        ) from exc
    if result is None:
        return None
    return as_acquisition(result, where=f"{parser_name(parser)} on {where}", source=where)


def as_acquisition(result: Any, *, where: str, source: str | None = None) -> Acquisition:
    """Check what a parser returned (an :class:`Acquisition` or a mapping) and normalise it."""
    from ngffstore.errors import ValidationError
    from ngffstore.metadata import parse_key_values

    if isinstance(result, Acquisition):
        acq = result.copy()
    elif isinstance(result, Mapping):
        unknown = sorted(set(result) - {"key_values", "tables", "scale", "units"})
        if unknown:
            raise InputError(
                f"{where}: unknown result keys {unknown}; return key_values, tables, scale, units"
            )
        acq = Acquisition(
            key_values=dict(result.get("key_values") or {}),
            tables=dict(result.get("tables") or {}),
            scale=dict(result.get("scale") or {}),
            units=dict(result.get("units") or {}),
        )
    else:
        raise InputError(
            f"{where} returned a {type(result).__name__}; a parser returns an Acquisition, "
            "a dict with key_values/tables/scale/units, or None"
        )
    try:
        acq.key_values = parse_key_values(acq.key_values)
    except ValidationError as exc:
        raise InputError(f"{where}: {exc}") from None
    tables: dict[str, pd.DataFrame] = {}
    for name, table in acq.tables.items():
        frame = _as_frame(table, f"{where}: table {name!r}")
        tables[_unique(table_name(str(name)), tables)] = frame
    acq.tables = tables
    scale: dict[str, float] = {}
    for axis, value in acq.scale.items():
        axis = str(axis).lower()
        if axis not in "tzyx" or len(axis) != 1:
            raise InputError(f"{where}: scale names axis {axis!r}; use t, z, y or x")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{where}: scale of {axis} is {value!r}, not a number") from None
        if not (number > 0 and math.isfinite(number)):
            raise InputError(f"{where}: scale of {axis} must be a positive number, got {value!r}")
        scale[axis] = number
    units: dict[str, str] = {}
    for axis, unit in acq.units.items():
        ngff_unit = normalize_unit(unit)
        if ngff_unit is None:
            raise InputError(f"{where}: unknown unit {unit!r} for axis {axis}; use an NGFF unit such as micrometer")
        units[str(axis).lower()] = ngff_unit
    acq.scale, acq.units = scale, units
    if source is not None and source not in acq.files:
        acq.files = [source]
    return acq


def _as_frame(table: Any, where: str) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        frame = table
    else:
        try:
            import pyarrow as pa

            if isinstance(table, pa.Table):
                return table.to_pandas()
        except ImportError:  # pragma: no cover - pyarrow is a dependency
            pass
        try:
            frame = pd.DataFrame(table)
        except (TypeError, ValueError):
            raise InputError(f"{where} is a {type(table).__name__}, not a table (give a DataFrame)") from None
    if frame.shape[1] == 0:
        raise InputError(f"{where} has no columns")
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    return frame


def read_acquisition(
    files: Sequence[tuple[str, str]], parser: str | AcquisitionParser | None = None
) -> Acquisition:
    """Parse local ``files`` (``(path, display name)`` pairs) with ``parser`` and merge the results."""
    fn = load_parser(parser)
    out = Acquisition()
    for path, display in files:
        acq = run_parser(fn, path, display=display)
        if acq is not None:
            out.update(acq)
    return out


def read_acquisition_files(
    urls: Sequence[str],
    parser: str | AcquisitionParser | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> Acquisition:
    """:func:`read_acquisition` of files given as local paths or URLs: remote ones are copied to
    a temporary folder first (a parser reads a local file), under their own names."""
    if not urls:
        return Acquisition()
    with tempfile.TemporaryDirectory(prefix="ngffstore-acq-") as tmp:
        files = []
        for i, url in enumerate(urls):
            if "://" not in url:
                files.append((url, url))
                continue
            location = Location.parse(url, storage_options)
            local = os.path.join(tmp, str(i), location.name)
            os.makedirs(os.path.dirname(local))
            with open(local, "wb") as f:
                f.write(location.read_bytes(""))
            files.append((local, url))
        return read_acquisition(files, parser)


__all__ = [
    "BUILTIN_PARSERS",
    "ENTRY_POINT_GROUP",
    "Acquisition",
    "AcquisitionParser",
    "as_acquisition",
    "available_parsers",
    "load_parser",
    "parse_acquisition_file",
    "parse_acquisition_text",
    "parse_value",
    "parser_name",
    "read_acquisition",
    "read_acquisition_files",
    "run_parser",
]
