"""``ngffstore info URL``: levels, shapes, chunks, shards, dtype, axes, scales, channels, bytes."""

from __future__ import annotations

import argparse
import json

from ._common import add_storage_args, storage_options_for

ORDER = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe an OME-Zarr image", description=__doc__)
    p.add_argument("url", help="image URL: a folder path or s3://bucket/prefix")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-size", action="store_true", help="skip counting the bytes stored (faster on S3)")
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..image import image_info

    summary = image_info(args.url, storage_options=storage_options_for(args.url, args), stored_bytes=not args.no_size)
    print(json.dumps(summary.to_dict(), indent=2, default=str) if args.json else summary.to_text())
    return 0
