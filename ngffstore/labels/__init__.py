"""Label images: ``IMAGE/labels/NAME`` multiscale integer images with ``image-label`` metadata.

Write them with :func:`write_labels` (pyramids that never invent a value: mode or nearest),
read them with :func:`open_labels` (or ``image.label(name)``): the image verbs with nearest
resampling, plus colours, properties and chunk-wise :meth:`Labels.regions`.

The layers inside: ``layout`` (names, the ``labels`` group), ``colors``, ``properties``,
``regions`` and ``_verbs`` (what a label reader adds) sit below the image reader, which
assembles :class:`Labels`; ``read`` (:func:`open_labels`), ``write``, ``info``
(:func:`labels_info`) and ``measure`` (:func:`export_regions`) sit above it. Their names
load on first use, so importing a low module of this package never imports the image reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr
from .colors import label_color, label_colors, overlay, parse_colors, read_colors_csv
from .layout import check_name
from .properties import parse_properties, read_properties_csv
from .regions import measure_regions

_LAZY = {
    "Labels": "read",
    "open_labels": "read",
    "LabelsInfo": "info",
    "LabelsSummary": "info",
    "labels_info": "info",
    "RegionsExport": "measure",
    "export_regions": "measure",
    "MAX_GENERATED_COLORS": "write",
    "list_labels": "write",
    "remove_labels": "write",
    "write_labels": "write",
}

if TYPE_CHECKING:
    from .info import LabelsInfo, LabelsSummary, labels_info
    from .measure import RegionsExport, export_regions
    from .read import Labels, open_labels
    from .write import MAX_GENERATED_COLORS, list_labels, remove_labels, write_labels


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "MAX_GENERATED_COLORS",
    "Labels",
    "LabelsInfo",
    "LabelsSummary",
    "RegionsExport",
    "check_name",
    "export_regions",
    "label_color",
    "label_colors",
    "labels_info",
    "list_labels",
    "measure_regions",
    "open_labels",
    "overlay",
    "parse_colors",
    "parse_properties",
    "read_colors_csv",
    "read_properties_csv",
    "remove_labels",
    "write_labels",
]
