"""Tiled segmentation: an "adaptive threshold" analysis app without a server.

Segments the nuclei (DAPI channel) of a large image block by block, in parallel with dask:

1. an adaptive threshold (a pixel is foreground when its 3 x 3 mean is above the mean of its
   81 x 81 neighbourhood plus an offset) in overlapping blocks — ``dask.array.map_overlap``
   gives each block a halo of its neighbours, so the threshold has no seams;
2. connected components per block, made globally unique: an offset per block, then the labels
   that touch across a block border are merged (``ngffstore.demo.segmentation.label_blocks``), so a
   nucleus cut by a border gets one label;
3. the result is written back next to the image as a label image (``write_labels``) and as a
   ROI layer of an algorithm run (``kind="algorithm"``, with provenance recording the parameters).

Only level 0 blocks (plus halos) and block borders are read or held by any one process.

    python examples/tiled_segmentation.py DEMO/cells.ome.zarr [--scheduler tcp://...]
"""

from __future__ import annotations

import sys

import numpy as np

try:
    from . import _shared
except ImportError:
    import _shared

LABEL_NAME = "nuclei-adaptive"
LAYER = "adaptive-threshold"


def threshold_block(block: np.ndarray, radius: int, offset: float) -> np.ndarray:
    from ngffstore.demo.segmentation import adaptive_threshold

    return adaptive_threshold(block, radius=radius, offset=offset)


def segment(image, *, radius: int = 40, offset: float = 400.0, min_size: int = 20, scheduler=None):
    """Lazy, globally unique nuclei labels of ``image`` (y, x) and their number."""
    import dask.array as da

    from ngffstore.demo.segmentation import label_blocks

    index = tuple(0 if a in "tcz" else slice(None) for a in image.axes)
    dapi = image.to_dask(0)[index]
    mask = da.map_overlap(threshold_block, dapi, depth=radius, boundary="reflect", dtype=bool,
                          radius=radius, offset=offset)
    return label_blocks(mask, min_size=min_size, scheduler=scheduler)


@_shared.entry
def main(argv: list[str] | None = None) -> int:
    p = _shared.parser(__doc__)
    p.add_argument("--radius", type=int, default=40, help="half-size of the local mean window (px)")
    p.add_argument("--offset", type=float, default=400.0, help="intensity above the local mean")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run's outputs")
    args = p.parse_args(argv)
    from ngffstore.demo import nucleus_properties
    from ngffstore.image import open_image
    from ngffstore.labels import write_labels
    from ngffstore.rois import from_labels

    so = _shared.storage_options(args)
    image = open_image(args.store, storage_options=so)
    with _shared.scheduler(args) as sched:
        labels, n = segment(image, radius=args.radius, offset=args.offset, scheduler=sched)
        write_labels(labels, image.url, name=LABEL_NAME, overwrite=args.overwrite, storage_options=so,
                     properties=nucleus_properties(n),
                     scheduler=sched, progress=False)
        layer = from_labels(image.url, label=LABEL_NAME, layer=LAYER, kind="algorithm",
                            author=f"examples/tiled_segmentation.py radius={args.radius} offset={args.offset}",
                            overwrite=args.overwrite, storage_options=so, scheduler="threads")
    print(f"{n} nuclei -> {image.url}/labels/{LABEL_NAME} and ROI layer {LAYER!r} ({layer.count} ROIs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
