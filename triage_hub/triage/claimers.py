"""The claimer pool: tasks that lease PENDING tickets, ask the LLM, and store the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable
from datetime import datetime

import ollama

from triage_hub.db import claims
from triage_hub.db.claims import Claim, Stored, Triage
from triage_hub.db.notify import Notifier, Wakeup
from triage_hub.db.pool import Database
from triage_hub.errors import DatabaseUnavailable
from triage_hub.metrics import Metrics
from triage_hub.settings import Settings
from triage_hub.supervisor import Supervised, Supervisor
from triage_hub.triage.breaker import CircuitBreaker, Permit
from triage_hub.triage.drafts import DraftStreamer
from triage_hub.triage.llm import LLMResult, LLMUnavailable, make_client, stream_triage
from triage_hub.triage.output import InvalidOutput, parse_triage
from triage_hub.triage.retry import RetryPolicy

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The reaper took the ticket back: this claim's writes would be fenced off anyway."""


def claimer_name() -> str:
    """Who holds a lease, for people reading the table: host, pid and a short random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ClaimerPool:
    """`settings.claimers` tasks plus a reaper, each supervised, started and stopped with the
    app."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        wakeup: Wakeup,
        notifier: Notifier,
        breaker: CircuitBreaker,
        metrics: Metrics,
        drafts: DraftStreamer,
        supervisor: Supervisor,
    ) -> None:
        self.settings = settings
        self.db = db
        self.wakeup = wakeup
        self.notifier = notifier
        self.breaker = breaker
        self.metrics = metrics
        self.drafts = drafts
        self.supervisor = supervisor
        self.policy = RetryPolicy.from_settings(settings)
        self.name = claimer_name()
        self.stopping = asyncio.Event()
        self.in_flight: dict[uuid.UUID, Claim] = {}
        # When the LLM last answered a ticket here (the database's clock): a ticket whose calls
        # keep failing while others get answers is the ticket's problem, not an outage.
        self.answered_at: datetime | None = None
        self._claimers: list[Supervised] = []
        self._reaper: list[Supervised] = []
        self._missing_model_logged = False

    @property
    def renew_interval(self) -> float:
        """Renew a third of the way into the lease, so two renewals can fail before it lapses."""
        return self.settings.lease_seconds / 3

    def start(self) -> None:
        """Start the claimers and the reaper."""
        for number in range(self.settings.claimers):
            self._claimers.append(
                self.supervisor.start(f"claimer-{number}", "claimer", self._claim_loop)
            )
        self._reaper.append(self.supervisor.start("reaper", "reaper", self._reap_loop))
        log.info("%d claimers started as %s", self.settings.claimers, self.name)

    async def stop(self) -> None:
        """Stop claiming, let in-flight calls finish within the grace period, hand back the rest."""
        self.stopping.set()
        self.wakeup.set()
        await self.supervisor.stop(self._claimers, self.settings.shutdown_grace_seconds)
        await self.supervisor.stop(self._reaper)
        unfinished = list(self.in_flight.values())
        for claim in unfinished:
            with contextlib.suppress(DatabaseUnavailable):
                await claims.release_ticket(
                    self.db, claim, reason="handed back at shutdown before the answer came"
                )
        self.metrics.triage_outcomes.labels("handed_back").inc(len(unfinished))
        if unfinished:
            log.info("handed %d unfinished tickets back to PENDING", len(unfinished))
            with contextlib.suppress(DatabaseUnavailable):
                await claims.notify_new_tickets(self.db)

    async def _claim_loop(self) -> None:
        """One claimer, with an Ollama client of its own."""
        # A client, so a connection pool, per claimer: on every request and response httpcore
        # walks all the connections of its pool, and for each idle one all of them again. One
        # pool shared by N claimers made each call 15-20 % dearer in CPU at 8, 40-55 % at 16.
        async with make_client(self.settings.ollama_host, self.settings.llm_timeout) as client:
            while not self.stopping.is_set():
                async with self.breaker.permit(self.stopping) as permit:
                    if permit is None:
                        return
                    worked = await self._claim_and_triage(client, permit)
                if not worked:
                    await self.wakeup.wait(self.settings.poll_seconds)

    async def _claim_and_triage(self, client: ollama.AsyncClient, permit: Permit) -> bool:
        """Claim one ticket and triage it; False when there was none to claim."""
        self.wakeup.clear()
        try:
            claim = await claims.claim_next_ticket(
                self.db, self.name, self.settings.lease_seconds, probe=permit.probe
            )
        except DatabaseUnavailable:
            return False
        if claim is None:
            return False
        self.in_flight[claim.ticket_id] = claim
        try:
            await self._triage(client, claim, permit)
        except DatabaseUnavailable:
            # The outcome could not be stored; the lease expires and the reaper retries.
            del self.in_flight[claim.ticket_id]
            await asyncio.sleep(1)
        except Exception as error:
            del self.in_flight[claim.ticket_id]
            await self._internal_error(claim, error)
            raise  # the supervisor logs it and starts this claimer again
        else:
            del self.in_flight[claim.ticket_id]
        return True

    async def _internal_error(self, claim: Claim, error: Exception) -> None:
        """A bug met this ticket: it spends an attempt (so it cannot loop for ever) and waits."""
        error.add_note(f"while triaging ticket {claim.ticket_id}")
        with contextlib.suppress(Exception):
            await claims.retry_or_fail_ticket(
                self.db,
                claim,
                error=f"internal error in the claimer: {type(error).__name__}",
                raw_response=None,
                model=self.settings.model,
                backoff_seconds=self.policy.after_invalid_answer(claim.attempt),
                max_attempts=self.settings.max_attempts,
            )

    async def _triage(self, client: ollama.AsyncClient, claim: Claim, permit: Permit) -> None:
        """One attempt at one ticket, ending in COMPLETED, a retry, FAILED or a hand-back."""
        said: list[str] = []

        async def collect(delta: str) -> None:
            said.append(delta)
            if self.drafts.due(claim.ticket_id):
                await self.drafts.update(claim.ticket_id, "".join(said))

        call = stream_triage(
            client,
            model=self.settings.model,
            ticket_text=claim.user_message,
            timeout=self.settings.llm_timeout,
            stall_timeout=self.settings.stall_seconds,
            on_chunk=collect,
        )
        self.drafts.started(claim.ticket_id)
        try:
            result = await self._under_lease(claim, call)
        except LeaseLost:
            log.warning("ticket %s: lease lost mid-call; dropping the answer", claim.ticket_id)
            self.metrics.triage_outcomes.labels("lease_lost").inc()
            return
        except LLMUnavailable as error:
            await self._llm_failed(claim, permit, error, "".join(said) or None)
            return
        finally:
            self.drafts.finished(claim.ticket_id)
        self.breaker.succeeded(permit)
        self._missing_model_logged = False
        self.metrics.llm_call_seconds.observe(result.total_ms / 1000)
        if result.first_token_ms is not None:
            self.metrics.llm_first_token_seconds.observe(result.first_token_ms / 1000)
        await self._store(claim, result)

    async def _llm_failed(
        self, claim: Claim, permit: Permit, error: LLMUnavailable, raw: str | None
    ) -> None:
        """No answer: an outage hands the ticket back as it was; a failure the ticket may cause
        counts against it, backs it off, and past the bound fails it."""
        if not error.cause.may_be_the_tickets:
            opened = self.breaker.failed(permit, error.message)
            self._log_llm_down(error, opened)
            await claims.release_ticket(self.db, claim, reason=error.message, raw_response=raw)
            self.metrics.triage_outcomes.labels("handed_back").inc()
            return
        opened = self.breaker.failed(permit, error.message, suspect=claim.ticket_id)
        self._log_llm_down(error, opened)
        handbacks = claim.handbacks + 1
        give_up = self.policy.gives_up(handbacks, claim.failing_since, self.answered_at)
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

    async def _store(self, claim: Claim, result: LLMResult) -> None:
        """Validate the answer and write the outcome, fenced by the claim token."""
        try:
            output = parse_triage(result.text)
        except InvalidOutput as error:
            final = claim.attempt >= self.settings.max_attempts
            backoff = self.policy.after_invalid_answer(claim.attempt)
            stored = await claims.retry_or_fail_ticket(
                self.db,
                claim,
                error=error.message,
                raw_response=result.text,
                model=result.model,
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
                error.message,
                status or "fenced off",
            )
            if status == "PENDING" and not final:
                self.wakeup.set_later(backoff)
            return
        stored = await claims.complete_ticket(
            self.db,
            claim,
            Triage(
                category=output.category,
                sentiment=output.sentiment,
                urgency=output.urgency,
                draft=output.draft,
                raw_response=result.text,
                model=result.model,
                first_token_ms=result.first_token_ms,
                total_ms=result.total_ms,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
            ),
        )
        self._answered(stored)
        self.metrics.triage_outcomes.labels("completed" if stored else "lease_lost").inc()
        if stored:
            log.info(
                "ticket %s: COMPLETED (%s, %s, sentiment %d) in %.0f ms",
                claim.ticket_id,
                output.category,
                output.urgency,
                output.sentiment,
                result.total_ms,
            )
        else:
            log.warning("ticket %s: lease lost before the answer was stored", claim.ticket_id)

    async def _under_lease(self, claim: Claim, call: Awaitable[LLMResult]) -> LLMResult:
        """Await the call, renewing the lease on a timer for as long as it is alive."""
        task = asyncio.ensure_future(call)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.renew_interval)
                if done:
                    return task.result()
                try:
                    renewed = await claims.renew_lease(self.db, claim, self.settings.lease_seconds)
                except DatabaseUnavailable:
                    continue  # keep calling; the final write is fenced if the lease lapsed
                if not renewed:
                    raise LeaseLost
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, LLMUnavailable):
                    await task

    def _answered(self, stored: Stored | None) -> None:
        if stored is not None and (self.answered_at is None or stored.at > self.answered_at):
            self.answered_at = stored.at

    def _log_llm_down(self, error: LLMUnavailable, opened: bool) -> None:
        if error.model_missing and not self._missing_model_logged:
            self._missing_model_logged = True
            log.error(
                "model %r is not on the Ollama server at %s: run `ollama pull %s`",
                self.settings.model,
                self.settings.ollama_host,
                self.settings.model,
            )
        elif opened:
            log.warning("the LLM is unavailable (%s); claims paused, probing with backoff", error)

    async def _reap_loop(self) -> None:
        """Return expired leases to PENDING (or FAILED), in every replica, until stopping."""
        interval = min(max(self.settings.lease_seconds / 4, 0.2), 15.0)
        while not self.stopping.is_set():
            try:
                reaped = await claims.reap_expired_leases(self.db, self.settings.max_attempts)
            except DatabaseUnavailable:
                reaped = []
            self.metrics.leases_reaped.inc(len(reaped))
            for ticket_id, status in reaped:
                log.warning("ticket %s: lease expired; reaped to %s", ticket_id, status)
            if any(status == "PENDING" for _, status in reaped):
                self.wakeup.set()
                self.notifier.request()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), interval)
