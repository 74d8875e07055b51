"""The engine for one LLM server of the chosen backend, and the pool of them all."""

from __future__ import annotations

from functools import partial

from triage_hub.engines.llm import LLMEngine, make_llm_engine
from triage_hub.engines.pool import LLMPool
from triage_hub.metrics import Metrics
from triage_hub.settings import Settings


def make_host_engine(settings: Settings, url: str) -> LLMEngine:
    """An engine of TRIAGE_LLM_BACKEND talking to the LLM server at `url`."""
    return make_llm_engine(settings, url)


def make_pool(settings: Settings, metrics: Metrics | None = None) -> LLMPool:
    """Every host of TRIAGE_LLM_URLS (else OLLAMA_HOST), behind one engine."""
    return LLMPool(
        settings.llm_hosts(),
        partial(make_host_engine, settings),
        name=settings.llm_backend,
        metrics=metrics,
    )
