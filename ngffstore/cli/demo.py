"""``ngffstore demo DEST``: write a realistic sample as OME-TIFF, convert it, and describe it."""

from __future__ import annotations

import argparse
import os
import tempfile

from ._common import add_run_args, add_storage_args, storage_options_for

ORDER = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="write a demo store (synthetic 3-channel cell image) and show what is in it",
        description=(
            "Generate a realistic 3-channel fluorescence image of cells (nuclei, membranes, spots) "
            "as an OME-TIFF with pixel sizes and channel names, convert it to a multiscale OME-Zarr "
            "image under DEST (a folder or s3:// URL) and print its summary."
        ),
    )
    p.add_argument("dest", help="destination folder or s3://bucket/prefix")
    p.add_argument("--size", type=int, default=2048, help="edge of the sample image in pixels (default 2048)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sample")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo store")
    add_run_args(p)
    add_storage_args(p)
    p.set_defaults(func=run)


def write_sample_tiff(path: str, size: int, seed: int) -> None:
    """The demo's input: an OME-TIFF (c, y, x) uint16, tiled, 0.325 µm pixels."""
    import tifffile

    from ..samples import CHANNELS, synthetic_cells

    data = synthetic_cells((3, size, size), seed=seed).compute()
    tifffile.imwrite(
        path,
        data,
        ome=True,
        tile=(256, 256),
        compression="zlib",
        photometric="minisblack",
        metadata={
            "axes": "CYX",
            "Name": "demo cells",
            "PhysicalSizeX": 0.325,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": 0.325,
            "PhysicalSizeYUnit": "µm",
            "Channel": {"Name": [c[0] for c in CHANNELS]},
        },
    )


def run(args: argparse.Namespace) -> int:
    import converters

    from ..image import write_image
    from ..storage import Location

    dest = Location.parse(args.dest, storage_options_for(args.dest, args))
    if args.size < 64:
        from ..errors import InputError

        raise InputError(f"--size {args.size} is too small for a demo; use at least 64")
    with tempfile.TemporaryDirectory(prefix="ngffstore-demo-") as tmp:
        sources = os.path.join(dest.url, "sources") if dest.is_local else tmp
        os.makedirs(sources, exist_ok=True)
        tiff = os.path.join(sources, "cells.ome.tif")
        write_sample_tiff(tiff, args.size, args.seed)
        image_url = dest.child("cells.ome.zarr")
        summary = write_image(
            converters.open_source(tiff),
            image_url,
            overwrite=args.overwrite,
            chunks=512,
            scheduler=args.scheduler,
            progress=args.progress,
            memory_target=args.memory_target,
        )
    print(summary.to_text())
    url = image_url.url
    print("\ntry:")
    print(f"  ngffstore info {url}")
    print(f"  ngffstore validate {url}")
    return 0
