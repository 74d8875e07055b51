"""The operators' queries: what `triage-hub requeue` and its siblings change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from triage_hub.db.claims import notify_new_tickets
from triage_hub.db.pool import Database
from triage_hub.db.queries import load_queries

SQL = load_queries("ops.sql")


async def requeue(
    db: Database, statuses: list[str], engine: str | None, since_seconds: float | None
) -> list[uuid.UUID]:
    """Send matching FAILED/COMPLETED tickets back to PENDING; every replica's claimers hear."""
    rows = await db.fetch(SQL["requeue_tickets"], statuses, engine, since_seconds)
    if rows:
        await notify_new_tickets(db)
    return [row["id"] for row in rows]


async def delivery_counts(db: Database) -> dict[str, Any]:
    """The outbox by kind and status, and the age of the oldest row not yet delivered."""
    figures: dict[str, Any] = {}
    for row in await db.fetch(SQL["delivery_counts"]):
        kind = figures.setdefault(row["kind"], {"by_status": {}, "oldest_waiting_seconds": None})
        kind["by_status"][row["status"]] = row["deliveries"]
        if row["status"] in ("PENDING", "SENDING"):
            age = float(row["oldest_age"])
            oldest = kind["oldest_waiting_seconds"]
            kind["oldest_waiting_seconds"] = age if oldest is None else max(oldest, age)
    return figures


async def schema_info(db: Database) -> tuple[str, datetime] | None:
    """The digest of the schema applied last and when; None before the first migration."""
    try:
        row = await db.fetchrow(SQL["schema_info"])
    except asyncpg.UndefinedTableError:
        return None
    return None if row is None else (row["digest"], row["applied_at"])
