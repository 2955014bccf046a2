"""Let zarr's in-flight chunk reads finish after one of them failed.

zarr gathers the chunk reads of one selection with ``asyncio.gather``, which returns the first
error and leaves the sibling tasks running on zarr's event loop. A command that exits right after
the error (``ngffstore window`` on an image with a corrupt chunk) closes that loop under them and
asyncio prints "Task was destroyed but it is pending!" once per task. :func:`settle_pending_reads`
waits, on zarr's loop, for the tasks in flight when it is called (they are reads of a bounded
selection, so they end soon); it cancels nothing, so concurrent reads of other threads are safe.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

#: Seconds to wait at most for the reads in flight (a stalled network read is left to its own timeout).
SETTLE_TIMEOUT = 60.0


async def _settle(timeout: float) -> int:
    me = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    return len(pending)


def settle_pending_reads(timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait for the tasks in flight on zarr's event loop (call after a failed read; never raises)."""
    try:
        from zarr.core.sync import loop, sync

        if loop[0] is None or loop[0].is_closed():
            return
        n = sync(_settle(timeout))
        if n:
            log.debug("waited for %d chunk read(s) in flight after a failed read", n)
    except Exception as exc:  # noqa: BLE001 - tidying up must not hide the read error
        log.debug("could not settle the reads in flight: %s", exc)
