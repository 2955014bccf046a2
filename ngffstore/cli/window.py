"""``ngffstore window URL --x X --y Y --width W --height H -o out.png``: save a region of an image.

Coordinates are level-0 pixels, origin top left, x = column. ``.png`` is a colour composite
(omero channel colours and windows, auto-contrast when absent); ``.tif`` and ``.npy`` hold the
raw values.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_storage_args, parse_bytes, storage_options_for

ORDER = 30


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "window",
        help="save a region of an image as PNG, TIFF or .npy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", help="image URL: a folder path or s3://bucket/prefix")
    region = p.add_argument_group("region (level-0 pixels, origin top left, x = column)")
    region.add_argument("--x", type=int, required=True, help="left edge")
    region.add_argument("--y", type=int, required=True, help="top edge")
    region.add_argument("--width", type=int, required=True, help="width")
    region.add_argument("--height", type=int, required=True, help="height")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--level", type=int, default=None, help="read this pyramid level")
    which.add_argument(
        "--max-size",
        type=int,
        default=None,
        help="longest edge of the output in pixels; the level is chosen to fit (default: level 0, full size)",
    )
    add_read_args(p)
    p.set_defaults(func=run)


def add_read_args(p: argparse.ArgumentParser) -> None:
    """Channel/plane selection, output, memory cap and storage options (shared with thumbnail)."""
    sel = p.add_argument_group("selection")
    sel.add_argument(
        "-c",
        "--channel",
        action="append",
        default=None,
        metavar="C",
        help="channel index or label; repeat or separate with commas (default: all)",
    )
    sel.add_argument(
        "--z", type=int, default=None, help="z plane, level-0 index (PNG default: the middle one)"
    )
    sel.add_argument("--t", type=int, default=None, help="time point (PNG default: 0)")
    sel.add_argument(
        "--series", default=None, help="series of a bioformats2raw collection (default 0)"
    )
    p.add_argument("-o", "--output", required=True, help="output file: .png, .tif/.tiff or .npy")
    p.add_argument("--labels", metavar="NAME", help="overlay the label image NAME with its colours (PNG only)")
    p.add_argument("--labels-alpha", type=float, default=0.5, help="opacity of the label overlay (default 0.5)")
    p.add_argument(
        "--memory-cap",
        type=parse_bytes,
        default=None,
        help="refuse reads whose output exceeds this size, e.g. 2GiB (default 1GiB)",
    )
    add_storage_args(p)


def parse_channels(values: list[str] | None) -> list[int | str] | None:
    if not values:
        return None
    out: list[int | str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part:
                out.append(int(part) if part.lstrip("-").isdigit() else part)
    return out or None


def open_for(args: argparse.Namespace) -> Any:
    from ..image import open_image

    series: int | str | None = args.series
    if isinstance(series, str) and series.isdigit():
        series = int(series)
    return open_image(
        args.url,
        storage_options=storage_options_for(args.url, args),
        memory_cap=args.memory_cap,
        series=series,
    )


def run(args: argparse.Namespace) -> int:
    from ..image.render import save_region

    with open_for(args) as image:
        saved = save_region(
            image,
            args.output,
            bbox=(args.x, args.y, args.width, args.height),
            level=args.level,
            max_size=args.max_size,
            c=parse_channels(args.channel),
            z=args.z,
            t=args.t,
            labels=args.labels,
            labels_alpha=args.labels_alpha,
        )
    print(saved.to_text())
    return 0
