"""``ngffstore rois import|export|list|stats|from-labels|rasterize|delete``: vector ROIs of an image.

ROIs are geometries in level-0 pixels (origin top left, x = column) with ontology terms, stored
in named layers as GeoParquet inside the image (see specs/rois.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from ..plugins import converters
from ._common import add_storage_args, group_usage, image_storage_options, storage_options_for

ORDER = 45
FORMATS = ("geojson", "wkt", "csv", "cytomine")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rois",
        help="import, export, list, measure and rasterize vector ROIs (annotations)",
        description=__doc__,
    )
    cmds = p.add_subparsers(dest="rois_command", metavar="SUBCOMMAND")

    i = cmds.add_parser(
        "import",
        help="import ROIs from GeoJSON (QuPath), WKT, CSV or Cytomine JSON into a layer",
        description=(
            "Import the ROIs of FILE into layer NAME of IMAGE_URL. Nothing is written when any "
            "geometry is invalid WKT/GeoJSON, empty or entirely outside the image, or a term is not "
            "in --ontology. Self-intersecting polygons are repaired (shapely make_valid) with a "
            "warning, or refused with --no-repair. Cytomine coordinates (origin bottom left) are "
            "flipped with the image height."
        ),
    )
    i.add_argument(
        "image", metavar="IMAGE_URL", help="the image (or plate field): a folder path or s3:// URL"
    )
    i.add_argument("file", metavar="FILE", help="annotation file (local path or URL)")
    i.add_argument("--layer", required=True, help="layer name (letters, digits, '_', '.', '-')")
    i.add_argument(
        "--term", action="append", default=[], help="term given to every ROI (repeat for several)"
    )
    i.add_argument(
        "--format",
        default="auto",
        choices=("auto",) + FORMATS,
        help="file format (default: from the name and content)",
    )
    i.add_argument(
        "--ontology",
        metavar="FILE",
        help="ontology JSON (ngffstore, Cytomine ontology or term list): terms must be in it",
    )
    i.add_argument(
        "--kind",
        choices=("user", "algorithm", "reviewed"),
        default=None,
        help="layer kind (default user)",
    )
    i.add_argument("--author", help="who or what made the ROIs (user name, job id)")
    mode = i.add_mutually_exclusive_group()
    mode.add_argument("--overwrite", action="store_true", help="replace an existing layer")
    mode.add_argument(
        "--append",
        action="store_true",
        help="add to an existing layer (ROIs this same import already added are not added again: "
        "a rerun says so and changes nothing)",
    )
    i.add_argument(
        "--no-repair",
        dest="repair",
        action="store_false",
        help="refuse invalid polygons instead of repairing them",
    )
    add_storage_args(i)
    i.set_defaults(func=run_import)

    e = cmds.add_parser("export", help="export a layer as GeoJSON, WKT, CSV or Cytomine JSON")
    e.add_argument("image", metavar="IMAGE_URL")
    e.add_argument("--layer", required=True, help="layer name")
    e.add_argument("--format", required=True, choices=FORMATS, help="output format")
    e.add_argument("-o", "--output", help="file to write (default: standard output)")
    e.add_argument(
        "--term", action="append", default=None, help="only ROIs with this term (or one below it)"
    )
    e.add_argument("--bbox", help="only ROIs intersecting x,y,width,height (level-0 pixels)")
    add_storage_args(e)
    e.set_defaults(func=run_export)

    ls = cmds.add_parser("list", help="list the ROI layers of an image with counts per term")
    ls.add_argument("image", metavar="IMAGE_URL")
    ls.add_argument("--json", action="store_true", help="print JSON")
    add_storage_args(ls)
    ls.set_defaults(func=run_list)

    s = cmds.add_parser(
        "stats",
        help="count, total and mean area per term (pixels and physical units) as CSV",
        description=(
            "Statistics per term for one or more images, or every image below --collection ROOT. "
            "Areas are in level-0 pixels and in the image's physical unit squared. With several "
            "images, rows with image '*' add them up."
        ),
    )
    s.add_argument("urls", nargs="*", metavar="IMAGE_URL")
    s.add_argument(
        "--collection", metavar="ROOT", help="every image below this folder or s3:// prefix"
    )
    s.add_argument(
        "--layer", action="append", default=None, help="only this layer (repeat for several)"
    )
    s.add_argument("--per-layer", action="store_true", help="one row per layer and term")
    s.add_argument("-o", "--output", help="CSV file to write (default: standard output)")
    add_storage_args(s)
    s.set_defaults(func=run_stats)

    f = cmds.add_parser(
        "from-labels", help="turn a label image into a layer of polygons (one per label value)"
    )
    f.add_argument("image", metavar="IMAGE_URL")
    f.add_argument("label", metavar="LABEL", help="label image name (IMAGE/labels/LABEL)")
    f.add_argument("--layer", required=True, help="layer name")
    f.add_argument("--kind", choices=("user", "algorithm", "reviewed"), default="algorithm")
    f.add_argument("--author", help="default: labels:LABEL")
    f.add_argument("--overwrite", action="store_true", help="replace an existing layer")
    add_storage_args(f)
    f.set_defaults(func=run_from_labels)

    r = cmds.add_parser("rasterize", help="write a layer as a label image (label value = ROI id)")
    r.add_argument("image", metavar="IMAGE_URL")
    r.add_argument("--layer", required=True, help="layer name")
    r.add_argument("--name", required=True, help="label image name")
    r.add_argument("--term", action="append", default=None, help="only ROIs with this term")
    r.add_argument("--overwrite", action="store_true", help="replace an existing label image")
    add_storage_args(r)
    r.set_defaults(func=run_rasterize)

    d = cmds.add_parser("delete", help="delete a layer")
    d.add_argument("image", metavar="IMAGE_URL")
    d.add_argument("--layer", required=True, help="layer name")
    add_storage_args(d)
    d.set_defaults(func=run_delete)

    p.set_defaults(func=lambda args: _usage(p))


_usage = group_usage
_options = image_storage_options


def _warn_lines(caught: list[warnings.WarningMessage], command: str) -> None:
    for w in caught:
        print(f"ngffstore rois {command}: warning: {w.message}", file=sys.stderr)


def run_import(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = converters().import_rois(
            args.file,
            args.image,
            layer=args.layer,
            format=args.format,
            terms=args.term,
            ontology=args.ontology,
            kind=args.kind,
            author=args.author,
            overwrite=args.overwrite,
            append=args.append,
            repair=args.repair,
            storage_options=_options(args),
            input_storage_options=storage_options_for(args.file, args),
        )
    _warn_lines(caught, "import")
    print(result.to_text())
    return 0


def _parse_bbox(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    from ..errors import InputError

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InputError(f"--bbox must be x,y,width,height in level-0 pixels, not {text!r}")
    return values


def run_export(args: argparse.Namespace) -> int:
    to_stdout = args.output in (None, "-")
    result = converters().export_rois(
        args.image,
        None if to_stdout else args.output,
        layer=args.layer,
        format=args.format,
        terms=args.term,
        bbox=_parse_bbox(args.bbox),
        storage_options=_options(args),
        output_storage_options=None if to_stdout else storage_options_for(args.output, args),
    )
    if to_stdout:
        sys.stdout.write(result.text)
    else:
        print(result.to_text(), file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ..rois import read_rois_attrs

    rois = read_rois_attrs(args.image, storage_options=_options(args))
    if args.json:
        print(json.dumps(rois.to_dict(), indent=2))
        return 0
    if not rois.layers:
        print(f"no ROI layers in {args.image}")
        return 0
    for name in sorted(rois.layers):
        print(rois.layers[name].to_text())
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..rois import export_statistics

    if not args.urls and not args.collection:
        raise InputError("give one or more image URLs, or --collection ROOT")
    first = args.collection or args.urls[0]
    to_stdout = args.output in (None, "-")
    result = export_statistics(
        args.urls,
        None if to_stdout else args.output,
        collection=args.collection,
        layer=args.layer,
        per_layer=args.per_layer,
        storage_options=storage_options_for(first, args),
        output_storage_options=None if to_stdout else storage_options_for(args.output, args),
    )
    if result.text is not None:
        sys.stdout.write(result.text)
    else:
        print(result.to_text(), file=sys.stderr)
    return 0


def run_from_labels(args: argparse.Namespace) -> int:
    from ..rois import from_labels

    layer = from_labels(
        args.image,
        label=args.label,
        layer=args.layer,
        kind=args.kind,
        author=args.author,
        overwrite=args.overwrite,
        storage_options=_options(args),
    )
    print(f"wrote {layer.count} polygons from label image {args.label!r} to layer {args.layer!r}")
    return 0


def run_rasterize(args: argparse.Namespace) -> int:
    from ..rois import rasterize

    labels = rasterize(
        args.image,
        layer=args.layer,
        label=args.name,
        terms=args.term,
        overwrite=args.overwrite,
        storage_options=_options(args),
    )
    print(
        f"wrote layer {args.layer!r} as label image {args.name!r} ({labels.dtype}, "
        f"{labels.property_count} labels) to {labels.url}"
    )
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from ..rois import remove_roi_layer

    remove_roi_layer(args.image, args.layer, storage_options=_options(args))
    print(f"deleted layer {args.layer!r} of {args.image}")
    return 0
