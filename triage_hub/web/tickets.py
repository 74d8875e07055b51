"""The ticket API: intake, list, detail, resolve."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from triage_hub.db import tickets
from triage_hub.errors import BadRequest, NotFound
from triage_hub.keys import DATABASE, METRICS, NOTIFIER, WAKEUP
from triage_hub.models import Resolved, ResolveIn, Status, TicketIn
from triage_hub.web.responses import json_response, read_json

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# OFFSET paging reads every skipped row: beyond this depth a page would cost tens of ms.
MAX_OFFSET = 100_000
_DIGITS = re.compile(r"[0-9]{1,9}")


async def create_ticket(request: web.Request) -> web.Response:
    """POST /tickets: store the complaint as PENDING and answer at once."""
    body = await read_json(request, TicketIn)
    created = await tickets.create_ticket(request.app[DATABASE], body.message)
    request.app[WAKEUP].set()
    request.app[NOTIFIER].request()
    request.app[METRICS].tickets_created.inc()
    location = f"/tickets/{created.ticket_id}"
    return json_response(created, status=201, headers={"Location": location})


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadRequest(
            f"`{name}` must be a whole number from {low} to {high}.",
            code="invalid_parameter",
            parameter=name,
        )
    return int(raw)


def _status_param(request: web.Request) -> Status | None:
    raw = request.query.get("status")
    if raw is None or raw == "":
        return None
    try:
        return Status(raw.strip().upper())
    except ValueError:
        raise BadRequest(
            f"`status` must be one of {', '.join(s.value for s in Status)}.",
            code="invalid_parameter",
            parameter="status",
        ) from None


async def list_tickets(request: web.Request) -> web.Response:
    """GET /tickets?page=&limit=&status=: newest first."""
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    page = _int_param(request, "page", 1, 1, MAX_OFFSET // limit + 1)
    status = _status_param(request)
    result = await tickets.list_tickets(request.app[DATABASE], page, limit, status)
    return json_response(result)


def ticket_id(request: web.Request) -> uuid.UUID:
    """The {id} of the path; a malformed id names no ticket."""
    raw = request.match_info["id"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No ticket with id {raw[:64]!r}.") from None


async def get_ticket(request: web.Request) -> web.Response:
    """GET /tickets/{id}."""
    ticket = await tickets.get_ticket(request.app[DATABASE], ticket_id(request))
    return json_response(ticket)


async def resolve_ticket(request: web.Request) -> web.Response:
    """PUT /tickets/{id}/resolve: the agent sent the final reply."""
    target = ticket_id(request)
    body = await read_json(request, ResolveIn)
    resolved = await tickets.resolve_ticket(request.app[DATABASE], target, body.ai_draft)
    return json_response(Resolved(ticket=resolved))
