"""The ticket API: intake, list, detail, resolve, retry."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from triage_hub.db import tickets
from triage_hub.db.tickets import Sort
from triage_hub.errors import BadRequest, NotFound
from triage_hub.keys import AGENT_READS, DATABASE, INTAKE_LIMITS, METRICS, NOTIFIER, WAKEUP
from triage_hub.models import (
    Resolved,
    ResolveIn,
    Retried,
    Status,
    TicketCreated,
    TicketIn,
    TicketList,
)
from triage_hub.web.intake_limits import check_intake
from triage_hub.web.responses import json_response, read_json

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# OFFSET paging reads every skipped row: beyond 100,000 rows a page would cost tens of ms. One
# bound for every `limit` (not one per limit), so that the API description can state it.
MAX_PAGE = 100_000 // MAX_LIMIT
_DIGITS = re.compile(r"[0-9]{1,9}")
# Around the comma-separated statuses: what people type, nothing Unicode calls a space.
_BLANKS = " \t"


async def submit_ticket(app: web.Application, message: str) -> TicketCreated:
    """Store a validated complaint (BacklogFull at the cap) and wake the claimers here and in
    other replicas."""
    async with app[INTAKE_LIMITS].backlog.admission():
        created = await tickets.create_ticket(app[DATABASE], message)
    app[WAKEUP].set()
    app[NOTIFIER].request()
    app[METRICS].tickets_created.inc()
    return created


async def create_ticket(request: web.Request) -> web.Response:
    """POST /tickets: store the complaint as PENDING and answer at once."""
    await check_intake(request)
    body = await read_json(request, TicketIn)
    created = await submit_ticket(request.app, body.message)
    location = f"/tickets/{created.ticket_id}"
    return json_response(created, status=201, headers={"Location": location})


def _invalid(parameter: str, message: str) -> BadRequest:
    return BadRequest(message, code="invalid_parameter", parameter=parameter)


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise _invalid(name, f"`{name}` must be a whole number from {low} to {high}.")
    return int(raw)


def _statuses_param(request: web.Request) -> list[Status]:
    """`status=A` or `status=A,B,…` (any case); absent or empty means every status."""
    raw = request.query.get("status", "").strip(_BLANKS)
    if not raw:
        return []
    try:
        parts = [part.strip(_BLANKS) for part in raw.split(",")]
        if not all(part.isascii() for part in parts):  # "ſ".upper() is "S"
            raise ValueError
        statuses = [Status(part.upper()) for part in parts]
    except ValueError:
        allowed = ", ".join(status.value for status in Status)
        raise _invalid("status", f"`status` must be one or more of {allowed}.") from None
    return list(dict.fromkeys(statuses))


def _sort_param(request: web.Request) -> Sort:
    raw = request.query.get("sort", "newest")
    if raw == "urgent":
        return "urgent"
    if raw != "newest":
        raise _invalid("sort", "`sort` must be `newest` or `urgent`.")
    return "newest"


async def list_tickets(request: web.Request) -> web.Response:
    """GET /tickets?page=&limit=&status=&sort=: newest (or most urgent) first."""
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    page = _int_param(request, "page", 1, 1, MAX_PAGE)
    statuses = _statuses_param(request)
    sort = _sort_param(request)
    result = await tickets.list_tickets(request.app[AGENT_READS], page, limit, statuses, sort)
    backlog = await request.app[INTAKE_LIMITS].backlog.snapshot()
    return json_response(
        TicketList(tickets=result.tickets, pagination=result.pagination, backlog=backlog)
    )


def ticket_id(request: web.Request) -> uuid.UUID:
    """The {id} of the path; a malformed id names no ticket."""
    raw = request.match_info["id"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No ticket with id {raw[:64]!r}.") from None


async def get_ticket(request: web.Request) -> web.Response:
    """GET /tickets/{id}."""
    ticket = await tickets.get_ticket(request.app[AGENT_READS], ticket_id(request))
    return json_response(ticket)


async def resolve_ticket(request: web.Request) -> web.Response:
    """PUT /tickets/{id}/resolve: the agent sent the final reply."""
    target = ticket_id(request)
    body = await read_json(request, ResolveIn)
    resolved = await tickets.resolve_ticket(request.app[DATABASE], target, body.ai_draft)
    return json_response(Resolved(ticket=resolved))


async def retry_ticket(request: web.Request) -> web.Response:
    """POST /tickets/{id}/retry: give a FAILED ticket another round of triage."""
    state = await tickets.retry_ticket(request.app[DATABASE], ticket_id(request))
    request.app[WAKEUP].set()
    request.app[NOTIFIER].request()
    return json_response(Retried(ticket=state))
