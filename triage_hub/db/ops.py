"""The operators' queries: what `triage-hub requeue` and its siblings change."""

from __future__ import annotations

import uuid

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
