"""Options shared by several commands (S3 access, scheduler, progress)."""

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
        help="bytes of image data one task holds, e.g. 32MiB (default), 256MB",
    )
    bar = group.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show a progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


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
