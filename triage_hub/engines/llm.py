"""The LLM engine TRIAGE_LLM_BACKEND names, for one server."""

from __future__ import annotations

from triage_hub.engines.ollama import OllamaEngine
from triage_hub.engines.openai import OpenAIEngine
from triage_hub.settings import Settings

LLMEngine = OllamaEngine | OpenAIEngine


def make_llm_engine(settings: Settings, base_url: str | None = None) -> LLMEngine:
    """An engine of the configured backend for the server at `base_url` (default OLLAMA_HOST:
    for `openai` the API's base URL, ending in /v1)."""
    url = base_url or settings.ollama_host
    if settings.llm_backend == "openai":
        return OpenAIEngine(
            url,
            settings.model,
            settings.llm_timeout,
            settings.stall_seconds,
            max_output_tokens=settings.max_output_tokens,
            api_key=settings.api_key,
        )
    return OllamaEngine(
        url,
        settings.model,
        settings.llm_timeout,
        settings.stall_seconds,
        max_output_tokens=settings.max_output_tokens,
        keep_alive=settings.keep_alive,
    )


def missing_model_hint(settings: Settings) -> str:
    """What a person does when the server lacks the model."""
    if settings.llm_backend == "openai":
        return f"start the server with `--model {settings.model}` (or set TRIAGE_MODEL)"
    return f"run `ollama pull {settings.model}`"
