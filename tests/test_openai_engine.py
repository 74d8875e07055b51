"""The OpenAI-compatible engine with the real openai client against the fake OpenAI server: the
request it sends, the stream it reads, every fault as one domain error, the /v1/models probe."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator

import httpx2
import pytest

from tests.fake_ollama import (
    DEFAULT_MODEL,
    Behaviour,
    run_fake_ollama,
    triage_for,
    unused_port_url,
)
from tests.fake_openai import FakeOpenAI, run_fake_openai
from triage_hub.check import Check, check_llm_hosts
from triage_hub.engines.base import InvalidAnswer
from triage_hub.engines.ollama import OllamaEngine
from triage_hub.engines.openai import OpenAIEngine, retry_after
from triage_hub.prompts import build_messages
from triage_hub.settings import Settings
from triage_hub.triage.faults import Cause, LLMUnavailable
from triage_hub.triage.output import TRIAGE_JSON_SCHEMA

TICKET = "I am furious: you charged my card twice this month. Fix my bill now!"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with run_fake_openai() as server:
        yield server


def make_engine(
    url: str, *, within: float = 3.0, stall: float = 0.3, api_key: str | None = None
) -> OpenAIEngine:
    return OpenAIEngine(url, DEFAULT_MODEL, within, stall, max_output_tokens=512, api_key=api_key)


@pytest.fixture
async def engine(fake: FakeOpenAI) -> AsyncIterator[OpenAIEngine]:
    engine = make_engine(fake.url)
    yield engine
    await engine.close()


async def settled(fake: FakeOpenAI) -> None:
    """Wait until the fake has no completion handler running (the client hung up)."""
    async with asyncio.timeout(2):
        await fake.wait_active(0)


async def test_a_valid_stream_is_a_triage_with_its_figures(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    deltas: list[str] = []

    async def on_delta(delta: str) -> None:
        deltas.append(delta)

    answer = await engine.triage(TICKET, on_delta)
    assert answer.output.model_dump() == triage_for(TICKET)
    assert answer.engine == "openai" and answer.model == DEFAULT_MODEL
    assert answer.raw_response == "".join(deltas) and len(deltas) == 8
    assert answer.first_token_ms is not None and answer.first_token_ms <= answer.total_ms
    # From the last chunk, which has no choices: the usage.
    assert answer.prompt_tokens is not None and answer.prompt_tokens > 0
    assert answer.completion_tokens == 8
    assert answer.confidence == {}  # the fake sent no log-probabilities


async def test_it_sends_the_prompt_the_schema_and_the_bounds(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    await engine.triage(TICKET)
    [call] = fake.calls
    assert call["model"] == DEFAULT_MODEL
    assert call["messages"] == build_messages(TICKET)
    assert call["stream"] is True
    assert call["stream_options"] == {"include_usage": True}
    assert call["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "triage", "schema": TRIAGE_JSON_SCHEMA, "strict": True},
    }
    assert call["temperature"] == 0 and call["max_tokens"] == 512
    assert call["logprobs"] is True
    assert "guided_json" not in call and "guided_json" not in (call.get("extra_body") or {})
    # No key set: a placeholder, never OPENAI_API_KEY from the environment.
    assert fake.authorizations == ["Bearer EMPTY"]


async def test_log_probabilities_give_the_confidence(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    fake.behaviour = Behaviour(chunks=1, logprob=-0.105)
    answer = await engine.triage(TICKET)
    assert set(answer.confidence) == {"category", "urgency", "sentiment"}
    assert all(0.89 < value < 0.91 for value in answer.confidence.values())


async def test_an_api_key_is_sent_and_a_refused_one_is_configuration(fake: FakeOpenAI) -> None:
    fake.api_key = "sk-right"
    right, wrong = make_engine(fake.url, api_key="sk-right"), make_engine(fake.url, api_key="no")
    try:
        assert (await right.triage(TICKET)).output.category == "Billing"
        assert (await right.report()).model_available
        with pytest.raises(LLMUnavailable, match="refused the API key") as caught:
            await wrong.triage(TICKET)
        assert caught.value.cause is Cause.UNAUTHORIZED
        assert not caught.value.cause.may_be_the_tickets
        report = await wrong.report()
        assert report.reachable and not report.model_available
        assert "TRIAGE_LLM_API_KEY" in (report.error or "")
    finally:
        await right.close()
        await wrong.close()
    assert fake.authorizations == ["Bearer sk-right", "Bearer no"]


@pytest.mark.parametrize(
    ("behaviour", "cause", "words", "wait"),
    [
        (Behaviour.server_error(), Cause.SERVER_ERROR, "server error (500)", None),
        (
            Behaviour(status=503, error="queue full", retry_after="7"),
            Cause.BUSY,
            "busy (503)",
            7.0,
        ),
        (Behaviour.rate_limited("2"), Cause.BUSY, "busy (429)", 2.0),
        (Behaviour.busy(), Cause.BUSY, "busy (503)", None),
        (Behaviour.model_not_found(), Cause.MODEL_MISSING, "does it end in /v1?", None),
        (Behaviour.context_too_long(), Cause.REJECTED, "too long for the model's context", None),
        (Behaviour(status=422, error="bad field"), Cause.REJECTED, "rejected the request", None),
        (Behaviour.error_mid_stream(), Cause.BROKEN, "failed mid-stream", None),
        (Behaviour.truncated(), Cause.BROKEN, "connection to the LLM server broke", None),
        (Behaviour.garbage(), Cause.BROKEN, "malformed stream", None),
    ],
    ids=[
        "500",
        "503-retry-after",
        "429-retry-after",
        "503",
        "404",
        "400-context",
        "422",
        "error-mid-stream",
        "truncated",
        "garbage",
    ],
)
async def test_every_fault_is_one_domain_error(
    fake: FakeOpenAI,
    engine: OpenAIEngine,
    behaviour: Behaviour,
    cause: Cause,
    words: str,
    wait: float | None,
) -> None:
    fake.behaviour = behaviour
    with pytest.raises(LLMUnavailable) as caught:
        await engine.triage(TICKET)
    assert caught.value.cause is cause
    assert words in caught.value.message and len(caught.value.message) <= 200
    assert caught.value.retry_after == wait
    assert len(fake.calls) == 1  # the client never retries by itself: the queue does
    await settled(fake)


async def test_a_model_the_server_does_not_know(fake: FakeOpenAI) -> None:
    engine = OpenAIEngine(fake.url, "llama3:70b", 3, 1, max_output_tokens=512)
    try:
        with pytest.raises(LLMUnavailable) as caught:
            await engine.triage(TICKET)
        assert caught.value.model_missing and "llama3:70b" in caught.value.message
        report = await engine.report()
        assert report.reachable and not report.model_available
        assert "--model llama3:70b" in (report.error or "")
        assert DEFAULT_MODEL in (report.error or "")  # what it does serve
    finally:
        await engine.close()


async def test_connection_refused_and_back_up_on_the_same_port(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    assert (await engine.report()).model_available
    await fake.stop()
    with pytest.raises(LLMUnavailable, match="unreachable") as caught:
        await engine.triage(TICKET)
    assert caught.value.cause is Cause.UNREACHABLE
    report = await engine.report()
    assert not report.reachable and report.error and report.error.startswith("unreachable")
    await fake.start()
    assert (await engine.report()).model_available
    assert (await engine.triage(TICKET)).output.urgency == "High"


async def test_nobody_listening() -> None:
    engine = make_engine(f"{unused_port_url()}/v1")
    try:
        with pytest.raises(LLMUnavailable) as caught:
            await engine.triage(TICKET)
        assert caught.value.cause is Cause.UNREACHABLE
    finally:
        await engine.close()


async def test_a_stall_is_cut_off_and_the_client_still_works(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    fake.behaviour = Behaviour.stall_forever()
    with pytest.raises(LLMUnavailable, match=r"^timeout: stream stalled") as caught:
        await engine.triage(TICKET)
    assert caught.value.cause is Cause.STALLED
    await settled(fake)
    fake.behaviour = Behaviour.valid()
    assert (await engine.triage(TICKET)).output.category == "Billing"


async def test_a_slow_first_token_is_not_a_stall_but_the_call_is_bounded(
    fake: FakeOpenAI,
) -> None:
    engine = make_engine(fake.url, within=0.6, stall=0.2)
    try:
        fake.behaviour = Behaviour.slow_first_token(0.3)
        answer = await engine.triage(TICKET)
        assert answer.first_token_ms is not None and answer.first_token_ms >= 300
        fake.behaviour = Behaviour.slow_first_token(5)
        with pytest.raises(LLMUnavailable, match=r"^timeout: no complete answer") as caught:
            await engine.triage(TICKET)
        assert caught.value.cause is Cause.TIMEOUT
        await settled(fake)
    finally:
        await engine.close()


async def test_a_model_that_never_stops_is_cut_at_the_output_bound(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    fake.behaviour = Behaviour.never_stop()
    with pytest.raises(InvalidAnswer, match=r"TRIAGE_MAX_OUTPUT_TOKENS \(512 tokens\)") as caught:
        await engine.triage(TICKET)
    assert caught.value.raw_response and caught.value.raw_response.startswith('{"category"')
    assert fake.calls[0]["max_tokens"] == 512


async def test_cancelling_the_caller_hangs_up(fake: FakeOpenAI, engine: OpenAIEngine) -> None:
    fake.behaviour = Behaviour.stall_forever()
    slow = make_engine(fake.url, within=10, stall=10)
    task = asyncio.create_task(slow.triage(TICKET))
    async with asyncio.timeout(2):
        await fake.wait_active(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settled(fake)
    await slow.close()


def test_retry_after_as_seconds_milliseconds_or_a_date() -> None:
    def response(headers: dict[str, str]) -> httpx2.Response:
        return httpx2.Response(503, headers=headers)

    assert retry_after(response({"Retry-After": "12"})) == 12.0
    assert retry_after(response({"retry-after-ms": "1500"})) == 1.5
    assert retry_after(response({})) is None
    assert retry_after(response({"Retry-After": "soon"})) is None
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    wait = retry_after(response({"Retry-After": later}))
    assert wait is not None and 55 <= wait <= 60
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert retry_after(response({"Retry-After": past})) == 0.0


async def test_triage_hub_check_asks_the_openai_server(fake: FakeOpenAI) -> None:
    settings = Settings(
        TRIAGE_LLM_BACKEND="openai", OLLAMA_HOST=fake.url, TRIAGE_LLM_API_KEY="sk-right"
    )
    fake.api_key = "sk-right"
    ok = Check("llm", "ok", f"{fake.url} has {DEFAULT_MODEL} (4 slots)")  # OLLAMA_HOST's
    assert await check_llm_hosts(settings) == [ok]
    fake.models = {"Qwen/Qwen2.5-7B-Instruct"}
    [down] = await check_llm_hosts(settings)
    assert down.state == "down" and "Qwen/Qwen2.5-7B-Instruct" in down.detail
    assert "--model mistral:7b" in down.detail
    await fake.stop()
    assert [check.state for check in await check_llm_hosts(settings)] == ["down"]


async def test_each_engine_says_whether_it_can_triage(fake: FakeOpenAI) -> None:
    async with run_fake_ollama() as ollama_fake:
        engines = [
            make_engine(fake.url),
            OllamaEngine(ollama_fake.url, DEFAULT_MODEL, 3, 1),
        ]
        try:
            for engine, server in zip(engines, (fake, ollama_fake), strict=True):
                health = await engine.health()
                assert (health.engine, health.ready) == (server.backend, True)
                assert health.detail["host"] == server.url
                server.models = {"other:1b"}
                health = await engine.health()
                assert not health.ready and health.detail["reachable"] is True
        finally:
            for engine in engines:
                await engine.close()
