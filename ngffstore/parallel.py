"""Running dask task lists on a chosen scheduler, with a progress bar on a terminal.

``scheduler`` is ``"threads"`` (default), ``"processes"``, ``"synchronous"``, a
``dask.distributed`` address (``tcp://host:8786``) or a ``distributed.Client``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Self

from .errors import InputError, SchedulerError

if TYPE_CHECKING:
    from tqdm import tqdm

LOCAL_SCHEDULERS = ("threads", "processes", "synchronous", "sync", "single-threaded")
#: Local schedulers that run in this process's threads (work on numpy data needs no dask there).
LOCAL_THREADS = ("threads", "synchronous", "sync", "single-threaded")


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def progress_enabled(progress: bool | None) -> bool:
    """Progress bars show on a terminal unless asked otherwise; they are quiet when piped."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


class _QuietBar:
    """A progress bar that shows nothing (tqdm's interface, without importing tqdm)."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def make_bar(total: int, desc: str, progress: bool | None, unit: str = "block") -> tqdm:
    if not progress_enabled(progress):
        return _QuietBar()  # type: ignore[return-value]
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not progress_enabled(progress),
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )


def _task_counter(bar: tqdm, prefix: str) -> Any:
    """A dask callback advancing ``bar`` once per finished task whose key starts with ``prefix``."""
    from dask.callbacks import Callback

    class _TaskCounter(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            name = key[0] if isinstance(key, tuple) else key
            if isinstance(name, str) and name.startswith(prefix):
                bar.update(1)

    return _TaskCounter()


def is_distributed(scheduler: Any) -> bool:
    if scheduler is None:
        return False
    if isinstance(scheduler, str):
        return scheduler not in LOCAL_SCHEDULERS
    return type(scheduler).__name__ == "Client"


def parse_scheduler(scheduler: Any) -> Any:
    if scheduler in (None, ""):
        return "threads"
    if isinstance(scheduler, str) and scheduler not in LOCAL_SCHEDULERS and ":" not in scheduler:
        raise SchedulerError(
            f"unknown scheduler {scheduler!r}: use threads, processes, synchronous or a "
            "dask.distributed address such as tcp://127.0.0.1:8786"
        )
    return scheduler


@contextlib.contextmanager
def client_for(scheduler: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for an address (closed afterwards) or the client given."""
    if not isinstance(scheduler, str):
        yield scheduler
        return
    from distributed import Client

    try:
        client = Client(scheduler, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"cannot reach the dask scheduler at {scheduler}: {exc}; start it or omit --scheduler"
        ) from None
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def local_cluster(workers: int | None, scheduler: Any = "threads") -> Iterator[Any]:
    """``scheduler`` as given, or with ``workers``, a ``distributed.Client`` of a LocalCluster of
    that many single-threaded worker processes (closed afterwards)."""
    if workers is None:
        yield scheduler
        return
    if workers < 1:
        raise InputError(f"--local-cluster needs at least 1 worker, not {workers}")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster, set_as_default=False) as client:
        yield client


def local_get(scheduler: str) -> Any:
    """The dask scheduler function of a local scheduler name.

    Handing dask the function rather than its name skips dask's look for a ``distributed``
    client, which imports ``distributed`` (a third of a second) even when no cluster is used.
    """
    if scheduler == "threads":
        from dask.threaded import get

        return get
    if scheduler == "processes":
        from dask.multiprocessing import get

        return get
    from dask.local import get_sync

    return get_sync


def in_memory(data: Any, scheduler: Any = "threads") -> Any:
    """``data`` computed in this process when it is a dask collection (on threads, or in this
    thread for a synchronous ``scheduler``), anything else as it is.

    For small arrays (attachments, previews, plate fields): handing dask the scheduler function
    skips its look for a ``distributed`` client (see :func:`local_get`).
    """
    if not hasattr(data, "compute"):
        return data
    local = "synchronous" if scheduler in ("synchronous", "sync", "single-threaded") else "threads"
    return data.compute(scheduler=local_get(local))


def compute(tasks: Sequence[Any], *, scheduler: Any, bar: tqdm, prefix: str = "ngffstore-") -> list[Any]:
    """Compute ``tasks`` on ``scheduler``, advancing ``bar`` once per task whose key starts with ``prefix``."""
    scheduler = parse_scheduler(scheduler)
    if is_distributed(scheduler):
        with client_for(scheduler) as client:
            futures = client.compute(list(tasks))
            done = 0
            while done < len(futures):
                time.sleep(0.1)
                now = sum(f.done() for f in futures)
                bar.update(now - done)
                done = now
            return client.gather(futures)
    import dask

    if isinstance(scheduler, str):
        scheduler = local_get(scheduler)
    with _task_counter(bar, prefix):
        return list(dask.compute(*tasks, scheduler=scheduler))


def run(
    tasks: Sequence[Any],
    *,
    scheduler: Any = None,
    progress: bool | None = None,
    desc: str = "working",
    prefix: str = "ngffstore-",
) -> list[Any]:
    """Compute dask ``tasks`` (delayed objects whose keys start with ``prefix``) with a progress bar."""
    if not tasks:
        return []
    with make_bar(len(tasks), desc, progress) as bar:
        return compute(tasks, scheduler=scheduler, bar=bar, prefix=prefix)
