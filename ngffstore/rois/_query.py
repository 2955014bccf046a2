"""Reading ROI layers: list them, query by layer, term and bbox (row groups pruned), get by id."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from .._deprecated import renamed
from ..errors import (
    InputError,
    StoreNotFoundError,
)
from . import _parquet as pqio
from ._model import (
    Layer,
    Ontology,
    RoisAttrs,
)
from ._node import as_location, read_location, read_rois_attrs

QUERY_COLUMNS = (
    "layer",
    "id",
    "geometry",
    "terms",
    "properties",
    "area",
    "kind",
    "author",
    "created",
    "source_id",
)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def list_roi_layers(
    url: Any, *, storage_options: Mapping[str, Any] | None = None
) -> dict[str, Layer]:
    """The ROI layers of the image at ``url`` (a URL, Location or opened Image), by name: their
    summaries (no Parquet file is read)."""
    return dict(read_rois_attrs(url, storage_options=storage_options).layers)


list_layers = renamed("rois.list_layers", list_roi_layers, "rois.list_roi_layers")


def read_terms(image: Any, *, storage_options: Mapping[str, Any] | None = None) -> Ontology:
    """The terms used by an image's ROIs, with colours and parents."""
    return read_rois_attrs(image, storage_options=storage_options).terms


def layers_for(rois: RoisAttrs, layer: str | Sequence[str] | None, url: str) -> list[Layer]:
    if layer is None:
        return [rois.layers[n] for n in sorted(rois.layers)]
    names = [layer] if isinstance(layer, str) else list(layer)
    out = []
    for name in names:
        if name not in rois.layers:
            have = ", ".join(sorted(rois.layers)) or "none"
            raise StoreNotFoundError(f"no ROI layer {name!r} in {url}: it has {have}")
        out.append(rois.layers[name])
    return out


def parse_bbox(bbox: Any) -> tuple[float, float, float, float]:
    """``(x, y, width, height)`` in level-0 pixels -> ``(xmin, ymin, xmax, ymax)``."""
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InputError(
            f"bbox must be (x, y, width, height) in level-0 pixels, not {bbox!r}"
        ) from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0:
        raise InputError(
            f"bbox must be (x, y, width, height) with finite numbers and width, height >= 0, not {bbox!r}"
        )
    return x, y, x + w, y + h


def query(
    image: Any,
    layer: str | Sequence[str] | None = None,
    terms: str | Sequence[str] | None = None,
    bbox: Sequence[float] | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The ROIs of an image, as a DataFrame with one row per ROI.

    Parameters
    ----------
    image
        The image URL (or an opened ``Image``).
    layer
        One layer name, several, or None for all layers.
    terms
        Keep ROIs carrying one of these terms or a term below them in the ontology.
    bbox
        ``(x, y, width, height)`` in level-0 pixels, like ``Region.bbox``: keep ROIs whose
        geometry intersects that rectangle (edges included). Only the row groups whose bbox
        statistics overlap it are read, and only the geometries whose bbox overlaps it decoded.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer, id, geometry`` (shapely), ``terms`` (list), ``properties`` (dict),
        ``area`` (level-0 px²), ``kind, author, created, source_id``; sorted by layer and id.
        ``df.attrs["ngffstore"]`` tells how many row groups were read.
    """
    location = read_location(as_location(image, storage_options))
    rois = read_rois_attrs(location)
    layers = layers_for(rois, layer, location.url)
    box = parse_bbox(bbox) if bbox is not None else None
    wanted: set[str] | None = None
    if terms is not None:
        names = [terms] if isinstance(terms, str) else list(terms)
        wanted = rois.terms.descendants(names) | set(names)
    frames: list[pd.DataFrame] = []
    read, total = 0, 0
    for lay in layers:
        if wanted is not None and not (set(lay.terms) & wanted):
            continue
        if box is not None and lay.bbox is not None and not _overlaps(lay.bbox, box):
            continue
        for f in lay.files:
            with pqio.open_file(location, f.path, f.bytes) as pf:
                groups = pqio.overlapping_row_groups(pf, box)
                read += len(groups)
                total += pf.metadata.num_row_groups
                table = pqio.read_groups(pf, groups, pqio.SCHEMA.names)
            if box is not None and table.num_rows:
                table = table.filter(pa.array(pqio.bbox_mask(table, box)))
            if wanted is not None and table.num_rows:
                table = table.filter(pa.array(pqio.terms_mask(table, wanted)))
            frame = to_frame(table, lay.name)
            if box is not None and len(frame):
                exact = shapely.intersects(
                    np.asarray(frame["geometry"], dtype=object), shapely.box(*box)
                )
                frame = frame[exact]
            frames.append(frame)
    df = pd.concat(frames, ignore_index=True) if frames else to_frame(pqio.SCHEMA.empty_table(), "")
    if len(df):
        df = df.sort_values(["layer", "id"], kind="stable", ignore_index=True)
    df.attrs["ngffstore"] = {"row_groups_read": read, "row_groups": total, "url": location.url}
    return df


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] <= b[2] and a[1] <= b[3] and a[2] >= b[0] and a[3] >= b[1]


def to_frame(table: pa.Table, layer: str) -> pd.DataFrame:
    n = table.num_rows
    geometry = (
        shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
        if n
        else np.empty(0, dtype=object)
    )
    props = [json.loads(p) if p else {} for p in table.column("properties").to_pylist()]
    df = pd.DataFrame(
        {
            "layer": pd.Series([layer] * n, dtype=object),
            "id": table.column("id").to_numpy(zero_copy_only=False).astype(np.int64),
            "geometry": pd.Series(list(geometry), dtype=object),
            "terms": pd.Series(table.column("terms").to_pylist(), dtype=object),
            "properties": pd.Series(props, dtype=object),
            "area": table.column("area").to_numpy(zero_copy_only=False),
            "kind": pd.Series(table.column("kind").to_pylist(), dtype=object),
            "author": pd.Series(table.column("author").to_pylist(), dtype=object),
            "created": table.column("created").to_pandas()
            if n
            else pd.Series([], dtype="datetime64[ms, UTC]"),
            "source_id": pd.Series(table.column("source_id").to_pylist(), dtype=object),
        }
    )
    return df


def read_rois(
    image: Any, layer: str, *, storage_options: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Every ROI of one layer (see :func:`query`)."""
    return query(image, layer=layer, storage_options=storage_options)


def get_roi(
    image: Any,
    roi_id: int,
    *,
    layer: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.Series:
    """One ROI by id (searched in ``layer``, or in every layer when the id is unique across them)."""
    location = read_location(as_location(image, storage_options))
    rois = read_rois_attrs(location)
    layers = layers_for(rois, layer, location.url)
    found: list[pd.Series] = []
    for lay in layers:
        for f in lay.files:
            with pqio.open_file(location, f.path, f.bytes) as pf:
                ids = pf.read(columns=["id"]).column("id").to_numpy()
                hit = np.flatnonzero(ids == int(roi_id))
                if not hit.size:
                    continue
                sizes = [
                    pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)
                ]
                group = int(np.searchsorted(np.cumsum(sizes), hit[0], side="right"))
                table = pf.read_row_group(group)
            table = table.filter(pc.equal(table.column("id"), int(roi_id)))
            found.append(to_frame(table, lay.name).iloc[0])
    if not found:
        where = f"layer {layer!r}" if layer else "any layer"
        raise StoreNotFoundError(f"no ROI with id {roi_id} in {where} of {location.url}")
    if len(found) > 1:
        names = ", ".join(str(s["layer"]) for s in found)
        raise InputError(
            f"ROI id {roi_id} is in several layers ({names}) of {location.url}: give the layer"
        )
    return found[0]
