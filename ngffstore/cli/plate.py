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
import os
from typing import Any

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
    p.add_argument("output", help="output plate URL: a folder path or s3://bucket/prefix")
    src = p.add_argument_group("layout (one of)")
    which = src.add_mutually_exclusive_group(required=True)
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
    add_output_args(p)
    add_run_args(p)
    add_storage_args(p)
    p.set_defaults(func=run_build)


def _units(pixel_size: str, unit: str) -> dict[str, str]:
    """Units for the axes a ``--pixel-size`` text names (trailing axes when unnamed: y and x,
    then z), before the fields' axes are known."""
    parts = [p for p in pixel_size.replace(" ", ",").split(",") if p.strip()]
    if all("=" in p for p in parts):
        names = [p.split("=", 1)[0].strip().lower() for p in parts]
    else:
        names = ["y", "x"] if len(parts) <= 2 else ["t", "z", "y", "x"][-len(parts):]
    return {a: ("second" if a == "t" else unit) for a in names if a != "c"}


def run_build(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..plate import from_manifest, from_pattern, from_tree, write_plate

    if args.folder and not args.pattern:
        raise InputError("--folder needs --pattern, e.g. --pattern '{well}_s{field}_w{channel}.tif' (or use --tree)")
    if args.pattern and not args.folder:
        raise InputError("--pattern names files below --folder; give --folder DIR")
    source = args.manifest or args.folder or args.tree
    in_options = storage_options_for(source, args)
    if args.manifest:
        plate_input = from_manifest(args.manifest, storage_options=in_options)
    elif args.folder:
        plate_input = from_pattern(args.folder, args.pattern, storage_options=in_options)
    else:
        plate_input = from_tree(args.tree, storage_options=in_options)
    options = output_kwargs(args)  # every field gets the options of convert
    if args.pixel_size is not None:
        options["scale"] = args.pixel_size
        options["units"] = _units(args.pixel_size, args.unit)
    if args.channel_names:
        options["channels"] = [c.strip() for c in args.channel_names.split(",")]
    summary = write_plate(
        plate_input, args.output, rows=args.rows, columns=args.columns, name=args.plate_name,
        axes=args.axes, **options,
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
    from ..plate import open_plate
    from ..plate.names import describe_names

    with open_plate(args.url, storage_options=storage_options_for(args.url, args)) as plate:
        info: dict[str, Any] = {
            "url": plate.url,
            "name": plate.name,
            "version": plate.version,
            "rows": list(plate.rows),
            "columns": list(plate.columns),
            "wells": len(plate.wells),
            "field_count": plate.field_count,
            "acquisitions": [a.__dict__ for a in plate.acquisitions],
        }
        first = None
        if plate.wells:
            try:
                first = plate.field(plate.wells[0].path)
            except Exception as exc:  # noqa: BLE001 - a plate whose first field cannot be opened is still described
                info["first_field_error"] = str(exc)
        if first is not None:
            info["field"] = {
                "url": first.url,
                "axes": first.axes,
                "shape": list(first.shape),
                "dtype": str(first.dtype),
                "channels": [c.label for c in first.channels],
                "levels": [list(lv.shape) for lv in first.levels],
            }
        if args.wells:
            info["well_fields"] = {w: [f.path for f in fs] for w, fs in plate.well_images().items()}
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    lines = [
        f"plate     {info['url']}",
        f"name      {info['name'] or '-'}",
        f"format    OME-NGFF {info['version'] or '?'} HCS plate",
        f"layout    rows {describe_names(info['rows'])}, columns {describe_names(info['columns'])}",
        f"wells     {info['wells']} with images, up to {info['field_count'] or '?'} fields each",
    ]
    if info["acquisitions"]:
        lines.append("acquis.   " + ", ".join(
            f"{a['id']}" + (f" ({a['name']})" if a.get("name") else "") for a in info["acquisitions"]
        ))
    if "field" in info:
        f = info["field"]
        lines.append(
            f"fields    {f['axes']} {'x'.join(map(str, f['shape']))} {f['dtype']}, {len(f['levels'])} levels "
            f"(smallest {'x'.join(map(str, f['levels'][-1]))}), channels {', '.join(f['channels'])}"
        )
    elif "first_field_error" in info:
        lines.append(f"fields    cannot open the first field: {info['first_field_error']}")
    if args.wells:
        for w, fs in info["well_fields"].items():
            lines.append(f"  {w:<8} {', '.join(fs) or '(no fields)'}")
    print("\n".join(lines))
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
    which.add_argument("--max-size", type=int, default=None, help="longest edge of each field in pixels (default 256)")
    which.add_argument("--level", type=int, default=None, help="read this level of every field (-1: the smallest)")
    sel = p.add_argument_group("selection")
    sel.add_argument("-c", "--channel", action="append", default=None, metavar="C",
                     help="channel index or label; repeat or separate with commas (default: all)")
    sel.add_argument("--z", type=int, default=0, help="z plane, level-0 index (default 0)")
    sel.add_argument("--t", type=int, default=0, help="time point (default 0)")
    sel.add_argument("--field", action="append", type=int, default=None, metavar="N",
                     help="field position(s) to show (default: all fields of each well)")
    sel.add_argument("--gap", type=int, default=2, help="pixels between wells (default 2)")
    p.add_argument("--memory-cap", type=parse_bytes, default=None,
                   help="refuse mosaics larger than this, e.g. 2GiB (default 1GiB)")
    add_storage_args(p)
    p.set_defaults(func=run_thumbnail)


def run_thumbnail(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..plate import open_plate
    from .window import parse_channels

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".png", ".tif", ".tiff", ".npy"):
        raise InputError(f"cannot write {args.output!r}: use a .png, .tif or .npy file name")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {args.output}: the folder {folder} does not exist")
    max_size = args.max_size if args.max_size is not None or args.level is not None else 256
    channels = parse_channels(args.channel)
    c: Any = channels[0] if channels and len(channels) == 1 else channels
    with open_plate(args.url, storage_options=storage_options_for(args.url, args), memory_cap=args.memory_cap) as plate:
        mosaic = plate.grid(
            max_size, level=args.level, c=c, z=args.z, t=args.t, fields=args.field, gap=args.gap,
        )
        pixels = mosaic.compute()
    what = save_mosaic(mosaic, pixels, args.output, active_only=channels is None)
    n_r, n_c = len(mosaic.rows), len(mosaic.columns)
    print(
        f"wrote {args.output} ({what}) from level {mosaic.level}: {n_r}x{n_c} wells of "
        f"{mosaic.layout[0]}x{mosaic.layout[1]} fields of {mosaic.tile[1]}x{mosaic.tile[0]} px"
    )
    return 0


def save_mosaic(mosaic: Any, pixels: Any, path: str, *, active_only: bool = True) -> str:
    """Write a mosaic: ``.png`` colour composite (the image reader's rendering), else raw values."""
    import numpy as np

    ext = os.path.splitext(path)[1].lower()
    if ext == ".png":
        from PIL import Image as PILImage

        from ..image.render import composite

        rgb = composite(pixels, mosaic.axes, mosaic.channels, active_only=active_only)
        PILImage.fromarray(rgb).save(path)
        return f"{rgb.shape[1]}x{rgb.shape[0]} RGB"
    if ext == ".npy":
        np.save(path, pixels)
    else:
        import tifffile

        tifffile.imwrite(path, pixels, metadata={"axes": mosaic.axes.upper()})
    return f"{'x'.join(map(str, pixels.shape))} {pixels.dtype} ({mosaic.axes})"
