"""``ngffstore copy SRC DST``: an image, a plate or a whole collection between stores.

    ngffstore copy demo-store s3://bucket/demo                     # a collection (with its index)
    ngffstore copy https://host/demo/plate.ome.zarr plate.ome.zarr # from a static host: no listing
    ngffstore copy demo-store sel --search 'well == "B2"'          # only what the index selects
    ngffstore copy other.zarr new.zarr --ngff-version 0.5 --shards 4096   # a resave

Objects are copied in parallel, read back and verified (size, SHA-256); a rerun resumes.
"""

from __future__ import annotations

import argparse
import json

from ._common import add_progress_args, add_storage_args, storage_options_for

ORDER = 70


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "copy",
        help="copy an image, plate or collection between local, S3 and HTTP (read-only source); resave on the way",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="image, plate or collection: a folder, s3:// or https:// URL")
    p.add_argument("destination", help="where to copy it: a folder or s3:// URL (must be empty, or --overwrite)")
    p.add_argument("--search", metavar="EXPR", help="only the images and plate fields this index expression selects")
    p.add_argument("--overwrite", action="store_true", help="replace what is at the destination")
    p.add_argument("--workers", type=int, default=8, help="objects copied at once (default 8)")
    p.add_argument("--enumerate", dest="enumerate_by", choices=["auto", "list", "documents"], default="auto",
                   help="how the objects are found: list the source (local, S3), follow its documents (any "
                   "source, the only way over HTTP), or auto (default)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="do not read each object back to compare its size and checksum")
    r = p.add_argument_group("resave (rewrite every image on the way: level 0 pixel-identical, validated after)")
    r.add_argument("--ngff-version", choices=["0.4", "0.5"], default=None, help="write this NGFF version")
    r.add_argument("--chunks", default=None, help="chunk shape, as for convert")
    r.add_argument("--shards", default=None, help="shard shape (NGFF 0.5), as for convert")
    r.add_argument("--compression", default=None, help="codec, as for convert")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_progress_args(p)
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..copy import copy

    summary = copy(
        args.source, args.destination, search=args.search, overwrite=args.overwrite, workers=args.workers,
        enumerate_by=args.enumerate_by, verify=args.verify, ngff_version=args.ngff_version, chunks=args.chunks,
        shards=args.shards, compression=args.compression, progress=args.progress,
        storage_options=storage_options_for(args.source, args),
        dst_storage_options=storage_options_for(args.destination, args) or {},
    )
    print(json.dumps(summary.to_dict(), indent=2, default=list) if args.json else summary.to_text())
    return 0
