"""What every example shares: the command line (store URL, scheduler, S3 options, output folder)
and a dask scheduler — a ``dask.distributed.LocalCluster`` (2 workers, 1 thread each, no
dashboard) unless ``--scheduler`` names one (an address, or threads/synchronous)."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from typing import Any


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    p.add_argument("store", help="the store URL (folder or s3://bucket/prefix), e.g. the demo collection")
    p.add_argument("--scheduler", default=None,
                   help="dask.distributed address (tcp://host:8786), or threads/synchronous "
                        "(default: a LocalCluster of 2 worker processes)")
    p.add_argument("--out", default=".", help="folder for the outputs (default: the current folder)")
    p.add_argument("--endpoint-url", help="S3 endpoint (else AWS_ENDPOINT_URL / AWS_* variables)")
    p.add_argument("--anon", action="store_true", help="anonymous S3 access")
    return p


def storage_options(args: argparse.Namespace) -> dict[str, Any] | None:
    if not str(args.store).startswith("s3://"):
        return None
    from ngffstore.storage import storage_options_from_cli

    return storage_options_from_cli(endpoint_url=args.endpoint_url, anon=args.anon)


@contextlib.contextmanager
def scheduler(args: argparse.Namespace) -> Iterator[Any]:
    """A scheduler for dask.compute / ngffstore writers: a distributed Client, or a local name."""
    if args.scheduler in ("threads", "synchronous", "sync", "processes"):
        yield args.scheduler
        return
    from distributed import Client, LocalCluster

    if args.scheduler:
        with Client(args.scheduler, set_as_default=False) as client:
            yield client
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", processes=True) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


def out_path(args: argparse.Namespace, name: str) -> str:
    os.makedirs(args.out, exist_ok=True)
    return os.path.join(args.out, name)
