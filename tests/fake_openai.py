"""A fake OpenAI-compatible server (as vLLM and llama-server speak it): a real aiohttp server
with the scripting API of FakeOllama (`behaviour`, `queue`, `script`, `calls`, `stop`/`start`),
answering POST /v1/chat/completions as server-sent events — `data: {chunk}` lines, the usage in
a last chunk with no choices, `data: [DONE]` — and GET /v1/models.

    async with run_fake_openai() as fake:   # fake.url -> http://127.0.0.1:PORT/v1
        fake.queue(Behaviour.rate_limited("2"), Behaviour.valid())

The same Behaviour values mean the same here: an error status answers OpenAI's error object
(with Retry-After when the behaviour has one), "error" ends the stream with an error event,
"truncate" drops the connection before [DONE], "never_stop" streams until `max_tokens` and
ends with finish_reason "length".
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from tests.fake_ollama import (
    DEFAULT_MODEL,
    MID_STREAM,
    RUNNER_DIED,
    Behaviour,
    Body,
    FakeOllama,
    _split,
    end_stream,
    rambling,
    run_fake_ollama,
    shaped_text,
    ticket_text,
)

# The error types vLLM names, by status.
_ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


class FakeOpenAI(FakeOllama):
    """The fake OpenAI-compatible server; `calls` records every chat completion request body;
    `api_key`, when set, is the only bearer key it takes."""

    backend = "openai"
    missing_model_hint = "`--model {model}`"
    not_found = "The model `{model}` does not exist."

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key: str | None = None
        self.authorizations: list[str | None] = []  # each chat call's Authorization header

    @property
    def url(self) -> str:
        """The base URL to give the openai client (the API's root, /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def sent(self, call: Body) -> Body:
        """What a recorded call asked for, in FakeOllama's words."""
        json_schema = (call.get("response_format") or {}).get("json_schema") or {}
        return {
            "schema": json_schema.get("schema"),
            "temperature": call.get("temperature"),
            "max_output_tokens": call.get("max_tokens"),
        }

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)

    def _known(self, model: str) -> bool:
        return model in self.models  # served names are ids, compared as they are

    def _error(self, status: int, message: str, retry_after: str | None = None) -> web.Response:
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        body = {"message": message, "type": _ERROR_TYPES.get(status, "Error"), "param": None}
        return web.json_response(
            {"error": {**body, "code": status}}, status=status, headers=headers
        )

    def _refused(self, request: web.Request) -> web.Response | None:
        if self.api_key is not None and request.headers.get("Authorization") != (
            f"Bearer {self.api_key}"
        ):
            return self._error(401, "Incorrect API key provided")
        return None

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        self.authorizations.append(request.headers.get("Authorization"))
        if (refused := self._refused(request)) is not None:
            return refused
        return await self._chat(request)

    async def _answer(
        self, request: web.Request, body: Body, behaviour: Behaviour
    ) -> web.StreamResponse:
        model = str(body["model"])
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour.status != 200:
            default = self.not_found.format(model=model) if behaviour.status == 404 else ""
            message = behaviour.error or default or RUNNER_DIED
            return self._error(behaviour.status, message, behaviour.retry_after)
        text = behaviour.text
        if text is None:
            text = shaped_text(behaviour.shape, ticket_text(body))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        if not body.get("stream"):
            return web.json_response(_completion(model, text, prompt_tokens))
        stream = _Stream(model, body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if behaviour.end == "never_stop":
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            said = 0
            for said, piece in enumerate(rambling()):
                if limit is not None and said >= limit:
                    break
                await response.write(stream.event(piece))
                await asyncio.sleep(behaviour.chunk_delay)  # yields, so a hang-up is seen
            await response.write(stream.event("", finish_reason="length"))
            await response.write(stream.usage(prompt_tokens, said))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        pieces = _split(text, behaviour.chunks)
        limit = len(pieces) if behaviour.end == "done" else min(behaviour.end_after, len(pieces))
        await response.write(stream.event("", role=True))
        for index, piece in enumerate(pieces[:limit]):
            if index and behaviour.chunk_delay:
                await asyncio.sleep(behaviour.chunk_delay)
            logprob = behaviour.logprob if body.get("logprobs") else None
            await response.write(stream.event(piece, logprob=logprob))
        error = {"message": behaviour.error or MID_STREAM, "type": "InternalServerError"}
        return await end_stream(
            request,
            response,
            behaviour,
            done=stream.event("", finish_reason="stop")
            + stream.usage(prompt_tokens, limit)
            + b"data: [DONE]\n\n",
            error=_event({"error": {**error, "code": 500}}),
            garbage=b"data: <html>502 Bad Gateway</html>\n\n",
        )

    async def _models(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        data = [
            {"id": name, "object": "model", "created": 1735689600, "owned_by": "vllm"}
            for name in sorted(self.models)
        ]
        return web.json_response({"object": "list", "data": data})


class _Stream:
    """The chunks of one streamed completion, as vLLM writes them."""

    def __init__(self, model: str, body: Body) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def _chunk(self, choices: list[Body], usage: Body | None = None) -> Body:
        chunk: Body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return chunk

    def event(
        self,
        content: str,
        *,
        role: bool = False,
        finish_reason: str | None = None,
        logprob: float | None = None,
    ) -> bytes:
        delta: Body = {"role": "assistant", "content": content} if role else {"content": content}
        logprobs = None
        if logprob is not None:
            entry = {"token": content, "logprob": logprob, "bytes": None, "top_logprobs": []}
            logprobs = {"content": [entry]}
        choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
        return _event(self._chunk([choice]))

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The last chunk, when asked for (stream_options.include_usage): no choices, the usage."""
        if not self.include_usage:
            return b""
        total = prompt_tokens + completion_tokens
        counts = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": total,
        }
        return _event(self._chunk([], counts))


def _event(payload: Body) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _completion(model: str, text: str, prompt_tokens: int) -> Body:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 1,
            "total_tokens": prompt_tokens + 1,
        },
    }


def run_fake_openai(
    *, models: tuple[str, ...] = (DEFAULT_MODEL,), behaviour: Behaviour | None = None
) -> AbstractAsyncContextManager[FakeOpenAI]:
    """A started FakeOpenAI on a free port, stopped on exit."""
    return run_fake_ollama(models=models, behaviour=behaviour, kind=FakeOpenAI)
