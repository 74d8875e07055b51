"""A circuit breaker in front of Ollama: after an infrastructure fault, one probe at a time."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time

log = logging.getLogger(__name__)


class Permit(enum.Enum):
    """What a claimer may do: claim as usual, or claim as the one probe of a tripped breaker."""

    NORMAL = "normal"
    PROBE = "probe"


class CircuitBreaker:
    """Closed: every claimer calls Ollama. Open: claimers wait; after a backoff one claim goes
    ahead as the probe; its success closes the breaker, its failure doubles the backoff."""

    def __init__(self, *, first_delay: float = 1.0, max_delay: float = 30.0) -> None:
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.is_open = False
        self.last_error: str | None = None
        self._delay = first_delay
        self._retry_at = 0.0
        self._probing = False

    async def acquire(self, stopping: asyncio.Event) -> Permit | None:
        """Wait until a claim may go ahead; None when stopping."""
        while not stopping.is_set():
            if not self.is_open:
                return Permit.NORMAL
            if not self._probing and time.monotonic() >= self._retry_at:
                self._probing = True
                return Permit.PROBE
            wait = max(0.01, min(0.25, self._retry_at - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), wait)
        return None

    def abandon(self, permit: Permit) -> None:
        """The permit was not used (nothing to claim): let another claimer probe."""
        if permit is Permit.PROBE:
            self._probing = False

    def succeeded(self, permit: Permit) -> None:
        """Ollama answered."""
        if permit is Permit.PROBE:
            self._probing = False
        if self.is_open:
            log.info("Ollama answers again; claims resume")
        self.is_open = False
        self.last_error = None
        self._delay = self.first_delay

    def failed(self, permit: Permit, error: str) -> bool:
        """Ollama failed (an infrastructure fault); True when this opened the breaker."""
        self.last_error = error
        if permit is Permit.PROBE:
            self._probing = False
            self._delay = min(self._delay * 2, self.max_delay)
            self._retry_at = time.monotonic() + self._delay
            log.info("Ollama still unavailable (%s); next probe in %.1fs", error, self._delay)
            return False
        if self.is_open:
            return False
        self.is_open = True
        self._delay = self.first_delay
        self._retry_at = time.monotonic() + self._delay
        return True
