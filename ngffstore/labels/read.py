"""Reading label images: :class:`Labels` has the image verbs plus colours, properties and regions.

A label image is an NGFF multiscale image, so :class:`Labels` is an
:class:`~ngffstore.image.read.Image` opened at ``IMAGE/labels/NAME``: ``window``, ``thumbnail``,
``point``, ``to_dask`` and ``to_xarray`` and the level rule are the image's. Region verbs
resample with nearest neighbour only, so a label read at any size holds stored values only.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import NgffStoreError, NotNgffError, StoreNotFoundError
from ..image.read import Image, open_image
from ..ngff import ome_attrs
from ..nodes import read_attrs
from ..paths import UnsafePathError
from ..storage import Location
from .colors import RGBA, colors_for, overlay, parse_color
from .regions import regions_table, summarize
from .write import BLOCK_PIXELS, LABELS_GROUP, check_name, grow_block, read_listing

#: Pixels per dask block when measuring regions (blocks are whole stored chunks or shards).
REGION_BLOCK_PIXELS = BLOCK_PIXELS


def open_labels(
    image_url: str | os.PathLike[str] | Location,
    name: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    memory_cap: int | None = None,
) -> Labels:
    """Open the label image ``name`` of the image at ``image_url`` (``IMAGE/labels/NAME``).

    Raises
    ------
    InputError
        ``name`` is not a plain label name.
    StoreNotFoundError
        The image has no label image of that name (the message lists the names it has).
    """
    check_name(name)
    image = Location.parse(image_url, storage_options)
    target = image.child(LABELS_GROUP, name)
    try:
        opened = open_image(target, memory_cap=memory_cap)
    except (StoreNotFoundError, NotNgffError) as exc:
        try:
            names = read_listing(image)[2]
        except NgffStoreError:  # the image itself is unreadable: the first error says enough
            names = []
        if _interrupted(target):
            raise NotNgffError(
                f"the label image {name!r} of {image.url} is incomplete: its write did not finish; "
                "rerun it (an unchanged rerun resumes) or remove it"
            ) from None
        if name in names or not isinstance(exc, StoreNotFoundError):
            raise NotNgffError(
                f"the label image {name!r} of {image.url} is incomplete or not an NGFF label image "
                f"({exc}); rewrite it with overwrite=True (--overwrite)"
            ) from None
        have = f"it has {', '.join(names)}" if names else "it has no label images"
        raise StoreNotFoundError(f"no label image {name!r} in {image.url}: {have}") from None
    return Labels._from_image(opened, name)


def _interrupted(target: Location) -> bool:
    try:
        return "writing" in (read_attrs(target)[1].get("ngffstore") or {})
    except NgffStoreError:
        return False


class Labels(Image):
    """A label image (integer values per pixel) of an image; see :func:`open_labels`.

    Besides the :class:`~ngffstore.image.read.Image` verbs: :attr:`colors`,
    :attr:`properties`, :meth:`color_of`, :meth:`values` and :meth:`regions`.
    """

    label_name: str
    image_label: dict[str, Any]

    @classmethod
    def _from_image(cls, image: Image, name: str) -> Labels:
        labels = cls.__new__(cls)
        labels.__setstate__(image.__getstate__())
        labels.label_name = name
        block = ome_attrs(labels._attrs)[1].get("image-label")
        labels.image_label = copy.deepcopy(dict(block)) if isinstance(block, Mapping) else {}
        return labels

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.shape)
        return (
            f"<Labels {self.label_name!r} of {self.location.parent.parent.url} {self.axes} {shape} "
            f"{self.dtype}, {len(self.multiscale.datasets)} levels>"
        )

    # -- label metadata -----------------------------------------------------------------------
    @property
    def colors(self) -> dict[int, RGBA]:
        """The stored colour of each label value: ``{value: (r, g, b, a)}``."""
        out: dict[int, RGBA] = {}
        for entry in self.image_label.get("colors") or []:
            try:
                value = int(entry["label-value"])
                out[value] = parse_color(entry.get("rgba") or (255, 255, 255, 255))
            except (KeyError, TypeError, ValueError):
                continue
        return out

    @property
    def properties(self) -> dict[int, dict[str, Any]]:
        """The stored properties of each label value: ``{value: {name: value}}``."""
        out: dict[int, dict[str, Any]] = {}
        for entry in self.image_label.get("properties") or []:
            if isinstance(entry, Mapping) and "label-value" in entry:
                try:
                    value = int(entry["label-value"])
                except (TypeError, ValueError):
                    continue
                out[value] = {k: v for k, v in entry.items() if k != "label-value"}
        return out

    def properties_frame(self) -> Any:
        """The properties as a pandas DataFrame indexed by ``label-value``."""
        import pandas as pd

        props = self.properties
        frame = pd.DataFrame.from_dict(props, orient="index")
        frame.index.name = "label-value"
        return frame.sort_index()

    def color_of(self, values: Any) -> np.ndarray:
        """RGBA ``uint8`` colours of ``values`` (shape ``(*values.shape, 4)``): the stored colour,
        else the generated one (:func:`~ngffstore.labels.colors.label_colors`)."""
        values = np.asarray(values)
        return colors_for(values.ravel(), self.colors).reshape(values.shape + (4,))

    @property
    def labels(self) -> tuple[str, ...]:
        """A label image has no label images of its own."""
        return ()

    def label(self, name: str) -> Labels:
        """Label images have no labels of their own: always :class:`NotNgffError`."""
        raise NotNgffError(
            f"{self.url} is a label image: it has no label images; open {name!r} from its image"
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

    def overlay(
        self,
        rgb: np.ndarray,
        region: Any,
        *,
        z: int | None = None,
        t: int | None = None,
        alpha: float = 0.5,
    ) -> np.ndarray:
        """``rgb`` (an ``(h, w, 3|4)`` rendering of an image ``region``) with these labels blended in.

        The label is read over ``region.bbox`` (level-0 pixels) at the size of ``rgb``, from the
        level the shared rule picks, and drawn with :attr:`colors` (generated colours for the
        others); background 0 stays as it is. ``z``/``t`` are level-0 plane indices; give the ones
        the image was rendered from (default: the middle z plane and the first t).
        """
        x, y, w, h = region.bbox
        planes: dict[str, int] = {}
        for name, given in (("z", z), ("t", t)):
            if name in self.axes:
                extent = self.shape[self.axes.index(name)]
                planes[name] = int(given) if given is not None else (extent // 2 if name == "z" else 0)
        out = self.window(x, y, w, h, max_size=max(np.shape(rgb)[:2]), **planes)
        return overlay(rgb, out.compute(), self.colors, alpha=alpha)

    # -- measurements ---------------------------------------------------------------------------
    def _measure_chunks(self, level: int) -> tuple[int, ...]:
        lv = self._level(level)
        return grow_block(lv.unit, lv.shape, REGION_BLOCK_PIXELS)

    def values(self, level: int = 0, *, scheduler: Any = None) -> np.ndarray:
        """The distinct label values of ``level`` (0 included if present), chunk by chunk."""
        import dask.array as da

        from .. import parallel

        data = self.to_dask(level, chunks=self._measure_chunks(level))
        bar = parallel.make_bar(1, "label values", False)
        try:
            (values,) = parallel.compute([da.unique(data)], scheduler=scheduler, bar=bar)
        finally:
            bar.close()
        return np.asarray(values)

    def regions(
        self,
        level: int = 0,
        *,
        background: int | None = 0,
        scheduler: Any = None,
        progress: bool | None = False,
    ) -> Any:
        """Area, bounding box and centroid of every label, as a pandas DataFrame.

        Computed block by block with dask (:mod:`ngffstore.labels.regions`), so it works on
        label images larger than memory. On ``level`` > 0 the results are approximate and given
        in level-0 units. Pixels equal to ``background`` are not a label (None: all values).

        Columns: ``label``, ``area_px``, ``area`` (physical; ``attrs["area_unit"]``),
        ``{axis}_min``/``{axis}_max`` (level-0 pixels, max exclusive), ``centroid_{axis}``
        (level-0 pixel coordinates, pixel ``i`` spans ``[i, i + 1)``) and
        ``centroid_{axis}_physical``.
        """
        lv = self._level(level)
        data = self.to_dask(level, chunks=self._measure_chunks(level))
        summary = summarize(data, background=background, scheduler=scheduler, progress=progress)
        ds0 = self.multiscale.datasets[0]
        names = [a.name for a in self.multiscale.axes]
        translation = dict(zip(names, ds0.translation)) if ds0.translation else {}
        frame = regions_table(
            summary,
            axes=self.axes,
            shape0=self.shape,
            factors=lv.factors,
            scale=dict(zip(names, ds0.scale)),
            translation=translation,
            units=self.units,
        )
        frame.attrs["level"] = level
        return frame


__all__ = ["Labels", "open_labels"]
