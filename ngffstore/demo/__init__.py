"""Demo and sample data: synthetic images, plane folders and a complete demo collection.

- :mod:`ngffstore.demo.demo` — :func:`build_demo`, the collection ``ngffstore demo`` writes;
- :mod:`ngffstore.demo.samples` — realistic synthetic cells, rendered tile by tile;
- :mod:`ngffstore.demo.sample_folders` — time-lapse plane folders (the ``assemble`` input);
- :mod:`ngffstore.demo.segmentation` — the threshold + chunk-wise connected components the demo
  (and the tiled segmentation example) label nuclei with.

None of it is part of the store; it makes data to try the store on.
"""

from .demo import DemoReport, build_demo, nucleus_properties

__all__ = ["DemoReport", "build_demo", "nucleus_properties"]
