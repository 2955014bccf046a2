"""The verbs a label image has beyond an image's: colours, properties, values, regions, overlay.

:class:`LabelVerbs` is mixed into :class:`ngffstore.image.read.Labels` (``Labels(LabelVerbs,
Image)``): the class is put together beside :class:`~ngffstore.image.read.Image` so that
``Image.label(name)`` can return it, while what a label image adds lives here, in the labels
package, on top of its colour, region and layout helpers only (this module never imports the
image reader: the image package imports it, not the other way round).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import NotNgffError
from ..ngff import ome_attrs
from .colors import RGBA, colors_for, overlay, parse_color
from .layout import BLOCK_PIXELS, grow_block
from .regions import regions_table, summarize

#: Pixels per dask block when measuring regions (blocks are whole stored chunks or shards).
REGION_BLOCK_PIXELS = BLOCK_PIXELS


class LabelVerbs:
    """Label verbs on top of an image reader (``self`` is an ``Image``; see ``Labels``)."""

    label_name: str
    image_label: dict[str, Any]
    # provided by the Image reader this is mixed into
    _attrs: dict[str, Any]
    axes: str
    shape: tuple[int, ...]
    multiscale: Any
    units: Any
    url: str
    window: Any
    to_dask: Any
    _level: Any

    def _init_label(self, name: str) -> None:
        """Set the label's name and its ``image-label`` block (from the node's attributes)."""
        self.label_name = name
        block = ome_attrs(self._attrs)[1].get("image-label")
        self.image_label = copy.deepcopy(dict(block)) if isinstance(block, Mapping) else {}

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

    def label(self, name: str) -> Any:
        """Label images have no labels of their own: always :class:`NotNgffError`."""
        raise NotNgffError(
            f"{self.url} is a label image: it has no label images; open {name!r} from its image"
        )

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


__all__ = ["REGION_BLOCK_PIXELS", "LabelVerbs"]
