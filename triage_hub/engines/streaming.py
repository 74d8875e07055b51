"""What every LLM engine does alike: read a streamed answer within its deadlines (the whole
call, and the gaps between chunks once the first has come), and turn the finished text into an
EngineAnswer or an InvalidAnswer. Each engine brings its request, its chunks and its errors."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from triage_hub.engines.base import EngineAnswer, InvalidAnswer
from triage_hub.prompts import PROMPT_VERSION
from triage_hub.triage.faults import Cause, LLMUnavailable
from triage_hub.triage.output import InvalidOutput, parse_triage

Chunk = TypeVar("Chunk")
OnChunk = Callable[[str], Awaitable[None]]
# Both servers' word for an answer cut at the output bound (Ollama's done_reason, OpenAI's
# finish_reason).
CUT_AT_LENGTH = "length"


@dataclass
class LLMResult:
    """What one call produced: the model's whole text and how long it took."""

    text: str
    model: str
    first_token_ms: float | None
    total_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    done_reason: str | None
    # (token, log-probability) of each token said, where the server returns them.
    logprobs: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Streamed:
    """The text a stream carried, and when its first piece came."""

    text: str
    first_token_ms: float | None
    started: float

    @property
    def total_ms(self) -> float:
        """Milliseconds since the call began."""
        return ms_since(self.started)


async def read_stream(
    start: Callable[[], Awaitable[AsyncIterator[Chunk]]],
    delta_of: Callable[[Chunk], str],
    *,
    server: str,
    timeout: float,  # noqa: ASYNC109 -- a setting (TRIAGE_LLM_TIMEOUT) applied inside
    stall_timeout: float,
    on_chunk: OnChunk | None = None,
) -> Streamed:
    """Open the stream with `start` and read it to its end; `delta_of` gives each chunk's text
    (and keeps what else the engine wants of it); `on_chunk` gets each non-empty delta.

    `timeout` bounds the whole call. `stall_timeout` bounds the gap between chunks once the
    first chunk has come: before it only `timeout` applies, as a cold model may load for a
    minute before it says anything. Errors of the engine's client pass through, for it to map.
    """
    started = time.perf_counter()
    parts: list[str] = []
    first_token_ms: float | None = None
    try:
        async with asyncio.timeout(timeout):
            stream = await start()
            try:
                chunk = await _next_chunk(stream, None, server)
                while chunk is not None:
                    delta = delta_of(chunk)
                    if delta:
                        if first_token_ms is None:
                            first_token_ms = ms_since(started)
                        parts.append(delta)
                        if on_chunk is not None:
                            await on_chunk(delta)
                    # Read on to the end even after the last piece, so the connection is reused.
                    chunk = await _next_chunk(stream, stall_timeout, server)
            finally:
                # Closing the stream closes the HTTP response, also when we cut it off.
                await _close(stream)
    except TimeoutError:
        raise LLMUnavailable(
            f"timeout: no complete answer within {timeout:g} s", Cause.TIMEOUT
        ) from None
    return Streamed("".join(parts), first_token_ms, started)


async def _next_chunk(
    stream: AsyncIterator[Chunk], stall_timeout: float | None, server: str
) -> Chunk | None:
    """The next chunk, or None at the end of the stream."""
    try:
        async with asyncio.timeout(stall_timeout):
            return await anext(stream)
    except StopAsyncIteration:
        return None
    except TimeoutError:
        # Only this inner deadline surfaces here; the outer one arrives as a cancellation.
        raise LLMUnavailable(
            f"timeout: stream stalled for {stall_timeout:g} s", Cause.STALLED
        ) from None
    except ValueError as exc:
        # A line that is not JSON, or not a chunk (json and pydantic errors are ValueErrors).
        raise LLMUnavailable(
            f"malformed stream from {server}: {describe(exc)}", Cause.BROKEN
        ) from None


async def _close(stream: object) -> None:
    """`aclose` (an async generator) or `close` (the openai client's stream), if it has one."""
    close: Callable[[], Awaitable[object]] | None = getattr(stream, "aclose", None) or getattr(
        stream, "close", None
    )
    if close is not None:
        await close()


def to_answer(result: LLMResult, engine: str, max_output_tokens: int) -> EngineAnswer:
    """The validated triage in a finished call; InvalidAnswer (the ticket's attempt spent) for
    an answer cut at the output bound or one that is no triage."""
    if result.done_reason == CUT_AT_LENGTH:
        raise InvalidAnswer(
            f"the answer was cut off at TRIAGE_MAX_OUTPUT_TOKENS ({max_output_tokens} tokens) "
            "before it was complete",
            result.text,
            result.model,
            "cut off at the output bound",
        )
    try:
        output = parse_triage(result.text)
    except InvalidOutput as error:
        raise InvalidAnswer(error.message, result.text, result.model, error.reason) from None
    return EngineAnswer(
        output=output,
        engine=engine,
        model=result.model,
        raw_response=result.text,
        prompt_version=PROMPT_VERSION,
        confidence=confidence_from_logprobs(result.text, result.logprobs),
        first_token_ms=result.first_token_ms,
        total_ms=result.total_ms,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
    )


def describe(exc: BaseException) -> str:
    """An exception's type and message, for an error a person reads."""
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def ms_since(started: float) -> float:
    """Milliseconds since a perf_counter reading."""
    return (time.perf_counter() - started) * 1000.0


# Where each value of the answer sits in the text the model said.
_VALUE_SPANS = {
    "category": re.compile(r'"category"\s*:\s*"([^"]*)"'),
    "urgency": re.compile(r'"urgency"\s*:\s*"([^"]*)"'),
    "sentiment": re.compile(r'"sentiment"\s*:\s*"?(\d+)'),
}


def confidence_from_logprobs(text: str, logprobs: list[tuple[str, float]]) -> dict[str, float]:
    """The probability the model gave each chosen value: the product of the probabilities of
    the tokens that spell it (empty where the server sent no log-probabilities)."""
    if not logprobs or "".join(token for token, _ in logprobs) != text:
        return {}
    starts, offset = [], 0
    for token, _ in logprobs:
        starts.append(offset)
        offset += len(token)
    found: dict[str, float] = {}
    for name, pattern in _VALUE_SPANS.items():
        match = pattern.search(text)
        if match is None:
            continue
        begin, end = match.span(1)
        total = sum(
            logprob
            for (token, logprob), start in zip(logprobs, starts, strict=True)
            if start < end and start + len(token) > begin
        )
        found[name] = math.exp(total)
    return found
