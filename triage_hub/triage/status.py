"""Do the LLM hosts answer, with our model? Asked by /health, cached briefly (Ollama's
/api/tags, an OpenAI API's /v1/models)."""

from __future__ import annotations

import asyncio
import time

from triage_hub.engines.base import EngineHealth, LLMReport
from triage_hub.engines.pool import Host, LLMPool

CACHE_SECONDS = 5.0


class LLMStatus:
    """Probes every host of the pool at most every few seconds."""

    def __init__(self, pool: LLMPool, model: str) -> None:
        self._pool = pool
        self._model = model
        self._asked: list[tuple[Host, EngineHealth]] = []
        self._report: LLMReport | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def report(self) -> LLMReport:
        """The hosts together, refreshed when older than CACHE_SECONDS: reachable and with the
        model when any host is; the errors of those that are not."""
        async with self._lock:
            if self._report is None or time.monotonic() - self._checked_at > CACHE_SECONDS:
                self._asked = await self._pool.host_health()
                self._report = self._combined()
                self._checked_at = time.monotonic()
            return self._report

    async def hosts(self) -> list[dict[str, object]]:
        """Each host: its state and figures now, and what its last probe found."""
        await self.report()
        return [
            {**self._pool.describe(host), "probe": _report(host, health, self._model).model_dump()}
            for host, health in self._asked
        ]

    def _combined(self) -> LLMReport:
        reports = [_report(host, health, self._model) for host, health in self._asked]
        if len(reports) == 1:
            return reports[0]
        errors = [f"{r.host}: {r.error}" for r in reports if r.error]
        return LLMReport(
            host=", ".join(r.host for r in reports),
            model=self._model,
            reachable=any(r.reachable for r in reports),
            model_available=any(r.reachable and r.model_available for r in reports),
            error="; ".join(errors)[:500] if errors else None,
        )


def _report(host: Host, health: EngineHealth, model: str) -> LLMReport:
    """One host's probe as the LLM part of /health (its engine's own report where it has one)."""
    detail = health.detail
    error = detail.get("error")
    return LLMReport(
        host=str(detail.get("host", host.label)),
        model=str(detail.get("model", model)),
        reachable=bool(detail.get("reachable", health.ready)),
        model_available=bool(detail.get("model_available", health.ready)),
        error=None if error is None else str(error),
    )
