"""Faults of the triage engine: poison tickets, a stuck probe, background tasks that die."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import StartApp, engine_settings
from tests.fake_ollama import Behaviour, FakeOllama, ticket_text
from tests.waiting import fetch_ticket, sql, wait_for_statuses
from triage_hub.triage.breaker import CircuitBreaker

Client = TestClient[Any, Any]
pytestmark = pytest.mark.both_backends
POISON = "POISON: this ticket makes the model hang every single time, please help"


async def submit(client: Client, message: str) -> str:
    response = await client.post("/tickets", json={"message": message})
    assert response.status == 201
    return str((await response.json())["ticket_id"])


def poison_stalls(fake: FakeOllama, marker: str = "POISON") -> None:
    """Tickets containing `marker` stall after their first piece; the others are answered."""
    fake.script = lambda body: (
        Behaviour.stall_forever(after=1) if marker in ticket_text(body) else None
    )


def fast_faults(database_url: str, fake: FakeOllama, **overrides: Any) -> Any:
    values = {"TRIAGE_CLAIMERS": 2, "TRIAGE_STALL_SECONDS": 0.4, "TRIAGE_MAX_HANDBACKS": 3}
    return engine_settings(database_url, fake, **{**values, **overrides})


async def test_a_poison_ticket_ends_failed_while_the_others_complete(
    start_app: StartApp,
    database_url: str,
    fake_ollama: FakeOllama,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    poison_stalls(fake_ollama)
    app = await start_app(fast_faults(database_url, fake_ollama))
    poison = await submit(app, POISON)  # the oldest: claimed first, and again and again
    others = [await submit(app, f"My invoice {n} looks wrong, please check") for n in range(6)]

    started = time.monotonic()
    await wait_for_statuses(database_url, {"COMPLETED"}, 6, timeout=10)
    assert time.monotonic() - started < 5  # a stall costs one claimer 0.4 s, not the queue
    statuses = await wait_for_statuses(database_url, {"COMPLETED", "FAILED"}, 7, timeout=15)
    assert {statuses[ticket] for ticket in others} == {"COMPLETED"}
    assert statuses[poison] == "FAILED"

    row = await fetch_ticket(database_url, poison)
    assert row["handbacks"] == 3
    assert row["attempts"] == 1  # the last try stays spent; the earlier ones were refunded
    assert row["last_error"].startswith(
        "the model stopped sending (silent for 0.4 s) on 3 tries (last: timeout: stream stalled"
    )
    assert len(fake_ollama.calls_for("POISON")) == 3
    assert not [r for r in caplog.records if "claims paused" in r.getMessage()]


async def test_two_poison_tickets_do_not_hold_two_claimers(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    poison_stalls(fake_ollama)
    app = await start_app(fast_faults(database_url, fake_ollama))
    poisons = [await submit(app, f"{POISON} #{n}") for n in range(2)]
    others = [await submit(app, f"The export button does nothing, case {n}") for n in range(6)]

    statuses = await wait_for_statuses(database_url, {"COMPLETED", "FAILED"}, 8, timeout=20)
    assert {statuses[ticket] for ticket in others} == {"COMPLETED"}
    assert {statuses[ticket] for ticket in poisons} == {"FAILED"}


async def test_a_hanging_llm_is_an_outage_and_fails_no_ticket(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    """When every call stalls, nobody is answered: no ticket is the culprit, none is FAILED."""
    fake_ollama.behaviour = Behaviour.stall_forever(after=1)
    app = await start_app(fast_faults(database_url, fake_ollama, TRIAGE_MAX_HANDBACKS=1))
    ids = [await submit(app, f"Nothing loads on the dashboard today, case {n}") for n in range(3)]
    deadline = time.monotonic() + 15
    while await sql(database_url, "SELECT min(handbacks) FROM tickets") < 1:
        assert time.monotonic() < deadline, "the tickets were not retried"
        await asyncio.sleep(0.1)
    assert await sql(database_url, "SELECT count(*) FROM tickets WHERE status = 'FAILED'") == 0
    assert (await (await app.get("/health")).json())["claimers"]["paused"] is True

    fake_ollama.behaviour = Behaviour.valid()
    statuses = await wait_for_statuses(database_url, {"COMPLETED"}, 3, timeout=20)
    assert {statuses[ticket] for ticket in ids} == {"COMPLETED"}


async def test_a_ticket_the_server_crashes_on_is_failed_with_a_reason(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script = lambda body: (
        Behaviour.server_error() if "POISON" in ticket_text(body) else None
    )
    app = await start_app(fast_faults(database_url, fake_ollama))
    poison = await submit(app, POISON)
    await submit(app, "Please add a dark mode to the mobile app, thanks!")
    statuses = await wait_for_statuses(database_url, {"COMPLETED", "FAILED"}, 2, timeout=15)
    assert statuses[poison] == "FAILED"
    error = (await fetch_ticket(database_url, poison))["last_error"]
    assert error.startswith("the LLM server failed on this ticket 3 times (last: ")
    assert "server error (500): llama runner process has terminated" in error


async def test_a_probe_that_meets_a_database_error_is_given_back(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    """The claimer holding the breaker's probe fails to hand its ticket back: the breaker must
    not wait for that probe for ever."""
    await fake_ollama.stop()  # connection refused: the breaker opens
    await sql(
        database_url,
        """CREATE FUNCTION refuse_hand_back() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'hand-back refused by the test'; END $$""",
    )
    await sql(
        database_url,
        """CREATE TRIGGER refuse_hand_back BEFORE UPDATE ON tickets FOR EACH ROW
           WHEN (OLD.status = 'PROCESSING' AND NEW.status = 'PENDING')
           EXECUTE FUNCTION refuse_hand_back()""",
    )
    app = await start_app(fast_faults(database_url, fake_ollama, TRIAGE_LEASE_SECONDS=1))
    ids = [await submit(app, f"The app crashes when I upload a photo, case {n}") for n in range(3)]
    await asyncio.sleep(2.5)  # the first failures and at least one probe hit the trigger
    await sql(database_url, "DROP TRIGGER refuse_hand_back ON tickets")
    await fake_ollama.start()
    statuses = await wait_for_statuses(database_url, {"COMPLETED"}, 3, timeout=20)
    assert {statuses[ticket] for ticket in ids} == {"COMPLETED"}


@pytest.mark.parametrize("task", ["claimer", "reaper"])
async def test_a_background_task_that_dies_is_restarted_and_reported(
    start_app: StartApp,
    database_url: str,
    fake_ollama: FakeOllama,
    caplog: pytest.LogCaptureFixture,
    task: str,
) -> None:
    """A PostgresError that is no connection loss (here: read-only after a failover) kills the
    task's loop; it is logged, restarted with backoff, and /health and /metrics tell."""
    app = await start_app(fast_faults(database_url, fake_ollama))
    await sql(
        database_url,
        """CREATE FUNCTION read_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'cannot execute UPDATE in a read-only transaction'
                 USING ERRCODE = '25006'; END $$""",
    )
    await sql(
        database_url,
        "CREATE TRIGGER read_only BEFORE UPDATE ON tickets"
        " FOR EACH ROW EXECUTE FUNCTION read_only()",
    )
    if task == "claimer":
        await submit(app, "Our webhook deliveries stopped an hour ago, please look")
    else:  # a lease that expired long ago: the reaper's next UPDATE fails
        await sql(
            database_url,
            """INSERT INTO tickets (user_message, status, attempts, claim_token, claimed_by,
                                    lease_expires_at)
               VALUES ('A ticket whose claimer died', 'PROCESSING', 1, gen_random_uuid(), 'gone',
                       now() - interval '1 hour')""",
        )

    deadline = time.monotonic() + 10
    while True:
        details = await (await app.get("/health")).json()
        if details["background"][task]["restarts"] >= 1:
            break
        assert time.monotonic() < deadline, details
        await asyncio.sleep(0.1)
    died = [r for r in caplog.records if f"background task {task}" in r.getMessage()]
    assert died and died[0].exc_info is not None
    assert "ReadOnlySQLTransactionError" in caplog.text
    metrics = await (await app.get("/metrics")).text()
    assert f'triage_background_task_restarts_total{{kind="{task}"}}' in metrics

    await sql(database_url, "DROP TRIGGER read_only ON tickets")
    await wait_for_statuses(database_url, {"COMPLETED"}, 1, timeout=20)
    deadline = time.monotonic() + 10
    while True:
        background = (details := await (await app.get("/health")).json())["background"][task]
        if background["live"] == background["configured"]:
            break
        assert time.monotonic() < deadline, details
        await asyncio.sleep(0.1)
    assert background["configured"] == (2 if task == "claimer" else 1)
    assert details["claimers"]["live"] == details["claimers"]["configured"] == 2


async def test_the_public_health_check_tells_little(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    app = await start_app(fast_faults(database_url, fake_ollama))
    anonymous = await app.get("/health", headers={"Authorization": ""})
    assert anonymous.status == 200
    assert await anonymous.json() == {
        "status": "ok",
        "database": "ok",
        "llm": {"reachable": True},
    }
    agent = await (await app.get("/health")).json()
    assert agent["llm"]["host"] == fake_ollama.url
    assert agent["claimers"]["configured"] == agent["claimers"]["live"] == 2
    assert set(agent["background"]) == {"notifier", "listener", "claimer", "reaper"}


async def test_a_probe_whose_block_raises_is_given_back() -> None:
    breaker = CircuitBreaker(first_delay=0.0)
    stopping = asyncio.Event()
    async with breaker.permit(stopping) as permit:
        assert permit is not None and not permit.probe
        breaker.failed(permit, "refused")
    assert breaker.is_open
    with pytest.raises(RuntimeError):
        async with breaker.permit(stopping) as probe:
            assert probe is not None and probe.probe
            raise RuntimeError("release_ticket failed")
    async with asyncio.timeout(1), breaker.permit(stopping) as again:
        assert again is not None and again.probe


async def test_one_suspect_ticket_does_not_open_the_breaker() -> None:
    breaker = CircuitBreaker()
    stopping = asyncio.Event()
    suspect = uuid.uuid4()
    for _ in range(5):
        async with breaker.permit(stopping) as permit:
            assert permit is not None
            assert breaker.failed(permit, "stalled", suspect=suspect) is False
    assert not breaker.is_open
    async with breaker.permit(stopping) as permit:
        assert permit is not None
        assert breaker.failed(permit, "stalled", suspect=uuid.uuid4()) is True
    assert breaker.is_open
