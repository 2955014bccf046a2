"""``ngffstore formats``: the input formats this installation reads, and the extra that adds more."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

ORDER = 12


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("formats", help="list the input formats this installation can convert", description=__doc__)
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import plugins

    rows = plugins.converters().available_formats()
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    for r in rows:
        state = "yes" if r.installed else f"no  (pip install '{r.extra}')"
        print(f"{r.format}\n  suffixes: {r.suffixes}\n  reader: {r.reader}   installed: {state}\n  keeps: {r.metadata}")
    return 0
