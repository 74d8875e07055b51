"""The figures of /stats and `triage-hub stats`: how good the triage is for this team, over a
period — the engines' values against the agents' final ones, outcomes, failures, latency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from triage_hub.db.pool import Database
from triage_hub.db.queries import load_queries
from triage_hub.evaluation import evaluate
from triage_hub.explain import explain_error

SQL = load_queries("stats.sql")
# Resolved tickets compared per report (the newest): enough for stable figures, cheap to read.
MAX_PAIRS = 20_000


@dataclass(frozen=True)
class Labels:
    """One side of a comparison (what evaluation reads)."""

    category: str
    urgency: str
    sentiment: int
    confidence: dict[str, float] | None = None


def _group_key(row: Any) -> str:
    return f"{row['engine']} · {row['model']} · {row['prompt_version']}"


async def quality(db: Database, period_seconds: float) -> dict[str, Any]:
    """Agreement per engine/model/prompt version over the tickets resolved in the period, and
    the outcomes, failures and latency of the tickets created in it."""
    pairs: dict[str, list[tuple[Labels, Labels]]] = {}
    for row in await db.fetch(SQL["quality_pairs"], period_seconds, MAX_PAIRS):
        final = Labels(row["category"], row["urgency"], row["sentiment"])
        engine = Labels(
            row["ai_category"], row["ai_urgency"], row["ai_sentiment"], row["confidence"]
        )
        pairs.setdefault(_group_key(row), []).append((final, engine))
    groups = {key: evaluate(items) for key, items in pairs.items()}
    outcomes = [dict(row) for row in await db.fetch(SQL["outcomes"], period_seconds)]
    failures = [
        {
            "reason": explain_error(row["last_error"]) or "-",
            "raw": row["last_error"],
            "tickets": row["tickets"],
        }
        for row in await db.fetch(SQL["failure_reasons"], period_seconds)
    ]
    latency = [dict(row) for row in await db.fetch(SQL["latency"], period_seconds)]
    return {
        "period_seconds": period_seconds,
        "agreement": groups,
        "outcomes": outcomes,
        "failures": failures,
        "latency_ms": latency,
    }


async def counts(db: Database) -> dict[str, Any]:
    """Tickets by status, and how long the oldest PENDING one has waited."""
    rows = await db.fetch(SQL["counts_by_status"])
    oldest = next((row["oldest_age"] for row in rows if row["status"] == "PENDING"), None)
    return {
        "by_status": {row["status"]: row["tickets"] for row in rows},
        "oldest_pending_seconds": None if oldest is None else float(oldest),
    }
