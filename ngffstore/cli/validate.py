"""``ngffstore validate URL``: the NGFF rules of the version found, plus checks schemas cannot make."""

from __future__ import annotations

import argparse
import json

from ._common import add_storage_args, storage_options_for

ORDER = 30


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check an OME-Zarr image, plate, labels or bioformats2raw collection",
        description=(
            "Validate the node at URL (and the nodes below it: plate wells and fields, labels, "
            "bioformats2raw series) against the official NGFF JSON schemas of the version found "
            "(0.4 or 0.5) and the rules the schemas cannot express: arrays exist, dimensions and "
            "dimension names match the axes, level shapes agree with the scales, one dtype across "
            "levels, integer labels. Exit 1 with one line per problem."
        ),
    )
    p.add_argument("url", help="node URL: a folder path or s3://bucket/prefix")
    p.add_argument("--strict", action="store_true", help="also require the SHOULD-level fields (strict schemas); warnings become errors")
    p.add_argument("--data", action="store_true", help="also fetch and decode every stored chunk (shard) of every level: a corrupt one, or one missing where the coarser level has data, is an error naming its key")
    p.add_argument("--sample", type=int, metavar="N", default=None, help="with --data: decode N chunks per level, chosen at random (implies --data)")
    p.add_argument("--seed", type=int, default=None, help="random seed of --sample (repeatable choice)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..validation import validate

    report = validate(
        args.url, storage_options=storage_options_for(args.url, args), strict=args.strict,
        data=args.data, sample=args.sample, seed=args.seed,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    return 0 if report.ok else 1
