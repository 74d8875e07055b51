"""What the queue side knows of an engine: triage one ticket (streaming the draft), report its
health, close. Each engine is a module of its own (ollama, builtin, …)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from triage_hub.triage.output import TriageOutput

OnDelta = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class EngineAnswer:
    """A validated triage, and how it was made."""

    output: TriageOutput
    engine: str  # "ollama", "builtin", …
    model: str
    raw_response: str | None = None  # what the model said, as said
    prompt_version: str | None = None
    # The probability of each chosen value (category, urgency, sentiment), where the engine can
    # tell one; never invented.
    confidence: dict[str, float] = field(default_factory=dict)
    language: str | None = None
    first_token_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class InvalidAnswer(Exception):
    """The engine answered, but not with a usable triage: the ticket's attempt is spent."""

    def __init__(
        self, message: str, raw_response: str | None, model: str, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message  # for the ticket's last_error, which agents read
        self.reason = reason or message  # for the log: no words of the model's, nor the ticket's
        self.raw_response = raw_response
        self.model = model


@dataclass(frozen=True)
class EngineHealth:
    """Can the engine triage now?"""

    engine: str
    ready: bool
    detail: dict[str, object] = field(default_factory=dict)


class Engine(Protocol):
    """Triages tickets. `triage` raises LLMUnavailable when no answer came (an outage, or a
    failure the ticket may cause) and InvalidOutput when the answer is not a triage."""

    name: str

    async def triage(self, ticket_text: str, on_delta: OnDelta | None = None) -> EngineAnswer:
        """Triage one ticket; `on_delta` gets the answer's text as it streams, if it does."""
        ...

    async def health(self) -> EngineHealth:
        """Whether it can triage now, and what a person needs to know if not."""
        ...

    async def close(self) -> None:
        """Release what it holds (connections)."""
        ...


class LLMReport(BaseModel):
    """The LLM part of /health: is the server there, and does it serve the model?"""

    host: str
    model: str
    reachable: bool
    model_available: bool
    error: str | None = None

    def health(self, engine: str) -> EngineHealth:
        """The engine's health as this report tells it: ready when the model is there."""
        return EngineHealth(engine, self.reachable and self.model_available, self.model_dump())
