"""``open_image``: read OME-NGFF images (0.4/0.5, Zarr v2/v3, other tools' stores) locally or on S3.

An :class:`Image` is opened from metadata only — at most ``OPEN_REQUESTS`` (4) GETs: the group,
then one concurrent round for level 0 and the lowest-resolution levels — and is picklable: it
pickles as its URL, storage options and the metadata already parsed, and reopens its store
lazily wherever it is unpickled (e.g. on a dask worker).

Every region verb (:meth:`Image.window`, :meth:`Image.thumbnail`, :meth:`Image.point`,
:meth:`Image.statistics`) takes coordinates in **level-0 pixels, origin top left, x = column**
and chooses its level with :func:`~ngffstore.image.levels.choose_level`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Self

import dask.array as da
import numpy as np

from ..errors import MemoryCapError, NotNgffError, ReadError, RegionError, StoreNotFoundError
from ..labels._verbs import LabelVerbs
from ..labels.layout import LABELS_GROUP, missing_label_error
from ..labels.layout import check_name as check_label_name
from ..ngff import (
    SUPPORTED_VERSIONS,
    Channel,
    Multiscale,
    Omero,
    default_color,
    ome_attrs,
    parse_image_attrs,
)
from ..nodes import StoredNode
from ..paths import UnsafePathError, check_relative_path
from ..storage import Location
from ._region import (
    RegionSource,
    as_int,
    as_list,
    axis_selection,
    human,
    make_spec,
    spec_chunks,
    spec_len,
)
from ._zarrio import LevelReader, Storage, read_group
from .levels import (
    Level,
    check_stored_unit,
    choose_level,
    clip_span,
    nearest_index,
    output_shape,
    scale_factors,
    shape_factors,
    to_level,
    to_level0,
)
from .results import Point, Region, Statistics, channel_statistics

DEFAULT_MEMORY_CAP = 1 << 30
"""Bytes a region verb may return unless told otherwise (``memory_cap=``)."""

OPEN_REQUESTS = 4
"""Requests :func:`open_image` may spend: the group's metadata, then in one concurrent round
the metadata of level 0 and, while the budget lasts, of the lowest-resolution levels (where
thumbnails come from), so a thumbnail then costs only its chunk GETs."""

BLOCK_BYTES = 32 << 20
"""Target bytes of one dask block: whole stored objects, grown along y and x."""

ChannelKey = int | str
Selector = int | Sequence[int] | None


def open_image(
    url: str | os.PathLike[str] | Location,
    *,
    storage_options: Mapping[str, Any] | None = None,
    memory_cap: int | None = None,
    series: int | str | None = None,
) -> Image:
    """Open the OME-NGFF image at ``url`` (a path, ``file://``, ``s3://``, ``https://`` URL).

    Parameters
    ----------
    url
        The image group. A bioformats2raw collection root opens its series 0 (or ``series``).
    storage_options
        fsspec options, e.g. ``{"endpoint_url": ..., "anon": True}`` for a public bucket.
    memory_cap
        Bytes a region verb may return (default 1 GiB); each verb also takes ``memory_cap=``.
    series
        The series (index or path) of a bioformats2raw collection.

    Raises
    ------
    StoreNotFoundError
        Nothing is stored at ``url``.
    NotNgffError
        A Zarr node is there but it is not an NGFF image (an array, a plate, plain Zarr).
    StorageAccessError
        Credentials are missing or wrong.
    ReadError
        Level 0 is missing or its metadata cannot be used.
    """
    location = Location.parse(url, storage_options)
    storage = Storage(location)
    zarr_format, attrs, consolidated = read_group(storage)
    used = storage.requests
    _, ome = ome_attrs(attrs)
    if "bioformats2raw.layout" in ome and "multiscales" not in ome:
        root = storage
        storage, zarr_format, attrs, consolidated = _open_series(root, zarr_format, series)
        used = root.requests + storage.requests
    elif series not in (None, 0, "0"):
        raise NotNgffError(
            f"{location.url} is not a bioformats2raw collection: it has no series {series!r}"
        )
    _check_image_group(storage.location, attrs)
    try:
        version, multiscale, omero = parse_image_attrs(attrs)
    except NotNgffError as exc:
        if zarr_format == 2 and storage.get(".zarray") is not None:  # a v2 array with .zattrs
            raise NotNgffError(
                f"{storage.location.url} is a Zarr array, not a group: give the image group's URL"
            ) from None
        raise NotNgffError(f"{storage.location.url}: {exc}") from None
    for j, ds in enumerate(multiscale.datasets):
        check_relative_path(
            ds.path, document=document_url(storage.location, zarr_format),
            what=f"multiscale dataset path (level {j})",
        )
    if _newer_than_supported(version):
        raise NotNgffError(
            f"{storage.location.url} is OME-NGFF {version}, newer than this reader supports "
            f"(0.1 to {SUPPORTED_VERSIONS[-1]}): convert it or use a newer ngffstore"
        )
    meta: dict[int, dict[str, Any]] = {}
    for i, ds in enumerate(multiscale.datasets):
        doc = consolidated.get(ds.path)
        if isinstance(doc, Mapping) and doc.get("node_type") == "array":
            meta[i] = dict(doc)
    image = Image(
        storage=storage,
        zarr_format=zarr_format,
        attrs=attrs,
        version=version,
        multiscale=multiscale,
        omero=omero,
        memory_cap=memory_cap,
        level_meta=meta,
    )
    image._prefetch(max(1, OPEN_REQUESTS - used))
    image._check_level0()
    return image


def document_url(location: Location, zarr_format: int) -> str:
    """The URL of the attributes document of the group at ``location`` (for messages)."""
    return location.child("zarr.json" if zarr_format == 3 else ".zattrs").url


def _open_series(
    storage: Storage, zarr_format: int, series: int | str | None
) -> tuple[Storage, int, dict[str, Any], dict[str, Any]]:
    """The group of one series of a bioformats2raw collection (``series`` index or path)."""
    path = "0" if series is None else str(series)
    check_relative_path(path, document=f"series= for {storage.location.url}", what="series path")
    child = storage.child(path)
    try:
        return (child, *read_group(child, zarr_format))
    except StoreNotFoundError:
        pass
    # series paths are listed in OME/ when they are not 0, 1, 2, ...
    try:
        _, ome_attrs_doc, _ = read_group(storage.child("OME"), zarr_format)
    except StoreNotFoundError:
        ome_attrs_doc = {}
    paths = list(ome_attrs(ome_attrs_doc)[1].get("series") or [])
    if isinstance(series, int) and 0 <= series < len(paths):
        check_relative_path(
            paths[series], document=document_url(storage.location.child("OME"), zarr_format),
            what=f"bioformats2raw series path (series {series})",
        )
        child = storage.child(str(paths[series]))
        return (child, *read_group(child, zarr_format))
    listed = f"; it lists {', '.join(map(str, paths))}" if paths else ""
    raise StoreNotFoundError(
        f"series {path!r} not found in the bioformats2raw collection {storage.location.url}{listed}"
    )


def _newer_than_supported(version: str | None) -> bool:
    """True for versions after the newest supported one (e.g. "0.6.dev1"); dialects such as
    "0.4-dev-spatialdata" count as their base version."""
    if not version:
        return False
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        return False
    newest = tuple(int(v) for v in SUPPORTED_VERSIONS[-1].split("."))
    return (int(match.group(1)), int(match.group(2))) > newest


def _check_image_group(location: Location, attrs: Mapping[str, Any]) -> None:
    """A clear NotNgffError for plates, wells and labels groups opened as images."""
    _, ome = ome_attrs(attrs)
    if "multiscales" in ome:
        return
    url = location.url
    if isinstance(ome.get("plate"), Mapping):
        wells = ome["plate"].get("wells") or [{}]
        example = f"{url}/{wells[0].get('path', 'A/1')}/0"
        raise NotNgffError(f"{url} is an HCS plate, not an image: open one field, e.g. {example}")
    if isinstance(ome.get("well"), Mapping):
        images = ome["well"].get("images") or [{}]
        raise NotNgffError(
            f"{url} is a plate well, not an image: open one field, e.g. {url}/{images[0].get('path', '0')}"
        )
    if isinstance(ome.get("labels"), list):
        names = ome["labels"] or ["NAME"]
        raise NotNgffError(
            f"{url} is a labels group, not an image: open one label image, e.g. {url}/{names[0]}"
        )


class Image(StoredNode):
    """A multiscale OME-NGFF image, opened from metadata; see :func:`open_image`.

    Use it as a context manager or call :meth:`close` to drop its store; it reopens lazily.
    """

    def __init__(
        self,
        *,
        storage: Storage,
        zarr_format: int,
        attrs: Mapping[str, Any],
        version: str | None,
        multiscale: Multiscale,
        omero: Omero | None,
        memory_cap: int | None,
        level_meta: dict[int, dict[str, Any]],
    ):
        self._storage = storage
        self.zarr_format = zarr_format
        self._attrs = dict(attrs)
        self.version = version
        self.multiscale = multiscale
        self.omero = omero
        self.memory_cap = DEFAULT_MEMORY_CAP if memory_cap is None else int(memory_cap)
        self._meta = dict(level_meta)
        self._init_caches()

    def _init_caches(self) -> None:
        self._readers: dict[int, LevelReader] = {}
        self._levels: dict[int, Level] = {}
        self._factor_cache: list[tuple[float, ...]] | None = None
        self._label_names: tuple[str, ...] | None = None

    # -- pickling and lifetime --------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = {
            k: v
            for k, v in self.__dict__.items()
            if not k.startswith("_") or k in ("_storage", "_attrs", "_meta")
        }
        state["_label_names"] = self._label_names
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        labels = state.pop("_label_names", None)
        self.__dict__.update(state)
        self._init_caches()
        self._label_names = labels

    def close(self) -> None:
        """Drop the store (and cached arrays); the image reopens it if used again."""
        self._storage.close()
        self._readers.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.shape)
        return (
            f"<Image {self.url} {self.axes} {shape} {self.dtype}, {len(self.multiscale.datasets)} levels, "
            f"NGFF {self.version or '?'}>"
        )

    # -- metadata ---------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self.multiscale.name

    @property
    def axes(self) -> str:
        """Axis names in storage order, e.g. ``"czyx"``."""
        return self.multiscale.axis_names

    @property
    def ndim(self) -> int:
        return self.multiscale.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        """Level-0 shape."""
        return self._level(0).shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._level(0).dtype)

    @property
    def scale(self) -> dict[str, float]:
        """Level-0 physical pixel size per axis (``units`` gives the unit), channel axis left out."""
        ds = self.multiscale.datasets[0]
        return {
            a.name: float(s)
            for a, s in zip(self.multiscale.axes, ds.scale)
            if a.type != "channel" and a.name != "c"
        }

    @property
    def units(self) -> dict[str, str]:
        """The unit of each axis that has one, e.g. ``{"y": "micrometer", "x": "micrometer"}``."""
        return {a.name: a.unit for a in self.multiscale.axes if a.unit}

    @property
    def channels(self) -> tuple[Channel, ...]:
        """One entry per channel: the omero label, colour and window, or defaults."""
        n = self.shape[self.axes.index("c")] if "c" in self.axes else 1
        given = list(self.omero.channels) if self.omero else []
        raw = ome_attrs(self._attrs)[1].get("omero") or {}
        raw_channels = raw.get("channels") if isinstance(raw, Mapping) else None
        out = []
        for i in range(n):
            if i < len(given):
                ch = given[i]
                has_color = (
                    isinstance(raw_channels, list)
                    and i < len(raw_channels)
                    and bool(isinstance(raw_channels[i], Mapping) and raw_channels[i].get("color"))
                )
                out.append(ch if has_color else replace(ch, color=default_color(i, n)))
            else:
                out.append(Channel(label=f"channel {i}", color=default_color(i, n)))
        return tuple(out)

    @property
    def levels(self) -> tuple[Level, ...]:
        """Every level (shape, chunks, shards, dtype, scale, translation, factors).

        The first access fetches the metadata of the levels not read yet, concurrently (one GET
        each), unless the group had it consolidated.
        """
        self._fetch_meta(range(len(self.multiscale.datasets)))
        return tuple(self._level(i) for i in range(len(self.multiscale.datasets)))

    @property
    def labels(self) -> tuple[str, ...]:
        """Names of the label images in ``labels/`` (empty when there is none); read once."""
        if self._label_names is None:
            try:
                _, attrs, _ = read_group(
                    self._storage.child("labels"), self.zarr_format, diagnose=False
                )
            except (StoreNotFoundError, NotNgffError):
                attrs = {}
            names = ome_attrs(attrs)[1].get("labels") or []
            names = list(names) if isinstance(names, list) else []
            document = document_url(self.location.child("labels"), self.zarr_format)
            for n in names:
                check_relative_path(n, document=document, what="label name", single=True)
            self._label_names = tuple(names)
        return self._label_names

    def label(self, name: str) -> Labels:
        """The label image ``labels/NAME``: the same verbs, plus colours and properties
        (:class:`Labels`)."""
        return Labels.open(self.location, name, memory_cap=self.memory_cap)

    def rois(self, layer: str | None = None, terms: Any = None, bbox: Any = None) -> Any:
        """ROIs of this image as a DataFrame (shapely geometries), filtered by layer, terms and a
        level-0 ``(x, y, width, height)`` box; only the row groups that overlap the box are read."""
        from ..rois._query import query

        return query(self, layer=layer, terms=terms, bbox=bbox)

    def crop(self, roi: Any, **kwargs: Any) -> Any:
        """Pixels under ``roi`` (an id, a geometry or WKT) with a boolean mask on the output grid;
        see :func:`ngffstore.rois.crop` for ``max_size``, ``increase_area``, ``mask``, ``alpha``."""
        from ..rois._crop import crop_image

        return crop_image(self, roi, **kwargs)

    # -- levels ---------------------------------------------------------------------------
    def _fetch_meta(self, indices: Any) -> None:
        missing = [i for i in indices if i not in self._meta]
        if not missing:
            return
        key = "zarr.json" if self.zarr_format == 3 else ".zarray"
        paths = [self.multiscale.datasets[i].path for i in missing]
        docs = self._storage.get_many([f"{p}/{key}" for p in paths])
        for i, path, raw in zip(missing, paths, docs):
            if raw is None:
                raise ReadError(
                    f"level {i} ({path!r}) of {self.url} is missing: the image is incomplete; "
                    "rewrite it or check it with 'ngffstore validate'"
                )
            try:
                doc = json.loads(raw)
            except ValueError:
                raise ReadError(
                    f"the metadata of level {i} ({path!r}) of {self.url} is not valid JSON"
                ) from None
            if not isinstance(doc, dict) or doc.get("node_type") == "group" or "shape" not in doc:
                raise ReadError(f"level {i} ({path!r}) of {self.url} is not a Zarr array")
            self._meta[i] = doc

    def _prefetch(self, budget: int) -> None:
        """Fetch level 0 and up to ``budget - 1`` of the lowest-resolution levels' metadata."""
        n = len(self.multiscale.datasets)
        wanted = [0] + [i for i in range(n - 1, 0, -1) if i not in self._meta][: max(0, budget - 1)]
        self._fetch_meta(wanted)

    def _reader(self, index: int) -> LevelReader:
        n = len(self.multiscale.datasets)
        if not 0 <= index < n:
            raise ReadError(
                f"level {index} does not exist in {self.url}: it has levels 0 to {n - 1}"
            )
        reader = self._readers.get(index)
        if reader is None:
            self._fetch_meta([index])
            path = self.multiscale.datasets[index].path
            reader = LevelReader(self._storage, path, self.zarr_format, self._meta[index], index)
            self._readers[index] = reader
        return reader

    def _factors(self) -> list[tuple[float, ...]]:
        """Level-0 pixels per level pixel, per level and axis (real scale ratios)."""
        if self._factor_cache is None:
            factors = scale_factors([ds.scale for ds in self.multiscale.datasets])
            if factors is None:  # no usable scales (NGFF <= 0.3): compare the shapes
                self._fetch_meta(range(len(self.multiscale.datasets)))
                shapes = [
                    tuple(self._meta[i]["shape"]) for i in range(len(self.multiscale.datasets))
                ]
                factors = shape_factors(shapes)
            self._factor_cache = factors
        return self._factor_cache

    def _level(self, index: int) -> Level:
        level = self._levels.get(index)
        if level is None:
            arr = self._reader(index).array
            ds = self.multiscale.datasets[index]
            if len(arr.shape) != self.ndim:
                raise NotNgffError(
                    f"level {index} ({ds.path!r}) of {self.url} has {len(arr.shape)} dimensions but "
                    f"the multiscales metadata names {self.ndim} axes ({self.axes})"
                )
            shards = getattr(arr, "shards", None)
            level = Level(
                index=index,
                path=ds.path,
                shape=tuple(int(s) for s in arr.shape),
                chunks=tuple(int(c) for c in arr.chunks),
                shards=tuple(int(s) for s in shards) if shards else None,
                dtype=str(np.dtype(arr.dtype)),
                scale=tuple(ds.scale),
                translation=tuple(ds.translation) if ds.translation else None,
                factors=tuple(self._factors()[index]),
            )
            self._levels[index] = level
        return level

    def _check_level0(self) -> None:
        for name in ("y", "x"):
            if name not in self.axes:
                raise NotNgffError(
                    f"{self.url} has axes {self.axes!r}: an image needs y and x axes"
                )
        level = self._level(0)
        if 0 in level.shape:
            raise NotNgffError(f"{self.url}: level 0 is empty (shape {level.shape})")

    def _downsampling(self) -> list[tuple[float, float]]:
        iy, ix = self.axes.index("y"), self.axes.index("x")
        return [(f[iy], f[ix]) for f in self._factors()]

    def choose_level(
        self, region_size: tuple[int, int] | None = None, max_size: int | None = None
    ) -> int:
        """The level :func:`choose_level` picks for a ``(height, width)`` region (default: all)."""
        if region_size is None:
            iy, ix = self.axes.index("y"), self.axes.index("x")
            region_size = (self.shape[iy], self.shape[ix])
        return choose_level(self._downsampling(), region_size, max_size)

    def _check_unit(self, index: int, cap: int) -> None:
        """Refuse a level whose chunk (or shard index) decodes to more than ``cap`` bytes,
        before any chunk is fetched (a crafted store cannot exhaust the reader's memory)."""
        self._reader(index)  # fetches the level's metadata when needed
        path = self.multiscale.datasets[index].path
        try:
            check_stored_unit(
                self._meta[index], self.zarr_format, cap, array=f"level {index} ({path!r}) of {self.url}"
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ReadError(
                f"cannot use the metadata of level {index} ({path!r}) of {self.url}: {exc!r}"
            ) from None

    # -- whole levels -----------------------------------------------------------------------
    def to_dask(self, level: int = 0, *, chunks: Any = None) -> da.Array:
        """Level ``level`` as a lazy dask array (blocks are whole stored chunks or shards).

        Raises :class:`MemoryCapError` when one stored chunk decodes to more than the image's
        ``memory_cap``."""
        lv = self._level(level)
        self._check_unit(lv.index, self.memory_cap)
        source = RegionSource(
            self._reader(level), tuple(("s", 0, n) for n in lv.shape), np.dtype(lv.dtype)
        )
        return self._make_array(lv, source, chunks=chunks)

    def to_xarray(self, level: int = 0) -> Any:
        """Level ``level`` as an ``xarray.DataArray`` with physical coordinates.

        Space and time coordinates are ``translation + scale * index`` of that level (units in
        each coordinate's ``attrs``); the channel coordinate holds the channel labels.
        """
        import xarray as xr

        lv = self._level(level)
        data = self.to_dask(level)
        coords: dict[str, Any] = {}
        translation = lv.translation or (0.0,) * self.ndim
        for i, axis in enumerate(self.multiscale.axes):
            if axis.name == "c":
                coords["c"] = ("c", [ch.label for ch in self.channels])
                continue
            values = translation[i] + lv.scale[i] * np.arange(lv.shape[i], dtype=np.float64)
            attrs = {"units": axis.unit} if axis.unit else {}
            coords[axis.name] = xr.Variable((axis.name,), values, attrs=attrs)
        return xr.DataArray(
            data,
            dims=tuple(self.axes),
            coords=coords,
            name=self.name or "image",
            attrs={"url": self.url, "level": level, "ngff_version": self.version or ""},
        )

    def to_datatree(self) -> Any:
        """The whole pyramid as an ``xarray.DataTree``: node ``scale{i}`` holds level ``i`` as
        variable ``image`` (the layout of multiscale-spatial-image)."""
        import xarray as xr

        nodes = {
            f"scale{i}": xr.Dataset({"image": self.to_xarray(i)})
            for i in range(len(self.multiscale.datasets))
        }
        tree = xr.DataTree.from_dict(nodes, name=self.name)
        tree.attrs["url"] = self.url
        return tree

    # -- region verbs -------------------------------------------------------------------------
    def window(
        self,
        x: int,
        y: int,
        width: int,
        height: int,
        *,
        level: int | None = None,
        max_size: int | None = None,
        c: ChannelKey | Sequence[ChannelKey] | None = None,
        z: Selector = None,
        t: Selector = None,
        memory_cap: int | None = None,
    ) -> Region:
        """The region ``x, y, width, height`` (level-0 pixels, origin top left, x = column).

        Parameters
        ----------
        level
            Read this level (the region is mapped onto it).
        max_size
            Read the level chosen by :func:`choose_level` and reduce the output (nearest
            neighbour) so its longest edge is ``max_size``; a smaller region is not enlarged.
        c, z, t
            One index (the axis is dropped), a list of indices (kept), or None (all). Channels
            may also be given by label; ``z`` and ``t`` are level-0 indices.
        memory_cap
            Bytes the output may hold (default: the image's ``memory_cap``).

        Returns
        -------
        Region
            Lazy data and where it came from; ``clipped`` says if the request crossed the edge.

        Raises
        ------
        RegionError
            The region lies entirely outside the image, is empty, or an index is out of range.
        MemoryCapError
            The output would exceed the memory cap.
        """
        return self._region(
            x,
            y,
            width,
            height,
            level=level,
            max_size=max_size,
            c=c,
            z=z,
            t=t,
            memory_cap=memory_cap,
            resample=True,
        )

    def thumbnail(
        self,
        max_size: int = 256,
        *,
        c: ChannelKey | Sequence[ChannelKey] | None = None,
        z: Selector = None,
        t: Selector = None,
        memory_cap: int | None = None,
    ) -> Region:
        """The whole image with its longest edge at most ``max_size`` pixels.

        Read from the lowest-resolution level that is still at least ``max_size`` pixels on its
        longest edge (:func:`choose_level`), so level 0 of a pyramid is only read when it is the
        only level that large.
        """
        iy, ix = self.axes.index("y"), self.axes.index("x")
        return self.window(
            0,
            0,
            self.shape[ix],
            self.shape[iy],
            max_size=max_size,
            c=c,
            z=z,
            t=t,
            memory_cap=memory_cap,
        )

    def point(
        self,
        x: int,
        y: int,
        *,
        level: int | None = None,
        c: ChannelKey | Sequence[ChannelKey] | None = None,
        z: Selector = None,
        t: Selector = None,
    ) -> Point:
        """The values at level-0 pixel ``(x, y)`` (of every channel unless ``c`` is given).

        Read from level 0, or from the pixel of ``level`` that covers it.
        """
        region = self._region(
            x,
            y,
            1,
            1,
            level=level,
            max_size=None,
            c=c,
            z=z,
            t=t,
            memory_cap=None,
            resample=False,
            pixel=True,
        )
        values = region.compute()
        values = np.squeeze(values, axis=(region.axes.index("y"), region.axes.index("x")))
        return Point(
            values=values,
            axes=region.axes.replace("y", "").replace("x", ""),
            x=int(x),
            y=int(y),
            level=region.level,
            channels=region.channels,
        )

    def statistics(
        self,
        *,
        region: tuple[int, int, int, int] | None = None,
        max_size: int | None = 1024,
        level: int | None = None,
        c: ChannelKey | Sequence[ChannelKey] | None = None,
        z: Selector = None,
        t: Selector = None,
        percentiles: Sequence[float] = (2, 98),
        bins: int = 256,
        memory_cap: int | None = None,
    ) -> Statistics:
        """Per-channel min, max, mean, std, percentiles and histogram.

        Computed on the level :func:`choose_level` picks for ``max_size`` (default 1024 px on
        the longest edge of ``region``, the whole image by default), or on ``level``. The pixels
        of that level are used as stored (no resampling).
        """
        if level is not None:
            max_size = None
        if region is None:
            iy, ix = self.axes.index("y"), self.axes.index("x")
            region = (0, 0, self.shape[ix], self.shape[iy])
        x, y, w, h = region
        reg = self._region(
            x,
            y,
            w,
            h,
            level=level,
            max_size=max_size,
            c=c,
            z=z,
            t=t,
            memory_cap=memory_cap,
            resample=False,
        )
        data = reg.compute()
        if "c" in reg.axes:
            ci = reg.axes.index("c")
            planes = [np.take(data, i, axis=ci) for i in range(data.shape[ci])]
        else:
            planes = [data]
        stats = tuple(
            channel_statistics(ch.label, plane, percentiles=tuple(percentiles), bins=bins)
            for ch, plane in zip(reg.channels, planes)
        )
        return Statistics(level=reg.level, bbox=reg.bbox, scale=reg.scale, channels=stats)

    # -- the one internal region read ---------------------------------------------------------
    def _region(
        self,
        x: int,
        y: int,
        width: int,
        height: int,
        *,
        level: int | None,
        max_size: int | None,
        c: Any,
        z: Selector,
        t: Selector,
        memory_cap: int | None,
        resample: bool,
        pixel: bool = False,
    ) -> Region:
        """The one internal region read every verb is built on; ``pixel``: the single level
        pixel that holds the centre of level-0 pixel ``(x, y)`` (for :meth:`point`)."""
        axes = self.axes
        iy, ix = axes.index("y"), axes.index("x")
        shape0 = self.shape
        x, y, width, height = (
            as_int(v, n) for v, n in ((x, "x"), (y, "y"), (width, "width"), (height, "height"))
        )
        if width < 1 or height < 1:
            raise RegionError(
                f"a region needs a width and height of at least 1 pixel, not {width}x{height}"
            )
        x0, x1 = clip_span(x, width, shape0[ix], "x")
        y0, y1 = clip_span(y, height, shape0[iy], "y")
        clipped = (x0, y0, x1, y1) != (x, y, x + width, y + height)
        index = choose_level(self._downsampling(), (y1 - y0, x1 - x0), max_size, level=level)
        lv = self._level(index)
        fy, fx = lv.factors[iy], lv.factors[ix]
        if pixel:
            ya = min(math.floor((y0 + 0.5) / fy), lv.shape[iy] - 1)
            xa = min(math.floor((x0 + 0.5) / fx), lv.shape[ix] - 1)
            yb, xb = ya + 1, xa + 1
        else:
            ya, yb = to_level(y0, y1, fy, lv.shape[iy])
            xa, xb = to_level(x0, x1, fx, lv.shape[ix])
        bx0, bx1 = to_level0(xa, xb, fx, shape0[ix])
        by0, by1 = to_level0(ya, yb, fy, shape0[iy])
        out_h, out_w = output_shape(yb - ya, xb - xa, max_size if resample else None)

        specs: list[tuple[Any, ...]] = []
        channels = self.channels
        for i, name in enumerate(axes):
            if i == iy:
                idx = nearest_index(yb - ya, out_h)
                specs.append(("s", ya, yb) if idx is None else ("r", ya, yb, tuple(idx)))
            elif i == ix:
                idx = nearest_index(xb - xa, out_w)
                specs.append(("s", xa, xb) if idx is None else ("r", xa, xb, tuple(idx)))
            elif name == "c":
                sel = self._channel_selection(c)
                specs.append(make_spec(sel, lv.shape[i]))
                channels = tuple(channels[k] for k in as_list(sel, lv.shape[i]))
            elif name in ("z", "t"):
                sel = axis_selection(
                    z if name == "z" else t, name, shape0[i], lv.factors[i], lv.shape[i]
                )
                specs.append(make_spec(sel, lv.shape[i]))
            else:
                specs.append(("s", 0, lv.shape[i]))
        for name, value in (("z", z), ("t", t)):
            if value is not None and name not in axes:
                raise RegionError(
                    f"{self.url} has no {name} axis (its axes are {axes}): drop {name}="
                )
        if c is not None and "c" not in axes:
            keys = list(c) if isinstance(c, (list, tuple)) else [c]
            if any(k not in (0, channels[0].label) for k in keys):
                raise RegionError(f"{self.url} has no channel axis: drop c=")
        out_axes = "".join(name for name, spec in zip(axes, specs) if spec[0] != "i")
        out_shape = tuple(spec_len(spec) for spec in specs if spec[0] != "i")
        cap = self.memory_cap if memory_cap is None else int(memory_cap)
        nbytes = int(np.prod(out_shape, dtype=np.float64)) * np.dtype(lv.dtype).itemsize
        if nbytes > cap:
            raise MemoryCapError(
                f"reading {'x'.join(map(str, out_shape))} {lv.dtype} ({out_axes}) from level {index} of "
                f"{self.url} needs {human(nbytes)}, over the memory cap of {human(cap)}: ask for less "
                "(max_size=, a smaller window, fewer channels/planes with c=/z=/t=) or raise the cap "
                "with memory_cap= (--memory-cap)"
            )
        self._check_unit(index, cap)
        source = RegionSource(self._reader(index), tuple(specs), np.dtype(lv.dtype))
        return Region(
            axes=out_axes,
            level=index,
            bbox=(bx0, by0, bx1 - bx0, by1 - by0),
            clipped=clipped,
            scale=((by1 - by0) / out_h, (bx1 - bx0) / out_w),
            channels=channels,
            url=self.url,
            source=source,
            make_data=lambda: self._make_array(lv, source, single_block=True),
        )

    def _channel_selection(self, c: Any) -> int | list[int] | None:
        if c is None:
            return None
        labels = [ch.label for ch in self.channels]
        n = len(labels)

        def one(key: Any) -> int:
            if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
                if not 0 <= key < n:
                    raise RegionError(
                        f"channel {key} is out of range: {self.url} has channels 0 to {n - 1}"
                    )
                return int(key)
            if isinstance(key, str):
                if key in labels:
                    return labels.index(key)
                if key.isdigit():
                    return one(int(key))
                raise RegionError(f"no channel {key!r} in {self.url}: it has {', '.join(labels)}")
            raise RegionError(f"a channel is an index or a label, not {key!r}")

        if isinstance(c, (list, tuple)):
            return [one(k) for k in c]
        return one(c)

    def _block_shape(self, lv: Level) -> tuple[int, ...]:
        """Dask block shape for ``lv``: whole stored objects, grown along y and x to BLOCK_BYTES."""
        iy, ix = self.axes.index("y"), self.axes.index("x")
        block = [max(1, min(u, n)) for u, n in zip(lv.unit, lv.shape)]
        itemsize = np.dtype(lv.dtype).itemsize
        grew = True
        while grew:
            grew = False
            for i in (iy, ix):
                if block[i] >= lv.shape[i]:
                    continue
                if int(np.prod(block, dtype=np.float64)) * itemsize * 2 > BLOCK_BYTES:
                    return tuple(block)
                block[i] = min(block[i] * 2, lv.shape[i])
                grew = True
        return tuple(block)

    def _make_array(
        self, lv: Level, source: RegionSource, chunks: Any = None, single_block: bool = False
    ) -> da.Array:
        from dask.base import tokenize

        if (
            chunks is None
            and single_block
            and int(np.prod(source.shape)) * source.dtype.itemsize <= BLOCK_BYTES
        ):
            chunks = source.shape  # one task: the storage layer reads its chunks concurrently
        elif chunks is None:
            block = self._block_shape(lv)
            chunks = tuple(
                spec_chunks(spec, b) for spec, b in zip(source.specs, block) if spec[0] != "i"
            )
        name = "ngffstore-" + tokenize(self.url, lv.path, lv.shape, source.specs, chunks)
        return da.from_array(
            source,
            chunks=chunks,
            name=name,
            meta=np.empty((0,) * source.ndim, dtype=source.dtype),
            asarray=False,
            fancy=False,
            lock=False,
            inline_array=True,
        )


class Labels(LabelVerbs, Image):
    """A label image (integer values per pixel) of an image: ``image.label(name)`` or
    :func:`ngffstore.labels.open_labels`.

    Besides the :class:`Image` verbs (nearest resampling only, so a label read at any size holds
    stored values only): :attr:`colors`, :attr:`properties`, :meth:`color_of`, :meth:`values`,
    :meth:`regions` and :meth:`overlay` (:class:`ngffstore.labels._verbs.LabelVerbs`).
    """

    @classmethod
    def open(cls, image: Location, name: str, *, memory_cap: int | None = None) -> Labels:
        """Open the label image ``name`` of the image at ``image`` (``IMAGE/labels/NAME``)."""
        check_label_name(name)
        try:
            opened = open_image(image.child(LABELS_GROUP, name), memory_cap=memory_cap)
        except (StoreNotFoundError, NotNgffError) as exc:
            raise missing_label_error(image, name, exc) from None
        return cls._from_image(opened, name)

    @classmethod
    def _from_image(cls, image: Image, name: str) -> Labels:
        labels = cls.__new__(cls)
        labels.__setstate__(image.__getstate__())
        labels._init_label(name)
        return labels

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.shape)
        return (
            f"<Labels {self.label_name!r} of {self.location.parent.parent.url} {self.axes} {shape} "
            f"{self.dtype}, {len(self.multiscale.datasets)} levels>"
        )

    @property
    def image(self) -> Image:
        """The image these labels belong to (``image-label.source.image``, default ``../../``)."""
        source = self.image_label.get("source") or {}
        rel = source.get("image") if isinstance(source, Mapping) else None
        parts = [p for p in str(rel or "../../").split("/") if p not in ("", ".")]
        if parts != ["..", ".."]:
            # the only image a label image of this store may name is the one it lies in
            document = self.location.child("zarr.json" if self.zarr_format == 3 else ".zattrs").url
            raise UnsafePathError(
                f"{document}: unsafe image-label source image {rel!r} (not '../../'): a label "
                "image's source must be the image that holds it; nothing was read there"
            )
        return open_image(self.location.parent.parent, memory_cap=self.memory_cap)


__all__ = ["DEFAULT_MEMORY_CAP", "Image", "Labels", "open_image"]
