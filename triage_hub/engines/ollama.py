"""The Ollama engine: the streaming /api/chat call, bounded in time and in tokens, with every
fault as one domain error; the answer parsed and validated; the probe that says whether Ollama
has the model."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import ollama

from triage_hub.engines.base import EngineAnswer, EngineHealth, LLMReport, OnDelta
from triage_hub.engines.streaming import LLMResult, describe, read_stream, to_answer
from triage_hub.prompts import build_messages
from triage_hub.triage.faults import Cause, LLMUnavailable
from triage_hub.triage.output import TRIAGE_JSON_SCHEMA

__all__ = [
    "TRANSPORT_ERRORS",
    "LLMReport",
    "LLMResult",
    "LLMUnavailable",
    "OllamaEngine",
    "check_llm",
    "context_window",
    "make_client",
    "stream_triage",
]

CONNECT_TIMEOUT = 3.0
PROBE_TIMEOUT = 2.0
# What the client raises when Ollama cannot be reached or the connection breaks; with
# stream=True a refused connection surfaces as a bare httpx.ConnectError, not ConnectionError.
TRANSPORT_ERRORS = (ConnectionError, httpx.TransportError)
DEFAULT_MAX_OUTPUT_TOKENS = 512
DEFAULT_KEEP_ALIVE = "30m"
# The context window asked for: never below what older Ollama defaults to, in steps of 1,024.
MIN_CONTEXT = 2048
CONTEXT_STEP = 1024
# Tokens are estimated from UTF-8 bytes, conservatively: English runs at about 4 bytes a token,
# other scripts at 2-3; the chat template adds a few tokens a message.
BYTES_PER_TOKEN = 2
TOKENS_PER_MESSAGE = 16
_SECONDS = re.compile(r"-?\d+(\.\d+)?")


def make_client(host: str, timeout: float) -> ollama.AsyncClient:
    """An Ollama client whose httpx timeouts back up the deadlines `stream_triage` enforces."""
    return ollama.AsyncClient(
        host=host, timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
    )


def context_window(messages: list[dict[str, str]], max_output_tokens: int) -> int:
    """`num_ctx` for a call: the prompt's estimated tokens plus the answer's bound, rounded up.
    Older Ollama defaults to 2,048 tokens and silently drops the start of a longer prompt —
    the system prompt."""
    prompt_bytes = sum(len(message["content"].encode("utf-8")) for message in messages)
    needed = (
        math.ceil(prompt_bytes / BYTES_PER_TOKEN)
        + TOKENS_PER_MESSAGE * len(messages)
        + max_output_tokens
    )
    return max(MIN_CONTEXT, math.ceil(needed / CONTEXT_STEP) * CONTEXT_STEP)


def _keep_alive(value: str) -> str | float:
    """Seconds as a number (Ollama reads a string as a Go duration, which needs a unit)."""
    return float(value) if _SECONDS.fullmatch(value) else value


async def stream_triage(
    client: ollama.AsyncClient,
    *,
    model: str,
    ticket_text: str,
    timeout: float,  # noqa: ASYNC109 -- a setting (TRIAGE_LLM_TIMEOUT) applied inside
    stall_timeout: float,
    on_chunk: Callable[[str], Awaitable[None]] | None = None,
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
    keep_alive: str = DEFAULT_KEEP_ALIVE,
) -> LLMResult:
    """Stream one triage answer; `on_chunk` gets each non-empty delta as it arrives.

    `timeout` bounds the whole call, `stall_timeout` the gaps after the first chunk (see
    `read_stream`); `max_output_tokens` the answer (num_predict). Raises LLMUnavailable for
    every infrastructure fault.
    """
    messages = build_messages(ticket_text)
    logprobs: list[tuple[str, float]] = []
    final: list[ollama.ChatResponse] = []

    async def start() -> AsyncIterator[ollama.ChatResponse]:
        return await client.chat(
            model=model,
            messages=messages,
            stream=True,
            format=TRIAGE_JSON_SCHEMA,
            options={
                "temperature": 0,
                "num_predict": max_output_tokens,
                "num_ctx": context_window(messages, max_output_tokens),
            },
            # Kept loaded between quiet spells: a reload costs seconds to a minute.
            keep_alive=_keep_alive(keep_alive),
            # Ollama 0.12.11+ returns each token's log-probability: the confidence of the
            # chosen category and urgency. Older servers ignore the field.
            logprobs=True,
        )

    def delta_of(chunk: ollama.ChatResponse) -> str:
        logprobs.extend((lp.token, lp.logprob) for lp in chunk.logprobs or ())
        if chunk.done:
            final.append(chunk)
        return chunk.message.content or ""

    try:
        streamed = await read_stream(
            start,
            delta_of,
            server="Ollama",
            timeout=timeout,
            stall_timeout=stall_timeout,
            on_chunk=on_chunk,
        )
    except ollama.ResponseError as exc:
        raise _response_error(exc, model) from None
    except TRANSPORT_ERRORS as exc:
        raise _transport_error(exc) from None
    if not final:
        # The stream ended cleanly but without its done chunk: a transport fault, as a cut-off.
        raise LLMUnavailable("Ollama's stream ended before the answer was done", Cause.BROKEN)
    done = final[-1]
    return LLMResult(
        text=streamed.text,
        model=done.model or model,
        first_token_ms=streamed.first_token_ms,
        total_ms=streamed.total_ms,
        prompt_tokens=done.prompt_eval_count,
        completion_tokens=done.eval_count,
        done_reason=done.done_reason,
        logprobs=logprobs,
    )


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
        return LLMUnavailable(f"Ollama unreachable: {describe(exc)}", Cause.UNREACHABLE)
    if isinstance(exc, httpx.TimeoutException):
        return LLMUnavailable(f"timeout: Ollama went quiet ({describe(exc)})", Cause.STALLED)
    # Includes a stream cut off before its done chunk (RemoteProtocolError).
    return LLMUnavailable(f"connection to Ollama broke: {describe(exc)}", Cause.BROKEN)


class OllamaEngine:
    """Triage by a model on one Ollama server. One per claimer (a connection pool each)."""

    name = "ollama"

    def __init__(
        self,
        host: str,
        model: str,
        timeout: float,
        stall_timeout: float,
        *,
        max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
        keep_alive: str = DEFAULT_KEEP_ALIVE,
    ) -> None:
        self.host = host
        self.model = model
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self.max_output_tokens = max_output_tokens
        self.keep_alive = keep_alive
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
            max_output_tokens=self.max_output_tokens,
            keep_alive=self.keep_alive,
        )
        return to_answer(result, self.name, self.max_output_tokens)

    async def report(self) -> LLMReport:
        """Is Ollama there, and does it have the model? (GET /api/tags.)"""
        return await check_llm(self._client, self.host, self.model)

    async def health(self) -> EngineHealth:
        """Is Ollama there, and does it have the model?"""
        return (await self.report()).health(self.name)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.close()  # type: ignore[no-untyped-call]


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
