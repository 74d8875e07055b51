"""Is Ollama reachable, and does it have our model? Asked by /health, cached briefly."""

from __future__ import annotations

import asyncio
import time

import ollama
from pydantic import BaseModel

from triage_hub.triage.llm import TRANSPORT_ERRORS

PROBE_TIMEOUT = 2.0
CACHE_SECONDS = 5.0


class LLMReport(BaseModel):
    """The LLM part of /health."""

    host: str
    model: str
    reachable: bool
    model_available: bool
    error: str | None = None


def _same_model(wanted: str, listed: str) -> bool:
    """Ollama lists `name:tag`; a name without a tag means `:latest`."""

    def full(name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    return full(wanted) == full(listed)


async def check_llm(
    client: ollama.AsyncClient,
    host: str,
    model: str,
    timeout: float = PROBE_TIMEOUT,  # noqa: ASYNC109 -- bounds the call inside
) -> LLMReport:
    """Ask GET /api/tags (within `timeout`): is Ollama there, and has it pulled `model`?"""
    report = LLMReport(host=host, model=model, reachable=False, model_available=False)
    try:
        async with asyncio.timeout(timeout):
            listed = await client.list()
    except (TimeoutError, *TRANSPORT_ERRORS) as exc:
        report.error = f"unreachable: {type(exc).__name__}"
        return report
    except (ollama.ResponseError, ValueError) as exc:
        report.error = f"bad answer: {exc}"[:200]
        return report
    report.reachable = True
    report.model_available = any(_same_model(model, entry.model or "") for entry in listed.models)
    if not report.model_available:
        report.error = f"model not pulled: run `ollama pull {model}`"
    return report


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
