"""``ngffstore convert INPUT OUTPUT_URL``: any supported image file -> multiscale OME-Zarr."""

from __future__ import annotations

import argparse
import json

from ._common import (
    add_output_args,
    add_pixel_size_args,
    add_run_args,
    add_storage_args,
    output_kwargs,
    storage_options_for,
)

ORDER = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert TIFF/OME-TIFF/PNG/JPEG/npy/Zarr to a multiscale OME-Zarr image",
        description=(
            "Convert an image file to a multiscale OME-Zarr image on a local path or s3:// URL. "
            "Supported inputs: TIFF, BigTIFF, OME-TIFF (multi-series with --series, pyramidal: "
            "level 0 is read), PNG, JPEG, .npy, an existing Zarr array."
        ),
    )
    p.add_argument("input", help="input file (or Zarr array URL)")
    p.add_argument("output", help="output image URL: a folder path or s3://bucket/prefix")
    g = p.add_argument_group("input")
    g.add_argument("--series", type=int, default=None, help="series of a multi-series file (default 0)")
    g.add_argument("--axes", help="axis letters of the input when they cannot be inferred, e.g. zyx, cyx, tczyx")
    add_pixel_size_args(g)
    g.add_argument("--channel-names", help="comma-separated channel names")
    g.add_argument("--name", help="image name (default: from the input)")
    add_output_args(p)
    add_run_args(p)
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import plugins

    summary = plugins.converters().convert(
        args.input, args.output, series=args.series, axes=args.axes, scale=args.pixel_size,
        units=args.unit if args.pixel_size is not None else None,
        channels=[c.strip() for c in args.channel_names.split(",")] if args.channel_names else None,
        name=args.name, input_storage_options=storage_options_for(args.input, args), **output_kwargs(args),
    )
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        print(summary.to_text())
    return 0
