"""The agent's desk: corrections of the triage, resolving, saved replies and presence — each
change checked against the revision the agent saw, and recorded with who made it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from triage_hub.db.pool import Connection, Database
from triage_hub.db.queries import load_queries
from triage_hub.errors import InvalidState, NotFound, PreconditionFailed
from triage_hub.models import Change, TicketState

SQL = load_queries("desk.sql")
# The states an agent may correct or resolve; RESOLVED is final.
OPEN_FOR_AGENTS = ("COMPLETED", "FAILED")
# A page says it is there every few seconds; one silent for longer than this has gone.
PRESENCE_SECONDS = 30.0


async def _locked(
    conn: Connection, ticket_id: uuid.UUID, expected_revision: int | None, action: str
) -> Mapping[str, object]:
    """The ticket under a row lock, when it is still what the agent saw and open for `action`."""
    row = await conn.fetchrow(SQL["lock_ticket"], ticket_id)
    if row is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    if expected_revision is not None and row["revision"] != expected_revision:
        changes = await changes_since(conn, ticket_id, expected_revision)
        raise PreconditionFailed(
            describe_changes(changes) or "This ticket changed since you loaded it.",
            revision=row["revision"],
            status=row["status"],
            changes=[change.model_dump(mode="json") for change in changes],
        )
    if row["status"] not in OPEN_FOR_AGENTS:
        raise InvalidState(
            f"Only COMPLETED or FAILED tickets can be {action}; this one is {row['status']}.",
            status=row["status"],
        )
    return dict(row)


async def changes_since(conn: Connection, ticket_id: uuid.UUID, revision: int) -> list[Change]:
    """What was changed on the ticket after `revision`."""
    rows = await conn.fetch(SQL["changes_since"], ticket_id, revision)
    return [Change.model_validate(dict(row)) for row in rows]


def describe_changes(changes: list[Change]) -> str:
    """'Dana changed urgency from Medium to High and resolved it.' for a 412."""
    by_actor: dict[str, list[str]] = {}
    for change in changes:
        if change.field == "status":
            words = (
                "resolved it" if change.new_value == "RESOLVED" else f"set it {change.new_value}"
            )
        else:
            words = (
                f"changed {change.field} from {change.old_value or 'none'} to {change.new_value}"
            )
        by_actor.setdefault(change.actor, []).append(words)
    return " ".join(
        f"{actor} {' and '.join(parts)} since you loaded this ticket."
        for actor, parts in by_actor.items()
    )


Diff = list[tuple[str, str | None, str]]  # (field, old value, new value)


def _diff(current: Mapping[str, object], wanted: Mapping[str, object]) -> Diff:
    """(field, old, new) for each wanted value that differs from the current one."""
    return [
        (field, None if current[field] is None else str(current[field]), str(value))
        for field, value in wanted.items()
        if current[field] != value
    ]


async def _record(
    conn: Connection,
    ticket_id: uuid.UUID,
    revision: int,
    actor: str,
    changes: Diff,
) -> list[Change]:
    if not changes:
        return []
    fields, olds, news = (list(column) for column in zip(*changes, strict=True))
    await conn.execute(SQL["record_changes"], ticket_id, revision, actor, fields, olds, news)
    return await changes_since(conn, ticket_id, revision - 1)


async def correct_ticket(
    db: Database,
    ticket_id: uuid.UUID,
    actor: str,
    fields: Mapping[str, object],
    expected_revision: int | None,
) -> tuple[TicketState, list[Change]]:
    """Set the agent's values of category/urgency/sentiment on a COMPLETED or FAILED ticket."""
    async with db.connection() as conn, conn.transaction():
        current = await _locked(conn, ticket_id, expected_revision, "corrected")
        changes = _diff(current, fields)
        if not changes:
            row = await conn.fetchrow(SQL["ticket_state"], ticket_id)
            return TicketState.model_validate(dict(row or {})), []
        row = await conn.fetchrow(
            SQL["correct_ticket"],
            ticket_id,
            fields.get("category"),
            fields.get("urgency"),
            fields.get("sentiment"),
        )
        assert row is not None
        state = TicketState.model_validate(dict(row))
        return state, await _record(conn, ticket_id, state.revision, actor, changes)


async def resolve_ticket(
    db: Database,
    ticket_id: uuid.UUID,
    actor: str,
    reply: str,
    fields: Mapping[str, object],
    expected_revision: int | None,
) -> TicketState:
    """RESOLVED with the reply sent and the agent's last corrections, in one transaction."""
    async with db.connection() as conn, conn.transaction():
        current = await _locked(conn, ticket_id, expected_revision, "resolved")
        changes = _diff(current, fields)
        row = await conn.fetchrow(
            SQL["resolve_ticket"],
            ticket_id,
            reply,
            fields.get("category"),
            fields.get("urgency"),
            fields.get("sentiment"),
            actor,
        )
        assert row is not None
        state = TicketState.model_validate(dict(row))
        status_change = ("status", str(current["status"]), "RESOLVED")
        await _record(conn, ticket_id, state.revision, actor, [*changes, status_change])
        await conn.execute(SQL["delete_drafts"], ticket_id)
        return state


async def save_draft(db: Database, ticket_id: uuid.UUID, author: str, body: str) -> datetime:
    """Save the reply `author` is writing (empty: drop it); NotFound/InvalidState otherwise."""
    query = SQL["save_draft"] if body else SQL["drop_draft"]
    args = (ticket_id, author, body) if body else (ticket_id, author)
    async with db.connection() as conn:
        saved_at = await conn.fetchval(query, *args)
        if saved_at is None:
            status = await conn.fetchval(SQL["ticket_state"], ticket_id, column=1)
    if saved_at is not None:
        return saved_at  # type: ignore[no-any-return]
    if status is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    raise InvalidState("This ticket is resolved: its reply was sent.", status=status)


async def set_presence(db: Database, ticket_id: uuid.UUID, viewer: str, state: str) -> None:
    """Tell every replica's dashboards that `viewer` has the ticket open, is typing, or left."""
    if await db.fetchval(SQL["set_presence"], ticket_id, viewer, state) is None:
        raise NotFound(f"No ticket with id {ticket_id}.")


async def desk_view(db: Database, ticket_id: uuid.UUID, reader: str) -> dict[str, object]:
    """What the detail view adds to a ticket for `reader`: changes, drafts, presence."""
    row = await db.fetchrow(SQL["ticket_desk"], ticket_id, reader, PRESENCE_SECONDS)
    assert row is not None
    view = dict(row)
    view["presence"] = [entry for entry in view["presence"] if entry["viewer"] != reader]
    return view
