"""The claimer pool: tasks that lease PENDING tickets, have an engine triage them, and store
the outcome. The queue side only: claims, leases, the breaker, hand-backs, reaping; what
triages is an engine (engines/), chosen per claim by TRIAGE_ENGINE and the breaker."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from triage_hub.db import claims
from triage_hub.db.claims import Claim
from triage_hub.db.notify import Notifier, Wakeup
from triage_hub.db.pool import Database
from triage_hub.engines.base import Engine, EngineAnswer, InvalidAnswer
from triage_hub.engines.llm import missing_model_hint
from triage_hub.errors import DatabaseUnavailable
from triage_hub.logs import about, without_credentials
from triage_hub.metrics import Metrics
from triage_hub.settings import Settings
from triage_hub.supervisor import Supervised, Supervisor
from triage_hub.triage import lease
from triage_hub.triage.breaker import CircuitBreaker, Permit
from triage_hub.triage.drafts import DraftStreamer
from triage_hub.triage.faults import LLMUnavailable
from triage_hub.triage.lease import LeaseLost
from triage_hub.triage.outcomes import Outcomes
from triage_hub.triage.output import TriageOutput

log = logging.getLogger(__name__)

EngineMode = Literal["auto", "llm", "builtin"]


@dataclass(frozen=True)
class EngineChoice:
    """What triages (TRIAGE_ENGINE): `llm` asks the LLM and waits out its outages; `builtin`
    never asks it; `auto` asks it when it answers, and the built-in engine at once while it
    does not. `llm` is shared by every claimer (the pool of LLM hosts, engines/pool.py); who
    made it closes it, after the claimers have stopped."""

    mode: EngineMode
    llm: Engine | None = None
    builtin: Engine | None = None
    # How likely a second opinion finds an LLM triage: its confidence when the LLM gives none.
    judge: Callable[[str, TriageOutput], Awaitable[dict[str, float]]] | None = None


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
        engines: EngineChoice,
    ) -> None:
        self.settings = settings
        self.db = db
        self.wakeup = wakeup
        self.notifier = notifier
        self.breaker = breaker
        self.metrics = metrics
        self.drafts = drafts
        self.supervisor = supervisor
        self.engines = engines
        self.outcomes = Outcomes(settings, db, wakeup, metrics)
        self.name = claimer_name()
        self.stopping = asyncio.Event()
        self.in_flight: dict[uuid.UUID, Claim] = {}
        self._claimers: list[Supervised] = []
        self._reaper: list[Supervised] = []
        self._missing_model_logged = False

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
        """One claimer: claim, triage, store, until stopping."""
        llm = self.engines.llm if self.engines.mode != "builtin" else None
        while not self.stopping.is_set():
            async with self._permit() as permit:
                if permit is None:
                    return
                worked = await self._claim_and_triage(llm, permit)
            if not worked:
                await self.wakeup.wait(self.settings.poll_seconds)

    @contextlib.asynccontextmanager
    async def _permit(self) -> AsyncIterator[Permit | None]:
        """Leave for one claim: from the breaker, or always the built-in engine's."""
        if self.engines.mode == "builtin":
            yield Permit(probe=False, fallback=True)
            return
        auto = self.engines.mode == "auto"
        async with self.breaker.permit(self.stopping, fall_back=auto) as permit:
            yield permit

    async def _claim_and_triage(self, llm: Engine | None, permit: Permit) -> bool:
        """Claim one ticket and triage it; False when there was none to claim."""
        self.wakeup.clear()
        try:
            # Standing in for the LLM (auto, breaker open): not a built-in result sent back
            # for the LLM ("Retry with the LLM"); that one waits for the probe.
            stand_in = permit.fallback and self.engines.mode == "auto"
            claim = await claims.claim_next_ticket(
                self.db, self.name, self.settings.lease_seconds, probe=permit.probe,
                stand_in=stand_in,
            )  # fmt: skip
        except DatabaseUnavailable:
            return False
        if claim is None:
            return False
        self.in_flight[claim.ticket_id] = claim
        with about(ticket_id=claim.ticket_id):  # every line logged meanwhile names the ticket
            try:
                await self._triage(llm, claim, permit)
            except DatabaseUnavailable:
                # The outcome could not be stored; the lease expires and the reaper retries.
                del self.in_flight[claim.ticket_id]
                await asyncio.sleep(1)
            except Exception as error:
                del self.in_flight[claim.ticket_id]
                await self._internal_error(claim, error)
                raise  # the supervisor logs it (naming the ticket: logs.about) and restarts us
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
                backoff_seconds=self.outcomes.policy.after_invalid_answer(claim.attempt),
                max_attempts=self.settings.max_attempts,
            )

    async def _triage(self, llm: Engine | None, claim: Claim, permit: Permit) -> None:
        """One attempt at one ticket, ending in COMPLETED, a retry, FAILED or a hand-back."""
        engine = llm if permit.uses_llm else self.engines.builtin
        assert engine is not None, "TRIAGE_ENGINE names an engine that was not built"
        said: list[str] = []

        async def collect(delta: str) -> None:
            said.append(delta)
            if self.drafts.due(claim.ticket_id):
                await self.drafts.update(claim.ticket_id, "".join(said))

        self.drafts.started(claim.ticket_id)
        try:
            async with self._lease(claim):
                answer = await engine.triage(claim.user_message, collect)
        except LeaseLost:
            log.warning("ticket %s: lease lost mid-call; dropping the answer", claim.ticket_id)
            self.metrics.triage_outcomes.labels("lease_lost").inc()
            return
        except LLMUnavailable as error:
            await self._no_answer(claim, permit, error, "".join(said) or None)
            return
        except InvalidAnswer as error:
            self.breaker.succeeded(permit)  # it answered, even if nonsense
            await self.outcomes.invalid(claim, error)
            return
        finally:
            self.drafts.finished(claim.ticket_id)
        if permit.uses_llm:
            self.breaker.succeeded(permit)
            self._missing_model_logged = False
            self.metrics.llm_call_seconds.observe(answer.total_ms / 1000)
            if answer.first_token_ms is not None:
                self.metrics.llm_first_token_seconds.observe(answer.first_token_ms / 1000)
            answer = await self._with_confidence(claim, answer)
        await self.outcomes.completed(claim, answer)

    async def _with_confidence(self, claim: Claim, answer: EngineAnswer) -> EngineAnswer:
        """An LLM answer without log-probabilities gets the built-in engine's agreement with it
        as its confidence, where there is a built-in engine; never an invented number."""
        judge = self.engines.judge
        if answer.confidence or judge is None:
            return answer
        agreement = await judge(claim.user_message, answer.output)
        return dataclasses.replace(answer, confidence=agreement) if agreement else answer

    async def _no_answer(
        self, claim: Claim, permit: Permit, error: LLMUnavailable, raw: str | None
    ) -> None:
        """The LLM gave no answer. With TRIAGE_ENGINE=auto the built-in engine answers now,
        unless the ticket may be the cause and has not failed often enough to give up; else an
        outage hands the ticket back as it was, and a failure it may cause counts against it."""
        suspect = claim.ticket_id if error.cause.may_be_the_tickets else None
        opened = self.breaker.failed(
            permit, error.message, suspect=suspect, retry_after=error.retry_after
        )
        self._log_llm_down(error, opened)
        if self.engines.mode == "auto" and (suspect is None or self.outcomes.gives_up(claim)):
            await self.outcomes.completed(claim, await self._builtin_answer(claim, error))
        elif suspect is None:
            await self.outcomes.released(claim, error, raw)
        else:
            await self.outcomes.handed_back(claim, error, raw)

    async def _builtin_answer(self, claim: Claim, error: LLMUnavailable) -> EngineAnswer:
        """The built-in engine's triage, when the LLM could not give one."""
        assert self.engines.builtin is not None
        log.info("ticket %s: the LLM gave no answer (%s); the built-in engine triages it",
                 claim.ticket_id, error.message)  # fmt: skip
        async with self._lease(claim):
            return await self.engines.builtin.triage(claim.user_message)

    def _lease(self, claim: Claim) -> contextlib.AbstractAsyncContextManager[None]:
        seconds = self.settings.lease_seconds
        return lease.held(
            lambda: claims.renew_lease(self.db, claim, seconds), seconds, str(claim.ticket_id)
        )

    def _log_llm_down(self, error: LLMUnavailable, opened: bool) -> None:
        if error.model_missing and not self._missing_model_logged:
            self._missing_model_logged = True
            log.error(
                "model %r is not on the LLM server at %s: %s",
                self.settings.model,
                ", ".join(without_credentials(host.url) for host in self.settings.llm_hosts()),
                missing_model_hint(self.settings),
            )
        elif opened and self.engines.mode == "auto":
            log.warning(
                "the LLM is unavailable (%s): tickets are triaged by the built-in engine; "
                "probing the LLM with backoff",
                error,
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
                with about(ticket_id=ticket_id):
                    log.warning("ticket %s: lease expired; reaped to %s", ticket_id, status)
            if any(status == "PENDING" for _, status in reaped):
                self.wakeup.set()
                self.notifier.request()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), interval)
