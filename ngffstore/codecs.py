"""Compression specs: ``zstd``, ``zstd:5``, ``blosc-lz4``, ``blosc-zstd:5``, ``gzip:6``, ``none``.

``zstd`` without a level is level 3, except for 8-bit images of 3 or 4 channels (RGB, RGBA:
brightfield slides, photographs), which get level 1 (:data:`RGB8_ZSTD_LEVEL`). Their pixels
mostly come from JPEG, whose noise level 3 compresses little better: on the JPEG-tiled slide of
``benchmarks/wsi.py`` level 1 encodes a 1024^2 RGB chunk in 6 ms against 24 ms (about the time
of decoding its JPEG tiles) and the whole store is 7% larger (1,233 MB against 1,152 MB at
20,000^2; level 0 alone 1.7%). ``zstd:3`` asks for level 3 on any image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InputError

_NAMES = ("zstd", "blosc-zstd", "blosc-lz4", "blosc-lz4hc", "blosc-zlib", "gzip", "none")
#: The zstd level of a bare ``zstd`` for 8-bit images of 3 or 4 channels (see the module docstring).
RGB8_ZSTD_LEVEL = 1
_DEFAULT_LEVEL = {"zstd": 3, "gzip": 6, "blosc-zstd": 5, "blosc-lz4": 5, "blosc-lz4hc": 5, "blosc-zlib": 5}


@dataclass(frozen=True)
class Compression:
    name: str = "zstd"
    level: int = 3

    @classmethod
    def parse(cls, spec: str | Compression | None, *, rgb8: bool = False) -> Compression:
        """The compression ``spec`` names; ``rgb8``: for an 8-bit image of 3 or 4 channels,
        where a bare ``zstd`` (or None) means level :data:`RGB8_ZSTD_LEVEL`."""
        if isinstance(spec, Compression):
            return spec
        if spec is None:
            spec = "zstd"
        text = str(spec).strip().lower()
        if rgb8 and text == "zstd":
            return cls("zstd", RGB8_ZSTD_LEVEL)
        name, _, level = text.partition(":")
        if name == "blosc":
            name = "blosc-lz4"
        if name not in _NAMES:
            raise InputError(f"unknown compression {spec!r}; use one of {', '.join(_NAMES)} (optionally ':LEVEL')")
        if name == "none":
            return cls("none", 0)
        try:
            lvl = int(level) if level else _DEFAULT_LEVEL[name]
        except ValueError:
            raise InputError(f"compression level in {spec!r} must be an integer") from None
        return cls(name, lvl)

    def __str__(self) -> str:
        return self.name if self.name == "none" else f"{self.name}:{self.level}"

    def zarr_compressors(self, zarr_format: int, itemsize: int = 2) -> Any:
        """The ``compressors`` argument of ``zarr.create_array`` for this spec."""
        if self.name == "none":
            return None
        if zarr_format == 2:
            import numcodecs

            if self.name == "zstd":
                return numcodecs.Zstd(level=self.level)
            if self.name == "gzip":
                return numcodecs.GZip(level=self.level)
            cname = self.name.split("-", 1)[1]
            return numcodecs.Blosc(cname=cname, clevel=self.level, shuffle=numcodecs.Blosc.SHUFFLE)
        from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

        if self.name == "zstd":
            return ZstdCodec(level=self.level)
        if self.name == "gzip":
            return GzipCodec(level=self.level)
        cname = self.name.split("-", 1)[1]
        return BloscCodec(cname=cname, clevel=self.level, shuffle="shuffle", typesize=itemsize)
