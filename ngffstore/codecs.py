"""Compression specs: ``zstd``, ``zstd:5``, ``blosc-lz4``, ``blosc-zstd:5``, ``gzip:6``, ``none``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InputError

_NAMES = ("zstd", "blosc-zstd", "blosc-lz4", "blosc-lz4hc", "blosc-zlib", "gzip", "none")
_DEFAULT_LEVEL = {"zstd": 3, "gzip": 6, "blosc-zstd": 5, "blosc-lz4": 5, "blosc-lz4hc": 5, "blosc-zlib": 5}


@dataclass(frozen=True)
class Compression:
    name: str = "zstd"
    level: int = 3

    @classmethod
    def parse(cls, spec: str | Compression | None) -> Compression:
        if isinstance(spec, Compression):
            return spec
        if spec is None:
            return cls()
        text = str(spec).strip().lower()
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
