"""The OpenAI-compatible engine (vLLM, llama.cpp's llama-server, LM Studio, LocalAI, hosted
APIs): the streaming /v1/chat/completions call with the official client, bounded in time and in
tokens, every fault one domain error; the probe asks /v1/models for the model."""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import httpx2
import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from triage_hub.engines.base import EngineAnswer, EngineHealth, LLMReport, OnDelta
from triage_hub.engines.streaming import LLMResult, describe, read_stream, to_answer
from triage_hub.prompts import build_messages
from triage_hub.triage.faults import Cause, LLMUnavailable
from triage_hub.triage.output import TRIAGE_JSON_SCHEMA

CONNECT_TIMEOUT = 3.0
PROBE_TIMEOUT = 2.0
# Sent as the bearer key when none is set: local servers ignore it, and the client would
# otherwise take OPENAI_API_KEY from the environment and send it to whatever server this is.
NO_KEY = "EMPTY"
# The answer's schema, enforced by the server (vLLM >= 0.12, llama-server): never vLLM's old
# `guided_json`, which 0.12 removed and ignores silently.
RESPONSE_FORMAT: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {"name": "triage", "schema": TRIAGE_JSON_SCHEMA, "strict": True},
}
# What servers say when the prompt does not fit: OpenAI's code, vLLM's and llama-server's words.
_CONTEXT_TOO_SMALL = re.compile(r"context[ _](length|size|window)|maximum context", re.IGNORECASE)
# What the client raises mid-stream, after the response began (not wrapped into its own errors).
TRANSPORT_ERRORS = (openai.APIConnectionError, httpx2.TransportError)


def make_client(base_url: str, api_key: str | None, timeout: float) -> openai.AsyncOpenAI:
    """A client for one server; it never retries (the queue does), and its httpx timeouts back
    up the deadlines of `read_stream`."""
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=api_key or NO_KEY,
        max_retries=0,
        timeout=httpx2.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
    )


async def stream_triage(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    ticket_text: str,
    timeout: float,  # noqa: ASYNC109 -- a setting (TRIAGE_LLM_TIMEOUT) applied inside
    stall_timeout: float,
    max_output_tokens: int,
    on_chunk: Callable[[str], Awaitable[None]] | None = None,
) -> LLMResult:
    """Stream one triage answer (see `read_stream` for the deadlines); LLMUnavailable for every
    fault of the server or the connection."""
    logprobs: list[tuple[str, float]] = []
    seen: dict[str, Any] = {}

    async def start() -> AsyncIterator[ChatCompletionChunk]:
        return await client.chat.completions.create(
            model=model,
            messages=cast("list[ChatCompletionMessageParam]", build_messages(ticket_text)),
            stream=True,
            stream_options={"include_usage": True},
            response_format=RESPONSE_FORMAT,
            temperature=0,
            max_tokens=max_output_tokens,
            # The confidence of each chosen value, where the server returns them.
            logprobs=True,
        )

    def delta_of(chunk: ChatCompletionChunk) -> str:
        try:
            return _read_chunk(chunk, seen, logprobs)
        except (AttributeError, TypeError) as exc:
            # A chunk without the fields a chunk has (the client does not validate them).
            raise LLMUnavailable(f"malformed stream: {describe(exc)}", Cause.BROKEN) from None

    try:
        streamed = await read_stream(
            start,
            delta_of,
            server="the LLM server",
            timeout=timeout,
            stall_timeout=stall_timeout,
            on_chunk=on_chunk,
        )
    except openai.APIStatusError as exc:
        raise _status_error(exc, model) from None
    except openai.APITimeoutError as exc:
        raise LLMUnavailable(f"timeout: the LLM server went quiet ({exc})", Cause.STALLED) from None
    except TRANSPORT_ERRORS as exc:
        raise _transport_error(exc) from None
    except openai.APIError as exc:
        # An {"error": …} event after the 200 header: the server failed mid-answer.
        raise LLMUnavailable(
            f"the LLM server failed mid-stream: {exc.message}", Cause.BROKEN
        ) from None
    if "finish_reason" not in seen:
        raise LLMUnavailable(
            "the LLM server's stream ended before the answer was done", Cause.BROKEN
        )
    usage = seen.get("usage")
    return LLMResult(
        text=streamed.text,
        model=str(seen.get("model") or model),
        first_token_ms=streamed.first_token_ms,
        total_ms=streamed.total_ms,
        prompt_tokens=usage.prompt_tokens if usage is not None else None,
        completion_tokens=usage.completion_tokens if usage is not None else None,
        done_reason=str(seen["finish_reason"]),
        logprobs=logprobs,
    )


def _read_chunk(
    chunk: ChatCompletionChunk, seen: dict[str, Any], logprobs: list[tuple[str, float]]
) -> str:
    """A chunk's text; its model, usage, finish reason and log-probabilities kept in `seen`."""
    if chunk.model:
        seen["model"] = chunk.model
    if chunk.usage is not None:
        seen["usage"] = chunk.usage
    text = ""
    for choice in chunk.choices or ():
        if choice.finish_reason is not None:
            seen["finish_reason"] = choice.finish_reason
        if choice.logprobs is not None:
            logprobs.extend((lp.token, lp.logprob) for lp in choice.logprobs.content or ())
        text += (choice.delta.content if choice.delta is not None else None) or ""
    return text


def _status_error(exc: openai.APIStatusError, model: str) -> LLMUnavailable:
    status, detail = exc.status_code, _detail(exc)
    if status == 404:
        return LLMUnavailable(
            f"model {model!r} not found on the LLM server (or no OpenAI API at this URL: does it "
            f"end in /v1?): {detail}",
            Cause.MODEL_MISSING,
        )
    if status in (401, 403):
        return LLMUnavailable(
            f"the LLM server refused the API key ({status}; TRIAGE_LLM_API_KEY): {detail}",
            Cause.UNAUTHORIZED,
        )
    if status in (429, 503):
        return LLMUnavailable(
            f"the LLM server is busy ({status}): {detail}", Cause.BUSY, retry_after(exc.response)
        )
    if status >= 500:
        return LLMUnavailable(
            f"LLM server error ({status}): {detail}", Cause.SERVER_ERROR, retry_after(exc.response)
        )
    if status == 400 and (
        exc.code == "context_length_exceeded" or _CONTEXT_TOO_SMALL.search(detail)
    ):
        return LLMUnavailable(
            f"the ticket is too long for the model's context window: {detail}", Cause.REJECTED
        )
    return LLMUnavailable(
        f"the LLM server rejected the request ({status}): {detail}", Cause.REJECTED
    )


def _detail(exc: openai.APIStatusError) -> str:
    """The server's own words: its error body's message, else the client's summary."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str) and message:
            return message
    return exc.message


def _transport_error(exc: Exception) -> LLMUnavailable:
    cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) else exc
    if isinstance(cause, ConnectionError | httpx2.ConnectError | httpx2.ConnectTimeout):
        return LLMUnavailable(f"LLM server unreachable: {describe(cause)}", Cause.UNREACHABLE)
    if isinstance(cause, httpx2.TimeoutException):
        return LLMUnavailable(
            f"timeout: the LLM server went quiet ({describe(cause)})", Cause.STALLED
        )
    # Includes a stream cut off before it ended (RemoteProtocolError).
    return LLMUnavailable(
        f"connection to the LLM server broke: {describe(cause or exc)}", Cause.BROKEN
    )


def retry_after(response: httpx2.Response) -> float | None:
    """The seconds a 429 or 503 asks us to wait: `retry-after-ms`, or `Retry-After` as seconds or
    an HTTP date."""
    headers = response.headers
    try:
        if (millis := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        if value.strip().isdigit():
            return float(value.strip())
        when = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIEngine:
    """Triage by a model on one OpenAI-compatible server. One per claimer (a connection pool
    each)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        timeout: float,
        stall_timeout: float,
        *,
        max_output_tokens: int,
        api_key: str | None = None,
    ) -> None:
        self.host = base_url
        self.model = model
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self.max_output_tokens = max_output_tokens
        self._client = make_client(base_url, api_key, timeout)

    async def triage(self, ticket_text: str, on_delta: OnDelta | None = None) -> EngineAnswer:
        """Ask the model; LLMUnavailable without an answer, InvalidAnswer for a wrong one."""
        result = await stream_triage(
            self._client,
            model=self.model,
            ticket_text=ticket_text,
            timeout=self.timeout,
            stall_timeout=self.stall_timeout,
            max_output_tokens=self.max_output_tokens,
            on_chunk=on_delta,
        )
        return to_answer(result, self.name, self.max_output_tokens)

    async def report(self, timeout: float = PROBE_TIMEOUT) -> LLMReport:  # noqa: ASYNC109
        """GET /v1/models (within `timeout`): is the server there, and does it serve the model?"""
        report = LLMReport(host=self.host, model=self.model, reachable=False, model_available=False)
        try:
            async with asyncio.timeout(timeout):
                page = await self._client.models.list()
        except (TimeoutError, *TRANSPORT_ERRORS) as exc:
            report.error = f"unreachable: {type(exc).__name__}"
            return report
        except openai.APIStatusError as exc:
            report.reachable = exc.status_code in (401, 403)
            report.error = _status_error(exc, self.model).message
            return report
        except (openai.APIError, ValueError) as exc:
            report.error = f"bad answer: {exc}"[:200]
            return report
        report.reachable = True
        served = [entry.id for entry in page.data]
        report.model_available = self.model in served
        if not report.model_available:
            listed = ", ".join(served[:5]) or "none"
            report.error = (
                f"model not served (the server lists {listed}): start the server with "
                f"`--model {self.model}`, or set TRIAGE_MODEL to one it lists"
            )[:300]
        return report

    async def health(self) -> EngineHealth:
        """Is the server there, and does it serve the model?"""
        return (await self.report()).health(self.name)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.close()
