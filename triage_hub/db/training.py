"""What the built-in engine learns from: the tickets agents resolved, with their final labels."""

from __future__ import annotations

from triage_hub.db.pool import Database
from triage_hub.db.queries import load_queries

SQL = load_queries("training.sql")


async def resolved_examples(db: Database, limit: int) -> list[tuple[str, str, str, int]]:
    """(message, category, urgency, sentiment) of resolved tickets, newest first."""
    rows = await db.fetch(SQL["resolved_examples"], limit)
    return [(r["user_message"], r["category"], r["urgency"], r["sentiment"]) for r in rows]
