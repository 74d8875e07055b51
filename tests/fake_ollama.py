"""A fake Ollama: a real aiohttp server speaking Ollama's HTTP API, with scripted behaviours.

Select what /api/chat does per test:

    async with run_fake_ollama() as fake:             # fake.url -> http://127.0.0.1:PORT
        fake.behaviour = Behaviour.fenced()            # default for every call
        fake.queue(Behaviour.truncated(), Behaviour.valid())  # the next calls, in order
        fake.script = lambda body: Behaviour.busy() if "refund" in ticket_text(body) else None

Precedence: the queue, then `script` (None falls through), then `behaviour`. A model not in
`fake.models` is answered with Ollama's 404 first, whatever is scripted.

Ollama down and back up on the same port: `await fake.stop()` (connections are then refused),
`await fake.start()` (binds the port it had before). `unused_port_url()` gives a URL nobody
listens on.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from aiohttp import web

Shape = Literal[
    "valid",
    "fenced",
    "chatter",
    "repairable",
    "invalid_enum",
    "sentiment_out_of_range",
    "short_draft",
]
End = Literal["done", "truncate", "error", "stall", "never_stop", "garbage"]
Body = dict[str, Any]

DEFAULT_MODEL = "mistral:7b"
OLLAMA_VERSION = "0.12.6"
NOT_FOUND = 'model "{model}" not found, try pulling it first'
BUSY = "server busy, please try again.  maximum pending requests exceeded"
CONTEXT_TOO_LONG = (
    "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens "
    "(8488 in the messages, 512 in the completion). Please reduce the length of the messages."
)
# What a model that never stops says: an opening, then this piece again and again.
RAMBLE = "and furthermore "
RUNNER_DIED = "llama runner process has terminated: exit status 2"
MID_STREAM = "an error was encountered while running the model: unexpected EOF"
OPEN_TAG = "<customer_message>\n"
CLOSE_TAG = "\n</customer_message>"

_ANGRY = ("furious", "angry", "unacceptable", "worst", "ridiculous")
_HAPPY = ("love", "thank", "great", "awesome")
_URGENT = ("urgent", "asap", "down", "outage", "immediately")
_BILLING = ("bill", "invoice", "charge", "refund", "payment", "price", "subscription")
_FEATURE = ("feature", "would be nice", "please add", "could you add", "wish", "suggest")


@dataclass(frozen=True)
class Behaviour:
    """How the fake answers one /api/chat call."""

    shape: Shape = "valid"
    text: str | None = None  # the model's exact output; None: built from the ticket by `shape`
    chunks: int = 8  # pieces the text is streamed in
    chunk_delay: float = 0.0  # seconds between pieces
    delay: float = 0.0  # seconds before anything is sent (real Ollama sends no header until then)
    status: int = 200  # not 200: answer {"error": error} with this status instead
    error: str = ""
    end: End = "done"  # how the stream ends
    end_after: int = 2  # pieces sent before a truncate/error/stall end
    # Each piece's log-probability, sent as Ollama 0.12.11+ does when asked for logprobs
    # (None: an older server that sends none).
    logprob: float | None = None
    retry_after: str | None = None  # the Retry-After header of an error answer

    @classmethod
    def valid(cls) -> Behaviour:
        """A valid triage derived from the ticket (see `triage_for`)."""
        return cls()

    @classmethod
    def reply(cls, text: str, *, chunks: int = 8, chunk_delay: float = 0.0) -> Behaviour:
        """Say exactly `text`."""
        return cls(text=text, chunks=chunks, chunk_delay=chunk_delay)

    @classmethod
    def fenced(cls) -> Behaviour:
        """Valid triage inside a ```json fence."""
        return cls(shape="fenced")

    @classmethod
    def chatter(cls) -> Behaviour:
        """Valid triage with prose before and after it."""
        return cls(shape="chatter")

    @classmethod
    def repairable(cls) -> Behaviour:
        """Near-JSON: a bare key, single quotes, True, a trailing comma."""
        return cls(shape="repairable")

    @classmethod
    def invalid_enum(cls) -> Behaviour:
        """Urgency "Urgent", which is not an allowed value."""
        return cls(shape="invalid_enum")

    @classmethod
    def sentiment_out_of_range(cls) -> Behaviour:
        """Sentiment 11."""
        return cls(shape="sentiment_out_of_range")

    @classmethod
    def short_draft(cls) -> Behaviour:
        """A draft under 20 characters."""
        return cls(shape="short_draft")

    @classmethod
    def truncated(cls, *, after: int = 2) -> Behaviour:
        """Send `after` pieces, then drop the connection without the done chunk."""
        return cls(end="truncate", end_after=after)

    @classmethod
    def error_mid_stream(cls, message: str = MID_STREAM, *, after: int = 2) -> Behaviour:
        """Send `after` pieces, then an {"error": ...} line, as Ollama does when a runner fails."""
        return cls(end="error", end_after=after, error=message)

    @classmethod
    def model_not_found(cls) -> Behaviour:
        """404 as for a model that was never pulled."""
        return cls(status=404)

    @classmethod
    def server_error(cls, message: str = RUNNER_DIED) -> Behaviour:
        """500."""
        return cls(status=500, error=message)

    @classmethod
    def busy(cls) -> Behaviour:
        """503, Ollama's answer when its queue is full."""
        return cls(status=503, error=BUSY)

    @classmethod
    def rate_limited(cls, retry_after: str = "1") -> Behaviour:
        """429 with Retry-After, as a hosted API answers a client over its quota."""
        return cls(status=429, error="Rate limit reached; please retry", retry_after=retry_after)

    @classmethod
    def context_too_long(cls) -> Behaviour:
        """400: the prompt does not fit the model's context window (vLLM's words)."""
        return cls(status=400, error=CONTEXT_TOO_LONG)

    @classmethod
    def never_stop(cls) -> Behaviour:
        """Start an answer and never finish it: one piece a token until the request's output
        bound (num_predict, max_tokens) is reached, then end as cut off ("length"); with no
        bound, until the client gives up."""
        return cls(end="never_stop")

    @classmethod
    def garbage(cls, *, after: int = 2) -> Behaviour:
        """Send `after` pieces, then a line that is not JSON."""
        return cls(end="garbage", end_after=after)

    @classmethod
    def slow_first_token(cls, seconds: float) -> Behaviour:
        """Nothing (not even headers) for `seconds`, then a valid answer: a cold model."""
        return cls(delay=seconds)

    @classmethod
    def stall_forever(cls, *, after: int = 1) -> Behaviour:
        """Send `after` pieces, then nothing until the client gives up or the fake stops."""
        return cls(end="stall", end_after=after)

    @classmethod
    def delayed(cls, seconds: float, then: Behaviour | None = None) -> Behaviour:
        """`then` (default: valid) after `seconds` of silence."""
        return replace(then or cls(), delay=seconds)


def ticket_text(body: Body) -> str:
    """The ticket in the last user message of a chat request (all of it when not wrapped)."""
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    content = str(users[-1].get("content", "")) if users else ""
    start = content.find(OPEN_TAG)
    end = content.rfind(CLOSE_TAG)
    if start != -1 and end > start:
        return content[start + len(OPEN_TAG) : end]
    return content


def triage_for(ticket: str) -> dict[str, Any]:
    """The valid triage the fake gives for a ticket: deterministic, keyword-driven."""
    lowered = ticket.lower()
    if any(word in lowered for word in _BILLING):
        category = "Billing"
    elif any(word in lowered for word in _FEATURE):
        category = "Feature Request"
    else:
        category = "Technical"
    if any(word in lowered for word in _ANGRY):
        sentiment, urgency = 2, "High"
    elif any(word in lowered for word in _HAPPY):
        sentiment, urgency = 8, "Low"
    else:
        sentiment, urgency = 5, "Medium"
    if any(word in lowered for word in _URGENT):
        urgency = "High"
    draft = (
        "Hello,\n\nThank you for reaching out about this **"
        f"{category.lower()}** matter. Our team will review it and get back to you shortly."
    )
    return {"category": category, "sentiment": sentiment, "urgency": urgency, "draft": draft}


def shaped_text(shape: Shape, ticket: str) -> str:
    """What the model says for a ticket under a given shape."""
    triage = triage_for(ticket)
    if shape == "fenced":
        return f"```json\n{json.dumps(triage, indent=2)}\n```"
    if shape == "chatter":
        return (
            "Sure! Here is the triage you asked for:\n"
            f"{json.dumps(triage)}\nLet me know if you need {{anything}} else."
        )
    if shape == "repairable":
        fields = ", ".join(f"'{key}': {_python_literal(value)}" for key, value in triage.items())
        return "{" + fields.replace("'category'", "category", 1) + ", 'escalate': True,}"
    if shape == "invalid_enum":
        triage["urgency"] = "Urgent"
    elif shape == "sentiment_out_of_range":
        triage["sentiment"] = 11
    elif shape == "short_draft":
        triage["draft"] = "Thanks!"
    return json.dumps(triage)


def unused_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeOllama:
    """The fake server; `calls` records every /api/chat request body received."""

    backend = "ollama"  # its TRIAGE_LLM_BACKEND
    # What /health and the log tell a person to do when the server lacks the model.
    missing_model_hint = "`ollama pull {model}`"
    not_found = NOT_FOUND  # its answer to a model it lacks

    def __init__(
        self,
        *,
        models: tuple[str, ...] = (DEFAULT_MODEL,),
        behaviour: Behaviour | None = None,
        port: int = 0,
        shutdown_timeout: float = 0.1,
    ) -> None:
        self.models = set(models)
        self.behaviour = behaviour or Behaviour()
        self.script: Callable[[Body], Behaviour | None] | None = None
        self.calls: list[Body] = []
        self.active = 0  # /api/chat requests in flight now
        self.max_active = 0
        self.port = port
        self._queued: deque[Behaviour] = deque()
        self._active_changed = asyncio.Event()
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL to give the ollama client."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    def queue(self, *behaviours: Behaviour) -> None:
        """Answer the next calls with these behaviours, in order."""
        self._queued.extend(behaviours)

    def sent(self, call: Body) -> Body:
        """What a recorded call asked for, in the same words for every fake: the answer's
        `schema`, `temperature` and `max_output_tokens`."""
        options = call.get("options") or {}
        return {
            "schema": call.get("format"),
            "temperature": options.get("temperature"),
            "max_output_tokens": options.get("num_predict"),
        }

    def calls_for(self, needle: str) -> list[Body]:
        """The recorded calls whose ticket text contains `needle`."""
        return [body for body in self.calls if needle in ticket_text(body)]

    async def wait_active(self, count: int) -> None:
        """Wait until exactly `count` /api/chat answers are in flight (0: every client hung up)."""
        while self.active != count:
            await self._active_changed.wait()

    async def start(self) -> None:
        """Listen on 127.0.0.1: a free port the first time, the same port after a stop."""
        if self._runner is not None:
            return
        app = web.Application()
        self._add_routes(app)
        # handler_cancellation: a client that hangs up cancels its handler (ends stalls).
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout,
            access_log=None,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        self._runner = runner

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self._chat)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)
        app.router.add_get("/api/version", self._version)

    async def stop(self) -> None:
        """Close the port and drop every connection, in-flight answers included."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _behaviour_for(self, body: Body) -> Behaviour:
        if self._queued:
            return self._queued.popleft()
        if self.script is not None and (chosen := self.script(body)) is not None:
            return chosen
        return self.behaviour

    def _known(self, model: str) -> bool:
        return _full_name(model) in {_full_name(name) for name in self.models}

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body: Body = await request.json()
        self.calls.append(body)
        model = str(body.get("model", ""))
        if not self._known(model):
            return self._error(404, self.not_found.format(model=model))
        behaviour = self._behaviour_for(body)
        self._count_active(+1)
        try:
            return await self._answer(request, body, behaviour)
        finally:
            self._count_active(-1)

    def _count_active(self, change: int) -> None:
        self.active += change
        self.max_active = max(self.max_active, self.active)
        self._active_changed.set()
        self._active_changed = asyncio.Event()

    async def _answer(
        self, request: web.Request, body: Body, behaviour: Behaviour
    ) -> web.StreamResponse:
        started = time.monotonic_ns()
        model = str(body["model"])
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour.status != 200:
            default = NOT_FOUND.format(model=model) if behaviour.status == 404 else RUNNER_DIED
            return self._error(behaviour.status, behaviour.error or default, behaviour.retry_after)
        if behaviour.end == "never_stop":
            return await self._ramble(request, body, behaviour)
        text = behaviour.text
        if text is None:
            text = shaped_text(behaviour.shape, ticket_text(body))
        pieces = _split(text, behaviour.chunks)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        if body.get("stream") is False:
            return web.json_response(_final(model, text, started, prompt_tokens, len(pieces)))

        response = web.StreamResponse()
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        limit = len(pieces) if behaviour.end == "done" else min(behaviour.end_after, len(pieces))
        for index, piece in enumerate(pieces[:limit]):
            if index and behaviour.chunk_delay:
                await asyncio.sleep(behaviour.chunk_delay)
            chunk = _chunk(model, piece)
            if body.get("logprobs") and behaviour.logprob is not None:
                chunk["logprobs"] = [{"token": piece, "logprob": behaviour.logprob}]
            await response.write(_line(chunk))
        return await end_stream(
            request,
            response,
            behaviour,
            done=_line(_final(model, "", started, prompt_tokens, limit)),
            error=_line({"error": behaviour.error or MID_STREAM}),
            garbage=b"<html>502 Bad Gateway</html>\n",
        )

    def _error(self, status: int, message: str, retry_after: str | None = None) -> web.Response:
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        return web.json_response({"error": message}, status=status, headers=headers)

    async def _ramble(
        self, request: web.Request, body: Body, behaviour: Behaviour
    ) -> web.StreamResponse:
        """Never-stop: pieces until num_predict, then done_reason "length"."""
        started = time.monotonic_ns()
        model = str(body["model"])
        limit = (body.get("options") or {}).get("num_predict")
        response = web.StreamResponse()
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        for said, piece in enumerate(rambling()):
            if limit is not None and said >= limit:
                break
            await response.write(_line(_chunk(model, piece)))
            await asyncio.sleep(behaviour.chunk_delay)  # yields, so a hang-up is seen
        final = _final(model, "", started, 0, said)
        final["done_reason"] = "length"
        await response.write(_line(final))
        await response.write_eof()
        return response

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [_model_entry(name) for name in sorted(self.models)]})

    async def _show(self, request: web.Request) -> web.Response:
        body: Body = await request.json()
        name = str(body.get("model") or body.get("name") or "")
        if not self._known(name):
            return self._error(404, f"model '{name}' not found")
        entry = _model_entry(name)
        return web.json_response(
            {
                "license": "",
                "modelfile": f"FROM {name}\n",
                "parameters": "temperature 0.7",
                "template": "{{ .Prompt }}",
                "details": entry["details"],
                "model_info": {"general.architecture": "llama"},
                "capabilities": ["completion"],
                "modified_at": entry["modified_at"],
            }
        )

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": OLLAMA_VERSION})


Fake = TypeVar("Fake", bound="FakeOllama")


@asynccontextmanager
async def run_fake_ollama(
    *,
    models: tuple[str, ...] = (DEFAULT_MODEL,),
    behaviour: Behaviour | None = None,
    kind: type[Fake] = FakeOllama,  # type: ignore[assignment]
) -> AsyncIterator[Fake]:
    """A started FakeOllama (or a `kind` of it) on a free port, stopped on exit."""
    fake = kind(models=models, behaviour=behaviour)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def _full_name(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


async def end_stream(
    request: web.Request,
    response: web.StreamResponse,
    behaviour: Behaviour,
    *,
    done: bytes,
    error: bytes,
    garbage: bytes,
) -> web.StreamResponse:
    """End a streamed answer as `behaviour.end` says, with the wire's own bytes for each end."""
    if behaviour.end == "done":
        await response.write(done)
    elif behaviour.end == "error":
        await response.write(error)
    elif behaviour.end == "stall":
        await asyncio.Event().wait()  # until the client hangs up or the fake stops
    elif behaviour.end == "garbage":
        await response.write(garbage)
    else:
        # No terminating chunk: the client sees an incomplete chunked body.
        assert request.transport is not None
        request.transport.close()
        return response
    await response.write_eof()
    return response


def rambling() -> Iterator[str]:
    """What a model that never stops says, a token a piece."""
    yield '{"category": "Billing", "sentiment": 3, "urgency": "High", "draft": "Dear customer, '
    while True:
        yield RAMBLE


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _line(payload: Body) -> bytes:
    return json.dumps(payload).encode() + b"\n"


def _chunk(model: str, content: str) -> Body:
    return {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
        "done": False,
    }


def _final(model: str, content: str, started_ns: int, prompt_tokens: int, pieces: int) -> Body:
    total = time.monotonic_ns() - started_ns
    return {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
        "done": True,
        "done_reason": "stop",
        "total_duration": total,
        "load_duration": 1_000_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": total // 4,
        "eval_count": pieces,
        "eval_duration": total // 2,
    }


def _split(text: str, pieces: int) -> list[str]:
    """`text` in at most `pieces` consecutive non-empty parts."""
    if not text:
        return []
    size = -(-len(text) // max(1, pieces))
    return [text[start : start + size] for start in range(0, len(text), size)]


def _python_literal(value: object) -> str:
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
        return f"'{escaped}'"
    return repr(value)


def _model_entry(name: str) -> Body:
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-01-01T00:00:00Z",
        "size": 4_113_301_824,
        "digest": "f974a74358d62a017b37c6f424fcdf2744ca02926c4f952513ddf474b2fa5091",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "7.2B",
            "quantization_level": "Q4_0",
        },
    }
