"""Several fake Ollamas at once, and settings that spread the claimers' calls over them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from tests.fake_ollama import Behaviour, FakeOllama, run_fake_ollama
from tests.fake_openai import run_fake_openai
from triage_hub.settings import Settings


@asynccontextmanager
async def running_fakes(
    count: int, behaviour: Behaviour | None = None, backend: str = "ollama"
) -> AsyncIterator[list[FakeOllama]]:
    """`count` fake LLM servers of the backend (Ollama's API or an OpenAI-compatible one) on
    ports of their own, each answering with `behaviour`."""
    run = run_fake_openai if backend == "openai" else run_fake_ollama
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(run(behaviour=behaviour)) for _ in range(count)]


def llm_urls(fakes: list[FakeOllama], slots: list[int]) -> str:
    """TRIAGE_LLM_URLS for these fakes with these slots."""
    return ",".join(f"{fake.url}={n}" for fake, n in zip(fakes, slots, strict=True))


def pool_settings(
    database_url: str, urls: str, backend: str = "ollama", **overrides: Any
) -> Settings:
    """Settings for the pool's tests: claimers on (one per slot unless TRIAGE_CLAIMERS is
    given), the LLM only, every timing short."""
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "TRIAGE_LLM_URLS": urls,
        "TRIAGE_LLM_BACKEND": backend,
        "TRIAGE_ENGINE": "llm",
        "TRIAGE_DB_CONNECT_ATTEMPTS": 3,
        "TRIAGE_INTAKE_RATE_PER_MINUTE": 0,
        "TRIAGE_LEASE_SECONDS": 5,
        "TRIAGE_POLL_SECONDS": 0.2,
        "TRIAGE_RETRY_BACKOFF_SECONDS": 0.05,
        "TRIAGE_STALL_SECONDS": 5,
        "TRIAGE_LLM_TIMEOUT": 10,
        "TRIAGE_SHUTDOWN_GRACE": 1,
    }
    values.update(overrides)
    return Settings(**values)
