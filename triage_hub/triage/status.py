"""Is Ollama reachable, and does it have our model? Asked by /health, cached briefly."""

from __future__ import annotations

import asyncio
import time

import ollama

from triage_hub.engines.ollama import LLMReport, check_llm

CACHE_SECONDS = 5.0


class LLMStatus:
    """Probes GET /api/tags at most every few seconds."""

    def __init__(self, client: ollama.AsyncClient, host: str, model: str) -> None:
        self._client = client
        self._host = host
        self._model = model
        self._report: LLMReport | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def report(self) -> LLMReport:
        """The latest report, refreshed when older than CACHE_SECONDS."""
        async with self._lock:
            if self._report is None or time.monotonic() - self._checked_at > CACHE_SECONDS:
                self._report = await check_llm(self._client, self._host, self._model)
                self._checked_at = time.monotonic()
            return self._report
