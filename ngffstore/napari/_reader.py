"""The napari reader: ngffstore images, labels, ROI layers and plates as napari ``LayerData``.

napari calls :func:`napari_get_reader` with a path (or a list of paths); it returns a function
that makes the layers, or None when the path is not an OME-Zarr image or plate (napari's
convention, so that another reader can try). :func:`read_layers` is the same from Python, with
``storage_options``.

Layers made for an image ``NAME``:

* ``image``: one multiscale layer per channel (``channel_axis``), named after the omero
  channel labels, a linear colormap from black to the omero colour, ``contrast_limits`` from
  the omero window (else the range of the lowest level), ``visible`` from ``active``; ``scale``
  and ``translate`` are level 0's (channel axis left out), with ``units`` and ``axis_labels``.
* ``labels``: one multiscale layer per label image, with the label image's own scale, the
  stored colours (``image-label.colors``) and properties as ``features``.
* ``shapes``: one layer per ROI layer. Vertices are the stored level-0 pixel coordinates in
  ``(y, x)`` order, shifted by -0.5 because napari puts pixel ``i``'s centre at ``i`` while the
  ROI coordinates put its top-left corner there; the layer has the image's ``y``/``x`` scale,
  translation and units, so ROIs and pixels line up in world (physical) coordinates. Polygons
  become ``polygon`` shapes (holes are not drawn: napari has none; ``holes`` counts them),
  lines ``path`` shapes, multi-part geometries one shape per part; points of a layer go to a
  Points layer beside it. Edges take the colour of the ROI's most specific term (the deepest
  in the image's ontology; grey without term), faces the same colour, translucent. ``features``: ``id``,
  ``term``, ``terms``, ``author``, ``kind``, ``layer``, ``holes`` and the ROIs' own properties.

A plate gives its mosaic as an image layer (the stored preview, multiscale, when it is fresh;
else :meth:`ngffstore.Plate.grid` at a size that keeps the mosaic small) and a Shapes layer of
well rectangles with the well names as text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ngffstore
from ngffstore.errors import NotNgffError, StorageAccessError, StoreNotFoundError

LayerData = tuple[Any, dict[str, Any], str]
PathLike = str | os.PathLike[str]

ZARR_DOCUMENTS = ("zarr.json", ".zattrs", ".zgroup")
"""A local folder is a candidate only when it holds one of these."""
REMOTE_PREFIXES = ("s3://", "http://", "https://", "file://")
FACE_ALPHA = 0.25
"""Opacity of ROI faces (edges are opaque)."""
NO_TERM_COLOR = "BFBFBF"
"""Colour of ROIs without term."""
GRID_EDGE = 4096
"""Longest edge (pixels) of a plate mosaic built from the fields when there is no fresh preview."""
WELL_EDGE_COLOR = (1.0, 1.0, 1.0, 0.6)


# -- napari's entry ----------------------------------------------------------------------------
def napari_get_reader(path: PathLike | Sequence[PathLike]) -> Callable[[Any], list[LayerData]] | None:
    """The reader for ``path`` (or every path of a list), or None when one of them is not an
    OME-Zarr image or plate ngffstore reads.

    Deciding opens the node (metadata only: one to three GETs); the returned function reuses it.
    Errors other than "nothing there" and "not an image or plate" (e.g. wrong credentials, a
    damaged image) are raised, so napari shows them instead of trying another reader silently.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        return None
    nodes = []
    for p in paths:
        node = _open_node(os.fspath(p), None, quiet=True)
        if node is None:
            return None
        nodes.append(node)

    def reader(_path: Any = None) -> list[LayerData]:
        out: list[LayerData] = []
        for node in nodes:
            out.extend(_layers_of(node))
        return out

    return reader


def read_layers(
    url: PathLike, *, storage_options: Mapping[str, Any] | None = None
) -> list[LayerData]:
    """The napari layers of the image or plate at ``url`` (see the module docstring).

    Raises :class:`~ngffstore.NotNgffError` when ``url`` is neither an image nor a plate and
    :class:`~ngffstore.StoreNotFoundError` when nothing is there.
    """
    node = _open_node(os.fspath(url), storage_options, quiet=False)
    assert node is not None
    return _layers_of(node)


def _layers_of(node: Any) -> list[LayerData]:
    if isinstance(node, ngffstore.Plate):
        return plate_layers(node)
    if _is_label_image(node):  # IMAGE/labels/NAME opened by itself: a labels layer
        image_location, name = node.location.parent.parent, node.location.name
        labels = ngffstore.open_labels(image_location, name)
        return [labels_layer(labels, f"{image_location.name} labels/{name}")]
    return image_layers(node) + label_layers(node) + roi_layers(node)


# -- opening ---------------------------------------------------------------------------------
def _candidate(path: str) -> bool:
    """Cheap local check: a folder holding a Zarr document (anything remote is tried)."""
    if path.startswith(REMOTE_PREFIXES):
        return True
    if "://" in path:  # another protocol fsspec may know; let the store decide
        return True
    path = os.path.expanduser(path)
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, doc)) for doc in ZARR_DOCUMENTS
    )


def _default_options(url: str) -> dict[str, Any]:
    """napari passes no storage options: an S3 endpoint comes from ``AWS_ENDPOINT_URL(_S3)``
    (credentials from the usual AWS variables and files, read by botocore)."""
    if not url.startswith("s3://"):
        return {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": endpoint} if endpoint else {}


def _open_node(url: str, storage_options: Mapping[str, Any] | None, *, quiet: bool) -> Any:
    """An :class:`~ngffstore.Image` or :class:`~ngffstore.Plate`; None (``quiet``) when ``url``
    is neither."""
    url = url.rstrip("/") or url
    if quiet and not _candidate(url):
        return None
    given = storage_options is not None
    options = dict(storage_options) if given else _default_options(url)
    # napari has no way to say "anonymous": a public bucket is read without credentials when
    # the signed read is refused
    anonymous = not given and url.startswith("s3://") and not options.get("anon")
    try:
        try:
            return _open_either(url, options)
        except StorageAccessError as signed_error:
            if not anonymous:
                raise
            try:
                return _open_either(url, {**options, "anon": True})
            except StorageAccessError:
                raise signed_error from None
    except (NotNgffError, StoreNotFoundError):
        if quiet:
            return None
        raise


def _open_either(url: str, options: Mapping[str, Any]) -> Any:
    try:
        return ngffstore.open_image(url, storage_options=options)
    except NotNgffError as image_error:
        try:
            return ngffstore.open_plate(url, storage_options=options)
        except NotNgffError:
            raise image_error from None


# -- colours -----------------------------------------------------------------------------------
def _rgb(color: Any) -> tuple[float, float, float]:
    """``RRGGBB`` (or ``#RRGGBB``) -> floats in 0..1."""
    text = str(color or "FFFFFF").lstrip("#")
    if len(text) < 6:
        text = "FFFFFF"
    return tuple(int(text[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def colormap(color: Any) -> dict[str, Any]:
    """A linear colormap from black to ``color`` (napari turns the dict into a ``Colormap``)."""
    r, g, b = _rgb(color)
    text = "".join(f"{round(v * 255):02x}" for v in (r, g, b))
    return {"name": f"ngffstore-{text}", "colors": [[0.0, 0.0, 0.0, 1.0], [r, g, b, 1.0]]}


# -- images ----------------------------------------------------------------------------------
def _spatial(axes: str, values: Mapping[str, Any], default: Any) -> list[Any]:
    return [values.get(a, default) for a in axes if a != "c"]


def _translation(image: Any) -> dict[str, float]:
    ds = image.multiscale.datasets[0]
    if not ds.translation:
        return {}
    return {a: float(t) for a, t in zip(image.axes, ds.translation)}


def intensity_layer(
    levels: list[Any],
    *,
    axes: str,
    channels: Sequence[Any],
    scale: Mapping[str, float],
    units: Mapping[str, str],
    translate: Mapping[str, float],
    name: str,
    metadata: Mapping[str, Any],
) -> LayerData:
    """One napari image ``LayerData`` (split by napari along ``c``) from dask ``levels``."""
    import dask
    import numpy as np

    c = axes.index("c") if "c" in axes else None
    n = levels[0].shape[c] if c is not None else 1
    chans = list(channels)[:n]
    while len(chans) < n:
        chans.append(None)
    limits: list[list[float] | None] = []
    for ch in chans:
        w = getattr(ch, "window", None)
        limits.append([float(w.start), float(w.end)] if w is not None and w.end > w.start else None)
    if any(lim is None for lim in limits):
        # the range of the lowest level (a thumbnail's worth of pixels)
        low = levels[-1]
        other = tuple(i for i in range(low.ndim) if i != c)
        lo, hi = dask.compute(low.min(axis=other), low.max(axis=other))
        lo, hi = np.atleast_1d(lo), np.atleast_1d(hi)
        for i, lim in enumerate(limits):
            if lim is None:
                a, b = float(lo[i]), float(hi[i])
                limits[i] = [a, b if b > a else a + 1.0]
    names = [getattr(ch, "label", None) or f"channel {i}" for i, ch in enumerate(chans)]
    cmaps = [colormap(getattr(ch, "color", None) or "FFFFFF") for ch in chans]
    visible = [bool(getattr(ch, "active", True)) for ch in chans]
    spatial = [a for a in axes if a != "c"]
    kwargs: dict[str, Any] = {
        "scale": [float(s) for s in _spatial(axes, scale, 1.0)],
        "translate": [float(t) for t in _spatial(axes, translate, 0.0)],
        "axis_labels": spatial,
        "metadata": dict(metadata),
    }
    if all(a in units for a in spatial):
        kwargs["units"] = [units[a] for a in spatial]
    data: Any = levels if len(levels) > 1 else levels[0]
    kwargs["multiscale"] = len(levels) > 1
    if c is not None:
        kwargs.update(
            channel_axis=c,
            name=[f"{name} {label}" if name else label for label in names],
            colormap=cmaps,
            contrast_limits=limits,
            visible=visible,
            blending="additive",
        )
    else:
        kwargs.update(
            name=f"{name} {names[0]}" if name and chans[0] is not None else (name or names[0]),
            colormap=cmaps[0],
            contrast_limits=limits[0],
            visible=visible[0],
        )
    return data, kwargs, "image"


def _display_name(image: Any) -> str:
    return image.name or os.path.basename(image.url.rstrip("/")) or image.url


def image_layers(
    image: Any, *, name: str | None = None, metadata: Mapping[str, Any] | None = None
) -> list[LayerData]:
    """The multiscale image as one napari image layer (split by channel)."""
    levels = [image.to_dask(i) for i in range(len(image.multiscale.datasets))]
    return [
        intensity_layer(
            levels,
            axes=image.axes,
            channels=image.channels,
            scale=image.scale,
            units=image.units,
            translate=_translation(image),
            name=name or _display_name(image),
            metadata=metadata or {"ngffstore": {"kind": "image", "url": image.url, "axes": image.axes}},
        )
    ]


def label_layers(image: Any) -> list[LayerData]:
    """Each label image as a multiscale napari labels layer with the image's geometry."""
    display = _display_name(image)
    return [labels_layer(image.label(name), f"{display} labels/{name}") for name in image.labels]


def labels_layer(labels: Any, layer_name: str) -> LayerData:
    """One label image (:class:`ngffstore.Labels`) as a multiscale napari labels layer."""
    axes = labels.axes
    levels = [labels.to_dask(i) for i in range(len(labels.multiscale.datasets))]
    if "c" in axes:  # a label image with a channel axis has one channel: drop the axis
        ci = axes.index("c")
        levels = [lv[(slice(None),) * ci + (0,)] for lv in levels]
    spatial = [a for a in axes if a != "c"]
    translate = _translation(labels)
    kwargs: dict[str, Any] = {
        "name": layer_name,
        "scale": [float(labels.scale.get(a, 1.0)) for a in spatial],
        "translate": [float(translate.get(a, 0.0)) for a in spatial],
        "axis_labels": spatial,
        "multiscale": len(levels) > 1,
        "metadata": {
            "ngffstore": {"kind": "labels", "url": labels.url, "label": labels.location.name, "axes": axes}
        },
    }
    units = labels.units
    if all(a in units for a in spatial):
        kwargs["units"] = [units[a] for a in spatial]
    colors = labels.colors
    if colors:
        # values without a stored colour show light grey; 0 (background) is transparent
        table: dict[Any, Any] = {None: [0.75, 0.75, 0.75, 1.0], 0: [0.0, 0.0, 0.0, 0.0]}
        for value, rgba in colors.items():
            table[int(value)] = [v / 255.0 for v in rgba]
        kwargs["colormap"] = table
    props = labels.properties
    if props:
        keys = sorted({k for p in props.values() for k in p})
        values = sorted(props)
        features: dict[str, list[Any]] = {"index": values}
        for k in keys:
            features[k] = [props[v].get(k) for v in values]
        kwargs["features"] = features
    return (levels if len(levels) > 1 else levels[0], kwargs, "labels")


def _is_label_image(image: Any) -> bool:
    attrs = image.attrs
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), Mapping) else attrs
    return "image-label" in ome and image.location.parent.name == "labels"


# -- ROIs --------------------------------------------------------------------------------------
def _parts(geom: Any) -> list[tuple[str, Any, int]]:
    """``(shape_type, xy coordinates, holes)`` for each drawable part of a shapely geometry."""
    import numpy as np

    if geom is None or geom.is_empty:
        return []
    kind = geom.geom_type
    if kind == "Polygon":
        ring = np.asarray(geom.exterior.coords, dtype=float)[:, :2]
        if len(ring) > 1 and np.array_equal(ring[0], ring[-1]):
            ring = ring[:-1]
        return [("polygon", ring, len(geom.interiors))]
    if kind in ("LineString", "LinearRing"):
        return [("path", np.asarray(geom.coords, dtype=float)[:, :2], 0)]
    if kind == "Point":
        return [("point", np.asarray(geom.coords, dtype=float)[:1, :2], 0)]
    if hasattr(geom, "geoms"):  # Multi* and GeometryCollection
        return [part for g in geom.geoms for part in _parts(g)]
    return []


def _ontology(image: Any) -> tuple[dict[str, str], dict[str, int]]:
    """Colour and depth (number of ancestors) of each term of the image's ontology."""
    from ngffstore.rois import read_terms

    terms = read_terms(image).terms
    depth: dict[str, int] = {}
    for name in terms:
        seen, parent = {name}, terms[name].parent
        d = 0
        while parent is not None and parent in terms and parent not in seen:
            seen.add(parent)
            d += 1
            parent = terms[parent].parent
        depth[name] = d
    return {name: term.color for name, term in terms.items()}, depth


def display_term(terms: Sequence[str], depth: Mapping[str, int]) -> str:
    """The term an ROI is coloured by: its most specific one (deepest in the ontology, e.g.
    ``mitosis`` over its parent ``nucleus``), the first of equals; "" without term."""
    best = ""
    for t in terms:
        if not best or depth.get(t, 0) > depth.get(best, 0):
            best = t
    return best


def roi_layers(image: Any) -> list[LayerData]:
    """Each ROI layer of ``image`` as a napari Shapes layer (plus a Points layer for points)."""
    import numpy as np

    from ngffstore.rois import default_term_color, list_roi_layers

    layers = list_roi_layers(image)
    if not layers:
        return []
    colors, depth = _ontology(image)
    iy, ix = image.axes.index("y"), image.axes.index("x")
    scale = [float(image.scale.get("y", 1.0)), float(image.scale.get("x", 1.0))]
    translation = _translation(image)
    translate = [float(translation.get("y", 0.0)), float(translation.get("x", 0.0))]
    units = image.units
    height, width = image.shape[iy], image.shape[ix]
    edge_width = max(1.0, max(height, width) / 512.0)
    out: list[LayerData] = []
    for name in sorted(layers):
        lay = layers[name]
        df = image.rois(layer=name)
        prop_names = [p for p in lay.properties]
        shapes: list[Any] = []
        types: list[str] = []
        points: list[Any] = []
        rows: dict[str, list[dict[str, Any]]] = {"shapes": [], "points": []}
        for rec in df.itertuples(index=False):
            terms = list(rec.terms or [])
            term = display_term(terms, depth)
            base = {
                "id": int(rec.id),
                "term": term,
                "terms": ", ".join(terms),
                "author": rec.author or "",
                "kind": rec.kind or lay.kind,
                "layer": name,
            }
            own = rec.properties if isinstance(rec.properties, Mapping) else {}
            for p in prop_names:
                key = p if p not in base and p != "holes" else f"property {p}"
                value = own.get(p)
                base[key] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
            for shape_type, xy, holes in _parts(rec.geometry):
                yx = xy[:, ::-1] - 0.5  # (x, y) corner-origin -> napari (row, col) centre-origin
                if shape_type == "point":
                    points.append(yx[0])
                    rows["points"].append(base)
                else:
                    shapes.append(yx)
                    types.append(shape_type)
                    rows["shapes"].append({**base, "holes": holes})
        common: dict[str, Any] = {
            "scale": scale,
            "translate": translate,
            "axis_labels": ["y", "x"],
            "metadata": {
                "ngffstore": {
                    "kind": "rois",
                    "url": image.url,
                    "layer": name,
                    "layer_kind": lay.kind,
                    "count": int(lay.count),
                    "term_colors": {t: colors.get(t) or default_term_color(t) for t in lay.terms},
                }
            },
        }
        if "y" in units and "x" in units:
            common["units"] = [units["y"], units["x"]]

        def rgba(records: list[dict[str, Any]], alpha: float) -> Any:
            out_colors = np.empty((len(records), 4), dtype=float)
            for i, r in enumerate(records):
                t = r["term"]
                hexcolor = (colors.get(t) or default_term_color(t)) if t else NO_TERM_COLOR
                out_colors[i, :3] = _rgb(hexcolor)
                out_colors[i, 3] = alpha
            return out_colors

        def features(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
            keys: list[str] = []
            for r in records:
                keys.extend(k for k in r if k not in keys)
            return {k: [r.get(k) for r in records] for k in keys}

        if shapes or not points:
            kwargs = {
                **common,
                "name": f"{_display_name(image)} rois/{name}",
                "shape_type": types,
                "edge_color": rgba(rows["shapes"], 1.0),
                "face_color": rgba(rows["shapes"], FACE_ALPHA),
                "edge_width": edge_width,
                "features": features(rows["shapes"]),
                "ndim": 2,
            }
            out.append((shapes, kwargs, "shapes"))
        if points:
            kwargs = {
                **common,
                "name": f"{_display_name(image)} rois/{name} points",
                "face_color": rgba(rows["points"], 1.0),
                "border_color": rgba(rows["points"], 1.0),
                "size": 4 * edge_width,
                "features": features(rows["points"]),
                "ndim": 2,
            }
            out.append((np.asarray(points, dtype=float).reshape(-1, 2), kwargs, "points"))
    return out


# -- plates ----------------------------------------------------------------------------------
def plate_layers(plate: Any) -> list[LayerData]:
    """The plate mosaic (stored preview when fresh, else the grid built from the fields) and
    its wells as labelled rectangles."""
    import numpy as np

    name = plate.name or os.path.basename(plate.url.rstrip("/")) or plate.url
    reg = plate.preview
    if reg is not None and reg.fresh:
        preview = ngffstore.open_image(plate.location.child(reg.path))
        image = image_layers(
            preview,
            name=name,
            metadata={
                "ngffstore": {"kind": "plate", "url": plate.url, "source": "preview", "preview": preview.url}
            },
        )[0]
        tile, layout, gap = reg.tile, reg.layout, 0
        spatial_scale = [float(preview.scale.get("y", 1.0)), float(preview.scale.get("x", 1.0))]
        spatial_translate = [
            float(_translation(preview).get("y", 0.0)), float(_translation(preview).get("x", 0.0))
        ]
    else:
        n_rows, n_cols = max(1, len(plate.rows)), max(1, len(plate.columns))
        # fields per well are not known before the grid: assume up to 2 x 2 for the size
        edge = max(16, min(512, GRID_EDGE // (2 * max(n_rows, n_cols))))
        mosaic = plate.grid(max_size=edge, preview=False)
        image = intensity_layer(
            [mosaic.data],
            axes=mosaic.axes,
            channels=mosaic.channels,
            scale={},
            units={},
            translate={},
            name=name,
            metadata={
                "ngffstore": {
                    "kind": "plate",
                    "url": plate.url,
                    "source": "fields",
                    "level": mosaic.level,
                    "max_size": edge,
                    "stale_preview": reg.reason if reg is not None else None,
                }
            },
        )
        tile, layout, gap = mosaic.tile, mosaic.layout, mosaic.gap
        spatial_scale, spatial_translate = [1.0, 1.0], [0.0, 0.0]
    cell_h, cell_w = layout[0] * tile[0], layout[1] * tile[1]
    boxes, wells = [], []
    for w in plate.wells:
        if not (0 <= w.row_index < len(plate.rows) and 0 <= w.column_index < len(plate.columns)):
            continue
        y0 = w.row_index * (cell_h + gap)
        x0 = w.column_index * (cell_w + gap)
        boxes.append(
            np.array(
                [[y0, x0], [y0, x0 + cell_w], [y0 + cell_h, x0 + cell_w], [y0 + cell_h, x0]],
                dtype=float,
            )
            - 0.5
        )
        wells.append(w)
    text_size = max(8, min(24, int(math.sqrt(cell_h * cell_w) / 12)))
    well_layer: LayerData = (
        boxes,
        {
            "name": f"{name} wells",
            "shape_type": "rectangle",
            "edge_color": [list(WELL_EDGE_COLOR)] * len(boxes),
            "face_color": [[0.0, 0.0, 0.0, 0.0]] * len(boxes),
            "edge_width": max(1.0, min(cell_h, cell_w) / 128.0),
            "scale": spatial_scale,
            "translate": spatial_translate,
            "axis_labels": ["y", "x"],
            "features": {
                "well": [w.name for w in wells],
                "row": [w.row for w in wells],
                "column": [w.column for w in wells],
                "path": [w.path for w in wells],
            },
            "text": {"string": "{well}", "anchor": "upper_left", "size": text_size, "color": "white"},
            "ndim": 2,
            "metadata": {"ngffstore": {"kind": "wells", "url": plate.url}},
        },
        "shapes",
    )
    return [image, well_layer]
