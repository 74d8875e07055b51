"""When a ticket is tried again, and when it is given up on."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from triage_hub.settings import Settings

MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """Invalid answers spend attempts (FAILED at `max_attempts`). Calls that failed in a way the
    ticket may cause are hand-backs: the attempt is refunded, but they are counted, and the
    ticket waits longer each time; it is FAILED at `max_handbacks` — but only if the LLM
    answered other tickets meanwhile, since when it answers nobody that is an outage."""

    max_attempts: int
    max_handbacks: int
    base_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy the settings ask for."""
        return cls(settings.max_attempts, settings.max_handbacks, settings.retry_backoff_seconds)

    def _backoff(self, exponent: int) -> float:
        base = self.base_seconds * 2 ** max(exponent, 0)
        # Jitter, so tickets that failed together do not come back together.
        return float(min(base, MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0))

    def after_invalid_answer(self, attempt: int) -> float:
        """Seconds before the next attempt after an invalid answer on `attempt`."""
        return self._backoff(attempt - 1)

    def after_handback(self, handbacks: int) -> float:
        """Seconds before the next try after the `handbacks`-th hand-back (capped: in an outage
        every ticket is handed back, and none should wait long once the LLM is back)."""
        return self._backoff(min(handbacks, self.max_handbacks) - 1)

    def gives_up(
        self, handbacks: int, failing_since: datetime, answered_at: datetime | None
    ) -> bool:
        """After the `handbacks`-th hand-back of a ticket that has been failing since
        `failing_since`: FAILED, when the LLM answered another ticket since then."""
        return (
            handbacks >= self.max_handbacks
            and answered_at is not None
            and (answered_at > failing_since)
        )
