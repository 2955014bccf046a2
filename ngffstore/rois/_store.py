"""Writing and deleting ROI layers of an image (and store ontologies).

A layer is one or more GeoParquet files under ``<image>/rois/<layer>/`` plus its summary in the
image group's attributes (``ngffstore.rois.layers.<layer>``). A write puts new Parquet files under
fresh names first and the attributes last: until the attributes are written, readers see the
layer as it was, and a failed import leaves it untouched (its new files are removed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from .. import provenance
from .._deprecated import REMOVED_IN, positional_deprecated, renamed, warn_deprecated
from ..errors import (
    ConflictError,
    InputError,
    NgffStoreError,
    OutputExistsError,
    StoreNotFoundError,
)
from ..nodes import UPDATE_ATTEMPTS
from ..storage import Location, storage_errors
from . import _parquet as pqio
from ._input import GEOMETRY_TYPES, as_input, assign_ids, check_geometries, check_roi_terms
from ._model import (
    ROIS_DIR,
    Layer,
    LayerFile,
    Ontology,
    RoiLayerSummary,
    RoisAttrs,
    Term,
    check_kind,
    check_layer_name,
)
from ._node import as_location, commit, image_extent, read_node
from ._query import layers_for

log = logging.getLogger("ngffstore")


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
def write_rois(
    rois: Any,
    url: Any,
    *,
    layer: str,
    kind: str | None = None,
    author: str | None = None,
    terms: str | Sequence[str] | None = None,
    ontology: Any = None,
    overwrite: bool = False,
    append: bool = False,
    repair: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> RoiLayerSummary:
    """Store ROIs as layer ``layer`` of the image at ``url`` (a URL, Location or opened Image).

    The old order ``write_rois(image_url, rois, layer=...)`` still works until 0.3, with a
    ``DeprecationWarning``.

    Parameters
    ----------
    rois
        A :class:`converters.rois.RoiSet` (a parsed file), a DataFrame with a ``geometry`` column
        (and optional ``terms``/``term``, ``properties``, ``id``; other columns become
        properties), or a sequence of shapely geometries, WKT strings or dicts
        (``{"geometry", "terms", "properties", "id"}``). Coordinates are level-0 pixels,
        origin top left, x = column, y = row.
    layer
        The layer name (letters, digits, ``_ . -``).
    kind
        ``user`` (default for a new layer), ``algorithm`` or ``reviewed``.
    author
        Who or what made the ROIs (a user name, a job id).
    terms
        Terms added to every ROI.
    ontology
        An :class:`Ontology`, a mapping of terms, or the URL of an ontology JSON file: every
        term must be in it, and its colours and parents are copied into the image.
    overwrite, append
        Replace an existing layer, or add to it (new ids continue after the existing ones).
        An append of ROIs this same import already added (see :func:`store_rois`) writes nothing.
    repair
        Repair invalid polygons (self-intersections) with ``shapely.make_valid`` and warn
        (:class:`RoiRepairWarning`); with False they are refused.

    Returns
    -------
    RoiLayerSummary
        The layer's summary as stored (a :class:`Layer`), with the image's and layer's URLs.

    Raises
    ------
    InputError
        A geometry is invalid, empty or entirely outside the image, or a term is unknown; the
        message names the feature or line. Nothing is written.
    OutputExistsError
        The layer exists and neither ``overwrite`` nor ``append`` was given.
    """
    if _is_image(rois) and not _is_image(url):
        warn_deprecated(
            "write_rois(image_url, rois, ...) is deprecated; use write_rois(rois, url, ...) "
            f"(removed in {REMOVED_IN})"
        )
        rois, url = url, rois
    location = as_location(url, storage_options)
    stored = store_rois(
        location, rois, layer=layer, kind=kind, author=author, terms=terms, ontology=ontology,
        overwrite=overwrite, append=append, repair=repair, storage_options=storage_options,
    )
    return RoiLayerSummary.of(
        stored.layer, image=location.url, url=location.child(ROIS_DIR, layer).url,
        written=stored.written, import_id=stored.import_id,
    )


_WKT = re.compile(
    r"\s*(POINT|LINESTRING|LINEARRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|"
    r"GEOMETRYCOLLECTION)\b",
    re.IGNORECASE,
)


def _is_image(value: Any) -> bool:
    """Whether ``value`` names an image (a URL, path, Location or opened Image) rather than ROIs
    (a WKT string is ROIs): tells the old argument order of :func:`write_rois` from the new."""
    if isinstance(value, (Location, os.PathLike)):
        return True
    if isinstance(value, str):
        return not _WKT.match(value)
    return isinstance(getattr(value, "location", None), Location)


@dataclass(frozen=True)
class Stored:
    """What :func:`store_rois` did: the layer as stored, and whether this call wrote it (False:
    the same ROIs had been appended to the layer already, nothing was written)."""

    layer: Layer
    written: bool
    import_id: str


class _Stale(Exception):
    """The layer being appended to changed under us: ids must be assigned again."""


class _Committed(Exception):
    """This import was committed already (a rerun of an append)."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer


def store_rois(
    image_url: Any,
    rois: Any,
    *,
    layer: str,
    kind: str | None = None,
    author: str | None = None,
    terms: str | Sequence[str] | None = None,
    ontology: Any = None,
    overwrite: bool = False,
    append: bool = False,
    repair: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> Stored:
    """:func:`write_rois`, telling whether anything was written.

    Concurrent writers lose nothing: the new Parquet file gets a name of its own, then the
    image's attributes are changed by one conditional read-modify-write (other layers, terms,
    key-values written meanwhile are kept). An append whose layer changed meanwhile is redone
    (its ids depend on the layer). An append of ROIs that were already appended to the layer
    (same ROIs, terms, kind and author: the same import id) is not repeated: a rerun of an
    interrupted or finished ``--append`` is a no-op.
    """
    started = provenance.now()
    location = as_location(image_url, storage_options)
    layer = check_layer_name(layer)
    if overwrite and append:
        raise InputError("give overwrite or append, not both")
    node = read_node(location, "write ROIs")
    onto = load_ontology(ontology, storage_options=storage_options) if ontology is not None else None
    inp = as_input(rois)
    n = len(inp.geometry)
    width, height = image_extent(location, node.attrs, node.zarr_format)
    geometry = check_geometries(inp, width, height, repair)
    extra_terms = [terms] if isinstance(terms, str) else list(terms or [])
    roi_terms = check_roi_terms(inp, extra_terms, onto)
    wkb = shapely.to_wkb(geometry) if n else np.empty(0, dtype=object)
    bounds = shapely.bounds(geometry) if n else np.zeros((0, 4))
    area = shapely.area(geometry) if n else np.zeros(0)
    type_names = (
        sorted({GEOMETRY_TYPES[int(t)] for t in np.unique(shapely.get_type_id(geometry))})
        if n
        else []
    )
    used_terms = set(pc.unique(pc.list_flatten(roi_terms)).to_pylist())

    for _attempt in range(UPDATE_ATTEMPTS):
        current = node.rois
        existing = current.layers.get(layer)
        if existing is not None and not (overwrite or append):
            raise _layer_exists(layer, location)
        lay_kind = check_kind(kind if kind is not None else (
            existing.kind if (existing is not None and append) else "user"
        ))
        if append and existing is not None and existing.kind != lay_kind:
            raise InputError(
                f"layer {layer!r} is a {existing.kind} layer: cannot append {lay_kind} ROIs to it"
            )
        import_id = _import_id(layer, lay_kind, author, extra_terms, wkb, roi_terms, inp)
        if append and existing is not None and import_id in existing.imports:
            return Stored(existing, False, import_id)
        # the term copy is checked now (a bad ontology fails before anything is written) and
        # computed again at the commit, from the terms as they are then
        _term_table(current.terms, inp, onto, used_terms, inp.source)

        base = existing if (append and existing is not None) else None
        existing_ids = (
            _existing_ids(location, base) if base is not None and _has_int_ids(inp.ids) else set()
        )
        ids, source_ids = assign_ids(inp.ids, existing_ids, base.next_id if base is not None else 1)
        now = pd.Timestamp.now(tz="UTC")
        cols = pqio.Columns(
            ids=ids,
            wkb=wkb,
            bounds=bounds,
            terms=roi_terms,
            properties=inp.properties,
            area=area,
            kind=lay_kind,
            author=author,
            created_ms=int(now.value // 1_000_000),
            source_ids=source_ids,
        )
        table = pqio.make_table(cols)
        # a name of its own (never one a committed document points at), starting with the
        # import id so that a rerun finds what an interrupted run of the same import left
        part = f"{ROIS_DIR}/{layer}/{import_id[:16]}-{uuid.uuid4().hex[:8]}.parquet"
        summary = _summarise(
            layer, lay_kind, roi_terms, area, bounds, type_names, author, inp.property_keys
        )
        created = now.isoformat()
        extra_meta = {"layer": layer, "kind": lay_kind, "author": author, "image": location.url}
        params = {
            "layer": layer,
            "kind": lay_kind,
            "author": author,
            "terms": extra_terms,
            "rows": n,
            "mode": "append" if append else ("overwrite" if overwrite else "create"),
            "repair": repair,
            "import_id": import_id,
        }
        if inp.source:
            params["format"] = getattr(rois, "format", None)
        rec = provenance.record(
            "write_rois",
            params,
            inputs=[inp.source] if inp.source else [],
            started=started,
            target=location.url,
            storage_options=storage_options,
        )
        size = pqio.write_table(
            location, part, table, pqio.geo_metadata(type_names, bounds), extra_meta
        )
        layer_info = _merge(
            base,
            summary,
            LayerFile(path=part, rows=n, bytes=size),
            int(ids.max()) + 1 if n else (base.next_id if base else 1),
            created,
        )
        layer_info = replace(
            layer_info, imports=(base.imports if base is not None else ()) + (import_id,)
        )
        replaced: tuple[LayerFile, ...] = ()

        def change(
            attrs: dict[str, Any],
            import_id: str = import_id,
            existing: Layer | None = existing,
            layer_info: Layer = layer_info,
            rec: dict[str, Any] = rec,
        ) -> dict[str, Any]:
            nonlocal replaced
            latest = RoisAttrs.from_attrs(attrs)
            now_layer = latest.layers.get(layer)
            if append and now_layer is not None and import_id in now_layer.imports:
                raise _Committed(now_layer)
            if not (overwrite or append) and now_layer is not None:
                raise _layer_exists(layer, location)
            if append and _state(now_layer) != _state(existing):
                raise _Stale()
            replaced = now_layer.files if (overwrite and now_layer is not None) else ()
            term_table = _term_table(latest.terms, inp, onto, used_terms, inp.source)
            new_rois = latest.with_layer(layer_info, layer, term_table)
            return provenance.append(with_rois(attrs, new_rois), rec)

        try:
            commit(node, change, "write ROIs in")
        except _Stale:
            remove_quietly(location, part)
            node = read_node(location, "write ROIs")
            continue
        except _Committed as done:
            remove_quietly(location, part)
            return Stored(done.layer, False, import_id)
        except BaseException:
            remove_quietly(location, part)
            raise
        for f in replaced:
            if f.path != part:
                remove_quietly(location, f.path)
        if not overwrite:
            _remove_leftovers(location, layer, import_id, keep={f.path for f in layer_info.files})
        return Stored(layer_info, True, import_id)
    raise ConflictError(
        f"cannot append to ROI layer {layer!r} of {location.url}: other writers changed it "
        f"{UPDATE_ATTEMPTS} times in a row; nothing was written, run the command again"
    )


def _layer_exists(layer: str, location: Location) -> OutputExistsError:
    return OutputExistsError(
        f"ROI layer {layer!r} already exists in {location.url}; pass overwrite=True (--overwrite) "
        "to replace it or append=True (--append) to add to it"
    )


def _state(layer: Layer | None) -> str | None:
    return None if layer is None else json.dumps(layer.to_dict(), sort_keys=True)


def _import_id(
    layer: str,
    kind: str,
    author: str | None,
    extra_terms: Sequence[str],
    wkb: np.ndarray,
    roi_terms: pa.Array,
    inp: Any,
) -> str:
    """A digest of what an import adds to a layer: its ROIs (geometry, terms, properties, the
    input's ids) and the options that shape the rows (kind, author, terms given)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([layer, kind, author, sorted(map(str, extra_terms))]).encode())
    lengths = pc.list_value_length(roi_terms).to_numpy(zero_copy_only=False)
    parts = [
        np.asarray([len(b) for b in wkb], dtype=np.int64).tobytes(),
        b"".join(wkb),
        np.asarray(lengths, dtype=np.int64).tobytes(),
        json.dumps(pc.list_flatten(roi_terms).to_pylist()).encode(),
        json.dumps(list(inp.properties)).encode(),
        json.dumps([None if v is None else str(v) for v in list(inp.ids)]).encode(),
    ]
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()[:32]


def _term_table(
    base: Ontology, inp: Any, onto: Ontology | None, used: set[str], source: str | None
) -> Ontology:
    """The image's copy of the ontology after adding these ROIs' terms to ``base``: what the
    image had, what the file said, the ontology given (wins), and a default for the rest."""
    file_terms = {}
    for name, info in inp.terms_info.items():
        try:
            term = Term.from_dict(name, info)
        except InputError:
            continue
        have = base.terms.get(term.name)
        if have is None:
            file_terms[term.name] = term
        elif (have.id is None and term.id is not None) or (
            have.parent is None and term.parent is not None
        ):
            # keep the image's colour, learn what it did not know
            file_terms[term.name] = replace(
                have,
                id=have.id if have.id is not None else term.id,
                parent=have.parent or term.parent,
            )
    table = base.merged(Ontology(file_terms)).without_dangling_parents()
    if onto is not None:
        table = table.merged(onto)
    new_terms = used - set(table.terms)
    table = table.merged(Ontology({t: Term.from_dict(t, {}) for t in new_terms}))
    table.check(f"the terms of {source or 'the ROIs'}")
    return table


def _remove_leftovers(location: Location, layer: str, import_id: str, keep: set[str]) -> None:
    """Remove the files an interrupted run of this same import left in the layer's folder.

    Only files named after this import id and not in the layer: a concurrent run of the same
    import cannot commit them any more (it finds the import id committed and stops).
    """
    folder = location.child(ROIS_DIR, layer)
    prefix = import_id[:16] + "-"
    try:
        with storage_errors(folder, "read"):
            if location.is_local:
                names = os.listdir(folder.path) if os.path.isdir(folder.path) else []
            else:
                names = [
                    p.rsplit("/", 1)[-1]
                    for p in location.fs.ls(folder.path, detail=False, refresh=True)
                ]
    except (NgffStoreError, FileNotFoundError) as exc:
        log.warning("could not look for leftovers in %s: %s", folder.url, exc)
        return
    for name in names:
        path = f"{ROIS_DIR}/{layer}/{name}"
        if name.startswith(prefix) and name.endswith(".parquet") and path not in keep:
            remove_quietly(location, path)


def _has_int_ids(ids: Any) -> bool:
    if isinstance(ids, np.ndarray):
        return ids.dtype.kind in "iu" and len(ids) > 0
    return bool(ids) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in ids
    )


def _existing_ids(location: Location, layer: Layer) -> set[int]:
    out: set[int] = set()
    for f in layer.files:
        with pqio.open_file(location, f.path) as pf:
            out.update(pf.read(columns=["id"]).column("id").to_numpy().tolist())
    return out


def _summarise(
    name: str,
    kind: str,
    terms: pa.Array,
    area: np.ndarray,
    bounds: np.ndarray,
    types: list[str],
    author: str | None,
    keys: list[str],
) -> Layer:
    """Counts and areas per term, computed on the columns (no loop over ROIs)."""
    n = len(terms)
    flat = pc.list_flatten(terms)
    counts: dict[str, int] = {}
    areas: dict[str, float] = {}
    if len(flat):
        names = pc.unique(flat)
        codes = pc.index_in(flat, value_set=names).to_numpy(zero_copy_only=False)
        rows = pc.list_parent_indices(terms).to_numpy()
        per_count = np.bincount(codes, minlength=len(names))
        per_area = np.bincount(codes, weights=area[rows], minlength=len(names))
        for k, term in enumerate(names.to_pylist()):
            counts[term] = int(per_count[k])
            areas[term] = float(per_area[k])
    none = (
        pc.equal(pc.list_value_length(terms), 0).to_numpy(zero_copy_only=False)
        if n
        else np.zeros(0, bool)
    )
    bbox = (
        (
            float(bounds[:, 0].min()),
            float(bounds[:, 1].min()),
            float(bounds[:, 2].max()),
            float(bounds[:, 3].max()),
        )
        if len(bounds)
        else None
    )
    return Layer(
        name=name,
        kind=kind,
        count=n,
        area=float(area.sum()) if len(area) else 0.0,
        terms=counts,
        term_areas=areas,
        no_term={"count": int(none.sum()), "area": float(area[none].sum()) if n else 0.0},
        geometry_types=tuple(types),
        bbox=bbox,
        authors=(author,) if author else (),
        properties=tuple(sorted(keys)),
    )


def _merge(base: Layer | None, new: Layer, part: LayerFile, next_id: int, now: str) -> Layer:
    if base is None:
        return replace(new, files=(part,), next_id=next_id, created=now, modified=now)
    counts = dict(base.terms)
    areas = dict(base.term_areas)
    for t, c in new.terms.items():
        counts[t] = counts.get(t, 0) + c
        areas[t] = areas.get(t, 0.0) + new.term_areas.get(t, 0.0)
    boxes = [b for b in (base.bbox, new.bbox) if b is not None]
    bbox = (
        (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        if boxes
        else None
    )
    return replace(
        base,
        count=base.count + new.count,
        area=base.area + new.area,
        terms=counts,
        term_areas=areas,
        no_term={
            "count": int(base.no_term.get("count", 0)) + int(new.no_term["count"]),
            "area": float(base.no_term.get("area", 0.0)) + float(new.no_term["area"]),
        },
        geometry_types=tuple(sorted(set(base.geometry_types) | set(new.geometry_types))),
        bbox=bbox,
        authors=tuple(dict.fromkeys(base.authors + new.authors)),
        properties=tuple(sorted(set(base.properties) | set(new.properties))),
        files=base.files + (part,),
        next_id=max(base.next_id, next_id),
        modified=now,
    )


def with_rois(attrs: Mapping[str, Any], rois: RoisAttrs) -> dict[str, Any]:
    block = dict(attrs.get("ngffstore") or {})
    if rois.layers:
        block["rois"] = rois.to_dict()
    else:
        block.pop("rois", None)
    out = dict(attrs)
    out["ngffstore"] = block
    return out


def remove_quietly(location: Location, path: str) -> None:
    try:
        location.remove(path)
    except NgffStoreError as exc:  # an orphan file is harmless: it is not referenced
        log.warning("could not remove %s: %s", location.child(path).url, exc)


@positional_deprecated("storage_options")
def load_ontology(ontology: Any, *, storage_options: Mapping[str, Any] | None = None) -> Ontology:
    """An :class:`Ontology` from an Ontology, a mapping, or the URL of an ontology JSON file."""
    if isinstance(ontology, Ontology):
        return ontology
    if isinstance(ontology, (str, os.PathLike)):
        loc = Location.parse(ontology, storage_options)
        with storage_errors(loc, "read"):
            try:
                raw = loc.fs.cat_file(loc.path)
            except FileNotFoundError:
                raise StoreNotFoundError(f"ontology file {loc.url} does not exist") from None
        try:
            doc = json.loads(raw)
        except ValueError:
            raise InputError(f"ontology file {loc.url} is not valid JSON") from None
        return Ontology.from_dict(doc, source=loc.url)
    return Ontology.from_dict(ontology)


def write_ontology(
    ontology: Any, url: Any, *, storage_options: Mapping[str, Any] | None = None
) -> str:
    """Write a store's ontology as ``<url>/ontology.json`` (``url``: the store's root folder);
    return its URL. ``ontology``: an :class:`Ontology`, a mapping, or an ontology JSON file.

    ``rois import --ontology ROOT/ontology.json`` (or ``ontology=``) then checks terms against it.
    The old order ``write_ontology(root_url, ontology)`` still works until 0.3, with a
    ``DeprecationWarning``.
    """
    if _old_ontology_order(ontology, url):
        warn_deprecated(
            "write_ontology(root_url, ontology) is deprecated; use write_ontology(ontology, url) "
            f"(removed in {REMOVED_IN})"
        )
        ontology, url = url, ontology
    onto = load_ontology(ontology, storage_options=storage_options)
    root = Location.parse(url, storage_options)
    doc = {
        "ngffstore_ontology": "0.1",
        "terms": [{"name": n, **onto.terms[n].to_dict()} for n in sorted(onto.terms)],
    }
    root.write_json("ontology.json", doc)
    return root.child("ontology.json").url


def _old_ontology_order(first: Any, second: Any) -> bool:
    """Whether ``write_ontology(first, second)`` is the old ``(root_url, ontology)`` order."""
    if isinstance(second, (Ontology, Mapping)) or isinstance(first, Location):
        return True
    if isinstance(first, (str, os.PathLike)) and isinstance(second, (str, os.PathLike)):
        return str(second).endswith(".json") and not str(first).endswith(".json")
    return False


def remove_roi_layer(
    url: Any, layer: str, *, storage_options: Mapping[str, Any] | None = None
) -> None:
    """Remove the ROI layer ``layer`` of the image at ``url`` (its attributes first, then its
    files)."""
    started = provenance.now()
    location = as_location(url, storage_options)
    node = read_node(location, "delete ROIs")
    layers_for(node.rois, layer, location.url)  # one clear line when there is no such layer
    rec = provenance.record("delete_rois", {"layer": layer}, started=started, target=location.url)
    removed: tuple[LayerFile, ...] = ()

    def change(attrs: dict[str, Any]) -> dict[str, Any]:
        nonlocal removed
        current = RoisAttrs.from_attrs(attrs)
        removed = layers_for(current, layer, location.url)[0].files
        new_rois = current.with_layer(None, layer, current.terms)
        return provenance.append(with_rois(attrs, new_rois), rec)

    commit(node, change, "delete ROIs in")
    for f in removed:
        remove_quietly(location, f.path)
    remove_quietly(location, f"{ROIS_DIR}/{layer}")


delete_layer = renamed("rois.delete_layer", remove_roi_layer, "rois.remove_roi_layer")
