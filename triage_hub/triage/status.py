"""Is the LLM server reachable, and does it serve our model? Asked by /health, cached briefly."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from triage_hub.engines.base import LLMReport

CACHE_SECONDS = 5.0


class Probed(Protocol):
    """An LLM engine that can say whether its server is there with the model."""

    async def report(self) -> LLMReport:
        """The server's state now."""
        ...


class LLMStatus:
    """Probes the server (Ollama's /api/tags, an OpenAI API's /v1/models) at most every few
    seconds."""

    def __init__(self, engine: Probed) -> None:
        self._engine = engine
        self._report: LLMReport | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def report(self) -> LLMReport:
        """The latest report, refreshed when older than CACHE_SECONDS."""
        async with self._lock:
            if self._report is None or time.monotonic() - self._checked_at > CACHE_SECONDS:
                self._report = await self._engine.report()
                self._checked_at = time.monotonic()
            return self._report
