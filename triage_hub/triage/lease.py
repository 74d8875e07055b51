"""The heartbeat of a claim (a ticket's, a delivery's): an async context manager that renews the
lease on a timer for as long as the block runs, and ends the block with LeaseLost when the
reaper took the job back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from triage_hub.errors import DatabaseUnavailable


class LeaseLost(Exception):
    """The reaper took the job back: this claim's writes would be fenced off anyway."""


@contextlib.asynccontextmanager
async def held(
    renew_lease: Callable[[], Awaitable[bool]], lease_seconds: float, name: str
) -> AsyncIterator[None]:
    """Renew the lease (`renew_lease()`: False when it was lost) every third of it while the
    block runs — on a timer, not when chunks arrive: a cold model may say nothing for a minute.
    A database outage skips a renewal (the final write is fenced if the lease lapsed); a lost
    lease cancels the block."""
    block = asyncio.current_task()
    assert block is not None
    lost = asyncio.Event()

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            try:
                renewed = await renew_lease()
            except DatabaseUnavailable:
                continue
            if not renewed:
                lost.set()
                block.cancel()
                return

    heartbeat = asyncio.create_task(renew(), name=f"lease {name}")
    try:
        try:
            yield
        finally:
            heartbeat.cancel()
            # Not `await heartbeat`: a cancellation it sent us just as the block ended must
            # surface here, as LeaseLost, not as the heartbeat's own.
            await asyncio.wait({heartbeat})
    except asyncio.CancelledError:
        if not lost.is_set():
            raise  # a shutdown, not the lease
        block.uncancel()
        raise LeaseLost from None
