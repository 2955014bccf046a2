"""``ngffstore view ROOT [--out DIR]``: write the static browser viewer of a collection.

The viewer is ``index.html``, one script and one stylesheet. Written into the collection (the
default) it is published with the data: serve the folder or bucket over HTTP(S) and open
``index.html``. A catalogue lists every image of the collection index; image pages zoom over the
pyramid with channels, labels and ROI layers; plate pages show the plate preview.
"""

from __future__ import annotations

import argparse

from ._common import add_storage_args, storage_options_for

ORDER = 90


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="write the static browser viewer (index.html + script + stylesheet) into a collection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("root", help="collection root with an index: a folder or s3://bucket/prefix")
    p.add_argument("--out", help="write the viewer here instead of into the collection (folder or s3://)")
    p.add_argument(
        "--data-url",
        help="where the browser finds the collection (https://... or a path relative to the page); "
        "default: the collection relative to --out",
    )
    p.add_argument("--title", help="page title (default: the collection folder's name)")
    p.add_argument(
        "--no-check", dest="check", action="store_false",
        help="do not read the images' array documents to check their codecs",
    )
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..viewer import write_viewer

    report = write_viewer(
        args.root,
        out=args.out,
        data_url=args.data_url,
        title=args.title,
        check=args.check,
        storage_options=storage_options_for(args.root, args) or storage_options_for(args.out or "", args),
    )
    print(report.to_text())
    return 0
