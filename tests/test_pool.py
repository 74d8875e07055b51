"""The pool: a bug is a bug (500), a lost connection is an outage (503 database_unavailable) and
a pool with no free connection is busy (503 busy), each with its own log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from tests.auth import AUTH
from tests.conftest import make_settings
from triage_hub.app import create_app
from triage_hub.db.pool import Database, create_pool
from triage_hub.errors import DatabaseBusy, DatabaseUnavailable
from triage_hub.keys import AGENT_READS, DATABASE

MESSAGE = {"message": "The export button does nothing since the last update."}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database over a pool of 3 on the test's database."""
    pool = await create_pool(database_url, 3)
    try:
        yield Database(pool)
    finally:
        await pool.close()


async def test_a_bad_query_argument_is_a_bug_not_an_outage(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with pytest.raises(asyncpg.InterfaceError) as wrong_count:  # asyncpg's own: a bare one
        await db.fetchval("SELECT $1::int", 1, 2)
    assert not isinstance(wrong_count.value, DatabaseUnavailable)
    with pytest.raises(asyncpg.DataError):
        await db.fetchval("SELECT $1::int", "not a number")
    assert "database unavailable" not in caplog.text
    assert await db.fetchval("SELECT 1") == 1  # and the pool is fine


async def test_a_connection_closed_under_us_is_an_outage(
    db: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    killer = await asyncpg.connect(database_url)
    try:
        for during_the_query in (True, False):
            with pytest.raises(DatabaseUnavailable) as raised:
                async with db.connection() as conn:
                    pid = conn.get_server_pid()
                    if during_the_query:  # ConnectionDoesNotExistError
                        query = asyncio.create_task(conn.fetchval("SELECT pg_sleep(5)"))
                        await asyncio.sleep(0.2)
                        await killer.execute("SELECT pg_terminate_backend($1)", pid)
                        await query
                    else:  # asyncpg noticed first: a bare InterfaceError on the next call
                        await killer.execute("SELECT pg_terminate_backend($1)", pid)
                        await asyncio.sleep(0.3)
                        await conn.fetchval("SELECT 1")
            assert not isinstance(raised.value, DatabaseBusy)
            cause = raised.value.__cause__
            assert isinstance(cause, asyncpg.PostgresConnectionError | asyncpg.InterfaceError)
    finally:
        await killer.close()
    assert caplog.text.count("database unavailable") == 2
    assert await db.fetchval("SELECT 1") == 1  # the pool replaced the dead connections


async def test_a_full_pool_is_busy_not_unavailable(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    db.acquire_timeout = 0.3
    async with AsyncExitStack() as held:
        for _ in range(3):
            await held.enter_async_context(db.connection())
        with pytest.raises(DatabaseBusy):
            await db.fetchval("SELECT 1")
    assert "database busy: no free connection in the pool within 0.3s" in caplog.text
    assert "database unavailable" not in caplog.text
    assert await db.fetchval("SELECT 1") == 1  # every place was given back


async def test_a_share_leaves_the_rest_of_the_pool_free(db: Database) -> None:
    agents = db.share(2, "agents' reads")
    agents.acquire_timeout = 0.3
    async with AsyncExitStack() as held:
        for _ in range(2):
            await held.enter_async_context(agents.connection())
        with pytest.raises(DatabaseBusy):
            await agents.fetchval("SELECT 1")
        assert await asyncio.wait_for(db.fetchval("SELECT 1"), 0.5) == 1
    assert await agents.fetchval("SELECT 1") == 1


async def bad_query(request: web.Request) -> web.Response:
    """A handler with a bug: the wrong number of query arguments."""
    await request.app[DATABASE].fetchval("SELECT $1::int", 1, 2)
    return web.json_response({})


async def test_a_bug_in_a_query_answers_500_and_logs_its_stack_once(
    database_url: str, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(database_url), database_url)
    app.router.add_get("/test-bad-query", bad_query)
    client = await aiohttp_client(app, headers=AUTH)
    caplog.set_level(logging.WARNING)
    response = await client.get("/test-bad-query")
    assert response.status == 500
    assert (await response.json())["error"] == "internal_error"
    errors = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], asyncpg.InterfaceError)


async def test_agents_lists_cannot_take_the_connections_intake_needs(
    database_url: str, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url, TRIAGE_DB_POOL_SIZE=4)
    client = await aiohttp_client(create_app(settings, database_url), headers=AUTH)
    agents = client.app[AGENT_READS]
    agents.acquire_timeout = 0.5
    caplog.set_level(logging.WARNING)
    async with AsyncExitStack() as held:  # as many slow lists as the agents' share allows
        for _ in range(2):
            await held.enter_async_context(agents.connection())
        created = await asyncio.wait_for(client.post("/tickets", json=MESSAGE), 2)
        assert created.status == 201
        listing = await client.get("/tickets", params={"sort": "urgent"})
        assert listing.status == 503
        assert listing.headers["Retry-After"] == "1"
        assert (await listing.json())["error"] == "busy"
    assert "database busy: no free connection in agents' reads" in caplog.text
    assert "database unavailable" not in caplog.text
    assert (await client.get("/tickets", params={"sort": "urgent"})).status == 200
