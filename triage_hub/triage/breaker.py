"""A circuit breaker in front of the LLM: after an outage, one probe at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

# Failures that may be a ticket's own (a timeout, a stall, a 5xx) open the breaker only when this
# many different tickets fail in a row: one poison ticket must not pause every claimer.
SUSPECT_TICKETS_TO_OPEN = 2
# The longest a server's Retry-After may hold the probe back.
MAX_RETRY_AFTER_SECONDS = 300.0


class Permit:
    """Leave to triage one ticket: with the LLM as usual, with the LLM as the one probe of an
    open breaker, or — while it is open and someone else probes — with the built-in engine
    (`fallback`, when the pool may). Settled once, by `succeeded` or `failed`; the breaker's
    `permit()` block settles what is left unsettled."""

    __slots__ = ("fallback", "probe", "settled")

    def __init__(self, probe: bool, fallback: bool = False) -> None:
        self.probe = probe
        self.fallback = fallback
        self.settled = False

    @property
    def uses_llm(self) -> bool:
        """Whether this claim asks the LLM."""
        return not self.fallback


class CircuitBreaker:
    """Closed: every claimer calls the LLM. Open: claimers wait; after a backoff one claim goes
    ahead as the probe; its success closes the breaker, its failure doubles the backoff."""

    def __init__(
        self, *, first_delay: float = 1.0, max_delay: float = 30.0, what: str = "the LLM"
    ) -> None:
        self.what = what  # in the log lines: "the LLM", "LLM host http://gpu1:11434"
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.is_open = False
        self.last_error: str | None = None
        self._delay = first_delay
        self._retry_at = 0.0
        self._probing = False
        self._suspects: set[uuid.UUID] = set()

    @contextlib.asynccontextmanager
    async def permit(
        self, stopping: asyncio.Event, *, fall_back: bool = False
    ) -> AsyncIterator[Permit | None]:
        """A permit for the block (None when stopping); with `fall_back`, an open breaker gives
        a fallback permit at once instead of making the claimer wait. However the block ends —
        nothing to claim, a database error, a bug — an unsettled probe is given back, so the
        breaker can never stay open waiting for a probe that will not report."""
        permit = await self._acquire(stopping, fall_back)
        try:
            yield permit
        finally:
            if permit is not None and not permit.settled:
                self._settle(permit)

    def try_permit(self, *, early: bool = False) -> Permit | None:
        """A permit to call now, without waiting: as usual while closed, as the probe when one
        is due (`early`: even before its backoff ends); None while open and not yet due, or
        while someone else probes."""
        if not self.is_open:
            return Permit(probe=False)
        if not self._probing and (early or time.monotonic() >= self._retry_at):
            self._probing = True
            return Permit(probe=True)
        return None

    @property
    def probe_due_in(self) -> float:
        """Seconds until the next probe may go (0 when closed or due now)."""
        return max(0.0, self._retry_at - time.monotonic()) if self.is_open else 0.0

    def give_back(self, permit: Permit) -> None:
        """An unused permit, settled without a verdict (a probe that was not made)."""
        if not permit.settled:
            self._settle(permit)

    async def _acquire(self, stopping: asyncio.Event, fall_back: bool) -> Permit | None:
        while not stopping.is_set():
            if (permit := self.try_permit()) is not None:
                return permit
            if fall_back:
                return Permit(probe=False, fallback=True)
            wait = max(0.01, min(0.25, self._retry_at - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), wait)
        return None

    def _settle(self, permit: Permit) -> None:
        permit.settled = True
        if permit.probe:
            self._probing = False

    def succeeded(self, permit: Permit) -> None:
        """The LLM answered."""
        self._settle(permit)
        self._suspects.clear()
        if self.is_open:
            log.info("%s answers again; claims resume", self.what)
        self.is_open = False
        self.last_error = None
        self._delay = self.first_delay

    def failed(
        self,
        permit: Permit,
        error: str,
        suspect: uuid.UUID | None = None,
        retry_after: float | None = None,
    ) -> bool:
        """The LLM gave no answer; `suspect` is the ticket when it may be the cause, and
        `retry_after` the seconds the server asked for (no probe before then). True when this
        opened the breaker."""
        self._settle(permit)
        self.last_error = error
        if permit.probe:
            self._delay = min(self._delay * 2, self.max_delay)
            self._probe_after(retry_after)
            log.info(
                "%s is still unavailable (%s); next probe in %.1fs", self.what, error, self._delay
            )
            return False
        if self.is_open:
            if retry_after is not None:
                self._probe_after(retry_after)
            return False
        if suspect is not None:
            self._suspects.add(suspect)
            if len(self._suspects) < SUSPECT_TICKETS_TO_OPEN:
                return False
        self.is_open = True
        self._delay = self.first_delay
        self._probe_after(retry_after)
        return True

    def _probe_after(self, retry_after: float | None) -> None:
        """The next probe after the backoff, and not before the server's Retry-After."""
        wait = max(self._delay, min(retry_after or 0.0, MAX_RETRY_AFTER_SECONDS))
        self._retry_at = max(self._retry_at, time.monotonic() + wait)
