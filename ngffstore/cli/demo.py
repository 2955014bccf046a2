"""``ngffstore demo DEST``: write a complete demo collection and describe it."""

from __future__ import annotations

import argparse

from ._common import add_run_args, add_storage_args, storage_options_for

ORDER = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="write a demo collection (image, labels, ROIs, plate, metadata, index) and show what is in it",
        description=(
            "Write a complete demo collection under DEST (a folder or s3:// URL): a 3-channel "
            "fluorescence image of cells converted from an OME-TIFF, with a nuclei label image and "
            "ROI layers with terms; a 2 x 3 well plate (2 fields per well, 2 channels) with labels "
            "per field; key-values, tags and provenance; and the collection index. Then print what "
            "is there and commands to try."
        ),
    )
    p.add_argument("dest", help="destination folder or s3://bucket/prefix")
    p.add_argument("--size", type=int, default=1024, help="edge of the sample image in pixels (default 1024)")
    p.add_argument("--fields", type=int, default=2, help="fields per well of the demo plate (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sample")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo collection")
    add_run_args(p)
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import build_demo

    options = storage_options_for(args.dest, args)
    report = build_demo(
        args.dest,
        size=args.size,
        seed=args.seed,
        fields_per_well=args.fields,
        storage_options=options,
        overwrite=args.overwrite,
        progress=args.progress,
        scheduler=args.scheduler,
    )
    print(report.to_text())
    extra = []
    if options and getattr(args, "endpoint_url", None):
        extra.append(f"--endpoint-url {args.endpoint_url}")
    if options and getattr(args, "anon", False):
        extra.append("--anon")
    print("\ntry:")
    for command in report.commands(" ".join(extra)):
        print(f"  {command}")
    return 0
