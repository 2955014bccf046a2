"""PNG and JPEG -> :class:`Source`: one 2-D image, decoded lazily as a single chunk.

Grey images give ``yx``; colour images give ``cyx`` with named, coloured channels (``R``, ``G``,
``B`` and ``A`` for alpha; ``L`` + ``A`` for grey with alpha; ``C``, ``M``, ``Y``, ``K`` for CMYK
JPEGs). 16-bit PNGs stay ``uint16`` (16-bit colour PNGs are decoded with imagecodecs, since
Pillow reduces them to 8 bits). Palette images keep their palette indices (``uint8``); bilevel
images give ``uint8`` 0/1.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ngffstore.errors import InputError, NgffStoreError
from ngffstore.storage import Location

from ._common import apply_axes, make_source
from ._io import file_token, open_binary, short, stem
from .base import Source

_GREY = {
    "1": "uint8",
    "L": "uint8",
    "P": "uint8",
    "I;16": "uint16",
    "I;16L": "uint16",
    "I;16B": "uint16",
    "I": "int32",
    "F": "float32",
}
_COLOUR: dict[str, tuple[list[str], list[str | None]]] = {
    "RGB": (["R", "G", "B"], ["FF0000", "00FF00", "0000FF"]),
    "RGBA": (["R", "G", "B", "A"], ["FF0000", "00FF00", "0000FF", "FFFFFF"]),
    "LA": (["L", "A"], ["FFFFFF", "FFFFFF"]),
    "CMYK": (["C", "M", "Y", "K"], ["00FFFF", "FF00FF", "FFFF00", "FFFFFF"]),
}
_PNG_COLOUR_TYPES = {2: "RGB", 4: "LA", 6: "RGBA"}  # PNG IHDR colour type -> mode


@dataclass(frozen=True)
class _Layout:
    kind: str  # "png" or "jpeg"
    height: int
    width: int
    mode: str
    dtype: str
    decoder: str  # "pillow" or "imagecodecs"


def open_planar(location: Location, *, kind: str, axes: str | None = None) -> Source:
    """Open a PNG or JPEG file (``kind`` is ``"png"`` or ``"jpeg"``) as a lazy :class:`Source`.

    ``axes`` (letters from ``tczyx`` for the ``yx`` or ``cyx`` result) overrides inference.
    """
    where = location.url
    layout = _inspect(location, kind)
    names, colors = _COLOUR.get(layout.mode, (None, None))
    shape = (len(names), layout.height, layout.width) if names else (layout.height, layout.width)
    import dask
    import dask.array as da

    task = dask.delayed(_decode)(location, layout, dask_key_name=f"{kind}-{file_token(location)}")
    data = da.from_delayed(task, shape=shape, dtype=np.dtype(layout.dtype))
    inferred = "cyx" if names else "yx"
    data, canonical = apply_axes(data, inferred if axes is None else axes, where)
    return make_source(
        data,
        canonical,
        where=where,
        name=stem(location),
        channel_names=names,
        channel_colors=colors,
    )


@contextlib.contextmanager
def _pillow_errors(where: str, kind: str) -> Iterator[None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except NgffStoreError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{where}: {short(exc)}; convert the image to TIFF first") from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for bad files
        raise InputError(
            f"cannot read {where} as {kind.upper()}: {short(exc)}; "
            "the file may be truncated or corrupt, re-copy or re-export it"
        ) from exc


def _inspect(location: Location, kind: str) -> _Layout:
    """Read the header, and check cheaply that the file is complete."""
    where = location.url
    with _pillow_errors(where, kind), open_binary(location) as f:
        head = f.read(32)
        f.seek(0)
        image = Image.open(f, formats=[kind.upper()])
        mode, (width, height) = image.mode, image.size
        if kind == "png":
            image.verify()  # walks every chunk and its CRC, without decoding
        else:
            f.seek(-2, 2)
            if f.read(2) != b"\xff\xd9":  # no end-of-image marker: decode to be sure
                f.seek(0)
                Image.open(f).load()
    if kind == "png" and head[24] == 16 and head[25] in _PNG_COLOUR_TYPES:
        return _Layout(kind, height, width, _PNG_COLOUR_TYPES[head[25]], "uint16", "imagecodecs")
    if mode == "YCbCr":
        mode = "RGB"  # Pillow converts on decode
    if mode in _COLOUR:
        return _Layout(kind, height, width, mode, "uint8", "pillow")
    if mode in _GREY:
        return _Layout(kind, height, width, mode, _GREY[mode], "pillow")
    raise InputError(
        f"{where}: unsupported {kind.upper()} pixel mode {mode!r}; "
        "convert the image to TIFF, 8- or 16-bit grey or RGB(A)"
    )


def _decode(location: Location, layout: _Layout) -> np.ndarray:
    """The whole image, channels first; runs in a dask task (reopens the file by URL)."""
    with _pillow_errors(location.url, layout.kind), open_binary(location) as f:
        if layout.decoder == "imagecodecs":
            import imagecodecs

            pixels = imagecodecs.png_decode(f.read())
        else:
            image = Image.open(f)
            pixels = np.asarray(image.convert("RGB") if image.mode == "YCbCr" else image)
    pixels = pixels.astype(np.dtype(layout.dtype), copy=False)
    return np.moveaxis(pixels, -1, 0) if pixels.ndim == 3 else pixels
