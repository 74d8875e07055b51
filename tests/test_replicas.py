"""Three `triage-hub serve` processes on one database, as production runs them: the work is
shared, a replica killed outright loses nothing and completes nothing twice, and what happens
through one replica reaches the dashboards of another."""

from __future__ import annotations

import asyncio
import collections
import signal
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from tests.auth import AUTH, seed_accounts
from tests.fake_ollama import Behaviour, FakeOllama, ticket_text
from tests.serve import ServeProcess
from tests.sse import EventReader
from tests.waiting import sql, wait_for_statuses

TICKETS = 300
DANA = {"Authorization": "Bearer th_dana-token-of-the-replica-test"}

# Every completing write of a ticket, recorded by the database itself: exactly one each is
# what the fencing promises, whatever replica died holding what.
COUNT_COMPLETIONS = """
CREATE TABLE completing_writes (ticket_id uuid NOT NULL, claimed_by text);
CREATE FUNCTION record_completion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO completing_writes VALUES (NEW.id, OLD.claimed_by);
    RETURN NULL;
END $$;
CREATE TRIGGER record_completion AFTER UPDATE ON tickets FOR EACH ROW
    WHEN (NEW.status = 'COMPLETED' AND OLD.status IS DISTINCT FROM 'COMPLETED')
    EXECUTE FUNCTION record_completion();
"""


@pytest.fixture
async def replicas(database_url: str, fake_ollama: FakeOllama) -> AsyncIterator[list[ServeProcess]]:
    env = {
        "DATABASE_URL": database_url,
        "OLLAMA_HOST": fake_ollama.url,
        "TRIAGE_LLM_BACKEND": fake_ollama.backend,
        "TRIAGE_ENGINE": "llm",
        "TRIAGE_CLAIMERS": "4",
        "TRIAGE_LEASE_SECONDS": "2",
        "TRIAGE_POLL_SECONDS": "0.5",
    }
    started = [ServeProcess(env) for _ in range(3)]
    try:
        await asyncio.gather(*(replica.start(timeout=60) for replica in started))
        yield started
    finally:
        for replica in started:
            await replica.close()


async def post(session: aiohttp.ClientSession, replica: ServeProcess, message: str) -> str:
    async with session.post(f"{replica.url}/tickets", json={"message": message}) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["ticket_id"])


async def test_three_replicas_share_the_work_and_survive_a_kill(
    database_url: str, fake_ollama: FakeOllama, replicas: list[ServeProcess]
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(COUNT_COMPLETIONS)
    finally:
        await conn.close()
    await seed_accounts(database_url, "dana", "a password for dana only", DANA["Authorization"][7:])
    fake_ollama.behaviour = Behaviour(chunks=6, chunk_delay=0.05)  # ~0.3 s a call
    survivor, other, doomed = replicas
    async with aiohttp.ClientSession(headers=AUTH) as session:
        stream = EventReader(await session.get(f"{survivor.url}/events"))
        messages = [
            f"Ticket {n:03d}: the export to CSV fails with an error." for n in range(TICKETS)
        ]
        ids = await asyncio.gather(
            *(post(session, replicas[n % 3], m) for n, m in enumerate(messages))
        )
        # Kill one replica outright while it holds leases (its claimers are mid-call).
        await wait_for_statuses(database_url, {"COMPLETED"}, TICKETS // 5, timeout=60)
        doomed.send(signal.SIGKILL)
        assert await doomed.wait() == -signal.SIGKILL

        await wait_for_statuses(database_url, {"COMPLETED"}, TICKETS, timeout=120)
        writes = await sql(
            database_url,
            "SELECT array_agg(n) FROM (SELECT count(*) AS n FROM completing_writes "
            "GROUP BY ticket_id) AS per_ticket",
        )
        assert len(writes) == TICKETS and set(writes) == {1}  # once each, never twice
        calls = collections.Counter(ticket_text(body)[:11] for body in fake_ollama.calls)
        assert all(calls[message[:11]] >= 1 for message in messages)
        reaped = sum(count - 1 for count in calls.values())
        replicas_that_completed = await sql(
            database_url, "SELECT count(DISTINCT claimed_by) FROM completing_writes"
        )
        assert replicas_that_completed == 3, "every replica took a share"

        # A change through one replica reaches the dashboards of another...
        ticket_id = ids[1]  # posted through `other`
        async with session.put(
            f"{other.url}/tickets/{ticket_id}/resolve", json={"ai_draft": "Fixed in 2.4.1."}
        ) as response:
            assert response.status == 200
        await stream.wait_for("ticket", timeout=10, id=ticket_id, status="RESOLVED")
        # ...and so does who has a ticket open.
        async with aiohttp.ClientSession(headers=DANA) as dana:
            async with dana.post(
                f"{other.url}/tickets/{ids[2]}/presence", json={"state": "typing"}
            ) as response:
                assert response.status == 204
        event = await stream.wait_for("presence", timeout=10, id=ids[2], state="typing")
        assert event.json()["viewer"] == "dana (API token)"
        async with session.get(f"{survivor.url}/tickets/{ids[2]}") as response:
            seen = await response.json()
        assert [(p["viewer"], p["state"]) for p in seen["presence"]] == [
            ("dana (API token)", "typing")
        ]
        stream.response.close()
    print(f"{TICKETS} tickets, {len(fake_ollama.calls)} calls, {reaped} again after the kill")
