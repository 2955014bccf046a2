"""The codecs the browser viewer decodes (the same lists as ``js/src/store.js``).

zarrita decodes ``bytes``, ``transpose``, ``crc32c``, ``gzip`` and ``zlib`` itself (the browser's
``DecompressionStream``), ``blosc`` and ``lz4`` with numcodecs.js and ``zstd`` with fzstd; Zarr v2
compressors and filters go through zarrita's numcodecs compatibility names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

V3_CODECS = frozenset(
    {"bytes", "zstd", "blosc", "gzip", "zlib", "lz4", "transpose", "crc32c", "sharding_indexed"}
)
V2_CODECS = frozenset({"zstd", "blosc", "gzip", "zlib", "lz4", "shuffle", "delta"})


def codec_names(document: Mapping[str, Any], zarr_format: int) -> list[str]:
    """The names of every codec an array document uses (inside shards too)."""
    if zarr_format == 2:
        compressor = document.get("compressor") or {}
        filters = document.get("filters") or []
        return [str(c["id"]) for c in [compressor, *filters] if isinstance(c, Mapping) and c.get("id")]
    names: list[str] = []

    def walk(codecs: Any) -> None:
        for codec in codecs or []:
            if not isinstance(codec, Mapping):
                continue
            names.append(str(codec.get("name")))
            if codec.get("name") == "sharding_indexed":
                config = codec.get("configuration") or {}
                walk(config.get("codecs"))
                walk(config.get("index_codecs"))

    walk(document.get("codecs"))
    return names


def unsupported_codecs(document: Mapping[str, Any], zarr_format: int) -> list[str]:
    """The codecs of an array document the browser viewer cannot decode."""
    known = V2_CODECS if zarr_format == 2 else V3_CODECS
    return [name for name in codec_names(document, zarr_format) if name not in known]
