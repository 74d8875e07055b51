"""Behind a real PgBouncer in transaction mode: intake, claims and live updates work with
DATABASE_URL through it and DATABASE_LISTEN_URL direct; the direct options do not."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from tests.auth import AUTH
from tests.conftest import engine_settings
from tests.fake_ollama import FakeOllama, triage_for
from tests.pgbouncer import PgBouncer, pgbouncer_binary
from tests.sse import EventReader
from tests.waiting import wait_for_statuses
from triage_hub.app import create_app
from triage_hub.db import pool
from triage_hub.db.notify import LISTENER_APPLICATION_NAME
from triage_hub.db.pool import create_pool, pool_options

TICKETS = 30
MESSAGES = [
    f"Ticket {n}: the invoice for October charged us twice, please fix it." for n in range(TICKETS)
]
Client = TestClient[Any, Any]


@pytest.fixture
def pgbouncer(tmp_path: Path, server_url: str) -> Iterator[PgBouncer]:
    """Debian's pgbouncer, transaction mode, in front of the tests' PostgreSQL; missing is a
    skip on a developer's machine, a failure in CI."""
    binary = pgbouncer_binary()
    if binary is None:
        message = "no pgbouncer at /usr/sbin/pgbouncer: apt-get install -y pgbouncer (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI must run the PgBouncer tests")
        pytest.skip(message + " — skipped outside CI only")
    bouncer = PgBouncer(binary, server_url, tmp_path)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


def database_name(url: str) -> str:
    """The database a URL names."""
    return urlsplit(url).path.lstrip("/")


async def listener_backends(database_url: str) -> list[str]:
    """application_name of the test database's backends that are listeners (direct ones have
    exactly LISTENER_APPLICATION_NAME; PgBouncer's would carry ' - host:port' after it)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE $1 || '%'",
            LISTENER_APPLICATION_NAME,
        )
    finally:
        await conn.close()
    return sorted(row["application_name"] for row in rows)


def replica(
    pgbouncer: PgBouncer, database_url: str, fake_ollama: FakeOllama, **overrides: Any
) -> web.Application:
    """The app with DATABASE_URL through PgBouncer and DATABASE_LISTEN_URL direct."""
    pooled = pgbouncer.url(database_name(database_url))
    settings = engine_settings(pooled, fake_ollama, DATABASE_LISTEN_URL=database_url, **overrides)
    assert settings.through_pgbouncer
    return create_app(settings, pooled)


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[Client]:
    """The app on a real port, closed again even when it fails to start."""
    client: Client = TestClient(TestServer(app), headers=AUTH)
    try:
        await client.start_server()
        yield client
    finally:
        await client.close()


async def post_tickets(client: Client) -> list[ClientResponse]:
    """All of MESSAGES at once."""
    return await asyncio.gather(
        *(client.post("/tickets", json={"message": message}) for message in MESSAGES)
    )


async def test_intake_claims_and_live_updates_run_through_pgbouncer(
    pgbouncer: PgBouncer, database_url: str, fake_ollama: FakeOllama, aiohttp_client: Any
) -> None:
    worker = await aiohttp_client(replica(pgbouncer, database_url, fake_ollama), headers=AUTH)
    viewer = await aiohttp_client(
        replica(pgbouncer, database_url, fake_ollama, TRIAGE_CLAIMERS=0), headers=AUTH
    )
    assert pgbouncer.logins(database_name(database_url)) >= 2  # each replica's pool, through it
    stream = EventReader(await viewer.get("/events"))

    created = await post_tickets(worker)
    assert [response.status for response in created] == [201] * TICKETS
    ids = {(await response.json())["ticket_id"] for response in created}

    # Every change reaches the other replica's stream (LISTEN on the direct connection).
    completed: set[str] = set()
    while completed != ids:
        event = await stream.next()
        if event.kind == "ticket" and event.json()["status"] == "COMPLETED":
            change = event.json()
            assert change["id"] in ids
            assert change["category"] == triage_for(MESSAGES[0])["category"]
            completed.add(change["id"])
    statuses = await wait_for_statuses(database_url, {"COMPLETED"}, TICKETS)
    assert set(statuses) == ids
    for message in MESSAGES:
        assert len(fake_ollama.calls_for(message)) >= 1

    # The list, a ticket, presence and a resolve through it too; each change reaches the stream.
    listed = await viewer.get("/tickets", params={"status": "COMPLETED", "limit": "100"})
    assert listed.status == 200
    assert {row["id"] for row in (await listed.json())["tickets"]} == ids
    ticket_id = sorted(ids)[0]
    detail = await viewer.get(f"/tickets/{ticket_id}")
    assert detail.status == 200 and (await detail.json())["status"] == "COMPLETED"
    presence = await worker.post(f"/tickets/{ticket_id}/presence", json={"state": "viewing"})
    assert presence.status == 204
    await stream.wait_for("presence", id=ticket_id, state="viewing")
    resolved = await worker.put(f"/tickets/{ticket_id}/resolve", json={"ai_draft": "Refunded."})
    assert resolved.status == 200
    await stream.wait_for("ticket", id=ticket_id, status="RESOLVED")
    stream.response.close()

    # Both listeners went straight to PostgreSQL, none through PgBouncer.
    assert await listener_backends(database_url) == [LISTENER_APPLICATION_NAME] * 2
    assert "ERROR" not in pgbouncer.log()


async def test_with_statements_cached_the_same_run_fails_through_pgbouncer(
    pgbouncer: PgBouncer,
    database_url: str,
    fake_ollama: FakeOllama,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The pool as on a direct connection (asyncpg caches prepared statements; only the `jit`
    parameter left out, which PgBouncer refuses outright): statements go missing."""
    monkeypatch.setattr(pool, "pool_options", lambda pgbouncer: {})
    failures: list[str] = []
    try:
        async with AsyncExitStack() as replicas:
            worker = await replicas.enter_async_context(
                serving(replica(pgbouncer, database_url, fake_ollama))
            )
            await replicas.enter_async_context(
                serving(replica(pgbouncer, database_url, fake_ollama, TRIAGE_CLAIMERS=0))
            )
            created = await post_tickets(worker)
            failures += [f"{r.status} {await r.text()}" for r in created if r.status != 201]
    except asyncpg.InvalidSQLStatementNameError as error:  # already while a pool opened
        failures.append(str(error))
    assert failures
    missing = re.compile(r'prepared statement "__asyncpg_stmt_\w+__" does not exist')
    assert missing.search(caplog.text + "\n".join(failures))


async def test_the_direct_pool_options_fail_through_pgbouncer(
    pgbouncer: PgBouncer, database_url: str
) -> None:
    """Why the pool changes behind it: PgBouncer refuses the `jit` startup parameter, and a
    statement asyncpg prepared (and cached) on one server connection is missing on the next."""
    pooled = pgbouncer.url(database_name(database_url))
    with pytest.raises(asyncpg.ProtocolViolationError, match="unsupported startup parameter"):
        await create_pool(pooled, 2)

    async def statement_on_two_server_connections(**options: Any) -> None:
        """One client's statement, run again while another client holds the server
        connection it ran on: PgBouncer hands the first client another one."""
        first = await asyncpg.connect(pooled, **options)
        second = await asyncpg.connect(pooled, **options)
        try:
            query = "SELECT count(*) FROM tickets WHERE status = $1"
            # The only server connection so far, A, prepares (and runs) the statement...
            assert await first.fetchval(query, "PENDING") == 0
            async with second.transaction():  # ... and is then held by the other client
                await second.fetchval("SELECT 1")
                assert await first.fetchval(query, "PENDING") == 0  # on a new one, B
        finally:
            await first.close()
            await second.close()

    with pytest.raises(asyncpg.InvalidSQLStatementNameError, match="does not exist"):
        await statement_on_two_server_connections()  # asyncpg's default: statements cached
    await statement_on_two_server_connections(**pool_options(pgbouncer=True))
