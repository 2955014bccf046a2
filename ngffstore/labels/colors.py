"""Label colours: stable generated colours, parsing given ones, and overlaying labels on RGB.

A generated colour depends only on the label value (a 64-bit hash of it mapped to a bright hue),
so the same value has the same colour in every label image, at every level and in every tool that
uses :func:`label_colors`. Value 0 (the background) is transparent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import InputError

RGBA = tuple[int, int, int, int]

BACKGROUND: RGBA = (0, 0, 0, 0)

_NAMED = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255),
    "black": (0, 0, 0), "gray": (128, 128, 128), "grey": (128, 128, 128),
    "magenta": (255, 0, 255), "cyan": (0, 255, 255), "yellow": (255, 255, 0),
    "orange": (255, 165, 0),
}


def _as_uint64(values: Any) -> np.ndarray:
    v = np.atleast_1d(np.asarray(values))
    if v.dtype.kind == "u":
        return v.astype(np.uint64)
    if v.dtype.kind in "ib":
        return v.astype(np.int64).view(np.uint64)
    if v.dtype.kind == "f":
        return v.astype(np.int64).view(np.uint64)
    return np.array([int(x) & 0xFFFFFFFFFFFFFFFF for x in v.ravel()], dtype=np.uint64).reshape(v.shape)


def label_colors(values: Any) -> np.ndarray:
    """Generated RGBA colours (``uint8``, shape ``(*values.shape, 4)``), stable per value.

    A splitmix64 hash of each value picks a hue and a high saturation and brightness; value 0 is
    transparent black.
    """
    v = _as_uint64(values)
    z = v + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    hue = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    sat = 0.6 + 0.4 * ((z & np.uint64(0xFF)).astype(np.float64) / 255.0)
    val = 0.8 + 0.2 * (((z >> np.uint64(8)) & np.uint64(0xFF)).astype(np.float64) / 255.0)
    rgb = _hsv_to_rgb(hue, sat, val)
    out = np.empty(v.shape + (4,), dtype=np.uint8)
    out[..., :3] = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
    out[..., 3] = 255
    out[v == 0] = BACKGROUND
    return out


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


def label_color(value: int) -> RGBA:
    """The generated colour of one label value."""
    r, g, b, a = (int(c) for c in label_colors(np.array([value]))[0])
    return (r, g, b, a)


# -- parsing given colours --------------------------------------------------------------------


def parse_color(color: Any, where: str = "colour") -> RGBA:
    """``(r, g, b, a)`` from ``#RRGGBB``, ``RRGGBBAA``, a name, ``(r, g, b[, a])`` or ``{"rgba": ...}``."""
    if isinstance(color, Mapping):
        if "rgba" in color:
            return parse_color(color["rgba"], where)
        if "color" in color:
            return parse_color(color["color"], where)
    if isinstance(color, (list, tuple, np.ndarray)):
        items = list(color)
        if len(items) in (3, 4):
            try:
                nums = [float(c) for c in items]
            except (TypeError, ValueError):
                nums = []
            if nums and all(n.is_integer() and 0 <= n <= 255 for n in nums):
                rgba = [int(n) for n in nums] + ([255] if len(nums) == 3 else [])
                return (rgba[0], rgba[1], rgba[2], rgba[3])
        raise InputError(f"{where}: {color!r} is not a colour; use r,g,b[,a] with integers 0-255 or #RRGGBB")
    if isinstance(color, str):
        text = color.strip()
        if text.lower() in _NAMED:
            r, g, b = _NAMED[text.lower()]
            return (r, g, b, 255)
        hexa = text.removeprefix("#").removeprefix("0x")
        if len(hexa) in (6, 8) and all(ch in "0123456789abcdefABCDEF" for ch in hexa):
            parts = [int(hexa[i : i + 2], 16) for i in range(0, len(hexa), 2)]
            if len(parts) == 3:
                parts.append(255)
            return (parts[0], parts[1], parts[2], parts[3])
    raise InputError(f"{where}: {color!r} is not a colour; use #RRGGBB, #RRGGBBAA or r,g,b[,a] (0-255)")


def parse_label_value(value: Any, where: str) -> int:
    """An integer label value from an int, an integral float or its text."""
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{where}: label value {value!r} is not an integer")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: label value {value!r} is not an integer") from None
    if not number.is_integer():
        raise InputError(f"{where}: label value {value!r} is not an integer")
    return int(number)


def parse_colors(
    colors: Any, *, storage_options: Mapping[str, Any] | None = None
) -> dict[int, RGBA]:
    """Colours per label value from any accepted form.

    ``colors`` may be a mapping ``{value: colour}``, a list of NGFF ``{"label-value", "rgba"}``
    entries, a pandas DataFrame, or the path/URL of a CSV file (see :func:`read_colors_csv`).
    """
    if colors is None:
        return {}
    if isinstance(colors, (str, os.PathLike)):
        return read_colors_csv(colors, storage_options=storage_options)
    if hasattr(colors, "to_dict") and hasattr(colors, "columns"):  # a DataFrame
        return _colors_from_rows(_frame_rows(colors), "colors")
    if isinstance(colors, Mapping):
        out: dict[int, RGBA] = {}
        for key, color in colors.items():
            value = parse_label_value(key, "colors")
            out[value] = parse_color(color, f"colors[{value}]")
        return out
    if isinstance(colors, Iterable):
        out = {}
        for i, entry in enumerate(colors):
            if not isinstance(entry, Mapping) or "label-value" not in entry:
                raise InputError(
                    f"colors[{i}] must be a {{'label-value': ..., 'rgba': [r, g, b, a]}} entry, not {entry!r}"
                )
            value = parse_label_value(entry["label-value"], f"colors[{i}]")
            if value in out:
                raise InputError(f"colors: label value {value} is given more than once")
            out[value] = parse_color(entry, f"colors[{i}]")
        return out
    raise InputError(f"colors must be a mapping, a list of entries, a DataFrame or a CSV path, not {type(colors).__name__}")


_VALUE_COLUMNS = ("label-value", "label_value", "labelvalue", "label", "value")


def _frame_rows(frame: Any) -> list[dict[str, Any]]:
    cols = {str(c).strip().lower(): c for c in frame.columns}
    if not any(name in cols for name in _VALUE_COLUMNS):
        index_name = str(frame.index.name or "").strip().lower()
        if index_name in _VALUE_COLUMNS or frame.index.dtype.kind in "iu":
            frame = frame.reset_index().rename(columns={frame.index.name or "index": "label-value"})
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _colors_from_rows(rows: list[dict[str, Any]], where: str) -> dict[int, RGBA]:
    out: dict[int, RGBA] = {}
    for i, row in enumerate(rows):
        lower = {k.strip().lower(): v for k, v in row.items()}
        key = next((k for k in _VALUE_COLUMNS if k in lower), None)
        if key is None:
            raise InputError(f"{where}: no 'label-value' column; give label-value,r,g,b[,a] or label-value,color")
        value = parse_label_value(lower[key], f"{where} row {i + 1}")
        color = _row_color(lower, f"{where} row {i + 1}")
        if value in out:
            raise InputError(f"{where}: label value {value} is given more than once (row {i + 1})")
        out[value] = color
    return out


def _row_color(row: Mapping[str, Any], where: str) -> RGBA:
    for names in (("r", "g", "b", "a"), ("red", "green", "blue", "alpha")):
        if all(n in row for n in names[:3]):
            parts = [row[n] for n in names[:3]]
            if names[3] in row and _present(row[names[3]]):
                parts.append(row[names[3]])
            return parse_color(parts, where)
    for name in ("color", "colour", "rgba", "hex", "rgb"):
        if name in row:
            return parse_color(row[name], where)
    raise InputError(f"{where}: no colour columns; give r,g,b[,a] or a color column with #RRGGBB")


def _present(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, float) and math.isnan(v):
        return False
    return not (isinstance(v, str) and not v.strip())


def read_colors_csv(path: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None) -> dict[int, RGBA]:
    """Colours from a CSV: rows ``label-value,r,g,b[,a]`` or ``label-value,#RRGGBB[AA]``.

    A header row is optional; with one, the value column is ``label-value`` and the colour is in
    ``r,g,b[,a]`` or a ``color`` column. Blank lines are skipped.
    """
    import csv
    import io

    where = os.fspath(path)
    text = _read_text(where, storage_options)
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{where}: the colours file is empty; give rows label-value,r,g,b[,a] or label-value,#RRGGBB")
    first = rows[0][0].strip()
    try:
        parse_label_value(first, where)
        header = None
    except InputError:
        header = [c.strip().lower() for c in rows[0]]
        rows = rows[1:]
    if header is not None:
        return _colors_from_rows([dict(zip(header, r)) for r in rows], where)
    out: dict[int, RGBA] = {}
    for n, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row if c.strip() != ""]
        at = f"{where} line {n}"
        if len(cells) not in (2, 4, 5):
            raise InputError(f"{at}: expected label-value,r,g,b[,a] or label-value,#RRGGBB, got {','.join(row)!r}")
        value = parse_label_value(cells[0], at)
        color = parse_color(cells[1] if len(cells) == 2 else cells[1:], at)
        if value in out:
            raise InputError(f"{where}: label value {value} is given more than once (line {n})")
        out[value] = color
    return out


def _read_text(where: str, storage_options: Mapping[str, Any] | None) -> str:
    from ..errors import InputNotFoundError

    if "://" not in where or where.startswith("file://"):
        local = where.removeprefix("file://")
        if not os.path.exists(local):
            raise InputNotFoundError(f"{where}: no such file; check the path")
        if os.path.isdir(local):
            raise InputError(f"{where} is a folder; give a CSV file")
        try:
            with open(local, encoding="utf-8-sig") as fh:
                return fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {where}: {exc}") from None
    import fsspec

    from ..storage import Location, storage_errors

    with storage_errors(Location.parse(where, storage_options), "read"):
        try:
            with fsspec.open(where, "rt", encoding="utf-8-sig", **dict(storage_options or {})) as fh:
                return fh.read()
        except FileNotFoundError:
            raise InputNotFoundError(f"{where}: no such file; check the URL") from None


# -- overlay ----------------------------------------------------------------------------------


def colors_for(values: np.ndarray, colors: Mapping[int, Any] | None) -> np.ndarray:
    """RGBA (``uint8``, ``(n, 4)``) of each of ``values``: the given colour, else the generated one."""
    values = np.asarray(values)
    out = label_colors(values).reshape(-1, 4)
    if colors:
        for i, v in enumerate(values.ravel().tolist()):
            c = colors.get(int(v))
            if c is not None:
                out[i] = c if isinstance(c, tuple) and len(c) == 4 else parse_color(c)
    return out


def overlay(
    rgb_uint8: np.ndarray,
    label_array: np.ndarray,
    colors: Mapping[int, Any] | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """Blend label colours over an RGB(A) ``uint8`` image of shape ``(h, w, 3|4)``.

    Pixels whose label is 0 (or whose colour is transparent) are left as they are; the others
    become ``(1 - a) * rgb + a * colour`` with ``a = alpha * colour_alpha / 255``. ``colors`` maps
    label values to colours (e.g. :attr:`Labels.colors`); other values get their generated colour.
    A label array of another ``(h, w)`` is resampled to the image's (nearest neighbour).
    """
    rgb = np.asarray(rgb_uint8)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise InputError(f"overlay needs an (h, w, 3) or (h, w, 4) image, not shape {rgb.shape}")
    labels = np.asarray(label_array)
    if labels.ndim != 2:
        labels = np.squeeze(labels)
    if labels.ndim != 2:
        raise InputError(f"overlay needs a 2-D label array (one plane), not shape {np.asarray(label_array).shape}")
    if labels.dtype.kind not in "iub":
        raise InputError(f"overlay needs integer labels, not {labels.dtype}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise InputError(f"alpha must be between 0 and 1, not {alpha}")
    h, w = rgb.shape[:2]
    if labels.shape != (h, w):
        rows = np.minimum((np.arange(h) + 0.5) * labels.shape[0] / h, labels.shape[0] - 1).astype(np.intp)
        cols = np.minimum((np.arange(w) + 0.5) * labels.shape[1] / w, labels.shape[1] - 1).astype(np.intp)
        labels = labels[np.ix_(rows, cols)]
    values, inverse = np.unique(labels, return_inverse=True)
    palette = colors_for(values, colors)
    per_pixel = palette[inverse.reshape(labels.shape)]
    a = (float(alpha) * per_pixel[..., 3:4].astype(np.float32) / 255.0)
    out = rgb.astype(np.float32)
    out[..., :3] = out[..., :3] * (1.0 - a) + per_pixel[..., :3].astype(np.float32) * a
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


__all__ = [
    "BACKGROUND",
    "colors_for",
    "label_color",
    "label_colors",
    "overlay",
    "parse_color",
    "parse_colors",
    "read_colors_csv",
]
