"""``ngffstore meta``: key-value pairs, tags, a description and tables on an image, plate or well."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import add_storage_args, storage_options_for

ORDER = 50


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "meta",
        help="set or show key-values, tags, description and tables of an image, plate or well",
        description=__doc__,
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=_IntermixedParser)

    s = verbs.add_parser("set", help="set key-value pairs", description="Set key=value pairs (merged into the existing ones).")
    s.add_argument("url", help="image, plate or well URL")
    s.add_argument(
        "pairs", nargs="*", metavar="KEY=VALUE",
        help="pairs to set, e.g. strain=BY4741 (an empty value is refused: remove a key with --remove)",
    )
    s.add_argument("--remove", action="append", default=[], metavar="KEY", help="remove a key (repeatable)")
    s.add_argument("--typed", action="store_true", help="store numbers and true/false as such (default: text)")
    _common(s, _set)

    g = verbs.add_parser("get", help="show the metadata", description="Show key-values, tags, description and tables.")
    g.add_argument("url", help="image, plate or well URL")
    g.add_argument("--json", action="store_true", help="print JSON")
    _common(g, _get)

    t = verbs.add_parser("tag", help="add (or --remove) tags", description="Add tags, or remove them with --remove.")
    t.add_argument("url", help="image, plate or well URL")
    t.add_argument("tags", nargs="+", metavar="TAG")
    t.add_argument("--remove", action="store_true", help="remove these tags instead of adding them")
    _common(t, _tag)

    d = verbs.add_parser("describe", help="set the description", description="Set the description ('' removes it).")
    d.add_argument("url", help="image, plate or well URL")
    d.add_argument("text", help="the description")
    _common(d, _describe)

    a = verbs.add_parser(
        "attach-table",
        help="attach a CSV/TSV/Parquet table",
        description="Attach a table, stored as <node>/tables/NAME.parquet (CSV and TSV are converted).",
    )
    a.add_argument("url", help="image, plate or well URL")
    a.add_argument("name", help="table name (letters, digits, _ . -)")
    a.add_argument("file", help="a .csv, .tsv or .parquet file")
    a.add_argument("--overwrite", action="store_true", help="replace a table of the same name")
    _common(a, _attach)

    r = verbs.add_parser("table", help="print an attached table", description="Print an attached table.")
    r.add_argument("url", help="image, plate or well URL")
    r.add_argument("name", help="table name")
    r.add_argument("--format", choices=["csv", "json", "table"], default="csv", help="output format (default csv)")
    _common(r, _table)


class _IntermixedParser(argparse.ArgumentParser):
    """Options may come between the positionals: ``meta set URL --typed a=1 b=2``."""

    _inside = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._inside:  # parse_known_intermixed_args calls back in here
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return super().parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def _common(p: argparse.ArgumentParser, func: Any) -> None:
    add_storage_args(p)
    p.set_defaults(func=func)


def _parse_value(text: str, typed: bool) -> Any:
    if not typed:
        return text
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        number = json.loads(text)
    except ValueError:
        return text
    return number if isinstance(number, (int, float)) and not isinstance(number, bool) else text


def _pairs(items: list[str], typed: bool) -> dict[str, Any]:
    from ..errors import ValidationError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"{item!r} is not KEY=VALUE; write e.g. strain=BY4741")
        if not value.strip():
            key = key.strip()
            raise ValidationError(
                f"{item!r} has no value: give one ({key}=VALUE), or remove the key with "
                f"'ngffstore meta set URL --remove {key}'"
            )
        out[key.strip()] = _parse_value(value, typed)
    return out


def _set(args: argparse.Namespace) -> int:
    from ..errors import ValidationError
    from ..metadata import write_metadata

    if not args.pairs and not args.remove:
        raise ValidationError("give KEY=VALUE pairs to set or --remove KEY")
    meta = write_metadata(
        _pairs(args.pairs, args.typed),
        args.url,
        remove_keys=args.remove,
        storage_options=storage_options_for(args.url, args),
    )
    print(meta.to_text())
    return 0


def _get(args: argparse.Namespace) -> int:
    from ..metadata import read_metadata

    meta = read_metadata(args.url, storage_options=storage_options_for(args.url, args))
    print(json.dumps(meta.to_dict(), indent=2) if args.json else meta.to_text())
    return 0


def _tag(args: argparse.Namespace) -> int:
    from ..metadata import write_metadata

    options = storage_options_for(args.url, args)
    if args.remove:
        meta = write_metadata(None, args.url, remove_tags=args.tags, storage_options=options)
    else:
        meta = write_metadata(None, args.url, tags=args.tags, storage_options=options)
    print("tags: " + (", ".join(meta.tags) or "(none)"))
    return 0


def _describe(args: argparse.Namespace) -> int:
    from ..metadata import write_metadata

    meta = write_metadata(
        None,
        args.url,
        description=args.text,
        storage_options=storage_options_for(args.url, args),
    )
    print(f"description: {meta.description or '(none)'}")
    return 0


def _attach(args: argparse.Namespace) -> int:
    from ..metadata import write_table

    info = write_table(
        args.file,
        args.url,
        name=args.name,
        overwrite=args.overwrite,
        storage_options=storage_options_for(args.url, args),
    )
    print(f"table {info.name}: {info.rows} rows, {len(info.columns)} columns -> {info.path}")
    return 0


def _table(args: argparse.Namespace) -> int:
    from ..metadata import read_table

    frame = read_table(args.url, args.name, storage_options=storage_options_for(args.url, args))
    if args.format == "json":
        print(frame.to_json(orient="records", date_format="iso"))
    elif args.format == "table":
        print(frame.to_string(index=False))
    else:
        print(frame.to_csv(index=False), end="")
    return 0
