"""Folders of 2-D planes -> one lazy 5-D (t, c, z, y, x) :class:`Source` per position.

Time-lapse systems write one file per plane, named e.g. ``exp_12_GFP_3.png`` for timepoint 12,
channel GFP, z-plane 3, in one folder per stage position (``pos001/``, ``pos002/``, ...).
:func:`open_plane_folder` finds the positions and planes by name patterns, checks every plane's
header (size, pixel type) before anything is read, and returns dask arrays whose chunks are the
z-planes of one timepoint and channel (or single planes), each read by one task: nothing is held
in memory beyond the planes being written.

Name patterns
-------------
A *template* names fields in braces, matched against the file name without its suffix:
``{name}_{t}_{c}_{z}`` (the default). ``{t}``, ``{z}`` and ``{p}`` (the position number, in
the positions pattern ``pos{p}``) are numbers; ``{c}`` is text (or a number); ``{name}`` is any
text (it may hold the separator, e.g. ``exp_2024_01``); any other ``{field}`` is text and is
ignored. A text field stops at the character that follows it in the template, so channel names
cannot contain it (use a regular expression then). A field left out (e.g. ``{name}_{t}_{c}`` for
single-plane stacks) gives an axis of length 1.

A *regular expression* with named groups is used as is when the pattern contains ``(?P<``:
``(?P<t>\\d+)-(?P<c>[A-Za-z0-9 ]+)-z(?P<z>\\d+)``; it must match the whole name (without or
with its suffix).

Ordering and gaps
-----------------
Timepoints and z-planes are sorted numerically (``t=2`` before ``t=10``); channels numerically
when they are numbers, else alphabetically, or in the order given by ``channels=``. The axes are
the union over all positions; when the numeric values of t (or z) form a regular sequence with
holes (``1, 2, 4``: step 1, 3 missing) and at least half of it exists, the holes are missing
planes too. Missing planes fail by default (listed); with ``fill_missing=True`` they are zeros
and each :class:`PlaneSource` lists the planes it filled.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import math
import os
import posixpath
import re
import string
import struct
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ngffstore.errors import InputError, InputNotFoundError, NgffStoreError
from ngffstore.paths import check_relative_path
from ngffstore.storage import Location, storage_errors

from ._io import native, open_binary, resolve, short
from .base import Source

log = logging.getLogger("ngffstore")

DEFAULT_PATTERN = "{name}_{t}_{c}_{z}"
DEFAULT_POSITIONS = "pos{p}"
PLANE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
"""File suffixes (any case) that are planes; other files are left for the acquisition parser."""

NUMERIC_FIELDS = frozenset({"t", "z", "p"})
AXIS_FIELDS = ("t", "c", "z")
HEADER_WORKERS = 16
GROUP_BYTES = 32 * 2**20  # a task reads consecutive z-planes up to this size
MAX_LISTED = 8

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GREY = 0
_PNG_COLOUR_NAMES = {2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


# ---------------------------------------------------------------------------------------------
# name patterns
# ---------------------------------------------------------------------------------------------
_FORMAT_SPEC = re.compile(r"[<>=^]?[+\- ]?#?0?\d*[,_]?(\.\d+)?[bcdeEfFgGnosxX%]")
"""A Python format spec (``{t:03d}``): a mistake, fields take a regular expression after ``:``."""


def _literal(text: str) -> str:
    """Literal template text as a regex; ``*`` matches any text within one folder name."""
    return "[^/]*?".join(re.escape(p) for p in text.split("*"))


@dataclass(frozen=True)
class NamePattern:
    """A compiled file or folder name pattern: a ``{field}`` template or a regular expression.

    The one filename-pattern syntax of the converters (plane folders here, plate layouts in
    :mod:`converters.plate`): ``{field}`` names a part, ``{field:REGEX}`` gives its regular
    expression, ``*`` matches any text within one folder name, ``{{`` and ``}}`` are literal
    braces; a text containing ``(?P<`` is a regular expression with named groups, used as is.
    Each use names its fields (``groups``: the default regex per field, ``aliases``: other
    spellings); a field without a default is a number (``t``, ``z``, ``p``), any text
    (``name``), or text up to the character that follows it in the template.
    """

    text: str
    regex: re.Pattern[str]
    fields: tuple[str, ...]
    is_regex: bool = False

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        what: str = "pattern",
        groups: Mapping[str, str] | None = None,
        aliases: Mapping[str, str] | None = None,
        known: Sequence[str] | None = None,
        ignore_case: bool = False,
        example: str = DEFAULT_PATTERN,
    ) -> NamePattern:
        """Compile ``text``; ``known`` (when given) lists the only field names allowed."""
        aliases = aliases or {}
        groups = groups or {}

        def canonical(name: str) -> str:
            return aliases.get(name.lower(), name.lower() if known is not None else name)

        def check_known(names: Sequence[str]) -> None:
            if known is None:
                return
            unknown = [n for n in names if n not in known]
            if unknown:
                raise InputError(
                    f"unknown part {{{unknown[0]}}} in the {what} {text!r}; use "
                    + ", ".join("{" + k + "}" for k in known)
                )

        if not isinstance(text, str) or not text.strip():
            raise InputError(f"the {what} is empty; give e.g. {example!r}")
        if "(?P<" in text:
            try:
                regex = re.compile(text)
            except re.error as exc:
                raise InputError(f"the {what} {text!r} is not a valid regular expression: {exc}") from None
            names = [canonical(n) for n in regex.groupindex]
            check_known(names)
            return cls(text, regex, tuple(names), is_regex=True)
        try:
            parts = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise InputError(
                f"the {what} {text!r} is not a valid template ({exc}); write fields as {{t}}, "
                "and literal braces as {{ and }}"
            ) from None
        regex_parts: list[str] = []
        fields: list[str] = []
        for i, (literal, raw, spec, conversion) in enumerate(parts):
            regex_parts.append(_literal(literal))
            if raw is None:
                continue
            if not raw.isidentifier() or conversion or (spec and _FORMAT_SPEC.fullmatch(spec)):
                raise InputError(
                    f"the {what} {text!r} has a field {{{raw}{':' + spec if spec else ''}}}; "
                    "fields are plain names such as {t}, {c}, {z}, {name}, {p}, or {name:REGEX} "
                    "with a regular expression"
                )
            name = canonical(raw)
            check_known([name])
            if name in fields:
                raise InputError(f"the {what} {text!r} names the field {{{name}}} twice")
            fields.append(name)
            following = parts[i + 1][0] if i + 1 < len(parts) else ""
            if spec:
                group = spec
            elif name in groups:
                group = groups[name]
            elif name in NUMERIC_FIELDS:
                group = r"\d+"
            elif name == "name":
                group = ".+"
            elif following and following[0] != "*":
                group = f"[^{re.escape(following[0])}]+"
            else:
                group = ".+?" if i + 1 < len(parts) else ".+"
            regex_parts.append(f"(?P<{name}>{group})")
        if not fields:
            raise InputError(f"the {what} {text!r} has no fields; use e.g. {example!r}")
        try:
            regex = re.compile("".join(regex_parts), re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise InputError(f"cannot use the {what} {text!r}: {exc}") from None
        return cls(text, regex, tuple(fields))

    def match(self, name: str, stem_: str | None = None) -> dict[str, str] | None:
        """The fields of ``name`` (tried without its suffix first), or None when it does not match."""
        for candidate in (stem_, name):
            if candidate is None:
                continue
            m = self.regex.fullmatch(candidate)
            if m:
                return {k: v for k, v in m.groupdict().items() if v is not None}
        return None

    def __str__(self) -> str:
        return self.text


def _number(value: str, field_name: str, where: str, pattern: NamePattern) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(
            f"{where}: {field_name}={value!r} is not a number (pattern {pattern.text!r}); "
            f"timepoints, z-planes and positions are numbered"
        ) from None


def _sort_key(value: str) -> tuple[int, int, str]:
    return (0, int(value), value) if value.isdigit() else (1, 0, value)


def _listing(items: Sequence[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f", ... ({total - MAX_LISTED} more)" if total > MAX_LISTED else "")


# ---------------------------------------------------------------------------------------------
# listing folders
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """A file found in an input folder."""

    name: str
    url: str
    size: int
    mtime: float | None = None


def _list(location: Location) -> tuple[list[Entry], list[str]]:
    """``(files, folder names)`` directly in ``location``; hidden names are skipped."""
    files: list[Entry] = []
    folders: list[str] = []
    if location.is_local:
        try:
            with os.scandir(location.path) as it:
                for e in it:
                    if e.name.startswith("."):
                        continue
                    if e.is_dir():
                        folders.append(e.name)
                    elif e.is_file():
                        st = e.stat()
                        files.append(Entry(e.name, os.path.join(location.path, e.name), st.st_size, st.st_mtime))
        except FileNotFoundError:
            raise InputNotFoundError(f"{location.url}: no such folder; check the path") from None
        except NotADirectoryError:
            raise InputError(f"{location.url} is a file; give the folder that holds the planes") from None
        except PermissionError:
            raise InputError(f"{location.url}: permission denied; check the folder's permissions") from None
    else:
        with storage_errors(location, "read"):
            fs = location.fs
            if not fs.isdir(location.path):
                if fs.exists(location.path):
                    raise InputError(f"{location.url} is a file; give the folder that holds the planes")
                raise InputNotFoundError(f"{location.url}: no such folder; check the URL")
            for info in fs.ls(location.path, detail=True):
                name = posixpath.basename(str(info["name"]).rstrip("/"))
                if not name or name.startswith("."):
                    continue
                if info.get("type") == "directory":
                    folders.append(name)
                else:
                    files.append(Entry(name, location.child(name).url, int(info.get("size") or 0)))
    files.sort(key=lambda e: e.name)
    folders.sort()
    return files, folders


def is_plane_file(name: str) -> bool:
    return name.lower().endswith(PLANE_SUFFIXES)


def _stem(name: str) -> str:
    lowered = name.lower()
    for sfx in PLANE_SUFFIXES:
        if lowered.endswith(sfx):
            return name[: -len(sfx)]
    return name


# ---------------------------------------------------------------------------------------------
# plane headers and reading
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlaneHeader:
    kind: str  # "png", "tiff" or "jpeg"
    shape: tuple[int, int]
    dtype: str

    def text(self) -> str:
        return f"{self.shape[0]}x{self.shape[1]} {self.dtype}"


def _file_location(url: str, storage_options: Mapping[str, Any] | None) -> Location:
    return Location.parse(url, storage_options if "://" in url else None)


def _read_bytes(location: Location, length: int | None = None) -> bytes:
    with storage_errors(location, "read"):
        if location.is_local:
            with open(location.path, "rb") as f:
                return f.read() if length is None else f.read(length)
        fs = location.fs
        if length is None:
            return fs.cat_file(location.path)
        return fs.cat_file(location.path, start=0, end=length)


def read_header(location: Location) -> PlaneHeader:
    """Size and pixel type of a 2-D plane file, from its header; InputError for anything else."""
    where = location.url
    head = _read_bytes(location, 64)
    try:
        if head.startswith(_PNG_SIGNATURE):
            return _png_header(head, where)
        if head[:4] in _TIFF_MAGIC:
            return _tiff_header(location)
        if head.startswith(b"\xff\xd8\xff"):
            return _jpeg_header(location)
    except NgffStoreError:
        raise
    except Exception as exc:  # decoders raise many types for damaged files
        raise InputError(f"cannot read {where}: {short(exc)}; the file may be truncated or corrupt") from exc
    if not head:
        raise InputError(f"{where} is an empty file; re-copy it")
    raise InputError(
        f"{where} is not a PNG, TIFF or JPEG file (it starts with {head[:8]!r}); "
        "check that it was not renamed or damaged"
    )


def _png_header(head: bytes, where: str) -> PlaneHeader:
    if len(head) < 29 or head[12:16] != b"IHDR":
        raise InputError(f"{where} is not a valid PNG file; check that it was not renamed or damaged")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if colour != _PNG_GREY:
        raise InputError(
            f"{where} is a {_PNG_COLOUR_NAMES.get(colour, 'colour')} PNG; planes must be "
            "single-channel (grey) images, one file per channel"
        )
    return PlaneHeader("png", (height, width), "uint16" if depth == 16 else "uint8")


def _tiff_header(location: Location) -> PlaneHeader:
    import tifffile

    with open_binary(location) as handle, tifffile.TiffFile(handle) as tf:
        series = tf.series[0]
        shape = tuple(int(n) for n in series.shape)
        if len(tf.series) > 1 or len(shape) < 2 or math.prod(shape[:-2]) != 1:
            raise InputError(
                f"{location.url} holds {'x'.join(map(str, shape))} pixels (axes {series.axes}); "
                "planes must be single-channel 2-D images, one file per plane"
            )
        dtype = native(np.dtype(series.dtype))
        return PlaneHeader("tiff", (shape[-2], shape[-1]), dtype.name)


def _jpeg_header(location: Location) -> PlaneHeader:
    from PIL import Image

    with Image.open(io.BytesIO(_read_bytes(location))) as image:
        if image.mode != "L":
            raise InputError(f"{location.url} is a {image.mode} JPEG; planes must be grey images")
        return PlaneHeader("jpeg", (image.height, image.width), "uint8")


def read_plane(location: Location, header: PlaneHeader, out: np.ndarray | None = None) -> np.ndarray:
    """Decode one plane file into a 2-D array; InputError when it does not match ``header``.

    With ``out`` (a 2-D array of the header's shape and type) the plane is decoded into it.
    """
    where = location.url
    data = _read_bytes(location)
    if out is not None and header.kind == "png" and _png_matches(data, header):
        import imagecodecs

        try:
            imagecodecs.png_decode(data, out=out)
        except Exception as exc:  # any decoder failure is a bad file
            raise InputError(
                f"cannot read {where}: {short(exc)}; the file may be truncated or corrupt, re-copy it"
            ) from exc
        return out
    pixels = _decode_plane(data, header, where)
    if out is not None:
        out[...] = pixels
        return out
    return pixels


def _png_matches(data: bytes, header: PlaneHeader) -> bool:
    """Whether a PNG file's own header says ``header`` (else decoding reports the difference)."""
    try:
        return _png_header(data[:64], "") == header
    except InputError:
        return False


def _decode_plane(data: bytes, header: PlaneHeader, where: str) -> np.ndarray:
    try:
        if header.kind == "png":
            import imagecodecs

            pixels = imagecodecs.png_decode(data)
        elif header.kind == "tiff":
            import tifffile

            pixels = tifffile.imread(io.BytesIO(data), key=0)
        else:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as image:
                pixels = np.asarray(image)
    except Exception as exc:  # any decoder failure is a bad file
        raise InputError(
            f"cannot read {where}: {short(exc)}; the file may be truncated or corrupt, re-copy it"
        ) from exc
    pixels = np.asarray(pixels)
    if pixels.ndim > 2:
        pixels = pixels.reshape(pixels.shape[-2:]) if math.prod(pixels.shape[:-2]) == 1 else pixels
    if pixels.shape != header.shape or pixels.dtype != np.dtype(header.dtype):
        got = f"{'x'.join(map(str, pixels.shape))} {pixels.dtype}"
        raise InputError(
            f"{where} decodes to {got} pixels but its header (and the other planes) say "
            f"{header.text()}; re-export the file"
        )
    return pixels


def _groups(
    counts: tuple[int, int, int], plane_bytes: int, planes_per_task: int | None, task_bytes: int | None
) -> tuple[int, int, int]:
    """How many z-planes, channels and timepoints one read task covers (its dask chunk).

    z first (up to ``GROUP_BYTES``, or ``planes_per_task``); with ``task_bytes`` whole z-stacks
    then channels, then timepoints are added up to that size, as the pyramid writer grows its
    blocks, so that one task reads exactly one block.
    """
    nt, nc, nz = counts
    if planes_per_task:
        return planes_per_task, 1, 1
    budget = task_bytes or GROUP_BYTES
    z = max(1, min(nz, budget // plane_bytes))
    c = t = 1
    if task_bytes and z == nz:
        c = max(1, min(nc, budget // (plane_bytes * nz)))
        if c == nc:
            t = max(1, min(nt, budget // (plane_bytes * nz * nc)))
    return z, c, t


def _planes_task(locations: Sequence[Sequence[Sequence[Location | None]]], header: PlaneHeader) -> np.ndarray:
    """A (t, c, z, y, x) block from the plane files ``locations[t][c][z]`` (None: zeros)."""
    shape = (len(locations), len(locations[0]), len(locations[0][0]), *header.shape)
    present = [loc for by_c in locations for by_z in by_c for loc in by_z]
    make = np.empty if all(loc is not None for loc in present) else np.zeros
    out = make(shape, dtype=header.dtype)
    planes = out.reshape(-1, *header.shape)  # a view: plane i of the block
    for i, location in enumerate(present):
        if location is not None:
            read_plane(location, header, out=planes[i])
    return out


# ---------------------------------------------------------------------------------------------
# what was found
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlaneFile:
    """A plane file and where it goes: its ``t``, ``c``, ``z`` values from the name."""

    entry: Entry
    t: int | None
    c: str | None
    z: int | None
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[int | None, str | None, int | None]:
        return (self.t, self.c, self.z)


def plane_text(t: int | None, c: str | None, z: int | None) -> str:
    parts = [f"{k}={v}" for k, v in (("t", t), ("c", c), ("z", z)) if v is not None]
    return " ".join(parts) or "the plane"


@dataclass(kw_only=True)
class PlaneSource(Source):
    """One position as a 5-D :class:`Source`, plus where each of its planes came from.

    Attributes
    ----------
    position
        The position's folder name (the image name).
    planes
        One row per plane of the image, in t, c, z order: its indices in the image
        (``t_index``, ``c_index``, ``z_index``), its values in the file names (``t``, ``c``,
        ``z``), its ``file`` (relative to the input folder; ``None`` when ``filled``).
    filled
        ``(t, c, z)`` of the planes written as zeros (``fill_missing=True``).
    files
        The other (non-plane) files in the position's folder, e.g. a per-position metadata file.
    """

    position: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    planes: list[dict[str, Any]] = field(default_factory=list)
    filled: list[tuple[int | None, str | None, int | None]] = field(default_factory=list)
    files: list[Entry] = field(default_factory=list)

    def planes_table(self) -> Any:
        """The :attr:`planes` as a pandas DataFrame (the ``planes`` table of the image)."""
        import pandas as pd

        columns = ["t_index", "c_index", "z_index", "t", "c", "z", "file", "filled"]
        return pd.DataFrame(self.planes, columns=columns)


@dataclass(kw_only=True)
class PlaneFolder:
    """A folder of positions of 2-D planes, opened lazily.

    Attributes
    ----------
    url
        The input folder.
    pattern, positions
        The file and folder name patterns used (``positions`` is None for a single folder).
    sources
        One :class:`PlaneSource` per position, sorted by position number (else name).
    times, channels, z_values
        The values along t, c and z (the same for every position); ``[]`` for a field the
        pattern does not name.
    files
        The other (non-plane) files at the top of the folder: acquisition files, logs...
    fingerprint
        Changes when any plane file is added, removed, resized or touched.
    """

    url: str
    pattern: str
    positions: str | None
    sources: list[PlaneSource]
    times: list[int]
    channels: list[str]
    z_values: list[int]
    files: list[Entry]
    fingerprint: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def n_planes(self) -> int:
        return sum(len(s.planes) for s in self.sources)

    @property
    def n_filled(self) -> int:
        return sum(len(s.filled) for s in self.sources)


# ---------------------------------------------------------------------------------------------
# opening a folder
# ---------------------------------------------------------------------------------------------
def open_plane_folder(
    path_or_url: str | os.PathLike[str],
    *,
    pattern: str = DEFAULT_PATTERN,
    positions: str | None = DEFAULT_POSITIONS,
    fill_missing: bool = False,
    channels: Sequence[str] | None = None,
    planes_per_task: int | None = None,
    task_bytes: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> PlaneFolder:
    """Find the positions and planes under a folder and open each position as a 5-D Source.

    Parameters
    ----------
    path_or_url
        The folder: a local path or an fsspec URL (``s3://bucket/run42``).
    pattern
        File name pattern: a ``{name}_{t}_{c}_{z}`` template or a regular expression with named
        groups ``t``, ``c``, ``z`` (see the module documentation).
    positions
        Folder name pattern of the positions (``pos{p}``); ``None`` or ``"."`` when the planes
        lie directly in the folder (one position, named after the folder).
    fill_missing
        Write zeros for missing planes (listed in each source's ``filled``) instead of failing.
    channels
        The channel order (every channel found must be listed).
    planes_per_task
        How many consecutive z-planes one dask task reads (one dask chunk along z); default:
        all z-planes of a timepoint and channel, up to 32 MiB. ``1`` reads each plane in its
        own task.
    task_bytes
        Let one task read whole z-stacks of several channels, then timepoints, up to this many
        bytes (``assemble`` passes the pyramid writer's block size, so a task reads one block).
    storage_options
        fsspec options for a remote folder.
    progress
        Show a progress bar while plane headers are checked (default: on a terminal).

    Raises
    ------
    InputNotFoundError
        The folder does not exist.
    InputError
        No positions or planes; names that do not match the pattern; duplicate, missing or
        inconsistent planes (all listed, before any pixel is read).
    """
    root = resolve(path_or_url, storage_options)
    file_pattern = NamePattern.parse(pattern, what="pattern")
    single = positions is None or positions.strip() in ("", ".")
    pos_pattern = None if single else NamePattern.parse(positions or "", what="positions pattern")
    top_files, folders = _list(root)

    found: list[tuple[str, Location, dict[str, str], list[Entry]]] = []
    if pos_pattern is None:
        name = root.name or "image"
        # the position's name becomes the image's path in the output: it must be a plain name
        check_relative_path(name, document=root.url, what="position (folder) name", single=True)
        found.append((name, root, {}, top_files))
        other_top = [e for e in top_files if not is_plane_file(e.name)]
    else:
        other_top = [e for e in top_files if not is_plane_file(e.name)]
        ignored = []
        for name in folders:
            fields = pos_pattern.match(name)
            if fields is None:
                ignored.append(name)
                continue
            for key in NUMERIC_FIELDS & fields.keys():
                _number(fields[key], key, root.child(name).url, pos_pattern)
            check_relative_path(name, document=root.url, what="position folder name", single=True)
            location = root.child(name)
            files, _ = _list(location)
            found.append((name, location, fields, files))
        if not found:
            planes_here = sum(is_plane_file(e.name) for e in top_files)
            hint = " (its planes lie at the top: use --positions . )" if planes_here else ""
            shown = _listing(folders) if folders else "no folders"
            raise InputError(
                f"{root.url}: no position folders match {pos_pattern.text!r} (found {shown}){hint}; "
                "give the folder name pattern with --positions, e.g. 'pos{p}' or 'Pos{p}'"
            )
        found.sort(key=lambda f: (0, int(f[2]["p"]), f[0]) if "p" in f[2] else (1, 0, f[0]))
        if ignored:
            log.info("%s: folders not matching %r ignored: %s", root.url, pos_pattern.text, _listing(ignored))

    per_position: list[tuple[str, Location, dict[str, str], list[PlaneFile]]] = []
    extra_files: dict[str, list[Entry]] = {}
    unmatched: list[str] = []
    duplicates: list[str] = []
    for name, location, fields, files in found:
        if pos_pattern is not None:
            extra_files[name] = [e for e in files if not is_plane_file(e.name)]
        by_key: dict[tuple[Any, ...], PlaneFile] = {}
        prefix = "" if pos_pattern is None else f"{name}/"
        for entry in files:
            if not is_plane_file(entry.name):
                continue
            values = file_pattern.match(entry.name, _stem(entry.name))
            if values is None:
                unmatched.append(prefix + entry.name)
                continue
            where = entry.url
            plane = PlaneFile(
                entry=entry,
                t=_number(values["t"], "t", where, file_pattern) if "t" in values else None,
                c=values.get("c"),
                z=_number(values["z"], "z", where, file_pattern) if "z" in values else None,
                fields=tuple(sorted((k, v) for k, v in values.items() if k not in AXIS_FIELDS)),
            )
            other = by_key.get(plane.key)
            if other is not None:
                duplicates.append(
                    f"{prefix}{other.entry.name} and {prefix}{entry.name} ({plane_text(*plane.key)})"
                )
                continue
            by_key[plane.key] = plane
        if not by_key and not unmatched:
            raise InputError(
                f"{location.url} holds no plane files ({', '.join(PLANE_SUFFIXES)}); "
                "remove the folder or fix the --positions pattern"
            )
        per_position.append((name, location, fields, list(by_key.values())))
    if unmatched:
        raise InputError(
            f"{len(unmatched)} plane file name(s) in {root.url} do not match the pattern "
            f"{file_pattern.text!r}: {_listing(unmatched)}; fix --pattern (fields {{name}} {{t}} "
            "{c} {z}, or a regular expression with named groups) or move the files away"
        )
    if duplicates:
        raise InputError(
            f"{len(duplicates)} duplicate plane(s) in {root.url} (two files for the same t, c, z): "
            f"{_listing(duplicates)}; remove one of each pair"
        )

    times = _axis_values([p.t for _, _, _, ps in per_position for p in ps if p.t is not None])
    z_values = _axis_values([p.z for _, _, _, ps in per_position for p in ps if p.z is not None])
    channel_values = _channel_order(
        {p.c for _, _, _, ps in per_position for p in ps if p.c is not None}, channels, root.url
    )
    headers = _headers(
        [p for _, _, _, ps in per_position for p in ps], storage_options, progress, root.url
    )

    sources: list[PlaneSource] = []
    missing_all: list[str] = []
    for name, location, fields, planes in per_position:
        position_headers = [headers[p.entry.url] for p in planes]
        header = _common_header(name, planes, position_headers, root.url)
        source, missing = _position_source(
            name, location, fields, planes, header, times, channel_values, z_values,
            root=root, fill_missing=fill_missing, planes_per_task=planes_per_task, task_bytes=task_bytes,
            storage_options=storage_options,
        )
        source.files = extra_files.get(name, [])
        missing_all.extend(missing)
        sources.append(source)
    if missing_all and not fill_missing:
        raise InputError(
            f"{len(missing_all)} plane(s) missing in {root.url} (pattern {file_pattern.text!r}): "
            f"{_listing(missing_all)}; add the files, or pass fill_missing=True (--fill-missing) "
            "to write zeros for them"
        )
    digest = hashlib.sha256()
    for _, _, _, planes in per_position:
        for p in planes:
            digest.update(f"{p.entry.url}\0{p.entry.size}\0{p.entry.mtime}\n".encode())
    return PlaneFolder(
        url=root.url,
        pattern=file_pattern.text,
        positions=None if pos_pattern is None else pos_pattern.text,
        sources=sources,
        times=times,
        channels=channel_values,
        z_values=z_values,
        files=other_top,
        fingerprint=digest.hexdigest()[:16],
        storage_options=dict(storage_options or {}),
    )


def _axis_values(values: Sequence[int]) -> list[int]:
    """Sorted distinct values, with the holes of a regular sequence filled in."""
    present = sorted(set(values))
    if len(present) < 3:
        return present
    step = 0
    for a, b in itertools.pairwise(present):
        step = math.gcd(step, b - a)
    expected = range(present[0], present[-1] + 1, step)
    if len(expected) > len(present) and len(expected) <= 2 * len(present):
        return list(expected)
    return present


def _channel_order(found: set[str], given: Sequence[str] | None, where: str) -> list[str]:
    if not given:
        return sorted(found, key=_sort_key)
    order = [str(c).strip() for c in given]
    unknown = sorted(found - set(order), key=_sort_key)
    if unknown:
        raise InputError(
            f"{where}: channel(s) {', '.join(unknown)} are not in the channel order "
            f"{','.join(order)}; list every channel (found: {', '.join(sorted(found, key=_sort_key))})"
        )
    absent = [c for c in order if c not in found]
    if absent:
        raise InputError(
            f"{where}: no planes for channel(s) {', '.join(absent)} of the channel order; "
            f"channels found: {', '.join(sorted(found, key=_sort_key))}"
        )
    return order


def _headers(
    planes: Sequence[PlaneFile],
    storage_options: Mapping[str, Any] | None,
    progress: bool | None,
    where: str,
) -> dict[str, PlaneHeader]:
    from ngffstore import parallel

    def one(plane: PlaneFile) -> tuple[str, PlaneHeader]:
        return plane.entry.url, read_header(_file_location(plane.entry.url, storage_options))

    out: dict[str, PlaneHeader] = {}
    errors: list[str] = []
    bar = parallel.make_bar(len(planes), "checking planes", progress, unit="plane")
    with bar, ThreadPoolExecutor(max_workers=HEADER_WORKERS) as pool:
        for future in [pool.submit(one, p) for p in planes]:
            try:
                url, header = future.result()
                out[url] = header
            except InputError as exc:
                errors.append(str(exc))
            bar.update(1)
    if errors:
        more = f" (and {len(errors) - 1} more unreadable plane(s))" if len(errors) > 1 else ""
        raise InputError(errors[0] + more)
    return out


def _common_header(
    position: str, planes: Sequence[PlaneFile], headers: Sequence[PlaneHeader], where: str
) -> PlaneHeader:
    counts = Counter(headers)
    if len(counts) == 1:
        return headers[0]
    (common, n), *_ = counts.most_common()
    odd = [f"{position}/{p.entry.name} is {h.text()}" for p, h in zip(planes, headers) if h != common]
    raise InputError(
        f"{where}: the planes of {position} differ in size or pixel type: {n} are "
        f"{common.text()}, but {_listing(odd)}; every plane of a position must match"
    )


def _position_source(
    name: str,
    location: Location,
    fields: dict[str, str],
    planes: Sequence[PlaneFile],
    header: PlaneHeader,
    times: list[int],
    channel_values: list[str],
    z_values: list[int],
    *,
    root: Location,
    fill_missing: bool,
    planes_per_task: int | None,
    task_bytes: int | None,
    storage_options: Mapping[str, Any] | None,
) -> tuple[PlaneSource, list[str]]:
    t_axis: list[int | None] = list(times) or [None]
    c_axis: list[str | None] = list(channel_values) or [None]
    z_axis: list[int | None] = list(z_values) or [None]
    by_key = {p.key: p for p in planes}
    height, width = header.shape
    dtype = np.dtype(header.dtype)
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    token = tokenize(root.url, name, [(p.entry.url, p.entry.size, p.entry.mtime) for p in planes], header)
    array_name = f"planes-{token}"
    graph: dict[Any, Any] = {}
    rows: list[dict[str, Any]] = []
    filled: list[tuple[int | None, str | None, int | None]] = []
    missing: list[str] = []
    prefix = "" if location == root else f"{name}/"
    z_group, c_group, t_group = _groups(
        (len(t_axis), len(c_axis), len(z_axis)), height * width * dtype.itemsize, planes_per_task, task_bytes
    )
    where: dict[tuple[int, int, int], Location | None] = {}
    for ti, t in enumerate(t_axis):
        for ci, c in enumerate(c_axis):
            for zi, z in enumerate(z_axis):
                plane = by_key.get((t, c, z))
                row = {"t_index": ti, "c_index": ci, "z_index": zi, "t": t, "c": c, "z": z}
                if plane is None:
                    missing.append(f"{name}: {plane_text(t, c, z)}" if prefix else plane_text(t, c, z))
                    filled.append((t, c, z))
                    where[ti, ci, zi] = None
                    rows.append({**row, "file": None, "filled": True})
                else:
                    where[ti, ci, zi] = _file_location(plane.entry.url, storage_options)
                    rows.append({**row, "file": prefix + plane.entry.name, "filled": False})
    starts = [range(0, n, g) for n, g in zip((len(t_axis), len(c_axis), len(z_axis)), (t_group, c_group, z_group))]
    for (tk, t0), (ck, c0), (zk, z0) in itertools.product(*(enumerate(r) for r in starts)):
        locations = [
            [[where[ti, ci, zi] for zi in range(z0, min(z0 + z_group, len(z_axis)))]
             for ci in range(c0, min(c0 + c_group, len(c_axis)))]
            for ti in range(t0, min(t0 + t_group, len(t_axis)))
        ]
        graph[(array_name, tk, ck, zk, 0, 0)] = (_planes_task, locations, header)
    chunks = (
        *(tuple(min(g, n - start) for start in range(0, n, g))
          for n, g in zip((len(t_axis), len(c_axis), len(z_axis)), (t_group, c_group, z_group))),
        (height,),
        (width,),
    )
    hlg = HighLevelGraph.from_collections(array_name, graph, dependencies=())
    data = da.Array(hlg, array_name, chunks=chunks, dtype=dtype, meta=np.empty((0,) * 5, dtype=dtype))
    source = PlaneSource(
        data=data,
        axes="tczyx",
        channel_names=[str(c) for c in channel_values] if channel_values else None,
        name=name,
        inputs=[location.url],
        position=name,
        fields={**fields, **_common_fields(planes)},
        planes=rows,
        filled=filled if fill_missing else [],
    )
    return source, missing


def _common_fields(planes: Sequence[PlaneFile]) -> dict[str, str]:
    """Fields other than t, c, z with one value over all planes (e.g. ``name``)."""
    values: dict[str, set[str]] = defaultdict(set)
    for p in planes:
        for k, v in p.fields:
            values[k].add(v)
    return {k: next(iter(v)) for k, v in values.items() if len(v) == 1}


__all__ = [
    "DEFAULT_PATTERN",
    "DEFAULT_POSITIONS",
    "PLANE_SUFFIXES",
    "Entry",
    "NamePattern",
    "PlaneFile",
    "PlaneFolder",
    "PlaneHeader",
    "PlaneSource",
    "is_plane_file",
    "open_plane_folder",
    "plane_text",
    "read_header",
    "read_plane",
]
