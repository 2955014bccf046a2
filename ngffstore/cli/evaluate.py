"""``ngffstore evaluate URL --prediction P --truth T``: score a segmentation against ground truth.

URL is an image, a plate, a well or a folder of images and plates; every image (plate field)
that has both inputs is scored. P and T are ``labels:NAME`` (a label image), ``rois:LAYER`` (a
ROI layer) or a bare name. The per-image table is stored on the plate / well / image (or on every
image of a folder) with its summary and a provenance record, unless --no-table.
"""

from __future__ import annotations

import argparse
import json

from ._common import add_progress_args, add_storage_args, storage_options_for

ORDER = 48


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a segmentation against ground truth (image, plate or collection)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", help="image, plate, well or collection folder URL")
    p.add_argument("--prediction", "-p", required=True, help="labels:NAME, rois:LAYER or NAME")
    p.add_argument("--truth", "-t", required=True, help="labels:NAME, rois:LAYER or NAME")
    p.add_argument("--threshold", type=float, default=0.5, help="IoU above which objects match (default 0.5)")
    p.add_argument("--distance", type=float, default=5.0, help="gating distance of centroid detection, px (default 5)")
    p.add_argument("--per-term", action="store_true", help="also score each ontology term (two ROI layers with terms)")
    store = p.add_mutually_exclusive_group()
    store.add_argument("--table", default=None, help="name of the stored table (default evaluation_<P>_vs_<T>)")
    store.add_argument("--no-table", action="store_true", help="store nothing in the store")
    p.add_argument("--overwrite", action="store_true", help="replace a stored table of the same name")
    p.add_argument("-o", "--output", help="write the per-image table to this CSV file")
    p.add_argument("--plot", help="write per-image F1 bars (a per-well heatmap for a plate) to this PNG")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    g = p.add_argument_group("execution")
    g.add_argument("--scheduler", default="threads",
                   help="threads (default), processes, synchronous or a dask.distributed address (tcp://host:8786)")
    g.add_argument("--local-cluster", type=int, default=None, metavar="N",
                   help="run on a dask.distributed LocalCluster of N worker processes")
    add_progress_args(g)
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate

    result = evaluate(
        args.url,
        prediction=args.prediction,
        truth=args.truth,
        threshold=args.threshold,
        distance=args.distance,
        per_term=args.per_term,
        table=None if args.no_table else (args.table or True),
        overwrite=args.overwrite,
        scheduler=args.scheduler,
        local_cluster=args.local_cluster,
        progress=args.progress,
        storage_options=storage_options_for(args.url, args),
        csv=args.output,
        plot=args.plot,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.to_text())
    return 0
