"""Label images: ``IMAGE/labels/NAME`` multiscale integer images with ``image-label`` metadata.

Write them with :func:`write_labels` (pyramids that never invent a value: mode or nearest),
read them with :func:`open_labels` (or ``image.label(name)``): the image verbs with nearest
resampling, plus colours, properties and chunk-wise :meth:`Labels.regions`.
"""

from .colors import label_color, label_colors, overlay, parse_colors, read_colors_csv
from .properties import parse_properties, read_properties_csv
from .read import Labels, open_labels
from .regions import measure_regions
from .write import MAX_GENERATED_COLORS, check_name, list_labels, remove_labels, write_labels

__all__ = [
    "MAX_GENERATED_COLORS",
    "Labels",
    "check_name",
    "label_color",
    "label_colors",
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
