"""``ngffstore index ROOT_URL``: build or update the metadata index of a collection."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import add_storage_args, storage_options_for

ORDER = 60


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="build or update the Parquet metadata index at a collection root",
        description=(
            "Build (first run) or update the index ROOT_URL/ngffstore-index.parquet: one row per "
            "image and plate field. Updates read only the nodes changed since the last run."
        ),
    )
    p.add_argument("root", help="collection root: a folder or s3://bucket/prefix")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rebuild", action="store_true", help="crawl the whole store again")
    mode.add_argument("--status", action="store_true", help="only tell whether changes are pending (cheap)")
    mode.add_argument(
        "--check", action="store_true",
        help="compare the index with a crawl of the store; exit 1 if it is out of date",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--grace", type=float, default=None, metavar="SECONDS", help="seconds an applied journal fragment is kept, 0 or more (default 3600)")
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import index
    from ..errors import InputError, StoreNotFoundError

    if args.grace is not None and (args.status or args.check):
        raise InputError("--grace applies to an update of the index; drop it with --status or --check")
    options = storage_options_for(args.root, args)
    if args.status:
        status = index.index_status(args.root, storage_options=options)
        if args.json:
            print(json.dumps(status.to_dict(), indent=2))
        elif not status.exists:
            raise StoreNotFoundError(status.to_text())
        else:
            print(status.to_text())  # pending changes are the status asked for
        return 0 if status.current else 1
    if args.check:
        check = index.check_index(args.root, storage_options=options)
        if args.json:
            print(json.dumps(check.to_dict(), indent=2))
        elif not check.exists:
            raise StoreNotFoundError(check.to_text())
        else:
            # a failed check (an index older than the store) goes to stderr
            print(check.to_text(), file=sys.stdout if check.current else sys.stderr)
        return 0 if check.current else 1
    kwargs = {"grace": args.grace} if args.grace is not None else {}
    report = index.build_index(args.root, storage_options=options, rebuild=args.rebuild, **kwargs)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0
