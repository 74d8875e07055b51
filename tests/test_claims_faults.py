"""Claims under faults: killed and stopped processes, lost leases, a dropped listener."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.conftest import StartApp, engine_settings
from tests.factories import insert_tickets
from tests.fake_ollama import Behaviour, FakeOllama
from tests.serve import ServeProcess
from tests.waiting import fetch_ticket, wait_for_statuses
from triage_hub.db import claims
from triage_hub.db.claims import Triage
from triage_hub.db.notify import LISTENER_APPLICATION_NAME
from triage_hub.db.pool import Database, create_pool

MESSAGE = "The dashboard has been down since this morning, please help urgently."
pytestmark = pytest.mark.both_backends


@pytest.fixture
async def serve_env(database_url: str, fake_ollama: FakeOllama) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "OLLAMA_HOST": fake_ollama.url,
        "TRIAGE_LLM_BACKEND": fake_ollama.backend,
        "TRIAGE_CLAIMERS": "1",
        "TRIAGE_LEASE_SECONDS": "1",
        "TRIAGE_POLL_SECONDS": "0.5",
        "TRIAGE_LOG_LEVEL": "INFO",
    }


@pytest.fixture
async def processes() -> AsyncIterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        await process.close()


async def test_a_killed_claimer_is_reaped_and_another_completes_the_ticket(
    start_app: StartApp,
    database_url: str,
    fake_ollama: FakeOllama,
    serve_env: dict[str, str],
    processes: list[ServeProcess],
) -> None:
    fake_ollama.behaviour = Behaviour.delayed(60)
    doomed = ServeProcess(serve_env)
    processes.append(doomed)
    await doomed.start()
    ticket_id = await doomed.post_ticket(MESSAGE)
    await asyncio.wait_for(fake_ollama.wait_active(1), 10)
    doomed.send(signal.SIGKILL)
    await doomed.wait()
    assert (await fetch_ticket(database_url, ticket_id))["status"] == "PROCESSING"

    fake_ollama.behaviour = Behaviour.valid()
    await start_app(engine_settings(database_url, fake_ollama))
    await wait_for_statuses(database_url, {"COMPLETED"}, 1, timeout=15)
    ticket = await fetch_ticket(database_url, ticket_id)
    assert ticket["attempts"] == 2
    assert len(fake_ollama.calls_for("down since this morning")) == 2


@pytest.mark.parametrize(("llm_seconds", "final_status"), [(60, "PENDING"), (0.5, "COMPLETED")])
async def test_sigterm_finishes_or_hands_back_in_flight_tickets(
    database_url: str,
    fake_ollama: FakeOllama,
    serve_env: dict[str, str],
    processes: list[ServeProcess],
    llm_seconds: float,
    final_status: str,
) -> None:
    fake_ollama.behaviour = Behaviour.delayed(llm_seconds)
    server = ServeProcess({**serve_env, "TRIAGE_LEASE_SECONDS": "60", "TRIAGE_SHUTDOWN_GRACE": "3"})
    processes.append(server)
    await server.start()
    ticket_id = await server.post_ticket(MESSAGE)
    await asyncio.wait_for(fake_ollama.wait_active(1), 10)
    started = time.monotonic()
    server.send(signal.SIGTERM)
    assert await server.wait() == 0
    assert time.monotonic() - started < 10
    ticket = await fetch_ticket(database_url, ticket_id)
    assert ticket["status"] == final_status
    if final_status == "PENDING":
        assert ticket["attempts"] == 0  # handed back, not spent
        assert ticket["lease_expires_at"] is None
        assert "shutdown" in ticket["last_error"]
        assert "handed 1 unfinished tickets back" in await server.stderr()


async def test_a_late_writer_is_fenced_off(database_url: str) -> None:
    [ticket_id] = await insert_tickets(database_url, 1)
    pool = await create_pool(database_url, 2)
    db = Database(pool)
    try:
        first = await claims.claim_next_ticket(db, "first", lease_seconds=0.1)
        assert first is not None and str(first.ticket_id) == ticket_id
        await asyncio.sleep(0.2)
        assert await claims.reap_expired_leases(db, max_attempts=3) == [
            (first.ticket_id, "PENDING")
        ]
        second = await claims.claim_next_ticket(db, "second", lease_seconds=60)
        assert second is not None and second.token != first.token

        triage = Triage(
            "Technical", 3, "High", "A reply long enough to be a draft.", "{}", "m", 1.0, 2.0,
            1, 1, "ollama", "triage-v1", {}, None,
        )  # fmt: skip
        assert await claims.renew_lease(db, first, 60) is False
        assert await claims.complete_ticket(db, first, triage) is None
        assert await claims.release_ticket(db, first, reason="late") is False
        assert (
            await claims.retry_or_fail_ticket(
                db,
                first,
                error="late",
                raw_response="x",
                model="m",
                backoff_seconds=0,
                max_attempts=3,
            )
            is None
        )
        row = await fetch_ticket(database_url, ticket_id)
        assert (row["status"], row["claimed_by"], row["attempts"]) == ("PROCESSING", "second", 2)
        assert await claims.complete_ticket(db, second, triage) is not None
    finally:
        await pool.close()


async def test_the_reaper_fails_a_ticket_whose_attempts_are_used_up(database_url: str) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "PROCESSING")
    conn = await asyncpg.connect(database_url)
    await conn.execute("UPDATE tickets SET attempts = 3, lease_expires_at = now() - interval '1s'")
    await conn.close()
    pool = await create_pool(database_url, 1)
    try:
        [(reaped_id, status)] = await claims.reap_expired_leases(Database(pool), max_attempts=3)
    finally:
        await pool.close()
    assert (str(reaped_id), status) == (ticket_id, "FAILED")
    row = await fetch_ticket(database_url, ticket_id)
    assert row["status"] == "FAILED" and "lease expired" in row["last_error"]


async def listener_pid(database_url: str, not_pid: int | None = None) -> int:
    """The pid of the claimer listener's backend (a new one when not_pid is given)."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(200):
            pid = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
                "AND datname = current_database() AND pid IS DISTINCT FROM $2",
                LISTENER_APPLICATION_NAME,
                not_pid,
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError("no listener connection")


async def test_the_listener_reconnects_after_its_connection_is_killed(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    # Polling every 60 s: only a notification can explain a pickup within seconds.
    claimers = await start_app(engine_settings(database_url, fake_ollama, TRIAGE_POLL_SECONDS=60))
    intake = await start_app(engine_settings(database_url, fake_ollama, TRIAGE_CLAIMERS=0))
    assert claimers is not intake
    first = await listener_pid(database_url)
    conn = await asyncpg.connect(database_url)
    assert await conn.fetchval("SELECT pg_terminate_backend($1)", first)
    await conn.close()
    await listener_pid(database_url, not_pid=first)

    for n in range(3):
        response = await intake.post("/tickets", json={"message": f"{MESSAGE} #{n}"})
        assert response.status == 201
        await wait_for_statuses(database_url, {"COMPLETED"}, n + 1, timeout=5)
