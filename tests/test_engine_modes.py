"""TRIAGE_ENGINE: the built-in engine when the LLM cannot answer (auto), alone (builtin), and
learning from what the agents resolved."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import StartApp, engine_settings
from tests.fake_ollama import Behaviour, FakeOllama
from tests.serve import ServeProcess
from tests.test_builtin_engine import PDF_BLANK, UNSEEN_PDF_BLANK
from tests.waiting import fetch_ticket, sql, wait_for_statuses
from triage_hub.db.pool import Database, create_pool
from triage_hub.engines.builtin.engine import BuiltinEngine
from triage_hub.keys import ENGINES

Client = TestClient[Any, Any]
pytestmark = pytest.mark.both_backends
BILLING = "I was charged twice for my subscription this month, please refund one"


async def submit(client: Client, message: str = BILLING) -> str:
    response = await client.post("/tickets", json={"message": message})
    assert response.status == 201
    return str((await response.json())["ticket_id"])


async def test_auto_triages_with_the_builtin_engine_while_the_llm_is_down(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()  # connection refused
    app = await start_app(engine_settings(database_url, fake_ollama, TRIAGE_ENGINE="auto"))
    down = [await submit(app, f"{BILLING} #{n}") for n in range(3)]
    statuses = await wait_for_statuses(database_url, {"COMPLETED"}, 3, timeout=20)
    assert {statuses[ticket] for ticket in down} == {"COMPLETED"}
    for ticket in down:
        row = await fetch_ticket(database_url, ticket)
        assert (row["engine"], row["model"], row["category"]) == (
            "builtin",
            "builtin-v1",
            "Billing",
        )
        assert row["attempts"] == 1 and row["handbacks"] == 0
        assert set(json.loads(row["confidence"])) == {"category", "urgency", "sentiment"}
    health = await (await app.get("/health")).json()
    assert health["claimers"]["paused"] is True  # the LLM is probed; the desk goes on

    await fake_ollama.start()
    # Once a probe finds the LLM back, it triages again; what the built-in engine did meanwhile
    # is offered "Retry with the LLM" (POST …/retry), which the LLM then answers.
    deadline = time.monotonic() + 30
    while True:
        rows = [await fetch_ticket(database_url, ticket) for ticket in down]
        if all(row["engine"] == fake_ollama.backend for row in rows):
            break
        assert time.monotonic() < deadline, "the LLM was not used again once it was back"
        for row in rows:
            if row["engine"] == "builtin" and row["status"] == "COMPLETED":
                assert (await app.post(f"/tickets/{row['id']}/retry")).status == 200
        await asyncio.sleep(0.5)
    assert {row["prompt_version"] for row in rows} == {"triage-v1"}
    again = await app.post(f"/tickets/{down[0]}/retry")  # the LLM's triage: nothing to redo
    assert again.status == 409


async def test_builtin_never_asks_the_llm(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    app = await start_app(engine_settings(database_url, fake_ollama, TRIAGE_ENGINE="builtin"))
    ticket = await submit(app)
    await wait_for_statuses(database_url, {"COMPLETED"}, 1, timeout=20)
    assert fake_ollama.calls == []
    detail = await (await app.get(f"/tickets/{ticket}")).json()
    assert detail["engine"] == "builtin" and detail["ai_category"] == "Billing"
    assert 0 <= detail["confidence"]["category"] <= 1


async def test_a_fresh_start_without_an_llm_completes_a_ticket_by_the_builtin_engine(
    database_url: str,
) -> None:
    """`make run` on a machine with no Ollama: the defaults (auto) triage at once."""
    server = ServeProcess({"DATABASE_URL": database_url, "OLLAMA_HOST": "http://127.0.0.1:9"})
    await server.start(timeout=60)
    try:
        deadline = time.monotonic() + 30
        while "built-in engine trained" not in await server.peek_stderr():
            assert time.monotonic() < deadline, "the built-in engine did not train"
            await asyncio.sleep(0.1)
        # How soon is measured by bench/builtin_start.py, not asserted here.
        ticket = await server.post_ticket("The export button does nothing since the update.")
        await wait_for_statuses(database_url, {"COMPLETED"}, 1, timeout=10)
        assert (await fetch_ticket(database_url, ticket))["engine"] == "builtin"
    finally:
        await server.close()


async def test_the_engine_follows_the_agents_corrections(database_url: str) -> None:
    """Tickets the agents resolved with labels that contradict the shipped set, for one
    phrasing: the next training follows them (and the guard keeps it)."""
    pool = await create_pool(database_url, 2)
    try:
        engine = BuiltinEngine(Database(pool), retrain_every=20, retrain_min_seconds=0)
        unseen = UNSEEN_PDF_BLANK[0]
        before = await engine.triage(unseen)
        assert before.output.category == "Technical"
        for message in PDF_BLANK:
            await sql(
                database_url,
                """INSERT INTO tickets (user_message, status, category, urgency, sentiment,
                                        ai_draft, resolved_at, attempts)
                   VALUES ($1, 'RESOLVED', 'Billing', 'Medium', 4,
                           'Thanks, we corrected the invoice export.', now(), 1)""",
                message,
            )
        assert await engine.retrain_when_due() is True
        after = await engine.triage(unseen)
        assert after.output.category == "Billing"
        crash = await engine.triage("The app crashes every time I open the settings page")
        assert crash.output.category == "Technical"
    finally:
        await pool.close()


async def test_an_llm_answer_carries_the_probability_of_each_chosen_value(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    """From the tokens' log-probabilities where Ollama sends them (one token here: e^-0.05);
    from the built-in engine's agreement where it does not; never a number made up."""
    fake_ollama.behaviour = Behaviour(chunks=1, logprob=-0.05)
    app = await start_app(engine_settings(database_url, fake_ollama, TRIAGE_ENGINE="auto"))
    first = await submit(app)
    await wait_for_statuses(database_url, {"COMPLETED"}, 1, timeout=20)
    assert fake_ollama.calls[0]["logprobs"] is True
    row = await fetch_ticket(database_url, first)
    confidence = json.loads(row["confidence"])
    assert confidence == pytest.approx(
        dict.fromkeys(("category", "urgency", "sentiment"), 0.951), abs=1e-3
    )

    fake_ollama.behaviour = Behaviour()  # no log-probabilities
    builtin = app.server.app[ENGINES].builtin
    assert isinstance(builtin, BuiltinEngine)
    await asyncio.wait_for(builtin.model(), 60)  # trained: an answer never waits for it
    second = await submit(app, "Please add a dark mode, the white screen hurts at night")
    await wait_for_statuses(database_url, {"COMPLETED"}, 2, timeout=20)
    row = await fetch_ticket(database_url, second)
    assert row["engine"] == fake_ollama.backend
    agreement = json.loads(row["confidence"])
    assert set(agreement) == {"category", "urgency", "sentiment"}
    assert all(0 <= value <= 1 for value in agreement.values())

    await app.close()  # its claimers would take the next ticket too, with a second opinion
    llm_only = await start_app(engine_settings(database_url, fake_ollama, TRIAGE_ENGINE="llm"))
    third = await submit(llm_only, "The invoice PDF shows the wrong VAT number for us")
    await wait_for_statuses(database_url, {"COMPLETED"}, 3, timeout=20)
    assert (await fetch_ticket(database_url, third))["confidence"] is None


async def test_retry_with_the_llm_is_answered_by_the_llm_once_it_is_back(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    await fake_ollama.stop()
    app = await start_app(engine_settings(database_url, fake_ollama, TRIAGE_ENGINE="auto"))
    down = [await submit(app, f"{BILLING} #{n}") for n in range(3)]
    await wait_for_statuses(database_url, {"COMPLETED"}, 3, timeout=20)
    await fake_ollama.start()  # back; the breaker is still open (nothing asked it since)
    for ticket in down:
        assert (await app.post(f"/tickets/{ticket}/retry")).status == 200
    # One retry each: the claimers standing in for the LLM leave them to the probe, whose
    # answer closes the breaker — none is triaged by the built-in engine a second time (it
    # would stay so: a built-in result is not retried by itself).
    deadline = time.monotonic() + 30
    while True:
        rows = [await fetch_ticket(database_url, ticket) for ticket in down]
        if all(
            row["status"] == "COMPLETED" and row["engine"] == fake_ollama.backend for row in rows
        ):
            break
        assert time.monotonic() < deadline, [(row["status"], row["engine"]) for row in rows]
        await asyncio.sleep(0.2)
