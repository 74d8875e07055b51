"""How a claim ends, written fenced by its token: COMPLETED, a retry after an invalid answer,
a hand-back (counted or not), or FAILED."""

from __future__ import annotations

import logging
from datetime import datetime

from triage_hub.db import claims
from triage_hub.db.claims import Claim, Stored, Triage
from triage_hub.db.notify import Wakeup
from triage_hub.db.pool import Database
from triage_hub.engines.base import EngineAnswer, InvalidAnswer
from triage_hub.metrics import Metrics
from triage_hub.settings import Settings
from triage_hub.triage.faults import LLMUnavailable
from triage_hub.triage.retry import RetryPolicy

log = logging.getLogger(__name__)


class Outcomes:
    """Writes the end of each claim, and remembers when the LLM last answered (the database's
    clock): a ticket whose calls keep failing while others get answers is the ticket's problem,
    not an outage."""

    def __init__(self, settings: Settings, db: Database, wakeup: Wakeup, metrics: Metrics) -> None:
        self.settings = settings
        self.db = db
        self.wakeup = wakeup
        self.metrics = metrics
        self.policy = RetryPolicy.from_settings(settings)
        self.answered_at: datetime | None = None

    def _answered(self, stored: Stored | None) -> None:
        if stored is not None and (self.answered_at is None or stored.at > self.answered_at):
            self.answered_at = stored.at

    async def completed(self, claim: Claim, answer: EngineAnswer) -> None:
        """PROCESSING -> COMPLETED with the engine's triage."""
        output = answer.output
        stored = await claims.complete_ticket(
            self.db,
            claim,
            Triage(
                category=output.category,
                sentiment=output.sentiment,
                urgency=output.urgency,
                draft=output.draft,
                raw_response=answer.raw_response,
                model=answer.model,
                first_token_ms=answer.first_token_ms,
                total_ms=answer.total_ms,
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                engine=answer.engine,
                prompt_version=answer.prompt_version,
                confidence=answer.confidence,
                language=answer.language,
            ),
        )
        if answer.engine != "builtin":
            self._answered(stored)
        self.metrics.triage_outcomes.labels("completed" if stored else "lease_lost").inc()
        if stored:
            log.info(
                "ticket %s: COMPLETED by %s (%s, %s, sentiment %d) in %.0f ms",
                claim.ticket_id,
                answer.engine,
                output.category,
                output.urgency,
                output.sentiment,
                answer.total_ms,
            )
        else:
            log.warning("ticket %s: lease lost before the answer was stored", claim.ticket_id)

    async def invalid(self, claim: Claim, error: InvalidAnswer) -> None:
        """An answer that is no triage spends the attempt: PENDING after a backoff, or FAILED."""
        final = claim.attempt >= self.settings.max_attempts
        backoff = self.policy.after_invalid_answer(claim.attempt)
        stored = await claims.retry_or_fail_ticket(
            self.db,
            claim,
            error=error.message,
            raw_response=error.raw_response,
            model=error.model,
            backoff_seconds=backoff,
            max_attempts=self.settings.max_attempts,
        )
        status = stored.status if stored else None
        self._answered(stored)
        self.metrics.triage_outcomes.labels(
            "failed" if status == "FAILED" else "retry" if status else "lease_lost"
        ).inc()
        log.info(
            "ticket %s: invalid answer on attempt %d (%s) -> %s",
            claim.ticket_id,
            claim.attempt,
            error.reason,
            status or "fenced off",
        )
        if status == "PENDING" and not final:
            self.wakeup.set_later(backoff)

    async def released(self, claim: Claim, error: LLMUnavailable, raw: str | None) -> None:
        """An outage: back to PENDING as it was, the attempt refunded."""
        await claims.release_ticket(self.db, claim, reason=error.message, raw_response=raw)
        self.metrics.triage_outcomes.labels("handed_back").inc()

    def gives_up(self, claim: Claim) -> bool:
        """Whether this failure, one the ticket may cause, is one too many."""
        return self.policy.gives_up(claim.handbacks + 1, claim.failing_since, self.answered_at)

    async def handed_back(self, claim: Claim, error: LLMUnavailable, raw: str | None) -> None:
        """A failure the ticket may cause: counted, backed off, and FAILED past the bound."""
        handbacks = claim.handbacks + 1
        give_up = self.gives_up(claim)
        backoff = self.policy.after_handback(handbacks)
        timeout, stall = self.settings.llm_timeout, self.settings.stall_seconds
        status = await claims.hand_back_ticket(
            self.db,
            claim,
            reason=error.given_up(handbacks, timeout, stall) if give_up else error.message,
            raw_response=raw,
            backoff_seconds=backoff,
            give_up=give_up,
        )
        self.metrics.triage_outcomes.labels(
            "failed" if status == "FAILED" else "handed_back" if status else "lease_lost"
        ).inc()
        log.info(
            "ticket %s: no answer (%s), hand-back %d of %d -> %s",
            claim.ticket_id,
            error.message,
            handbacks,
            self.settings.max_handbacks,
            status or "fenced off",
        )
        if status == "PENDING":
            self.wakeup.set_later(backoff)
