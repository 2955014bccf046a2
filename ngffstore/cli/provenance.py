"""``ngffstore provenance URL``: the history of a node — what ran, with which parameters, on what."""

from __future__ import annotations

import argparse
import json

from ._common import add_storage_args, storage_options_for

ORDER = 55


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provenance", help="print the history of an image, plate or well", description=__doc__)
    p.add_argument("url", help="image, labels, plate or well URL")
    p.add_argument("--json", action="store_true", help="print the records as JSON")
    p.add_argument("--last", type=int, default=None, metavar="N", help="only the N most recent records")
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..provenance import read_provenance

    records = read_provenance(args.url, storage_options=storage_options_for(args.url, args))
    first = 0 if args.last is None else max(0, len(records) - args.last)
    shown = records[first:]
    if args.json:
        print(json.dumps([r.to_dict() for r in shown], indent=2))
    elif not shown:
        print(f"{args.url}: no provenance recorded")
    else:
        print("\n\n".join(r.to_text(first + i + 1) for i, r in enumerate(shown)))
    return 0
