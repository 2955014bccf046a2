"""``ngffstore crop IMAGE_URL --roi ID -o crop.png [--mask | --alpha]``: the pixels around an ROI.

The crop covers the ROI's bounding box (times --increase-area about its centre), read from the
level that fits --max-size. ``--mask`` writes the ROI's mask on the crop's grid (white inside),
``--alpha`` the picture with the outside transparent; ``.tif``/``.npy`` keep raw values.
"""

from __future__ import annotations

import argparse

from .window import add_read_args, open_for, parse_channels

ORDER = 32


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "crop",
        help="save the pixels around an ROI, its mask, or both (alpha)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "url", metavar="IMAGE_URL", help="image URL: a folder path or s3://bucket/prefix"
    )
    p.add_argument("--roi", type=int, required=True, help="ROI id")
    p.add_argument("--layer", help="ROI layer (needed when the id is in several layers)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--mask", action="store_true", help="write the mask (white inside the ROI)")
    what.add_argument(
        "--alpha", action="store_true", help="write the picture with the outside transparent (PNG)"
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--level", type=int, default=None, help="read this pyramid level")
    which.add_argument(
        "--max-size", type=int, default=None, help="longest edge of the output in pixels"
    )
    p.add_argument(
        "--increase-area",
        type=float,
        default=1.0,
        help="multiply the box's width and height by this factor about its centre (default 1)",
    )
    add_read_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..rois._image import save_crop

    saved = save_crop(
        open_for(args),
        args.roi,
        args.output,
        what="mask" if args.mask else ("alpha" if args.alpha else "image"),
        layer=args.layer,
        max_size=args.max_size,
        increase_area=args.increase_area,
        level=args.level,
        c=parse_channels(args.channel),
        z=args.z,
        t=args.t,
    )
    print(saved.to_text())
    return 0
