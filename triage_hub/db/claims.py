"""The claimers' queries: claim, renew, finish (fenced by the claim token), reap."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from triage_hub.db.pool import Database
from triage_hub.db.queries import load_queries

SQL = load_queries("claims.sql")


@dataclass(frozen=True)
class Claim:
    """A leased ticket; `token` fences every write made under this lease."""

    ticket_id: uuid.UUID
    user_message: str
    attempt: int
    token: uuid.UUID
    handbacks: int  # calls of earlier claims that failed in a way the ticket may cause
    failing_since: datetime  # when the first call handed back began, or this claim did


@dataclass(frozen=True)
class Stored:
    """An outcome written under a live lease: the new status, and when (the database's clock)."""

    status: str
    at: datetime


@dataclass(frozen=True)
class Triage:
    """A validated triage ready to store."""

    category: str
    sentiment: int
    urgency: str
    draft: str
    raw_response: str | None
    model: str
    first_token_ms: float | None
    total_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    engine: str
    prompt_version: str | None
    confidence: dict[str, float]
    language: str | None


def _raw(text: str | None) -> str | None:
    """What the model said, storable as a jsonb string (no NUL, no unpaired surrogates)."""
    if text is None:
        return None
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


async def claim_next_ticket(
    db: Database,
    claimer: str,
    lease_seconds: float,
    *,
    probe: bool = False,
    stand_in: bool = False,
) -> Claim | None:
    """Lease the oldest claimable PENDING ticket (for a `probe`, the least failed one first;
    for the built-in engine standing in for the LLM, none it already triaged), or None when
    there is none."""
    if probe:
        query = SQL["claim_probe_ticket"]
    else:
        query = SQL["claim_fallback_ticket"] if stand_in else SQL["claim_next_ticket"]
    row = await db.fetchrow(query, claimer, lease_seconds)
    if row is None:
        return None
    return Claim(
        row["id"],
        row["user_message"],
        row["attempts"],
        row["claim_token"],
        row["handbacks"],
        row["failing_since"],
    )


async def renew_lease(db: Database, claim: Claim, lease_seconds: float) -> bool:
    """Extend the lease; False when it was lost to the reaper."""
    return (
        await db.fetchrow(SQL["renew_lease"], claim.ticket_id, claim.token, lease_seconds)
        is not None
    )


async def complete_ticket(db: Database, claim: Claim, triage: Triage) -> Stored | None:
    """PROCESSING -> COMPLETED; None when the lease was lost (nothing is written)."""
    row = await db.fetchrow(
        SQL["complete_ticket"],
        claim.ticket_id,
        claim.token,
        triage.category,
        triage.sentiment,
        triage.urgency,
        triage.draft,
        _raw(triage.raw_response),
        triage.model,
        _ms(triage.first_token_ms),
        _ms(triage.total_ms),
        triage.prompt_tokens,
        triage.completion_tokens,
        triage.engine,
        triage.prompt_version,
        triage.confidence or None,
        triage.language,
    )
    return _stored(row)


async def retry_or_fail_ticket(
    db: Database,
    claim: Claim,
    *,
    error: str,
    raw_response: str | None,
    model: str,
    backoff_seconds: float,
    max_attempts: int,
) -> Stored | None:
    """After an invalid answer: PENDING again after a backoff, or FAILED; None if fenced off."""
    row = await db.fetchrow(
        SQL["retry_or_fail_ticket"],
        claim.ticket_id,
        claim.token,
        error,
        _raw(raw_response),
        backoff_seconds,
        max_attempts,
        model,
    )
    return _stored(row)


async def hand_back_ticket(
    db: Database,
    claim: Claim,
    *,
    reason: str,
    raw_response: str | None,
    backoff_seconds: float,
    give_up: bool,
) -> str | None:
    """After a call that failed in a way the ticket may cause: PENDING after a backoff, or
    FAILED when `give_up`; None if fenced off."""
    row = await db.fetchrow(
        SQL["hand_back_ticket"],
        claim.ticket_id,
        claim.token,
        reason,
        _raw(raw_response),
        backoff_seconds,
        "FAILED" if give_up else "PENDING",
        claim.failing_since,
    )
    return None if row is None else str(row["status"])


async def release_ticket(
    db: Database, claim: Claim, *, reason: str, raw_response: str | None = None
) -> bool:
    """Hand the ticket back to PENDING with its attempt refunded; False if fenced off."""
    row = await db.fetchrow(
        SQL["release_ticket"], claim.ticket_id, claim.token, reason, _raw(raw_response)
    )
    return row is not None


async def reap_expired_leases(db: Database, max_attempts: int) -> list[tuple[uuid.UUID, str]]:
    """Return tickets with expired leases to PENDING (or FAILED); the (id, status) of each."""
    rows = await db.fetch(SQL["reap_expired_leases"], max_attempts)
    return [(row["id"], row["status"]) for row in rows]


async def notify_new_tickets(db: Database) -> None:
    """Tell every replica's listener that tickets are waiting."""
    await db.fetchval(SQL["notify_new_tickets"])


def _stored(row: asyncpg.Record | None) -> Stored | None:
    return None if row is None else Stored(str(row["status"]), row["updated_at"])


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value)


async def notify_draft(db: Database, payload: str) -> None:
    """Announce a ticket's draft so far to every replica's dashboards."""
    await db.fetchval(SQL["notify_draft"], payload)
