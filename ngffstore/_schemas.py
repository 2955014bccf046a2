"""The official OME-NGFF JSON schemas (0.4 and 0.5), packaged with ngffstore.

The schema files are unmodified copies from ``github.com/ome/ngff-spec`` (see
``schemas/ngff/NOTICE.md``) read with :mod:`importlib.resources`. Every cross-schema ``$ref`` is
an absolute URL equal to another file's ``$id``; each version gets its own
:class:`referencing.Registry` holding only that version's files, so nothing is fetched over the
network and the 0.4 files whose ``$id`` say ``/latest/`` cannot collide with another version.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_VERSIONS = ("0.4", "0.5")
"""NGFF versions whose schemas are packaged."""

STRICT_KINDS = frozenset({"image", "label", "plate", "well"})
"""Node kinds that have a ``strict_*`` schema (the SHOULD-level fields made required)."""

_SCHEMA_KINDS = frozenset({"image", "label", "plate", "well", "bf2raw", "ome"})


def _check_version(version: str) -> None:
    if version not in SCHEMA_VERSIONS:
        raise ValueError(
            f"no NGFF schemas for version {version!r}; known: {', '.join(SCHEMA_VERSIONS)}"
        )


@functools.cache
def schema_documents(version: str) -> Mapping[str, Mapping[str, Any]]:
    """``{"image": {...}, "strict_image": {...}, ...}``: the schema files of ``version``."""
    _check_version(version)
    folder = files("ngffstore").joinpath("schemas", "ngff", version)
    docs: dict[str, Mapping[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".schema"):
            docs[entry.name[: -len(".schema")]] = json.loads(entry.read_text(encoding="utf-8"))
    if not docs:
        raise FileNotFoundError(
            f"the NGFF {version} schemas are missing from the ngffstore package"
        )
    return docs


@functools.cache
def registry(version: str) -> Registry:
    """A registry holding every schema of ``version`` under its ``$id``."""
    resources = [
        (doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
        for doc in schema_documents(version).values()
    ]
    return Registry().with_resources(resources)


def schema_name(kind: str, *, strict: bool = False) -> str:
    """The schema file stem for a node ``kind`` (``"image"`` -> ``"strict_image"`` when strict)."""
    if kind not in _SCHEMA_KINDS:
        raise ValueError(f"no NGFF schema for node kind {kind!r}")
    return f"strict_{kind}" if strict and kind in STRICT_KINDS else kind


def _stem(name: str) -> str:
    """``"schemas/image.schema"``, ``"image.schema"`` or ``"image"`` -> ``"image"``."""
    name = name.rsplit("/", 1)[-1]
    return name.removesuffix(".schema")


def validator(version: str, name: str) -> Draft202012Validator:
    """A validator for schema ``name`` of ``version`` (``"strict_plate"`` or a file name)."""
    return _validator(version, _stem(name))


@functools.cache
def _validator(version: str, stem: str) -> Draft202012Validator:
    docs = schema_documents(version)
    if stem not in docs:
        raise ValueError(f"no schema {stem!r} in NGFF {version}; known: {', '.join(sorted(docs))}")
    return Draft202012Validator(docs[stem], registry=registry(version))


def json_path(parts: Any) -> str:
    """``["ome", "multiscales", 0, "axes"]`` -> ``"ome.multiscales[0].axes"``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(attributes)"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    if len(text) <= 60:
        return text
    if isinstance(value, Mapping):
        return f"<object with keys {', '.join(map(str, list(value)[:5]))}>"
    if isinstance(value, list):
        return f"<array of {len(value)} items>"
    return text[:57] + "..."


def describe(error: SchemaError) -> str:
    """One line for a schema error: where it is and what is wrong, without huge instance dumps."""
    where = json_path(error.absolute_path)
    message = error.message
    if len(message) > 160:
        message = message.replace(repr(error.instance), _short(error.instance))
        message = message.replace(json.dumps(error.instance, default=str), _short(error.instance))
    if len(message) > 240:
        message = f"{_short(error.instance)} fails the schema rule {error.validator!r}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = best_match(error.context)
        if best is not None:
            detail = best.message if len(best.message) <= 120 else best.message[:117] + "..."
            message += f" (closest: {json_path(best.absolute_path)}: {detail})"
    return f"{where}: {message}"


def schema_errors(instance: Any, version: str, name: str) -> list[SchemaError]:
    """Every error of ``instance`` against schema ``name`` of ``version``, sorted by location."""
    errors = validator(version, name).iter_errors(instance)
    return sorted(errors, key=lambda e: ([str(p) for p in e.absolute_path], e.message))


def is_valid(instance: Any, version: str, name: str) -> bool:
    """Whether ``instance`` passes schema ``name`` of ``version``."""
    return validator(version, name).is_valid(instance)


__all__ = [
    "SCHEMA_VERSIONS",
    "STRICT_KINDS",
    "describe",
    "is_valid",
    "json_path",
    "registry",
    "schema_documents",
    "schema_errors",
    "schema_name",
    "validator",
]
