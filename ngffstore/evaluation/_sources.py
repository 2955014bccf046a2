"""What is compared: a label image or a ROI layer of an image, as a lazy label array on the
image's level-0 pixel grid (ROI layers are rasterized on the fly, block by block), or as points.

A source is written ``labels:NAME``, ``rois:LAYER`` or a bare ``NAME`` (whichever of the two
the image has; a name that is both must be qualified).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, StoreNotFoundError
from ..storage import Location

#: Pixels per block when counting overlaps (a multiple of the stored chunks, about 2048 x 2048).
BLOCK_PIXELS = 1 << 22
POINT_TYPES = ("Point", "MultiPoint")
SPATIAL = "zyx"


@dataclass(frozen=True)
class SourceSpec:
    """``kind`` is ``labels``, ``rois`` or None (either); ``name`` the label image or layer."""

    kind: str | None
    name: str

    @classmethod
    def parse(cls, text: Any, role: str) -> SourceSpec:
        if isinstance(text, SourceSpec):
            return text
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"the {role} must be a label image or ROI layer name (labels:NAME or rois:LAYER), not {text!r}")
        kind, sep, name = text.strip().partition(":")
        if not sep:
            return cls(None, kind)
        if kind not in ("labels", "rois") or not name:
            raise InputError(f"the {role} {text!r} is not labels:NAME, rois:LAYER or NAME")
        return cls(kind, name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.kind else self.name


@dataclass
class Source:
    """A source resolved on one image: what the tasks need to read it, and nothing more (no
    opened reader, no label metadata), so a plan of thousands of images stays small."""

    kind: str  # "labels" or "rois"
    name: str
    url: str
    shape: tuple[int, ...]  # spatial (z, y, x present in the image)
    axes: str  # spatial axes
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    image: Location | None = None  # the image that holds the label image or layer
    label_axes: str = ""  # every axis of the label image
    stored: tuple[int, ...] = ()  # spatial shape of its stored chunks (or shards)
    dtype: str = "uint32"
    points: bool = False
    terms: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


def _grid(
    image: Any, where: str, channels: bool = False
) -> tuple[str, tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    """Spatial axes, shape, scale and translation of level 0; other axes must have one plane
    (except c when ``channels``: the image of a ROI layer may have any number of channels)."""
    lv = image.levels[0]
    extra = [a for a, n in zip(image.axes, lv.shape)
             if a not in SPATIAL and n > 1 and not (channels and a == "c")]
    if extra:
        raise InputError(
            f"{where} has {', '.join(extra)} axes with more than one plane: evaluation compares "
            "one plane or volume; give a label image with only z, y and x"
        )
    keep = [i for i, a in enumerate(image.axes) if a in SPATIAL]
    translation = lv.translation or (0.0,) * len(lv.shape)
    return (
        "".join(image.axes[i] for i in keep),
        tuple(int(lv.shape[i]) for i in keep),
        tuple(float(lv.scale[i]) for i in keep),
        tuple(float(translation[i]) for i in keep),
    )


def resolve(image: Any, spec: SourceSpec, role: str, rois: Any) -> Source | None:
    """``spec`` on ``image`` (``rois``: its :class:`~ngffstore.rois.RoisAttrs`), or None when the
    image has no such label image / layer. Float labels and ambiguous names raise."""
    has_labels = spec.name in image.labels
    has_layer = spec.name in rois.layers
    kind = spec.kind
    if kind is None:
        if has_labels and has_layer:
            raise InputError(
                f"{spec.name!r} is both a label image and a ROI layer of {image.url}: give the "
                f"{role} as labels:{spec.name} or rois:{spec.name}"
            )
        kind = "labels" if has_labels else "rois" if has_layer else None
    if kind == "labels" and has_labels:
        labels = image.label(spec.name)
        where = f"the {role} label image {labels.url}"
        if np.dtype(labels.dtype).kind not in "iub":
            raise InputError(
                f"{where} holds {labels.dtype} values: labels must be integers; convert it to an "
                "integer label image first"
            )
        axes, shape, scale, translation = _grid(labels, where)
        lv = labels.levels[0]
        stored = tuple(int(c) for a, c in zip(labels.axes, lv.shards or lv.chunks) if a in SPATIAL)
        return Source("labels", spec.name, labels.url, shape, axes, scale, translation,
                      image=image.location, label_axes=labels.axes, stored=stored, dtype=str(labels.dtype))
    if kind == "rois" and has_layer:
        layer = rois.layers[spec.name]
        axes, shape, scale, translation = _grid(image, f"the image {image.url} of the {role} ROI layer", channels=True)
        if "z" in axes:
            raise InputError(
                f"{image.url} has z planes: ROI layers are 2-D, so the {role} ROI layer "
                f"{spec.name!r} cannot be compared with a volume"
            )
        types = tuple(layer.geometry_types)
        points = bool(types) and all(t in POINT_TYPES for t in types)
        return Source("rois", spec.name, f"{image.url}/rois/{spec.name}", shape, axes, scale,
                      translation, image=image.location, points=points, terms=dict(layer.terms))
    return None


def missing(image: Any, spec: SourceSpec, rois: Any, role: str) -> StoreNotFoundError:
    have = [f"labels:{n}" for n in image.labels] + [f"rois:{n}" for n in rois.layers]
    return StoreNotFoundError(
        f"no {role} {str(spec)!r} in {image.url}: it has {', '.join(have) or 'no label images or ROI layers'}"
    )


def check_same_grid(truth: Source, pred: Source) -> None:
    """Prediction and truth must cover the same pixels: same shape, scale and translation."""
    if truth.axes != pred.axes or truth.shape != pred.shape:
        raise InputError(
            f"the prediction {pred.url} ({pred.axes} {'x'.join(map(str, pred.shape))}) and the truth "
            f"{truth.url} ({truth.axes} {'x'.join(map(str, truth.shape))}) have different shapes: "
            "compare label images of the same image grid"
        )
    if not (np.allclose(truth.scale, pred.scale, rtol=1e-6, atol=0)
            and np.allclose(truth.translation, pred.translation, rtol=1e-6, atol=1e-9)):
        raise InputError(
            f"the prediction {pred.url} (scale {list(pred.scale)}, translation {list(pred.translation)}) "
            f"and the truth {truth.url} (scale {list(truth.scale)}, translation {list(truth.translation)}) "
            "lie on different pixel grids: resample one onto the other's grid first"
        )


def block_chunks(source: Source) -> tuple[int, ...]:
    """Blocks of about :data:`BLOCK_PIXELS`, whole multiples of the stored chunks along y and x."""
    if source.kind == "labels":
        stored = list(source.stored)
    else:
        stored = [min(1024, n) for n in source.shape]
    out = list(stored)
    while int(np.prod(out)) < BLOCK_PIXELS:
        grown = False
        for i in range(len(out) - 1, max(len(out) - 3, -1), -1):  # y and x
            if out[i] < source.shape[i] and int(np.prod(out)) < BLOCK_PIXELS:
                out[i] = min(out[i] * 2, source.shape[i])
                grown = True
        if not grown:
            break
    return tuple(out)


def lazy_labels(source: Source, chunks: tuple[int, ...], terms: Any = None, plan: str = "") -> Any:
    """The source as a dask array of its spatial axes with blocks ``chunks``."""
    import dask.array as da

    if source.kind == "labels":
        dtype = np.dtype(source.dtype)
        return da.map_blocks(
            _read_labels,
            image=source.image,
            label_name=source.name,
            label_axes=source.label_axes,
            plan=plan,
            dtype=dtype,
            chunks=da.core.normalize_chunks(chunks, source.shape),
            meta=np.empty((0,) * len(source.shape), dtype=dtype),
        )
    from ..rois import query

    frame = query(source.image, layer=source.name, terms=terms)
    geoms = np.asarray(list(frame["geometry"]), dtype=object)
    ids = np.asarray(frame["id"], dtype=np.int64)
    order = np.argsort(-np.asarray(frame["area"], dtype=np.float64), kind="stable")
    geoms, ids = geoms[order], ids[order]
    dtype = np.dtype(np.uint32) if (len(ids) == 0 or ids.max() < 2**32) else np.dtype(np.int64)
    import shapely

    bounds = shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4))
    return da.map_blocks(
        _paint,
        geometries=geoms,
        bounds=bounds,
        ids=ids,
        label_dtype=dtype,
        dtype=dtype,
        chunks=da.core.normalize_chunks(chunks, source.shape),
        meta=np.empty((0, 0), dtype=dtype),
    )


_OPENED: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
_OPENED_LOCK = threading.Lock()
#: Label images kept open per process (the blocks of the images in flight share them).
OPENED_CACHE = 8


def _opened(image: Location, label_name: str, plan: str) -> Any:
    """The label image, opened once per process and evaluation run (``plan``) for its blocks."""
    from ..labels import open_labels

    key = (plan, image.url, label_name)
    with _OPENED_LOCK:
        if key in _OPENED:
            _OPENED.move_to_end(key)
            return _OPENED[key]
    labels = open_labels(image, label_name)
    with _OPENED_LOCK:
        _OPENED[key] = labels
        while len(_OPENED) > OPENED_CACHE:
            _OPENED.popitem(last=False)
    return labels


def _read_labels(
    *, block_info: Any, image: Location, label_name: str, label_axes: str, plan: str
) -> np.ndarray:
    """One block of a label image. The plan holds no opened label image: the tasks open it (once
    per process and run, see :func:`_opened`)."""
    info = block_info[None]
    where = iter(info["array-location"])
    spans = [next(where) if a in SPATIAL else (0, 1) for a in label_axes]
    index = tuple(slice(lo, hi) if a in SPATIAL else 0 for a, (lo, hi) in zip(label_axes, spans))
    labels = _opened(image, label_name, plan)
    # dask blocks of exactly this block's extent: only the stored chunks under it are decoded
    chunks = tuple(hi - lo if a in SPATIAL else 1 for a, (lo, hi) in zip(label_axes, spans))
    return np.asarray(labels.to_dask(0, chunks=chunks)[index].compute(scheduler="synchronous"))


def _paint(
    *, block_info: Any, geometries: np.ndarray, bounds: np.ndarray, ids: np.ndarray, label_dtype: Any
) -> np.ndarray:
    """One block of a rasterized ROI layer: pixels whose centre is inside a ROI get its id (a
    smaller ROI painted over a larger one, as ``ngffstore.rois.rasterize`` does)."""
    from ..rois import geometry_mask

    info = block_info[None]
    (y0, y1), (x0, x1) = info["array-location"][-2:]
    out = np.zeros((y1 - y0, x1 - x0), dtype=label_dtype)
    hits = np.flatnonzero(
        (bounds[:, 0] <= x1) & (bounds[:, 2] >= x0) & (bounds[:, 1] <= y1) & (bounds[:, 3] >= y0)
    )
    for k in hits:  # largest first: smaller ROIs end up on top
        out[geometry_mask(geometries[k], out.shape, origin=(x0, y0))] = ids[k]
    return out


def points_of(source: Source, terms: Any = None) -> np.ndarray:
    """``(n, 2)`` (y, x) coordinates of a point layer (a multipoint counts as its centroid)."""
    import shapely

    from ..rois import query

    frame = query(source.image, layer=source.name, terms=terms)
    if not len(frame):
        return np.zeros((0, 2))
    c = shapely.centroid(np.asarray(list(frame["geometry"]), dtype=object))
    return np.stack([shapely.get_y(c), shapely.get_x(c)], axis=1)
