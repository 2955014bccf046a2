"""Evaluate a segmentation of the demo plate against its nuclei labels, well by well.

1. every field of the plate is segmented with the tiled adaptive threshold of
   ``tiled_segmentation.py`` (blocks with halos, labels merged across block borders) and written
   next to it as the label image ``nuclei-adaptive``;
2. ``ngffstore.evaluate`` scores it against the demo's ``nuclei`` labels on every field — overlap
   counts gathered block by block with dask, one-to-one IoU matching, F1 / DSB mAP / panoptic
   quality / Dice / detection / counting (``specs/evaluation.md``) — and stores the per-field
   table, its summary and a provenance record on the plate;
3. writes ``evaluate_demo_plate.csv`` (one row per field) and ``evaluate_demo_plate.png`` (the
   per-well F1 heatmap).

    python examples/evaluate_demo_plate.py DEMO/plate.ome.zarr [--scheduler tcp://...] [--out DIR]
"""

from __future__ import annotations

import sys

try:
    from . import _shared
    from .tiled_segmentation import segment
except ImportError:
    import _shared
    from tiled_segmentation import segment

LABEL_NAME = "nuclei-adaptive"
TRUTH = "labels:nuclei"


@_shared.entry
def main(argv: list[str] | None = None) -> int:
    p = _shared.parser(__doc__)
    p.add_argument("--radius", type=int, default=40, help="half-size of the local mean window (px)")
    p.add_argument("--offset", type=float, default=400.0, help="intensity above the local mean")
    p.add_argument("--threshold", type=float, default=0.5, help="IoU above which objects match")
    args = p.parse_args(argv)
    from ngffstore.evaluation import evaluate
    from ngffstore.labels import write_labels
    from ngffstore.plate import open_plate

    so = _shared.storage_options(args)
    plate = open_plate(args.store, storage_options=so)
    with _shared.scheduler(args) as sched:
        fields = [image for ref in plate.wells for image in plate.well(ref.row, ref.column).fields]
        for image in fields:
            labels, _ = segment(image, radius=args.radius, offset=args.offset, scheduler=sched)
            write_labels(labels, image.url, name=LABEL_NAME, overwrite=True, storage_options=so,
                         scheduler=sched, progress=False)
        result = evaluate(plate.url, prediction=f"labels:{LABEL_NAME}", truth=TRUTH,
                          threshold=args.threshold, table=True, overwrite=True,
                          scheduler=sched, progress=False, storage_options=so)
    csv = result.to_csv(_shared.out_path(args, "evaluate_demo_plate.csv"))
    png = result.plot(_shared.out_path(args, "evaluate_demo_plate.png"))
    print(result.to_text())
    print(f"segmented {len(fields)} fields -> labels/{LABEL_NAME}; wrote {csv} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
