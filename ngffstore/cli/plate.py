"""HCS plates: ``ngffstore plate`` (build), ``plate-info`` and ``plate-thumbnail`` (overview).

Build a plate from a CSV manifest, a folder of files named by a pattern, or a folder tree::

    ngffstore plate out.zarr --manifest plate.csv          # row,column,field,[channel,z,t,]file
    ngffstore plate out.zarr --folder exp1 --pattern '{well}_s{field}_w{channel}.tif'
    ngffstore plate out.zarr --folder exp1 --pattern 'r{row}c{column}f{field}p{z}-ch{channel}*.tiff'
    ngffstore plate out.zarr --tree exp1                   # exp1/ROW/COL/FIELD(.tif or folder)

Every field becomes a multiscale image with the options of ``convert``. Problems in the input
(wells outside the plate, duplicated fields, missing files, files not matching the pattern,
fields of different shapes) are listed in one message before anything is written.
"""

from __future__ import annotations

import argparse
import json

from ._common import (
    add_output_args,
    add_pixel_size_args,
    add_run_args,
    add_storage_args,
    output_kwargs,
    parse_bytes,
    storage_options_for,
)

ORDER = 40


def register(sub: argparse._SubParsersAction) -> None:
    _register_build(sub)
    _register_info(sub)
    _register_thumbnail(sub)


# -- ngffstore plate ----------------------------------------------------------------------------


def _register_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plate",
        help="build an HCS plate (OME-Zarr) from a CSV manifest, a filename pattern or a folder tree",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("output", help="output plate URL: a folder path or s3://bucket/prefix "
                   "(or the word 'preview' followed by a plate URL: store or check the plate preview)")
    p.add_argument("preview_url", nargs="?", metavar="URL", help=argparse.SUPPRESS)
    src = p.add_argument_group("layout (one of)")
    which = src.add_mutually_exclusive_group()
    which.add_argument("--manifest", metavar="CSV", help="CSV with columns row,column,field,[channel,z,t,acquisition,]file (or well instead of row,column)")
    which.add_argument("--folder", metavar="DIR", help="folder of image files named by --pattern")
    which.add_argument("--tree", metavar="DIR", help="folder tree DIR/ROW/COL/FIELD (image files or folders of channel files)")
    src.add_argument(
        "--pattern", metavar="PAT",
        help="file names below --folder, e.g. '{well}_s{field}_w{channel}.tif' (parts: well, row, column, "
        "field, channel, z, t, acquisition; * matches anything) or a regex with named groups",
    )
    plate = p.add_argument_group("plate")
    plate.add_argument("--rows", help="plate rows: a count (16), a range (A-P) or a list (A,B,C); default: the smallest standard plate that holds the wells")
    plate.add_argument("--columns", help="plate columns: a count (24), a range (1-24) or a list")
    plate.add_argument("--plate-name", help="plate name (default: the manifest or folder name)")
    g = p.add_argument_group("input")
    g.add_argument("--axes", help="axis letters of each input file when they cannot be inferred, e.g. zyx")
    add_pixel_size_args(g)
    g.add_argument("--channel-names", help="comma-separated channel names (for every field)")
    pv = p.add_argument_group(
        "preview (ngffstore plate preview URL [--check | --force])",
        "store the low-resolution mosaic of a plate (any writer's, NGFF 0.4 or 0.5) at URL/preview; "
        "rebuilt only when stale unless --force",
    )
    pv.add_argument("--check", action="store_true", help="only say whether the preview is fresh (one GET per well "
                    "and field); exit 1 when it is stale or absent")
    pv.add_argument("--force", action="store_true", help="rebuild the preview even when it is fresh")
    pv.add_argument("--tile", type=int, default=None, help="longest edge of a field in the preview (default: the "
                    "plate fits 4096 px, 16 to 256 per field)")
    p.add_argument("--no-preview", dest="preview", action="store_false",
                   help="do not store the plate preview after building the plate")
    add_output_args(p)
    add_run_args(p)
    add_storage_args(p)
    p.set_defaults(func=run_build)


def run_preview(args: argparse.Namespace) -> int:
    """``ngffstore plate preview URL``: check, build or rebuild the stored plate preview."""
    from ..errors import InputError
    from ..plate.preview import ensure_plate_preview

    if args.manifest or args.folder or args.tree or args.pattern:
        raise InputError("'plate preview URL' takes no --manifest/--folder/--tree; give just the plate URL")
    options = storage_options_for(args.preview_url, args)
    if args.check and args.force:
        raise InputError("give --check (only look) or --force (rebuild), not both")
    result = ensure_plate_preview(
        args.preview_url, check_only=args.check, force=args.force, tile=args.tile, storage_options=options,
        scheduler=args.scheduler, progress=args.progress,
    )
    print(json.dumps(result.to_dict(), default=list) if args.json and result.has_json else result.to_text())
    return 0 if result.fresh else 1


def run_build(args: argparse.Namespace) -> int:
    from .. import plugins
    from ..errors import InputError

    if args.preview_url is not None:
        if args.output != "preview":
            raise InputError(f"unexpected argument {args.preview_url!r}: 'ngffstore plate OUTPUT --manifest ...' "
                             "builds a plate, 'ngffstore plate preview URL' stores its preview")
        return run_preview(args)
    if not (args.manifest or args.folder or args.tree):
        raise InputError("give one of --manifest CSV, --folder DIR --pattern PAT or --tree DIR "
                         "(or 'ngffstore plate preview URL' for a plate's preview)")
    if args.check or args.force or args.tile is not None:
        raise InputError("--check, --force and --tile belong to 'ngffstore plate preview URL'")
    options = output_kwargs(args)  # every field gets the options of convert
    if args.pixel_size is not None:
        options["scale"] = args.pixel_size
        options["units"] = args.unit
    if args.channel_names:
        options["channels"] = [c.strip() for c in args.channel_names.split(",")]
    source = args.manifest or args.folder or args.tree
    summary = plugins.converters().build_plate(
        args.output, manifest=args.manifest, folder=args.folder, pattern=args.pattern, tree=args.tree,
        input_storage_options=storage_options_for(source, args), rows=args.rows, columns=args.columns,
        name=args.plate_name, axes=args.axes, preview=args.preview, **options,
    )
    print(json.dumps(summary.to_dict(), indent=2, default=str) if args.json else summary.to_text())
    return 0


# -- ngffstore plate-info -----------------------------------------------------------------------


def _register_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plate-info",
        help="describe an HCS plate: rows, columns, wells, fields, acquisitions",
        description="Describe an OME-Zarr HCS plate from its metadata (the plate group, and the first "
        "field; --wells reads every well's field list).",
    )
    p.add_argument("url", help="plate URL: a folder path or s3://bucket/prefix")
    p.add_argument("--wells", action="store_true", help="list every well and its fields (one GET per well)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_storage_args(p)
    p.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    from ..plate.info import plate_info

    info = plate_info(args.url, wells=args.wells, storage_options=storage_options_for(args.url, args))
    print(json.dumps(info.to_dict(), indent=2, default=str) if args.json else info.to_text())
    return 0


# -- ngffstore plate-thumbnail ------------------------------------------------------------------


def _register_thumbnail(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plate-thumbnail",
        help="save an overview of a whole plate (every well and field) from the pyramid levels",
        description="Save a mosaic of every well and field of an HCS plate as a PNG colour composite "
        "(or raw .tif/.npy). Each field is read from its lowest-resolution level that is still at "
        "least --max-size pixels, never from full resolution when a smaller level fits.",
    )
    p.add_argument("url", help="plate URL: a folder path or s3://bucket/prefix")
    p.add_argument("-o", "--output", required=True, help="output file: .png, .tif/.tiff or .npy")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--max-size", type=int, default=None,
                       help="longest edge of each field in pixels (default: the stored preview's tiles when "
                       "the plate has a fresh preview, else 256)")
    which.add_argument("--level", type=int, default=None, help="read this level of every field (-1: the smallest)")
    sel = p.add_argument_group("selection")
    sel.add_argument("-c", "--channel", action="append", default=None, metavar="C",
                     help="channel index or label; repeat or separate with commas (default: all)")
    sel.add_argument("--z", type=int, default=0, help="z plane, level-0 index (default 0)")
    sel.add_argument("--t", type=int, default=0, help="time point (default 0)")
    sel.add_argument("--field", action="append", type=int, default=None, metavar="N",
                     help="field position(s) to show (default: all fields of each well)")
    sel.add_argument("--gap", type=int, default=None, help="pixels between wells (default 2; a PNG of large tiles: a 32nd of a tile)")
    sel.add_argument("--well", default=None, metavar="WELL", help="zoom to one well (B3, B03 or B/3): its fields "
                     "side by side, labelled")
    p.add_argument("--no-labels", dest="labels", action="store_false", help="PNG: no well labels")
    p.add_argument("--no-preview", dest="preview", action="store_false",
                   help="read the fields even when the plate has a fresh stored preview")
    p.add_argument("--memory-cap", type=parse_bytes, default=None,
                   help="refuse mosaics larger than this, e.g. 2GiB (default 1GiB)")
    add_storage_args(p)
    p.set_defaults(func=run_thumbnail)


def run_thumbnail(args: argparse.Namespace) -> int:
    from ..plate.thumbnail import save_plate_thumbnail
    from .window import parse_channels

    result = save_plate_thumbnail(
        args.url, args.output, max_size=args.max_size, level=args.level, channels=parse_channels(args.channel),
        z=args.z, t=args.t, fields=args.field, gap=args.gap, well=args.well, labels=args.labels,
        preview=args.preview, memory_cap=args.memory_cap, storage_options=storage_options_for(args.url, args),
    )
    print(result.to_text())
    return 0
