"""The ticket API: intake, list and search, detail, retry."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from triage_hub.db import desk, outbox, tickets
from triage_hub.db.accounts import Principal
from triage_hub.errors import NotFound, PreconditionFailed
from triage_hub.keys import AGENT_READS, DATABASE, INTAKE, NOTIFIER, RECENT_WINDOW, WAKEUP
from triage_hub.models import (
    MESSAGE_MAX_CHARS,
    MESSAGE_MIN_CHARS,
    ListQuery,
    Retried,
    Ticket,
    TicketCreated,
    TicketIn,
    TicketList,
)
from triage_hub.routing import Access, Endpoint
from triage_hub.web.apidoc import (
    TICKET_ID,
    UNAVAILABLE,
    body,
    errors,
    json_content,
    ref,
    try_later,
)
from triage_hub.web.auth import principal
from triage_hub.web.intake_limits import check_intake
from triage_hub.web.responses import json_response, read_json, read_query

_ETAG = re.compile(r'(?:W/)?"r([0-9]{1,9})"')


async def create_ticket(request: web.Request) -> web.Response:
    """POST /tickets: store the complaint as PENDING and answer at once."""
    await check_intake(request)
    body = await read_json(request, TicketIn)
    created = await request.app[INTAKE].submit(body.message, body.email, body.name)
    location = f"/tickets/{created.ticket_id}"
    return json_response(created, status=201, headers={"Location": location})


async def list_tickets(request: web.Request) -> web.Response:
    """GET /tickets?page=&limit=&status=&sort=&q=: newest (or most urgent) first."""
    asked = read_query(request, ListQuery)
    result = await tickets.list_tickets(
        request.app[AGENT_READS],
        asked.page,
        asked.limit,
        asked.statuses(),
        asked.sort,
        asked.search(),
        request.app[RECENT_WINDOW],
    )
    backlog = await request.app[INTAKE].backlog.snapshot()
    return json_response(
        TicketList(tickets=result.tickets, pagination=result.pagination, backlog=backlog)
    )


def etag(revision: int) -> str:
    """A ticket's ETag: its revision, which every change an agent can see moves on."""
    return f'"r{revision}"'


def expected_revision(request: web.Request) -> int | None:
    """The revision If-Match names (None: no precondition); one that is not ours can never
    match, so it fails before anything is read or written."""
    raw = request.headers.get("If-Match", "").strip()
    if not raw or raw == "*":
        return None
    found = _ETAG.fullmatch(raw)
    if found is None:
        raise PreconditionFailed('If-Match must be the ETag of GET /tickets/{id}, like "r3".')
    return int(found.group(1))


async def agent(request: web.Request) -> Principal:
    """Who acts (the route is for agents, so there is someone)."""
    found = await principal(request)
    assert found is not None
    return found


def ticket_id(request: web.Request) -> uuid.UUID:
    """The {id} of the path; a malformed id names no ticket."""
    raw = request.match_info["id"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No ticket with id {raw[:64]!r}.") from None


async def get_ticket(request: web.Request) -> web.Response:
    """GET /tickets/{id}: the ticket, what agents changed, the reader's saved reply, who else
    has it open; its ETag is the revision to send back as If-Match."""
    target, reader = ticket_id(request), await agent(request)
    ticket = await tickets.get_ticket(request.app[AGENT_READS], target)
    view = await desk.desk_view(request.app[AGENT_READS], target, reader.actor)
    view["deliveries"] = await outbox.of_ticket(request.app[AGENT_READS], target)
    ticket = Ticket.model_validate({**ticket.model_dump(), **view})
    return json_response(ticket, headers={"ETag": etag(ticket.revision)})


async def retry_ticket(request: web.Request) -> web.Response:
    """POST /tickets/{id}/retry: give a FAILED ticket another round of triage."""
    state = await tickets.retry_ticket(request.app[DATABASE], ticket_id(request))
    request.app[WAKEUP].set()
    request.app[NOTIFIER].request()
    return json_response(Retried(ticket=state))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/tickets",
        create_ticket,
        Access.PUBLIC,
        {
            "summary": f"Submit a complaint ({MESSAGE_MIN_CHARS}-{MESSAGE_MAX_CHARS} characters, "
            "trimmed)",
            "requestBody": body(TicketIn, "the complaint"),
            "responses": {
                "201": json_content(ref(TicketCreated), "queued"),
                **errors(400, 413, 415),
                "429": try_later(
                    "rate_limited: this client's token bucket is empty "
                    "(TRIAGE_INTAKE_RATE_PER_MINUTE, TRIAGE_INTAKE_BURST, per replica)"
                ),
                "503": try_later(
                    "backlog_full: the PENDING backlog is at TRIAGE_MAX_BACKLOG; "
                    "or database_unavailable"
                ),
            },
        },
        inputs=(TicketIn,),
        outputs=(TicketCreated,),
    ),
    Endpoint(
        "GET",
        "/tickets",
        list_tickets,
        Access.AGENT,
        {
            "summary": "List or search tickets, newest (or most urgent) first, with the backlog",
            "responses": {
                "200": json_content(ref(TicketList), "a page and the backlog"),
                **errors(400),
                **UNAVAILABLE,
            },
        },
        outputs=(TicketList,),
        query=ListQuery,
    ),
    Endpoint(
        "GET",
        "/tickets/{id}",
        get_ticket,
        Access.AGENT,
        {
            "summary": "One ticket, in full: the AI's values beside the agents', its changes, "
            "the reader's saved reply, who has it open",
            "parameters": [TICKET_ID],
            "responses": {
                "200": {
                    **json_content(ref(Ticket), "the ticket"),
                    "headers": {
                        "ETag": {
                            "description": "its revision: send it back as If-Match",
                            "schema": {"type": "string"},
                        }
                    },
                },
                **errors(404),
                **UNAVAILABLE,
            },
        },
        outputs=(Ticket,),
    ),
    Endpoint(
        "POST",
        "/tickets/{id}/retry",
        retry_ticket,
        Access.AGENT,
        {
            "summary": "Send a FAILED ticket back to the queue with fresh attempts",
            "parameters": [TICKET_ID],
            "responses": {
                "200": json_content(ref(Retried), "queued again"),
                **errors(404, 409),
                **UNAVAILABLE,
            },
        },
        outputs=(Retried,),
    ),
]
