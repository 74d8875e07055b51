"""The outbox's queries: the delivery workers claim, renew and finish deliveries, fenced by the
claim token, as the claimers do tickets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from triage_hub.db.pool import Database
from triage_hub.db.queries import load_queries

SQL = load_queries("outbox.sql")


@dataclass(frozen=True)
class Delivery:
    """A leased delivery: what to send, and the token that fences every write about it."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    kind: str  # "email" or "webhook"
    event: str
    payload: dict[str, Any]
    attempt: int
    token: uuid.UUID


async def set_targets(db: Database, email: bool, webhook: bool) -> None:
    """Say which deliveries this installation makes (the trigger enqueues only those)."""
    async with db.connection() as conn:
        await conn.execute(SQL["set_target"], "email", email)
        await conn.execute(SQL["set_target"], "webhook", webhook)


async def claim_next(
    db: Database, worker: str, lease_seconds: float, kinds: list[str]
) -> Delivery | None:
    """Lease the oldest due delivery of `kinds` (what this replica can send), or None."""
    row = await db.fetchrow(SQL["claim_next_delivery"], worker, lease_seconds, kinds)
    if row is None:
        return None
    return Delivery(
        row["id"],
        row["ticket_id"],
        row["kind"],
        row["event"],
        row["payload"],
        row["attempts"],
        row["claim_token"],
    )


async def renew(db: Database, delivery: Delivery, lease_seconds: float) -> bool:
    """Extend the lease; False when it was lost to the reaper."""
    row = await db.fetchrow(SQL["renew_delivery"], delivery.id, delivery.token, lease_seconds)
    return row is not None


async def delivered(db: Database, delivery: Delivery) -> bool:
    """SENDING -> SENT; False if fenced off."""
    return await db.fetchrow(SQL["delivered"], delivery.id, delivery.token) is not None


async def not_delivered(
    db: Database, delivery: Delivery, error: str, retry_in: float, give_up: bool
) -> str | None:
    """A failed try: PENDING again after `retry_in` seconds, or FAILED; None if fenced off."""
    row = await db.fetchrow(
        SQL["not_delivered"], delivery.id, delivery.token, error[:500], retry_in, give_up
    )
    return None if row is None else str(row["status"])


@dataclass(frozen=True)
class Reaped:
    """A delivery whose worker stopped, and what it went back to."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    status: str


async def reap_deliveries(db: Database, max_attempts: int) -> list[Reaped]:
    """Expired leases back to PENDING (or FAILED)."""
    rows = await db.fetch(SQL["reap_deliveries"], max_attempts)
    return [Reaped(row["id"], row["ticket_id"], row["status"]) for row in rows]


async def reap(db: Database, max_attempts: int) -> list[tuple[uuid.UUID, str]]:
    """Expired leases back to PENDING (or FAILED): the (id, status) of each."""
    return [(item.id, item.status) for item in await reap_deliveries(db, max_attempts)]


async def of_ticket(db: Database, ticket_id: uuid.UUID) -> list[dict[str, Any]]:
    """A ticket's deliveries and what became of them, oldest first."""
    return [dict(row) for row in await db.fetch(SQL["ticket_deliveries"], ticket_id)]


async def notify_deliveries(db: Database) -> None:
    """Tell every replica's delivery workers that rows are waiting."""
    await db.fetchval(SQL["notify_deliveries"])
