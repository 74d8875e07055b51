"""A pool of LLM hosts behind one engine: each call goes to the host with the most free slots
for its size, never beyond its slots; a host that fails is skipped behind a breaker of its own
and probed until it answers, its calls going to the others. Only when every host is down does
the pool raise LLMUnavailable, and the claimers' own breaker (and TRIAGE_ENGINE=auto) take
over as with one host."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from triage_hub.engines.base import Engine, EngineAnswer, EngineHealth, InvalidAnswer, OnDelta
from triage_hub.logs import without_credentials
from triage_hub.metrics import Metrics
from triage_hub.settings import LLMHost
from triage_hub.triage.breaker import CircuitBreaker, Permit
from triage_hub.triage.faults import Cause, LLMUnavailable

log = logging.getLogger(__name__)

HostFactory = Callable[[str], Engine]
# How much each new call weighs in a host's tokens/s (an exponential moving average).
_TOKENS_PER_S_WEIGHT = 0.2
_TICKETS = uuid.UUID("6f1c7a52-3f0e-4d55-9b0e-8d3c2a1b7e11")  # names tickets for the breakers


@dataclass
class HostFigures:
    """What one host did, for /metrics and /health."""

    calls: int = 0  # calls sent, answered or not
    answered: int = 0  # calls that gave an answer (valid or not)
    errors: dict[str, int] = field(default_factory=dict)  # calls that gave none, by cause
    answered_seconds: float = 0.0
    tokens_per_second: float | None = None

    @property
    def error_count(self) -> int:
        """Calls that gave no answer."""
        return sum(self.errors.values())


class Host:
    """One LLM server: its slots, its breaker, its engines (one per slot in use, each with a
    connection pool of its own, as each claimer had: httpcore's pool walks all its connections
    on every request, so one pool shared by many calls costs CPU on each)."""

    def __init__(self, url: str, slots: int, factory: HostFactory) -> None:
        self.url = url
        self.label = without_credentials(url)  # in logs, metrics and /health: no password
        self.slots = slots
        self.breaker = CircuitBreaker(what=f"LLM host {self.label}")
        self.in_flight = 0
        self.figures = HostFigures()
        self.last_cause: Cause | None = None
        self._factory = factory
        self._prober: Engine | None = None
        self._engines: list[Engine] = []
        self._idle: list[Engine] = []

    @property
    def free(self) -> int:
        """Slots not in use now."""
        return self.slots - self.in_flight

    @property
    def state(self) -> str:
        """ready (calls go to it) or open (skipped, probed with backoff)."""
        return "open" if self.breaker.is_open else "ready"

    def take_engine(self) -> Engine:
        """An idle engine of this host, or a new one."""
        if self._idle:
            return self._idle.pop()
        engine = self._factory(self.url)
        self._engines.append(engine)
        return engine

    def give_engine(self, engine: Engine) -> None:
        """An engine whose call has ended."""
        self._idle.append(engine)

    async def health(self) -> EngineHealth:
        """Ask the host itself, with an engine kept for asking (never one in a call)."""
        if self._prober is None:
            self._prober = self._factory(self.url)
        return await self._prober.health()

    async def close(self) -> None:
        """Close every engine made for this host."""
        engines, self._engines, self._idle = self._engines, [], []
        if self._prober is not None:
            engines.append(self._prober)
            self._prober = None
        for engine in engines:
            await engine.close()


class _HostFailed(Exception):
    """A host failed this call as a host (not because of the ticket): try another."""

    def __init__(self, error: LLMUnavailable) -> None:
        super().__init__(error.message)
        self.error = error


class LLMPool:
    """The Engine of the claimers over one or more LLM hosts; one pool per process, shared by
    every claimer, closed once."""

    def __init__(
        self,
        hosts: Sequence[LLMHost],
        factory: HostFactory,
        *,
        name: str = "ollama",
        metrics: Metrics | None = None,
    ) -> None:
        if not hosts:
            raise ValueError("an LLM pool needs at least one host")
        self.name = name
        self.hosts = [Host(host.url, host.slots, factory) for host in hosts]
        self._metrics = metrics
        self._changed = asyncio.Condition()
        for host in self.hosts:
            self._publish(host)

    @property
    def slots(self) -> int:
        """Calls the pool runs at once when every host is up."""
        return sum(host.slots for host in self.hosts)

    async def triage(self, ticket_text: str, on_delta: OnDelta | None = None) -> EngineAnswer:
        """Triage on the least busy host; on a host's failure, on another. LLMUnavailable when
        every host is down, or when the failure may be the ticket's; InvalidAnswer as is."""
        failed: set[str] = set()
        streamed = False

        async def forward(delta: str) -> None:
            nonlocal streamed
            streamed = True
            if on_delta is not None:
                await on_delta(delta)

        while True:
            host, permit = await self._acquire(failed)
            # A retry after a host broke off mid-answer would repeat the text: no preview then.
            relay: OnDelta | None = forward if not streamed else None
            try:
                return await self._call(host, permit, ticket_text, relay)
            except _HostFailed as failure:
                failed.add(host.url)
                log.warning(
                    "LLM host %s failed (%s): its calls go to the other hosts, and it is probed "
                    "until it answers",
                    host.label,
                    failure.error.message,
                )

    async def _acquire(self, failed: set[str]) -> tuple[Host, Permit]:
        """A slot on a host (not one that failed this call): a due probe of a host that is
        down first, else the host with the most free slots for its size; waits while every
        host that is up is full. LLMUnavailable when no host is up."""
        async with self._changed:
            while True:
                candidates = [host for host in self.hosts if host.url not in failed]
                for host in candidates:
                    if host.breaker.is_open and host.free > 0:
                        permit = host.breaker.try_permit()
                        if permit is not None:
                            return self._seat(host, permit)
                up = [host for host in candidates if not host.breaker.is_open]
                if not up:
                    # Every host is down: this call is the claimers' own probe (their breaker
                    # lets one through at a time), so probe the host due soonest, now.
                    for host in sorted(candidates, key=lambda host: host.breaker.probe_due_in):
                        permit = host.breaker.try_permit(early=True)
                        if permit is not None and host.free > 0:
                            return self._seat(host, permit)
                        if permit is not None:
                            host.breaker.give_back(permit)
                    raise self._all_down()
                with_room = [host for host in up if host.free > 0]
                if with_room:
                    host = max(with_room, key=lambda host: (host.free / host.slots, host.slots))
                    permit = host.breaker.try_permit()
                    assert permit is not None, "a closed breaker always permits"
                    return self._seat(host, permit)
                # Every host that is up is full: wait for a slot, or for a probe to fall due.
                due = [host.breaker.probe_due_in for host in candidates if host.breaker.is_open]
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(due) + 0.001 if due else None):
                        await self._changed.wait()

    def _seat(self, host: Host, permit: Permit) -> tuple[Host, Permit]:
        host.in_flight += 1
        host.figures.calls += 1
        self._publish(host)
        if self._metrics is not None:
            self._metrics.llm_host_calls.labels(host.label).inc()
        return host, permit

    async def _release(self, host: Host) -> None:
        host.in_flight -= 1
        self._publish(host)
        async with self._changed:
            self._changed.notify_all()

    async def _call(
        self, host: Host, permit: Permit, ticket_text: str, on_delta: OnDelta | None
    ) -> EngineAnswer:
        engine = host.take_engine()
        try:
            answer = await engine.triage(ticket_text, on_delta)
        except InvalidAnswer:
            host.breaker.succeeded(permit)  # it answered: the ticket's problem, not the host's
            host.figures.answered += 1
            raise
        except LLMUnavailable as error:
            self._count_error(host, error)
            if await self._host_at_fault(host, permit, error, ticket_text):
                raise _HostFailed(error) from None
            raise
        except BaseException:
            host.breaker.give_back(permit)  # cancelled (shutdown): no verdict on the host
            raise
        else:
            host.breaker.succeeded(permit)
            self._count_answer(host, answer)
            return answer
        finally:
            host.give_engine(engine)
            await self._release(host)

    async def _host_at_fault(
        self, host: Host, permit: Permit, error: LLMUnavailable, ticket_text: str
    ) -> bool:
        """Whether the host, not the ticket, failed the call (its breaker told either way).
        Refused, busy or without the model: the host. A timeout, a stall, a broken stream or a
        5xx may be the ticket's, unless the host no longer answers its probe (it died mid-call)
        or two different tickets fail on it in a row."""
        wait = error.retry_after  # a busy server's Retry-After holds its next probe back
        if not error.cause.may_be_the_tickets:
            host.breaker.failed(permit, error.message, retry_after=wait)
            return True
        health = await host.health()
        if not health.ready:
            host.breaker.failed(permit, error.message, retry_after=wait)
            return True
        ticket = uuid.uuid5(_TICKETS, ticket_text)
        return host.breaker.failed(permit, error.message, suspect=ticket, retry_after=wait)

    def _all_down(self) -> LLMUnavailable:
        """Every host is down: one error for the claimers' breaker, an outage, not the ticket's."""
        errors = [host.breaker.last_error or "down" for host in self.hosts]
        # The claimers' next probe: not before the first host's (its backoff, its Retry-After).
        soonest = min(host.breaker.probe_due_in for host in self.hosts)
        if len(self.hosts) == 1:
            return LLMUnavailable(errors[0], self._outage_cause(), retry_after=soonest)
        listed = "; ".join(
            f"{host.label}: {error}" for host, error in zip(self.hosts, errors, strict=True)
        )
        message = f"every LLM host is down ({listed})"
        return LLMUnavailable(message, self._outage_cause(), retry_after=soonest)

    def _outage_cause(self) -> Cause:
        causes = {host.last_cause for host in self.hosts}
        return Cause.MODEL_MISSING if causes == {Cause.MODEL_MISSING} else Cause.UNREACHABLE

    def _count_error(self, host: Host, error: LLMUnavailable) -> None:
        cause = error.cause.value
        host.figures.errors[cause] = host.figures.errors.get(cause, 0) + 1
        host.last_cause = error.cause
        if self._metrics is not None:
            self._metrics.llm_host_errors.labels(host.label, cause).inc()

    def _count_answer(self, host: Host, answer: EngineAnswer) -> None:
        figures = host.figures
        figures.answered += 1
        seconds = answer.total_ms / 1000
        figures.answered_seconds += seconds
        rate: float | None = None
        if answer.completion_tokens and seconds > 0:
            rate = answer.completion_tokens / seconds
            old = figures.tokens_per_second
            figures.tokens_per_second = (
                rate if old is None else old + _TOKENS_PER_S_WEIGHT * (rate - old)
            )
        if self._metrics is not None:
            self._metrics.llm_host_call_seconds.labels(host.label).observe(seconds)
            if answer.completion_tokens:
                self._metrics.llm_host_tokens.labels(host.label).inc(answer.completion_tokens)
            if figures.tokens_per_second is not None:
                self._metrics.llm_host_tokens_per_second.labels(host.label).set(
                    figures.tokens_per_second
                )

    def _publish(self, host: Host) -> None:
        if self._metrics is not None:
            self._metrics.llm_host_slots.labels(host.label).set(host.slots)
            self._metrics.llm_host_in_flight.labels(host.label).set(host.in_flight)
            self._metrics.llm_host_up.labels(host.label).set(0 if host.breaker.is_open else 1)

    def publish(self) -> None:
        """Bring the per-host gauges up to date (when /metrics is read)."""
        for host in self.hosts:
            self._publish(host)

    def describe(self, host: Host) -> dict[str, object]:
        """One host's state and figures, as /health shows agents."""
        figures = host.figures
        mean = figures.answered_seconds / figures.answered if figures.answered else None
        return {
            "url": host.label,
            "slots": host.slots,
            "state": host.state,
            "in_flight": host.in_flight,
            "calls": figures.calls,
            "errors": figures.error_count,
            "last_error": host.breaker.last_error,
            "mean_call_ms": None if mean is None else round(mean * 1000, 1),
            "tokens_per_second": None
            if figures.tokens_per_second is None
            else round(figures.tokens_per_second, 1),
        }

    async def host_health(self) -> list[tuple[Host, EngineHealth]]:
        """Each host asked at once whether it can triage now."""
        answers = await asyncio.gather(*(host.health() for host in self.hosts))
        return list(zip(self.hosts, answers, strict=True))

    async def health(self) -> EngineHealth:
        """Ready while any host is; the detail lists every host."""
        asked = await self.host_health()
        hosts = [{**self.describe(host), "probe": health.detail} for host, health in asked]
        return EngineHealth(self.name, any(h.ready for _, h in asked), {"hosts": hosts})

    async def close(self) -> None:
        """Close every host's engines."""
        for host in self.hosts:
            await host.close()
