"""The Ollama engine: the streaming /api/chat call, bounded in time, with every fault as one
domain error; the answer parsed and validated; the probe that says whether Ollama has the
model."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import ollama
from pydantic import BaseModel

from triage_hub.engines.base import EngineAnswer, EngineHealth, InvalidAnswer, OnDelta
from triage_hub.prompts import PROMPT_VERSION, build_messages
from triage_hub.triage.faults import Cause, LLMUnavailable
from triage_hub.triage.output import TRIAGE_JSON_SCHEMA, InvalidOutput, parse_triage

__all__ = [
    "TRANSPORT_ERRORS",
    "LLMResult",
    "LLMUnavailable",
    "OllamaEngine",
    "check_llm",
    "make_client",
    "stream_triage",
]

CONNECT_TIMEOUT = 3.0
PROBE_TIMEOUT = 2.0
# What the client raises when Ollama cannot be reached or the connection breaks; with
# stream=True a refused connection surfaces as a bare httpx.ConnectError, not ConnectionError.
TRANSPORT_ERRORS = (ConnectionError, httpx.TransportError)


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


def make_client(host: str, timeout: float) -> ollama.AsyncClient:
    """An Ollama client whose httpx timeouts back up the deadlines `stream_triage` enforces."""
    return ollama.AsyncClient(
        host=host, timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
    )


async def stream_triage(
    client: ollama.AsyncClient,
    *,
    model: str,
    ticket_text: str,
    timeout: float,  # noqa: ASYNC109 -- a setting (TRIAGE_LLM_TIMEOUT) applied inside
    stall_timeout: float,
    on_chunk: Callable[[str], Awaitable[None]] | None = None,
) -> LLMResult:
    """Stream one triage answer; `on_chunk` gets each non-empty delta as it arrives.

    `timeout` bounds the whole call. `stall_timeout` bounds the gap between chunks once the
    first chunk has come: before it only `timeout` applies, as a cold model may load for a
    minute before it says anything. Raises LLMUnavailable for every infrastructure fault.
    """
    started = time.perf_counter()
    parts: list[str] = []
    logprobs: list[tuple[str, float]] = []
    first_token_ms: float | None = None
    final: ollama.ChatResponse | None = None
    try:
        async with asyncio.timeout(timeout):
            stream = await client.chat(
                model=model,
                messages=build_messages(ticket_text),
                stream=True,
                format=TRIAGE_JSON_SCHEMA,
                options={"temperature": 0},
                # Ollama 0.12.11+ returns each token's log-probability: the confidence of the
                # chosen category and urgency. Older servers ignore the field.
                logprobs=True,
            )
            try:
                chunk = await _next_chunk(stream, None)
                while chunk is not None:
                    delta = chunk.message.content or ""
                    logprobs.extend((lp.token, lp.logprob) for lp in chunk.logprobs or ())
                    if delta:
                        if first_token_ms is None:
                            first_token_ms = _ms_since(started)
                        parts.append(delta)
                        if on_chunk is not None:
                            await on_chunk(delta)
                    if chunk.done:
                        final = chunk
                    # Read on to the end even after done, so the connection can be reused.
                    chunk = await _next_chunk(stream, stall_timeout)
            finally:
                # Closing the generator closes the HTTP response, also when we cut it off.
                await _close(stream)
    except TimeoutError:
        raise LLMUnavailable(
            f"timeout: no complete answer within {timeout:g} s", Cause.TIMEOUT
        ) from None
    except ollama.ResponseError as exc:
        raise _response_error(exc, model) from None
    except TRANSPORT_ERRORS as exc:
        raise _transport_error(exc) from None
    if final is None:
        # The stream ended cleanly but without its done chunk: a transport fault, as a cut-off.
        raise LLMUnavailable("Ollama's stream ended before the answer was done", Cause.BROKEN)
    return LLMResult(
        text="".join(parts),
        model=final.model or model,
        first_token_ms=first_token_ms,
        total_ms=_ms_since(started),
        prompt_tokens=final.prompt_eval_count,
        completion_tokens=final.eval_count,
        done_reason=final.done_reason,
        logprobs=logprobs,
    )


async def _next_chunk(
    stream: AsyncIterator[ollama.ChatResponse], stall_timeout: float | None
) -> ollama.ChatResponse | None:
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
        # A line that is not JSON, or not a chat chunk (json and pydantic errors are ValueErrors).
        raise LLMUnavailable(
            f"malformed stream from Ollama: {_describe(exc)}", Cause.BROKEN
        ) from None


async def _close(stream: AsyncIterator[ollama.ChatResponse]) -> None:
    aclose: Callable[[], Awaitable[object]] | None = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _response_error(exc: ollama.ResponseError, model: str) -> LLMUnavailable:
    status = exc.status_code
    if status == 404:
        return LLMUnavailable(
            f"model {model!r} not found on Ollama: {exc.error}", Cause.MODEL_MISSING
        )
    if status == -1:
        # An {"error": ...} line after the 200 header: the runner failed mid-answer.
        return LLMUnavailable(f"Ollama failed mid-stream: {exc.error}", Cause.BROKEN)
    if status in (429, 503):
        return LLMUnavailable(f"Ollama busy ({status}): {exc.error}", Cause.BUSY)
    if status >= 500:
        return LLMUnavailable(f"Ollama server error ({status}): {exc.error}", Cause.SERVER_ERROR)
    return LLMUnavailable(f"Ollama rejected the request ({status}): {exc.error}", Cause.REJECTED)


def _transport_error(exc: Exception) -> LLMUnavailable:
    if isinstance(exc, ConnectionError | httpx.ConnectError | httpx.ConnectTimeout):
        return LLMUnavailable(f"Ollama unreachable: {_describe(exc)}", Cause.UNREACHABLE)
    if isinstance(exc, httpx.TimeoutException):
        return LLMUnavailable(f"timeout: Ollama went quiet ({_describe(exc)})", Cause.STALLED)
    # Includes a stream cut off before its done chunk (RemoteProtocolError).
    return LLMUnavailable(f"connection to Ollama broke: {_describe(exc)}", Cause.BROKEN)


def _describe(exc: BaseException) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _ms_since(started: float) -> float:
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


class OllamaEngine:
    """Triage by a model on an Ollama server. One per claimer (a connection pool each)."""

    name = "ollama"

    def __init__(self, host: str, model: str, timeout: float, stall_timeout: float) -> None:
        self.host = host
        self.model = model
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self._client = make_client(host, timeout)

    async def triage(self, ticket_text: str, on_delta: OnDelta | None = None) -> EngineAnswer:
        """Ask the model; LLMUnavailable without an answer, InvalidAnswer for a wrong one."""
        result = await stream_triage(
            self._client,
            model=self.model,
            ticket_text=ticket_text,
            timeout=self.timeout,
            stall_timeout=self.stall_timeout,
            on_chunk=on_delta,
        )
        try:
            output = parse_triage(result.text)
        except InvalidOutput as error:
            raise InvalidAnswer(error.message, result.text, result.model, error.reason) from None
        return EngineAnswer(
            output=output,
            engine=self.name,
            model=result.model,
            raw_response=result.text,
            prompt_version=PROMPT_VERSION,
            confidence=confidence_from_logprobs(result.text, result.logprobs),
            first_token_ms=result.first_token_ms,
            total_ms=result.total_ms,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
        )

    async def health(self) -> EngineHealth:
        """Is Ollama there, and does it have the model?"""
        report = await check_llm(self._client, self.host, self.model)
        return EngineHealth(
            self.name, report.reachable and report.model_available, report.model_dump()
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.close()  # type: ignore[no-untyped-call]


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
