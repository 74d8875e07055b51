"""The database goes away and comes back: 503 with Retry-After meanwhile, then recovery."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.auth import AUTH, seed_accounts
from tests.conftest import make_settings
from tests.pg import PrivateCluster, free_port
from triage_hub.app import create_app
from triage_hub.db.pool import open_pool
from triage_hub.errors import DatabaseUnavailable

MESSAGE = {"message": "The app crashes every time I open settings."}


@pytest.fixture
async def cluster() -> AsyncIterator[PrivateCluster]:
    """A PostgreSQL of this test's own, which it may crash."""
    own = await asyncio.to_thread(PrivateCluster)
    try:
        yield own
    finally:
        await asyncio.to_thread(own.destroy)


async def test_outage_answers_503_and_the_server_recovers(
    aiohttp_client: Any, cluster: PrivateCluster
) -> None:
    await asyncio.to_thread(cluster.start)
    client = await aiohttp_client(create_app(make_settings(cluster.url), cluster.url), headers=AUTH)
    await seed_accounts(cluster.url)  # the app created the tables at start
    created = await client.post("/tickets", json=MESSAGE)
    assert created.status == 201
    first_id = (await created.json())["ticket_id"]

    await asyncio.to_thread(cluster.crash)
    for method, path, body in [
        ("POST", "/tickets", MESSAGE),
        ("GET", "/tickets", None),
        ("GET", f"/tickets/{first_id}", None),
        ("PUT", f"/tickets/{first_id}/resolve", {"ai_draft": "hello"}),
    ]:
        started = time.monotonic()
        response = await client.request(method, path, json=body)
        assert time.monotonic() - started < 8, "a request hung on the dead database"
        assert response.status == 503, (method, path)
        assert int(response.headers["Retry-After"]) > 0
        error = await response.json()
        assert error["error"] == "database_unavailable"
        assert "Traceback" not in error["message"] and "asyncpg" not in error["message"]
    health = await client.get("/health")
    assert health.status == 503
    assert (await health.json())["database"] == "unreachable"

    await asyncio.to_thread(cluster.start)
    deadline = time.monotonic() + 15
    while True:
        response = await client.post("/tickets", json=MESSAGE)
        if response.status == 201 or time.monotonic() > deadline:
            break
        assert response.status == 503
        await asyncio.sleep(0.2)
    assert response.status == 201
    listing = await (await client.get("/tickets")).json()
    assert first_id in [ticket["id"] for ticket in listing["tickets"]]
    assert listing["pagination"]["total"] == 2
    assert (await client.get("/health")).status == 200


async def test_startup_waits_for_the_database(
    cluster: PrivateCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    opening = asyncio.create_task(open_pool(cluster.url, 2, attempts=10))
    await asyncio.sleep(1.0)
    assert not opening.done()
    await asyncio.to_thread(cluster.start)
    pool = await asyncio.wait_for(opening, 30)
    try:
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
    assert "database not reachable (attempt 1/10)" in caplog.text


async def test_startup_gives_up_with_a_clear_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(DatabaseUnavailable, match="after 2 attempts"):
        await open_pool(url, 1, attempts=2)
