"""Waiting for the database to reach a state, without fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg


async def sql(database_url: str, statement: str, *args: Any) -> Any:
    """Run one statement on a connection of its own; its first value."""
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


async def fetch_ticket(database_url: str, ticket_id: str) -> dict[str, Any]:
    """The ticket's row as a dict."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", ticket_id)
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


async def count_tickets(database_url: str) -> int:
    """How many tickets the database holds."""
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM tickets"))
    finally:
        await conn.close()


async def wait_for_statuses(
    database_url: str,
    wanted: set[str],
    count: int,
    timeout: float = 20,  # noqa: ASYNC109
) -> dict[str, str]:
    """Wait until `count` tickets are in the wanted statuses; returns {id: status} of all."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            rows = await conn.fetch("SELECT id::text, status FROM tickets")
            statuses = {row["id"]: row["status"] for row in rows}
            if sum(status in wanted for status in statuses.values()) >= count:
                return statuses
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {count} in {wanted}: {statuses}")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
