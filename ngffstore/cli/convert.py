"""``ngffstore convert INPUT OUTPUT_URL``: any supported image file -> multiscale OME-Zarr."""

from __future__ import annotations

import argparse
import json

from ._common import add_run_args, add_storage_args, storage_options_for

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
    g.add_argument("--pixel-size", help="physical pixel size: '0.325' (y and x), '2,0.325,0.325' (z,y,x) or 'z=2,y=0.3,x=0.3'")
    g.add_argument("--unit", default="micrometer", help="unit of --pixel-size (default micrometer)")
    g.add_argument("--channel-names", help="comma-separated channel names")
    g.add_argument("--name", help="image name (default: from the input)")
    o = p.add_argument_group("output")
    o.add_argument("--chunks", help="chunk shape: '512' (y and x), '1,1,16,256,256' or 'z=16,y=256,x=256' (default 1024 along y/x)")
    o.add_argument("--shards", help="shard shape (Zarr v3 only), same forms as --chunks, e.g. 4096")
    o.add_argument("--compression", default="zstd", help="zstd[:LEVEL] (default), blosc-lz4, blosc-zstd, gzip[:LEVEL], none")
    o.add_argument("--min-size", type=int, default=256, help="longest y/x edge of the smallest level (default 256)")
    o.add_argument("--levels", type=int, default=None, help="number of levels (default: until --min-size)")
    o.add_argument("--downsample-z", action="store_true", help="halve z too at each level")
    o.add_argument("--method", default="mean", help="mean (default), nearest, mode, min, max")
    o.add_argument("--ngff-version", default="0.5", choices=["0.4", "0.5"], help="0.5 (Zarr v3, default) or 0.4 (Zarr v2)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing output")
    o.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_run_args(p)
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import converters
    from ..image import write_image

    in_options = storage_options_for(args.input, args)
    source = converters.open_source(args.input, series=args.series, axes=args.axes, storage_options=in_options)
    scale = args.pixel_size
    units = None
    if scale is not None:
        from ..image.options import parse_scale

        scale = parse_scale(scale, source.axes)
        units = {a: ("second" if a == "t" else args.unit) for a in scale}
    channels = [c.strip() for c in args.channel_names.split(",")] if args.channel_names else None
    summary = write_image(
        source,
        args.output,
        scale=scale,
        units=units,
        channels=channels,
        name=args.name,
        chunks=args.chunks,
        shards=args.shards,
        compression=args.compression,
        min_size=args.min_size,
        levels=args.levels,
        downsample_z=args.downsample_z,
        method=args.method,
        ngff_version=args.ngff_version,
        storage_options=storage_options_for(args.output, args),
        overwrite=args.overwrite,
        scheduler=args.scheduler,
        progress=args.progress,
        memory_target=args.memory_target,
    )
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        print(summary.to_text())
    return 0
