"""``ngffstore search ROOT_URL EXPR``: find images by metadata in a collection's index."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

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


def _cell(value: Any, sep: str) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list):
        return sep.join(str(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    import math

    if hasattr(value, "isoformat"):
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "tolist") and not isinstance(value, str):
        return value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def run(args: argparse.Namespace) -> int:
    from ..index.search import DEFAULT_COLUMNS, ExpressionError, parse_expression, search

    options = storage_options_for(args.root, args)
    columns: list[str] | None
    if args.columns:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    elif args.format == "json":
        columns = None
    else:
        columns = list(DEFAULT_COLUMNS[1:])
    import warnings

    try:
        if args.expression and args.expression.strip() and columns is not None and not args.columns:
            columns += [c.name for c in parse_expression(args.expression).columns]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = search(args.root, args.expression, columns=columns, storage_options=options, limit=args.limit)
    except ExpressionError as exc:
        if getattr(exc, "expression", ""):
            print(exc.caret(), file=sys.stderr)
        raise
    frame = result.loc[:, ~result.columns.duplicated()]
    if args.format == "json":
        records = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
        print(json.dumps(records, indent=2, default=str))
    elif args.format == "csv":
        print(frame.apply(lambda col: col.map(lambda v: _cell(v, ";"))).to_csv(index=False), end="")
    elif len(frame):
        shown = frame.drop(columns=["url"]).apply(lambda col: col.map(lambda v: _cell(v, ", ")))
        print(shown.to_string(index=False, na_rep="-"))
    status = result.status
    print(f"{len(frame)} match(es)", file=sys.stderr)
    for warning in caught:
        if issubclass(warning.category, UserWarning):  # not e.g. a library's ResourceWarning
            print(f"warning: {warning.message}", file=sys.stderr)
    if status is not None and status.pending:
        print(
            f"note: {status.pending_changes} change(s) made since the index was written were read "
            f"from the store; run 'ngffstore index {args.root}' to fold them in",
            file=sys.stderr,
        )
    return 0
