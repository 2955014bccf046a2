"""The ROI attributes of an image group: terms (the image's copy of the ontology) and layers.

Stored under ``attributes["ngffstore"]["rois"]`` (see ``specs/rois.md`` and
``specs/rois.schema.json``)::

    {"version": "0.1",
     "terms": {"tumor": {"color": "FF0000", "parent": null}},
     "layers": {"cells": {"kind": "algorithm", "count": 120, "terms": {"tumor": 100}, ...}}}
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any

from ..errors import InputError, ValidationError
from ..ngff import normalize_color
from ..paths import check_file_name, check_relative_path

ROIS_VERSION = "0.1"
KINDS = ("user", "algorithm", "reviewed")
"""Layer kinds: one user's annotations, one algorithm run's, a reviewed set."""

ROIS_DIR = "rois"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_TERM_LENGTH = 128

_PALETTE = (
    "E6194B",
    "3CB44B",
    "FFE119",
    "4363D8",
    "F58231",
    "911EB4",
    "46F0F0",
    "F032E6",
    "BCF60C",
    "FABEBE",
    "008080",
    "E6BEFF",
    "9A6324",
    "800000",
    "AAFFC3",
    "808000",
)


def default_term_color(name: str) -> str:
    """A stable ``RRGGBB`` colour for a term that has none (a name always gets the same one)."""
    digest = hashlib.sha1(name.encode()).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


def check_layer_name(name: Any) -> str:
    """A layer name: letters, digits, ``_ . -``, up to 128 characters (it names a folder); the
    rule table names follow too (:func:`ngffstore.paths.check_file_name`, :class:`InputError`)."""
    return check_file_name(name, what="layer name")


def check_term(name: Any, where: str = "") -> str:
    prefix = f"{where}: " if where else ""
    if not isinstance(name, str):
        raise InputError(f"{prefix}a term must be text, not {type(name).__name__}")
    text = name.strip()
    if not text or len(text) > MAX_TERM_LENGTH or _CONTROL.search(text):
        raise InputError(
            f"{prefix}invalid term {name!r}: 1 to {MAX_TERM_LENGTH} printable characters"
        )
    return text


def check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise InputError(f"invalid layer kind {kind!r}: use one of {', '.join(KINDS)}")
    return str(kind)


@dataclass(frozen=True, kw_only=True)
class Term:
    """One ontology term: a name, an ``RRGGBB`` colour, an optional parent term (and an
    external id, e.g. Cytomine's, kept for export)."""

    name: str
    color: str
    parent: str | None = None
    id: int | None = None

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any] | None) -> Term:
        d = d or {}
        parent = d.get("parent")
        tid = d.get("id")
        return cls(
            name=check_term(name),
            color=normalize_color(d.get("color")) or default_term_color(name),
            parent=check_term(parent) if isinstance(parent, str) and parent.strip() else None,
            id=int(tid) if isinstance(tid, int) and not isinstance(tid, bool) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"color": self.color, "parent": self.parent}
        if self.id is not None:
            out["id"] = self.id
        return out


@dataclass(frozen=True)
class Ontology:
    """Terms by name. Parents must be terms of the same ontology (no cycles)."""

    terms: Mapping[str, Term] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Any, *, source: str = "ontology") -> Ontology:
        """From ``{name: {"color", "parent", "id"}}``, ``{"terms": {...}}`` or ``{"terms": [{"name", ...}]}``."""
        if isinstance(d, Ontology):
            return d
        if isinstance(d, Mapping) and "terms" in d and isinstance(d["terms"], (Mapping, list)):
            d = d["terms"]
        items: list[tuple[str, Mapping[str, Any]]] = []
        if isinstance(d, Mapping):
            items = [(str(k), v if isinstance(v, Mapping) else {}) for k, v in d.items()]
        elif isinstance(d, list):
            for i, t in enumerate(d):
                if isinstance(t, str):
                    items.append((t, {}))
                elif isinstance(t, Mapping) and isinstance(t.get("name"), str):
                    items.append((t["name"], t))
                else:
                    raise InputError(f"{source}: term {i} has no name")
        elif d is not None:
            raise InputError(f"{source}: not an ontology: give terms by name")
        terms = {}
        for name, value in items:
            term = Term.from_dict(name, value)
            terms[term.name] = term
        onto = cls(terms)
        onto.check(source)
        return onto

    def to_dict(self) -> dict[str, Any]:
        return {name: self.terms[name].to_dict() for name in sorted(self.terms)}

    def check(self, source: str = "ontology") -> None:
        for term in self.terms.values():
            if term.parent is not None and term.parent not in self.terms:
                raise InputError(
                    f"{source}: the parent {term.parent!r} of term {term.name!r} is not a term"
                )
            seen = {term.name}
            parent = term.parent
            while parent is not None:
                if parent in seen:
                    raise InputError(f"{source}: the parents of term {term.name!r} form a cycle")
                seen.add(parent)
                parent = self.terms[parent].parent

    def __contains__(self, name: object) -> bool:
        return name in self.terms

    def __len__(self) -> int:
        return len(self.terms)

    def descendants(self, names: Iterable[str]) -> set[str]:
        """``names`` and every term below them."""
        out = set(names)
        changed = True
        while changed:
            changed = False
            for term in self.terms.values():
                if term.parent in out and term.name not in out:
                    out.add(term.name)
                    changed = True
        return out

    def merged(self, other: Ontology) -> Ontology:
        """These terms updated with ``other``'s (``other`` wins)."""
        terms = dict(self.terms)
        terms.update(other.terms)
        return Ontology(terms)

    def without_dangling_parents(self) -> Ontology:
        """These terms, with parents that are not terms here dropped."""
        return Ontology(
            {
                n: t if t.parent is None or t.parent in self.terms else replace(t, parent=None)
                for n, t in self.terms.items()
            }
        )

    def subset(self, names: Iterable[str]) -> Ontology:
        """The terms ``names`` with their ancestors (so parents stay resolvable)."""
        keep: set[str] = set()
        for start in names:
            name: str | None = start
            while name is not None and name in self.terms and name not in keep:
                keep.add(name)
                name = self.terms[name].parent
        return Ontology({n: self.terms[n] for n in sorted(keep)})


@dataclass(frozen=True, kw_only=True)
class LayerFile:
    """One GeoParquet file of a layer (path relative to the image group)."""

    path: str
    rows: int
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LayerFile:
        return cls(path=str(d["path"]), rows=int(d.get("rows", 0)), bytes=int(d.get("bytes", 0)))


@dataclass(frozen=True, kw_only=True)
class Layer:
    """The summary of one ROI layer, as kept in the image's attributes.

    ``terms`` counts the ROIs carrying each term (an ROI with two terms counts for both);
    ``term_areas`` sums their areas (level-0 pixels²); ``no_term`` counts the ROIs without term.
    """

    name: str
    kind: str
    count: int = 0
    area: float = 0.0
    terms: Mapping[str, int] = field(default_factory=dict)
    term_areas: Mapping[str, float] = field(default_factory=dict)
    no_term: Mapping[str, float] = field(default_factory=lambda: {"count": 0, "area": 0.0})
    geometry_types: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    authors: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()
    files: tuple[LayerFile, ...] = ()
    next_id: int = 1
    created: str | None = None
    modified: str | None = None
    imports: tuple[str, ...] = ()
    """Ids of the imports committed to the layer (a digest of the ROIs and the options): an
    append whose id is here was committed already, and is not repeated."""

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> Layer:
        bbox = d.get("bbox")
        return cls(
            name=name,
            kind=str(d.get("kind", "user")),
            count=int(d.get("count", 0)),
            area=float(d.get("area", 0.0)),
            terms={str(k): int(v) for k, v in (d.get("terms") or {}).items()},
            term_areas={str(k): float(v) for k, v in (d.get("term_areas") or {}).items()},
            no_term=dict(d.get("no_term") or {"count": 0, "area": 0.0}),
            geometry_types=tuple(d.get("geometry_types") or ()),
            bbox=tuple(float(v) for v in bbox)
            if isinstance(bbox, list) and len(bbox) == 4
            else None,  # type: ignore[arg-type]
            authors=tuple(str(a) for a in d.get("authors") or ()),
            properties=tuple(str(p) for p in d.get("properties") or ()),
            files=tuple(LayerFile.from_dict(f) for f in d.get("files") or ()),
            next_id=int(d.get("next_id", 1)),
            created=d.get("created"),
            modified=d.get("modified"),
            imports=tuple(str(i) for i in d.get("imports") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "count": self.count,
            "area": _num(self.area),
            "terms": dict(sorted(self.terms.items())),
            "term_areas": {k: _num(v) for k, v in sorted(self.term_areas.items())},
            "no_term": {
                "count": int(self.no_term.get("count", 0)),
                "area": _num(self.no_term.get("area", 0.0)),
            },
            "geometry_types": list(self.geometry_types),
            "bbox": [_num(v) for v in self.bbox] if self.bbox is not None else None,
            "authors": list(self.authors),
            "properties": list(self.properties),
            "files": [f.to_dict() for f in self.files],
            "next_id": self.next_id,
            "created": self.created,
            "modified": self.modified,
        }
        if self.imports:
            out["imports"] = list(self.imports)
        return out

    def to_text(self) -> str:
        terms = ", ".join(f"{k} {v}" for k, v in sorted(self.terms.items())) or "-"
        if self.no_term.get("count"):
            terms += f", (no term) {int(self.no_term['count'])}"
        who = f"  by {', '.join(self.authors)}" if self.authors else ""
        types = ", ".join(self.geometry_types) or "-"
        return f"{self.name:<20} {self.kind:<9} {self.count:>9} ROIs  {types}{who}\n{'':<20} terms: {terms}"


@dataclass(frozen=True, kw_only=True)
class RoiLayerSummary(Layer):
    """What a write of ROIs left: the layer's summary as stored (a :class:`Layer`), and where.

    ``url`` is the layer's folder (``IMAGE/rois/LAYER``), ``image`` the image's URL;
    ``written`` is False when the call wrote nothing (an append of ROIs already appended);
    ``import_id`` identifies the call's ROIs and options (one of :attr:`Layer.imports`).
    """

    url: str
    image: str
    written: bool = True
    import_id: str | None = None

    @classmethod
    def of(
        cls, layer: Layer, *, image: str, url: str, written: bool = True, import_id: str | None = None
    ) -> RoiLayerSummary:
        fields = {f.name: getattr(layer, f.name) for f in dataclass_fields(Layer)}
        return cls(**fields, url=url, image=image, written=written, import_id=import_id)

    def to_text(self) -> str:
        return f"{super().to_text()}\n{'':<20} in {self.image}"


@dataclass(frozen=True, kw_only=True)
class RoisAttrs:
    """``attributes["ngffstore"]["rois"]`` of an image group."""

    version: str = ROIS_VERSION
    terms: Ontology = field(default_factory=Ontology)
    layers: Mapping[str, Layer] = field(default_factory=dict)

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> RoisAttrs:
        block = attrs.get("ngffstore")
        raw = block.get("rois") if isinstance(block, Mapping) else None
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ValidationError(
                "attributes ngffstore.rois is not an object: the ROI metadata is corrupt"
            )
        try:
            parsed = cls(
                version=str(raw.get("version", ROIS_VERSION)),
                terms=Ontology.from_dict(raw.get("terms") or {}, source="ngffstore.rois.terms"),
                layers={
                    str(k): Layer.from_dict(str(k), v) for k, v in (raw.get("layers") or {}).items()
                },
            )
        except (InputError, KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"the ROI metadata (ngffstore.rois) is corrupt: {exc}") from None
        for name, layer in parsed.layers.items():  # names and paths read from a document: untrusted
            check_relative_path(name, document="attributes ngffstore.rois", what="ROI layer name", single=True)
            for f in layer.files:
                check_relative_path(f.path, document="attributes ngffstore.rois", what="ROI Parquet path")
        return parsed

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for lay in self.layers.values():
            for t, n in lay.terms.items():
                counts[t] = counts.get(t, 0) + n
        return {
            "version": self.version,
            "count": sum(lay.count for lay in self.layers.values()),
            "counts": dict(sorted(counts.items())),
            "terms": self.terms.to_dict(),
            "layers": {name: self.layers[name].to_dict() for name in sorted(self.layers)},
        }

    def with_layer(self, layer: Layer | None, name: str, terms: Ontology) -> RoisAttrs:
        layers = dict(self.layers)
        if layer is None:
            layers.pop(name, None)
        else:
            layers[name] = layer
        used = {t for lay in layers.values() for t in lay.terms}
        return replace(self, version=ROIS_VERSION, layers=layers, terms=terms.subset(used))


def _num(v: float) -> float | int:
    f = float(v)
    return int(f) if f.is_integer() and abs(f) < 2**53 else round(f, 6)


__all__ = [
    "KINDS",
    "ROIS_VERSION",
    "Layer",
    "LayerFile",
    "Ontology",
    "RoiLayerSummary",
    "RoisAttrs",
    "Term",
    "check_kind",
    "check_layer_name",
    "default_term_color",
]
