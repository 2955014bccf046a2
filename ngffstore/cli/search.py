"""``ngffstore search ROOT_URL EXPR``: find images by metadata in a collection's index."""

from __future__ import annotations

import argparse
import sys

from ._common import add_storage_args, storage_options_for

ORDER = 65

EPILOG = """\
expressions:
  channel == "DAPI" and strain == "BY4741"
  size_z > 1 and (tags contains "good" or kv.operator in ["ana", "bo"])
  plate == "P001" and well in ["A1", "A2"] and rois.nucleus >= 10
operators: == != < <= > >= in [..] "not in" contains, and or not, ( ); text in quotes.
Key-values are kv.KEY (or just KEY); list columns (channels, tags, labels) match if any element does.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="find images and plate fields by metadata (uses the index)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("root", help="collection root with an index (see 'ngffstore index')")
    p.add_argument("expression", help="search expression ('' lists everything)")
    p.add_argument("--columns", help="comma-separated columns to show (default: path, name, kind, channels, tags + those searched)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format (default table)")
    p.add_argument("--limit", type=int, default=None, help="show at most N rows")
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..index.search import ExpressionError, search_report

    try:
        report = search_report(
            args.root,
            args.expression,
            columns=args.columns or None,
            format=args.format,
            storage_options=storage_options_for(args.root, args),
            limit=args.limit,
        )
    except ExpressionError as exc:
        if getattr(exc, "expression", ""):
            print(exc.caret(), file=sys.stderr)
        raise
    print(report.output, end="")
    for line in report.notes():
        print(line, file=sys.stderr)
    return 0
