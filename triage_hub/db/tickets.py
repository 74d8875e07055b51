"""The ticket queries of the API: rows become pydantic models right here, at the edge."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import asyncpg

from triage_hub.db.pool import Database
from triage_hub.db.queries import load_queries
from triage_hub.errors import InvalidState, NotFound
from triage_hub.explain import explain_error
from triage_hub.models import (
    Pagination,
    Status,
    Ticket,
    TicketCreated,
    TicketPage,
    TicketState,
    TicketSummary,
)

SQL = load_queries("tickets.sql")
Sort = Literal["newest", "urgent", "confidence"]

# Up to this many rows a total is exact (an index-only count of ~1 ms); beyond it, an estimate.
EXACT_COUNT_CAP = 10_000
# A newest-first search looks among this many newest tickets first (see search_recent_tickets).
SEARCH_WINDOW = 20_000
# The dashboard shows ids by their first 8 hex digits; shorter would also match ordinary words.
SHORT_ID_MIN = 8


async def create_ticket(
    db: Database, message: str, email: str | None = None, name: str | None = None
) -> TicketCreated:
    """Insert a PENDING ticket; returns once it is committed."""
    row = await db.fetchrow(SQL["insert_ticket"], message, email, name)
    assert row is not None
    return TicketCreated(ticket_id=row["id"], status=row["status"], created_at=row["created_at"])


async def get_ticket(db: Database, ticket_id: uuid.UUID) -> Ticket:
    """The whole ticket, or NotFound."""
    row = await db.fetchrow(SQL["get_ticket"], ticket_id)
    if row is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    return Ticket.model_validate({**row, "last_error_explained": explain_error(row["last_error"])})


async def list_tickets(
    db: Database,
    page: int,
    limit: int,
    statuses: Sequence[Status],
    sort: Sort = "newest",
    search: str | None = None,
    window: RecentWindow | None = None,
) -> TicketPage:
    """One page of tickets (of any of `statuses`, or all when empty) with a cheap total;
    with `search`, those whose message matches it or whose id it is (or starts)."""
    offset = (page - 1) * limit
    wanted = [status.value for status in statuses]
    if search:
        return await _search(db, search, page, limit, wanted, sort, window or RecentWindow())
    args: list[object]
    if sort == "confidence":  # only what awaits a reply has a triage to check
        wanted = [Status.COMPLETED.value]
        query, args = SQL["list_tickets_low_confidence"], []
    elif sort == "urgent":
        query, args = SQL["list_tickets_urgent"], [wanted or [s.value for s in Status]]
    elif not wanted:
        query, args = SQL["list_tickets"], []
    elif len(wanted) == 1:  # walks the (status, created_at) index in order
        query, args = SQL["list_tickets_by_status"], [wanted[0]]
    else:
        query, args = SQL["list_tickets_by_statuses"], [wanted]
    async with db.connection() as conn:
        rows = await conn.fetch(query, *args, limit, offset)
        # The planner's estimate first (~0.1 ms): count exactly only when it is small, since
        # even a capped count of 10,000 index entries costs ~3 ms of database CPU.
        if not wanted:
            estimate = int(await conn.fetchval(SQL["estimate_tickets"]))
            if estimate <= EXACT_COUNT_CAP:
                estimate = await conn.fetchval(SQL["count_tickets_capped"], EXACT_COUNT_CAP + 1)
        else:
            plan = await conn.fetchval(SQL["estimate_tickets_by_status"], wanted)
            estimate = int(json.loads(plan)[0]["Plan"]["Plan Rows"])
            if estimate <= EXACT_COUNT_CAP:
                estimate = await conn.fetchval(
                    SQL["count_tickets_by_status_capped"], wanted, EXACT_COUNT_CAP + 1
                )
        total = estimate if estimate <= EXACT_COUNT_CAP else max(EXACT_COUNT_CAP + 1, estimate)
    return _page(rows, page, limit, total, EXACT_COUNT_CAP)


def id_range(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The ids a search names when it is a ticket id or the start of one (8+ hex digits, as the
    dashboard shows them), as the first and last uuid with that prefix; None otherwise."""
    digits = text.strip().lower().replace("-", "")
    if not SHORT_ID_MIN <= len(digits) <= 32 or not all(c in "0123456789abcdef" for c in digits):
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


class RecentWindow:
    """Where the newest `size` tickets begin, re-read at most every `refresh_seconds` (it moves
    only as fast as tickets arrive): a newest-first search looks there first."""

    def __init__(
        self,
        size: int = SEARCH_WINDOW,
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._since: datetime | None = None
        self._read_at: float | None = None

    async def since(self, db: Database) -> datetime | None:
        """The creation time of the `size`-th newest ticket (None: there are fewer)."""
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self.refresh_seconds:
            self._since = await db.fetchval(SQL["recent_cutoff"], self.size)
            self._read_at = now
        return self._since


async def _search(
    db: Database,
    text: str,
    page: int,
    limit: int,
    wanted: list[str],
    sort: Sort,
    window: RecentWindow,
) -> TicketPage:
    """A page of the tickets matching a search. No count: counting a common word's matches
    costs a heap visit each (tens of ms at a million rows); one row past the page says whether
    there is a next one, and the total is then an estimate that grows as the agent pages on."""
    offset = (page - 1) * limit
    urgent = sort == "urgent"
    ids = id_range(text)
    if ids is not None:  # an id or its start: by the primary key (see search_tickets_by_id)
        name = "search_tickets_by_id_urgent" if urgent else "search_tickets_by_id"
        rows = await db.fetch(SQL[name], text, wanted or None, *ids, limit + 1, offset)
    elif urgent:
        rows = await db.fetch(SQL["search_tickets_urgent"], text, wanted or None, limit + 1, offset)
    else:
        args = (text, wanted or None, limit + 1, offset)
        since = await window.since(db)
        rows = await db.fetch(SQL["search_recent_tickets"], *args, since) if since else []
        if len(rows) <= limit:  # not a full page among the newest: the matches are rarer
            rows = await db.fetch(SQL["search_tickets"], *args)
    more = len(rows) > limit
    seen = offset + min(len(rows), limit)
    total = seen + limit if more else seen
    return _page(rows[:limit], page, limit, total, seen if more else total)


def _page(rows: list[asyncpg.Record], page: int, limit: int, total: int, cap: int) -> TicketPage:
    """The rows as a page; a total past `cap` is an estimate."""
    # The visible rows beat any estimate: never report fewer than the page shows.
    total = max(total, (page - 1) * limit + len(rows)) if rows else total
    return TicketPage(
        tickets=[TicketSummary.model_validate(dict(row)) for row in rows],
        pagination=Pagination(
            page=page,
            limit=limit,
            total=total,
            total_pages=math.ceil(total / limit),
            total_is_estimate=total > cap,
        ),
    )


async def retry_ticket(db: Database, ticket_id: uuid.UUID) -> TicketState:
    """FAILED -> PENDING with its attempts reset, for another round of triage."""
    async with db.connection() as conn:
        row = await conn.fetchrow(SQL["retry_ticket"], ticket_id)
        if row is not None:
            return TicketState.model_validate(dict(row))
        status = await conn.fetchval(SQL["ticket_status"], ticket_id)
    if status is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    raise InvalidState(
        "Only FAILED tickets, or tickets the built-in engine triaged, can be retried; this one "
        f"is {status}.",
        status=status,
    )


async def count_backlog(db: Database) -> dict[str, int]:
    """How many tickets are PENDING and PROCESSING, across all replicas."""
    row = await db.fetchrow(SQL["count_backlog"])
    assert row is not None
    return {"PENDING": row["pending"], "PROCESSING": row["processing"]}


async def count_pending(db: Database) -> int:
    """How many tickets are PENDING, across all replicas (the intake's backlog)."""
    return int(await db.fetchval(SQL["count_pending"]))
