"""What every example shares: the command line (store URL, scheduler, S3 options, output folder),
a dask scheduler — a ``dask.distributed.LocalCluster`` (2 workers, 1 thread each, no
dashboard) unless ``--scheduler`` names one (an address, or threads/synchronous) — and
:func:`entry`, which turns an ngffstore error into one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def entry(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Wrap an example's ``main(argv) -> exit code``: an :class:`~ngffstore.errors.NgffStoreError`
    (a missing node, a wrong URL, an unreachable scheduler) is printed as one line
    ``<script>: error: <message>`` on stderr and its exit code returned, with no traceback."""
    name = os.path.basename(main.__code__.co_filename)

    @functools.wraps(main)
    def run(argv: Sequence[str] | None = None) -> int:
        from ngffstore.errors import NgffStoreError

        try:
            return main(argv)
        except NgffStoreError as exc:
            print(f"{name}: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            return 130

    return run


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
    from ngffstore.parallel import client_for, parse_scheduler

    if args.scheduler in ("threads", "synchronous", "sync", "processes"):
        yield args.scheduler
        return
    from distributed import Client, LocalCluster

    if args.scheduler:
        # an unknown name or an unreachable address is a SchedulerError (one line, exit 2)
        with client_for(parse_scheduler(args.scheduler)) as client:
            yield client
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", processes=True) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


def out_path(args: argparse.Namespace, name: str) -> str:
    os.makedirs(args.out, exist_ok=True)
    return os.path.join(args.out, name)
