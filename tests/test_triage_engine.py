"""The claimer pool end to end: real PostgreSQL, the real ollama client, a fake Ollama server."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import StartApp, engine_settings
from tests.fake_ollama import Behaviour, FakeOllama, ticket_text, triage_for
from tests.waiting import fetch_ticket, wait_for_statuses
from triage_hub.prompts import SYSTEM_PROMPT
from triage_hub.triage.output import TRIAGE_JSON_SCHEMA

Client = TestClient[Any, Any]
pytestmark = pytest.mark.both_backends
ANGRY = "I am furious: you charged my card twice this month and nobody answers!"


async def submit(client: Client, message: str = ANGRY) -> str:
    response = await client.post("/tickets", json={"message": message})
    assert response.status == 201
    return str((await response.json())["ticket_id"])


async def test_a_valid_answer_completes_the_ticket(
    engine: Client, database_url: str, fake_ollama: FakeOllama
) -> None:
    ticket_id = await submit(engine)
    await wait_for_statuses(database_url, {"COMPLETED"}, 1)
    ticket = await (await engine.get(f"/tickets/{ticket_id}")).json()
    expected = triage_for(ANGRY)
    assert (ticket["category"], ticket["sentiment"], ticket["urgency"]) == (
        expected["category"],
        expected["sentiment"],
        expected["urgency"],
    )
    assert (ticket["category"], ticket["sentiment"], ticket["urgency"]) == ("Billing", 2, "High")
    assert ticket["ai_draft"] == expected["draft"]
    assert json.loads(ticket["raw_ai_response"]) == expected
    assert ticket["model"] == "mistral:7b"
    assert ticket["attempts"] == 1
    assert ticket["first_token_ms"] is not None and ticket["total_ms"] >= ticket["first_token_ms"]
    assert ticket["prompt_tokens"] > 0 and ticket["completion_tokens"] > 0
    assert ticket["lease_expires_at"] is None

    [call] = fake_ollama.calls
    assert call["model"] == "mistral:7b"
    assert call["stream"] is True
    assert fake_ollama.sent(call) == {
        "schema": TRIAGE_JSON_SCHEMA,
        "temperature": 0,
        "max_output_tokens": 512,
    }
    system, user = call["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"
    assert ANGRY in user["content"] and ANGRY not in system["content"]


@pytest.mark.parametrize("behaviour", ["fenced", "chatter", "repairable"])
async def test_answers_that_need_extraction_still_complete(
    engine: Client, database_url: str, fake_ollama: FakeOllama, behaviour: str
) -> None:
    fake_ollama.behaviour = getattr(Behaviour, behaviour)()
    ticket_id = await submit(engine)
    await wait_for_statuses(database_url, {"COMPLETED"}, 1)
    ticket = await fetch_ticket(database_url, ticket_id)
    assert ticket["category"] == "Billing"
    assert ticket["raw_ai_response"] != json.dumps(triage_for(ANGRY))  # kept as said


@pytest.mark.parametrize("behaviour", ["invalid_enum", "sentiment_out_of_range", "short_draft"])
async def test_invalid_answers_are_retried_then_failed(
    engine: Client, database_url: str, fake_ollama: FakeOllama, behaviour: str
) -> None:
    fake_ollama.behaviour = getattr(Behaviour, behaviour)()
    ticket_id = await submit(engine)
    await wait_for_statuses(database_url, {"FAILED"}, 1)
    ticket = await fetch_ticket(database_url, ticket_id)
    assert ticket["attempts"] == 3
    assert len(fake_ollama.calls) == 3
    assert ticket["last_error"]
    assert ticket["raw_ai_response"]  # what the model said, although invalid
    assert ticket["category"] is None and ticket["ai_draft"] is None


async def test_an_invalid_answer_then_a_valid_one(
    engine: Client, database_url: str, fake_ollama: FakeOllama
) -> None:
    fake_ollama.queue(Behaviour.invalid_enum())
    ticket_id = await submit(engine)
    await wait_for_statuses(database_url, {"COMPLETED"}, 1)
    ticket = await fetch_ticket(database_url, ticket_id)
    assert ticket["attempts"] == 2
    assert ticket["last_error"] is None


@pytest.mark.parametrize(
    "fault",
    ["truncated", "error_mid_stream", "server_error", "busy"],
)
async def test_infrastructure_faults_hand_the_ticket_back_without_spending_an_attempt(
    engine: Client, database_url: str, fake_ollama: FakeOllama, fault: str
) -> None:
    fake_ollama.queue(getattr(Behaviour, fault)())
    ticket_id = await submit(engine)
    await wait_for_statuses(database_url, {"COMPLETED"}, 1)
    ticket = await fetch_ticket(database_url, ticket_id)
    assert len(fake_ollama.calls) == 2
    assert ticket["attempts"] == 1  # the faulty call was refunded


async def test_a_stalled_stream_is_cut_off(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    settings = engine_settings(database_url, fake_ollama, TRIAGE_STALL_SECONDS=0.3)
    client = await start_app(settings)
    fake_ollama.queue(Behaviour.stall_forever())
    ticket_id = await submit(client)
    await wait_for_statuses(database_url, {"COMPLETED"}, 1)
    ticket = await fetch_ticket(database_url, ticket_id)
    assert (len(fake_ollama.calls), ticket["attempts"]) == (2, 1)


async def test_a_slow_first_token_keeps_its_lease_on_a_timer(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    # The first token takes three leases: only the timer keeps the claim alive.
    settings = engine_settings(database_url, fake_ollama, TRIAGE_LEASE_SECONDS=0.5)
    client = await start_app(settings)
    fake_ollama.behaviour = Behaviour.slow_first_token(1.5)
    ticket_id = await submit(client)
    await wait_for_statuses(database_url, {"COMPLETED"}, 1)
    ticket = await fetch_ticket(database_url, ticket_id)
    assert (len(fake_ollama.calls), ticket["attempts"]) == (1, 1)
    assert ticket["first_token_ms"] >= 1500


async def test_ollama_down_pauses_claims_and_everything_resumes(
    engine: Client, database_url: str, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()  # connection refused
    ids = [await submit(engine, f"{ANGRY} #{n}") for n in range(6)]
    await asyncio.sleep(1.5)
    health = await engine.get("/health")
    assert health.status == 200
    report = await health.json()
    assert report["llm"]["reachable"] is False
    assert report["claimers"]["paused"] is True
    statuses = await wait_for_statuses(database_url, {"PENDING"}, 6)
    assert set(statuses.values()) == {"PENDING"}
    for ticket_id in ids:
        assert (await fetch_ticket(database_url, ticket_id))["attempts"] == 0

    await fake_ollama.start()
    await wait_for_statuses(database_url, {"COMPLETED"}, 6, timeout=15)
    assert len(fake_ollama.calls) == 6


async def test_while_ollama_fails_only_one_probe_at_a_time(
    engine: Client, database_url: str, fake_ollama: FakeOllama
) -> None:
    fake_ollama.behaviour = Behaviour.server_error()
    for n in range(8):
        await submit(engine, f"{ANGRY} #{n}")
    await asyncio.sleep(2.5)
    # 4 claimers fail at once, then single probes after 1 s and 2 s backoffs — not a hot loop.
    assert len(fake_ollama.calls) <= 4 + 2
    assert fake_ollama.max_active <= 4
    fake_ollama.behaviour = Behaviour.valid()
    await wait_for_statuses(database_url, {"COMPLETED"}, 8, timeout=15)


async def test_a_missing_model_is_reported_and_logged_once_with_the_pull_command(
    engine: Client,
    database_url: str,
    fake_ollama: FakeOllama,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_ollama.models = {"llama3:8b"}
    for n in range(3):
        await submit(engine, f"{ANGRY} #{n}")
    await asyncio.sleep(2)
    report = await (await engine.get("/health")).json()
    assert report["llm"]["reachable"] is True
    assert report["llm"]["model_available"] is False
    hint = fake_ollama.missing_model_hint.format(model="mistral:7b")
    assert hint in report["llm"]["error"]
    pulls = [r for r in caplog.records if hint in r.getMessage()]
    assert len(pulls) == 1
    statuses = await wait_for_statuses(database_url, {"PENDING"}, 3)
    assert set(statuses.values()) == {"PENDING"}

    fake_ollama.models = {"mistral:7b"}
    await wait_for_statuses(database_url, {"COMPLETED"}, 3, timeout=15)


async def test_two_replicas_triage_every_ticket_exactly_once(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    fake_ollama.behaviour = Behaviour.delayed(0.02)
    replicas = [
        await start_app(engine_settings(database_url, fake_ollama, TRIAGE_CLAIMERS=4))
        for _ in range(2)
    ]
    messages = [f"Ticket {n:03d}: my invoice total is wrong again" for n in range(60)]
    await asyncio.gather(*(submit(replicas[n % 2], m) for n, m in enumerate(messages)))
    await wait_for_statuses(database_url, {"COMPLETED"}, len(messages), timeout=30)
    per_ticket = Counter(ticket_text(call) for call in fake_ollama.calls)
    assert sorted(per_ticket.values()) == [1] * len(messages)
    assert set(per_ticket) == set(messages)
