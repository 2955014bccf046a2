"""``ngffstore thumbnail URL -o thumb.png``: the whole image from the pyramid level that fits.

The level is the lowest-resolution one whose longest edge is still at least ``--max-size``
pixels (level 0 only when no other is that large); the output is reduced to ``--max-size``.
"""

from __future__ import annotations

import argparse

from .window import add_read_args, open_for, parse_channels

ORDER = 31


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "thumbnail",
        help="save a thumbnail of an image (PNG, TIFF or .npy) from the level that fits",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", help="image URL: a folder path or s3://bucket/prefix")
    p.add_argument(
        "--max-size", type=int, default=256, help="longest edge of the thumbnail (default 256)"
    )
    add_read_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..image.render import save_region

    with open_for(args) as image:
        saved = save_region(
            image,
            args.output,
            max_size=args.max_size,
            c=parse_channels(args.channel),
            z=args.z,
            t=args.t,
            labels=args.labels,
            labels_alpha=args.labels_alpha,
        )
    print(saved.to_text())
    return 0
