"""``ngffstore assemble INPUT_DIR OUTPUT_URL``: folders of 2-D planes -> one 5-D image per position.

The work (and the layout written) is :func:`converters.assemble.assemble`, reached through
:func:`ngffstore.plugins.converters`; this module parses the options and prints the summary.
"""

from __future__ import annotations

import argparse
import json

from ..errors import InputError
from ..plugins import converters
from ._common import (
    add_output_args,
    add_pixel_size_args,
    add_run_args,
    add_storage_args,
    output_kwargs,
    storage_options_for,
)

ORDER = 12
DEFAULT_COMPRESSION = "blosc-lz4"  # the default of converters.assemble.assemble


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "assemble",
        help="assemble folders of 2-D planes (pos*/name_t_c_z.png) into one 5-D image per position",
        description=(
            "Assemble folders of 2-D plane files into one t,c,z,y,x multiscale OME-Zarr image per "
            "position (OUTPUT_URL/<position>), or into a plate with --as-plate. Acquisition text "
            "files at the top of INPUT_DIR are parsed into key-values and tables attached to "
            "every image and to the collection. Planes are read in parallel and streamed."
        ),
        epilog=(
            "Pattern fields: {t} timepoint and {z} plane (numbers, sorted numerically), {c} channel "
            "(text), {name} any text; or a regular expression with named groups, e.g. "
            r"'(?P<c>\w+)_t(?P<t>\d+)_z(?P<z>\d+)'. Parsers: 'module:function' or 'file.py:function' "
            "called with the path of each acquisition file, or the name of an entry point in the "
            "group 'ngffstore.acquisition_parsers'."
        ),
    )
    p.add_argument("input", metavar="INPUT_DIR", help="folder of position folders (local path or s3:// URL)")
    p.add_argument("output", metavar="OUTPUT_URL", help="output collection URL: a folder path or s3://bucket/prefix")
    g = p.add_argument_group("input")
    g.add_argument("--pattern", default="{name}_{t}_{c}_{z}", help="plane file name pattern (default '{name}_{t}_{c}_{z}')")
    g.add_argument("--positions", default="pos{p}", help="position folder pattern (default 'pos{p}'); '.' when the planes lie directly in INPUT_DIR")
    g.add_argument("--channels", help="channel order, comma-separated (default: numeric, else alphabetical)")
    g.add_argument("--fill-missing", action="store_true", help="write zeros for missing planes (recorded) instead of failing")
    g.add_argument("--acquisition", action="append", metavar="GLOB", help="top-level files to parse as acquisition metadata (default '*.txt'; repeatable)")
    g.add_argument("--parser", help="acquisition parser: 'module:function', 'path/to/file.py:function' or an entry-point name (default: key: value lines and tab-separated tables)")
    add_pixel_size_args(g)
    pl = p.add_argument_group("plate")
    pl.add_argument("--as-plate", action="store_true", help="write an NGFF plate; positions become fields of wells")
    pl.add_argument("--wells", help="CSV mapping positions to wells: columns position,well[,field] (e.g. pos001,B03)")
    pl.add_argument("--plate-name", help="plate name (default: the input folder's name)")
    add_output_args(
        p,
        compression=DEFAULT_COMPRESSION,
        chunks="one timepoint and channel, its z-planes up to 4 MiB, 1024 along y/x",
    )
    add_run_args(p)
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.wells and not args.as_plate:
        raise InputError("--wells maps positions to wells of a plate: add --as-plate")
    options = output_kwargs(args)
    storage_options = options.pop("storage_options")
    progress = options.pop("progress")
    result = converters().assemble(
        args.input,
        args.output,
        pattern=args.pattern,
        positions=args.positions,
        fill_missing=args.fill_missing,
        channels=[c.strip() for c in args.channels.split(",") if c.strip()] if args.channels else None,
        acquisition=args.acquisition,
        parser=args.parser,
        pixel_size=args.pixel_size,
        unit=args.unit,
        as_plate=args.as_plate,
        wells=args.wells,
        plate_name=args.plate_name,
        storage_options=storage_options,
        input_storage_options=storage_options_for(args.input, args),
        progress=progress,
        **options,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.to_text())
    return 0
