"""``ngffstore labels add|list|info|remove|regions``: label images of an image (or plate field)."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import (
    add_run_args,
    add_storage_args,
    group_usage,
    image_storage_options,
    storage_options_for,
)

ORDER = 40


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "labels",
        help="add, list, describe, remove and measure label images",
        description=(
            "Label images live in IMAGE/labels/NAME: integer images with the image's pixel grid and "
            "pyramid levels, colours and per-label properties."
        ),
    )
    cmds = p.add_subparsers(dest="labels_command", metavar="SUBCOMMAND")

    a = cmds.add_parser(
        "add",
        help="write a label image from a TIFF, PNG, npy or Zarr array",
        description=(
            "Write LABEL_INPUT as the label image NAME of IMAGE_URL. The label must have the image's "
            "shape without the channel axis; levels and scales follow the image's. Downsampling "
            "never invents a value (mode by default, or nearest)."
        ),
    )
    a.add_argument("image", metavar="IMAGE_URL", help="the image (or plate field): a folder path or s3:// URL")
    a.add_argument("input", metavar="LABEL_INPUT", help="label file: TIFF, PNG, .npy or a Zarr array")
    a.add_argument("--name", required=True, help="label name, e.g. nuclei (no '/', '..')")
    a.add_argument("--colors", metavar="CSV", help="colours: rows label-value,r,g,b[,a] or label-value,#RRGGBB")
    a.add_argument("--properties", metavar="CSV", help="properties: a CSV with a label-value column")
    a.add_argument("--cast", action="store_true", help="store whole-number floating-point labels as integers")
    a.add_argument("--method", default="mode", choices=["mode", "nearest"], help="downsampling (default mode)")
    a.add_argument("--axes", help="axis letters of the input when they cannot be inferred, e.g. zyx")
    a.add_argument("--chunks", help="chunk shape (default: the image's), e.g. 512 or z=1,y=512,x=512")
    a.add_argument("--overwrite", action="store_true", help="replace an existing label image of that name")
    add_run_args(a)
    add_storage_args(a)
    a.set_defaults(func=run_add)

    ls = cmds.add_parser("list", help="list the label images of an image")
    ls.add_argument("image", metavar="IMAGE_URL")
    ls.add_argument("--json", action="store_true", help="print JSON")
    add_storage_args(ls)
    ls.set_defaults(func=run_list)

    i = cmds.add_parser("info", help="describe a label image: levels, values, colours, properties")
    i.add_argument("image", metavar="IMAGE_URL")
    i.add_argument("name", metavar="NAME")
    i.add_argument("--json", action="store_true", help="print JSON")
    add_storage_args(i)
    i.set_defaults(func=run_info)

    r = cmds.add_parser("remove", help="delete a label image")
    r.add_argument("image", metavar="IMAGE_URL")
    r.add_argument("name", metavar="NAME")
    add_storage_args(r)
    r.set_defaults(func=run_remove)

    g = cmds.add_parser(
        "regions",
        help="per-label area, bounding box and centroid as CSV",
        description=(
            "Measure every label (computed chunk by chunk): label, area_px, area (physical), "
            "{axis}_min/{axis}_max (level-0 pixels, max exclusive), centroid_{axis} (pixels) and "
            "centroid_{axis}_physical."
        ),
    )
    g.add_argument("image", metavar="IMAGE_URL")
    g.add_argument("name", metavar="NAME")
    g.add_argument("-o", "--output", help="CSV file to write (default: standard output)")
    g.add_argument("--level", type=int, default=0, help="measure on this level (faster, approximate)")
    g.add_argument("--scheduler", default="threads", help="threads (default), processes, synchronous or a dask.distributed address")
    add_storage_args(g)
    g.set_defaults(func=run_regions)

    p.set_defaults(func=lambda args: _usage(p))


_usage = group_usage
_options = image_storage_options


def run_add(args: argparse.Namespace) -> int:
    from .. import plugins

    check_name_first(args.name)
    labels = plugins.converters().write_labels_from_file(
        args.input,
        args.image,
        args.name,
        axes=args.axes,
        input_storage_options=storage_options_for(args.input, args),
        colors=args.colors,
        properties=args.properties,
        method=args.method,
        cast=args.cast,
        overwrite=args.overwrite,
        chunks=args.chunks,
        storage_options=_options(args),
        scheduler=args.scheduler,
        progress=args.progress,
        memory_target=args.memory_target,
    )
    shape = "x".join(str(s) for s in labels.shape)
    print(
        f"wrote label image {args.name!r} ({labels.axes} {shape} {labels.dtype}, "
        f"{len(labels.levels)} levels, {labels.color_count} colours, "
        f"{labels.property_count} properties) to {labels.url}"
    )
    return 0


def check_name_first(name: str) -> None:
    from ..labels import check_name

    check_name(name)


def run_list(args: argparse.Namespace) -> int:
    from ..labels import list_labels

    names = list_labels(args.image, storage_options=_options(args))  # refuses a crafted listing
    if args.json:
        print(json.dumps(names))
    else:
        for name in names:
            print(name)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..labels import labels_info

    info = labels_info(args.image, args.name, storage_options=_options(args))
    print(json.dumps(info.to_dict(), indent=2, default=str) if args.json else info.to_text())
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from ..labels import remove_labels

    remove_labels(args.image, args.name, storage_options=_options(args))
    print(f"removed label image {args.name!r} from {args.image}")
    return 0


def run_regions(args: argparse.Namespace) -> int:
    from ..labels import export_regions

    result = export_regions(
        args.image, args.name, args.output, level=args.level, scheduler=args.scheduler, storage_options=_options(args)
    )
    if result.text is not None:
        sys.stdout.write(result.text)
    else:
        print(result.to_text(), file=sys.stderr)
    return 0
