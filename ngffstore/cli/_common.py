"""Options shared by several commands (S3 access, scheduler, progress, pyramid output)."""

from __future__ import annotations

import argparse
from typing import Any

from ..storage import storage_options_from_cli


def add_storage_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("object storage (s3:// URLs; AWS_* variables are honoured)")
    group.add_argument("--endpoint-url", help="S3 endpoint, e.g. https://s3.example.org or http://127.0.0.1:9000")
    group.add_argument("--profile", help="AWS profile from ~/.aws/credentials")
    group.add_argument("--anon", action="store_true", help="anonymous access (public buckets)")


def storage_options(args: argparse.Namespace) -> dict[str, Any]:
    return storage_options_from_cli(
        endpoint_url=getattr(args, "endpoint_url", None),
        profile=getattr(args, "profile", None),
        anon=getattr(args, "anon", False),
    )


def storage_options_for(url: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """The S3 options when ``url`` is on S3, else none (a local path takes no options)."""
    return storage_options(args) if str(url).startswith("s3://") else None


def add_run_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument(
        "--scheduler",
        default="threads",
        help="threads (default), processes, synchronous, or a dask.distributed address (tcp://host:8786)",
    )
    group.add_argument(
        "--memory-target",
        type=parse_bytes,
        default=None,
        help="bytes of image data in one block (one task; it holds a strip of it at a time), e.g. 32MiB (default), 256MB",
    )
    add_progress_args(group)


def add_progress_args(group: Any) -> None:
    """``--progress`` / ``--no-progress`` (default: a bar when the output is a terminal)."""
    bar = group.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show a progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def add_pixel_size_args(group: Any) -> None:
    """``--pixel-size`` and ``--unit`` (added to ``group``, a parser or an argument group)."""
    group.add_argument("--pixel-size", help="physical pixel size: '0.325' (y and x), '2,0.325,0.325' (z,y,x) or 'z=2,y=0.3,x=0.3'")
    group.add_argument("--unit", default="micrometer", help="unit of --pixel-size (default micrometer)")


def pixel_size(args: argparse.Namespace, axes: str) -> tuple[dict[str, float] | None, dict[str, str] | None]:
    """``(scale, units)`` from ``--pixel-size``/``--unit`` for an image with ``axes`` (t in seconds)."""
    if getattr(args, "pixel_size", None) is None:
        return None, None
    from ..image.options import parse_scale

    scale = parse_scale(args.pixel_size, axes)
    return scale, {a: ("second" if a == "t" else args.unit) for a in scale}


COMPRESSIONS = ("zstd[:LEVEL]", "blosc-lz4", "blosc-zstd[:LEVEL]", "gzip[:LEVEL]", "none")


def add_output_args(
    parser: argparse.ArgumentParser,
    *,
    compression: str = "zstd",
    chunks: str = "1024 along y/x",
) -> argparse._ArgumentGroup:
    """The "output" options of every command that writes a multiscale image (see :func:`output_kwargs`).

    ``compression`` is the default codec and ``chunks`` describes the default chunk shape.
    """
    o = parser.add_argument_group("output")
    o.add_argument("--chunks", help=f"chunk shape: '512' (y and x), '1,1,16,256,256' or 'z=16,y=256,x=256' (default {chunks})")
    o.add_argument("--shards", help="shard shape (Zarr v3 only), same forms as --chunks, e.g. 4096")
    o.add_argument(
        "--compression",
        default=compression,
        help=f"{', '.join(COMPRESSIONS)} (default {compression})",
    )
    o.add_argument("--min-size", type=int, default=256, help="longest y/x edge of the smallest level (default 256)")
    o.add_argument("--levels", type=int, default=None, help="number of levels (default: until --min-size)")
    o.add_argument("--downsample-z", action="store_true", help="halve z too at each level")
    o.add_argument("--method", default="mean", help="mean (default), nearest, mode, min, max")
    o.add_argument("--ngff-version", default="0.5", choices=["0.4", "0.5"], help="0.5 (Zarr v3, default) or 0.4 (Zarr v2)")
    o.add_argument("--overwrite", action="store_true", help="replace an existing output")
    o.add_argument("--json", action="store_true", help="print the summary as JSON")
    return o


def output_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``write_image`` from the output, execution and storage options."""
    return {
        "chunks": args.chunks,
        "shards": args.shards,
        "compression": args.compression,
        "min_size": args.min_size,
        "levels": args.levels,
        "downsample_z": args.downsample_z,
        "method": args.method,
        "ngff_version": args.ngff_version,
        "storage_options": storage_options_for(args.output, args),
        "overwrite": args.overwrite,
        "scheduler": args.scheduler,
        "progress": args.progress,
        "memory_target": args.memory_target,
    }


def parse_bytes(text: str) -> int:
    units = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6, "mib": 2**20,
             "g": 10**9, "gb": 10**9, "gib": 2**30}
    t = text.strip().lower().replace(" ", "")
    num = t.rstrip("abgikm")
    unit = t[len(num):]
    try:
        return int(float(num) * units[unit])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"cannot read a size from {text!r}; use e.g. 64MiB") from None


def group_usage(parser: argparse.ArgumentParser) -> int:
    """What a command group (``labels``, ``rois``) does when no subcommand is given."""
    import sys

    parser.print_help(sys.stderr)
    return 2


def image_storage_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The S3 options for ``args.image`` (none for a local path)."""
    return storage_options_for(args.image, args)
