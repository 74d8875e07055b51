"""The agent's desk: resolve with corrections, correct the triage, save the reply being written,
say who has a ticket open. Every change names its author; resolve and correct take If-Match."""

from __future__ import annotations

from aiohttp import web

from triage_hub.db import desk
from triage_hub.keys import DATABASE
from triage_hub.models import (
    Corrected,
    CorrectionIn,
    DraftIn,
    DraftSaved,
    PresenceIn,
    Resolved,
    ResolveIn,
)
from triage_hub.routing import Access, Endpoint
from triage_hub.web.apidoc import TICKET_ID, UNAVAILABLE, body, errors, json_content, ref
from triage_hub.web.responses import json_response, read_json
from triage_hub.web.tickets import agent, etag, expected_revision, ticket_id


async def resolve_ticket(request: web.Request) -> web.Response:
    """PUT /tickets/{id}/resolve: the agent sent the final reply (with their corrections)."""
    target = ticket_id(request)
    expected = expected_revision(request)
    body = await read_json(request, ResolveIn)
    actor = (await agent(request)).actor
    resolved = await desk.resolve_ticket(
        request.app[DATABASE], target, actor, body.ai_draft, body.given(), expected
    )
    return json_response(Resolved(ticket=resolved), headers={"ETag": etag(resolved.revision)})


async def correct_ticket(request: web.Request) -> web.Response:
    """PATCH /tickets/{id}: the agent's values for category, urgency, sentiment."""
    target = ticket_id(request)
    expected = expected_revision(request)
    body = await read_json(request, CorrectionIn)
    actor = (await agent(request)).actor
    state, changes = await desk.correct_ticket(
        request.app[DATABASE], target, actor, body.given(), expected
    )
    return json_response(
        Corrected(ticket=state, changes=changes), headers={"ETag": etag(state.revision)}
    )


async def save_draft(request: web.Request) -> web.Response:
    """PUT /tickets/{id}/draft: save the reply the agent is writing."""
    target = ticket_id(request)
    body = await read_json(request, DraftIn)
    author = (await agent(request)).actor
    saved_at = await desk.save_draft(request.app[DATABASE], target, author, body.draft)
    return json_response(DraftSaved(saved_at=saved_at))


async def set_presence(request: web.Request) -> web.Response:
    """POST /tickets/{id}/presence: this agent's page has the ticket open, types, or left."""
    target = ticket_id(request)
    body = await read_json(request, PresenceIn)
    viewer = (await agent(request)).actor
    await desk.set_presence(request.app[DATABASE], target, viewer, body.state)
    return web.Response(status=204)


_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": 'the ETag of GET /tickets/{id} (`"r3"`): refused with 412 if it changed since',
}
_STALE = {
    "412": json_content(
        ref("Error"),
        "precondition_failed: someone changed the ticket since (the message says who and how; "
        "`changes` lists it); nothing was written",
    )
}

ENDPOINTS = [
    Endpoint(
        "PUT",
        "/tickets/{id}/resolve",
        resolve_ticket,
        Access.AGENT,
        {
            "summary": "Resolve a COMPLETED or FAILED ticket with the reply sent (and corrections)",
            "parameters": [TICKET_ID, _IF_MATCH],
            "requestBody": body(ResolveIn, "the final reply, and the agent's triage values"),
            "responses": {
                "200": json_content(ref(Resolved), "resolved (ETag: the new revision)"),
                **errors(400, 404, 409, 413, 415),
                **_STALE,
                **UNAVAILABLE,
            },
        },
        inputs=(ResolveIn,),
        outputs=(Resolved,),
    ),
    Endpoint(
        "PATCH",
        "/tickets/{id}",
        correct_ticket,
        Access.AGENT,
        {
            "summary": "Correct the triage of a COMPLETED or FAILED ticket without resolving it",
            "parameters": [TICKET_ID, _IF_MATCH],
            "requestBody": body(CorrectionIn, "the agent's values (at least one)"),
            "responses": {
                "200": json_content(ref(Corrected), "changed (ETag: the new revision)"),
                **errors(400, 404, 409, 413, 415),
                **_STALE,
                **UNAVAILABLE,
            },
        },
        inputs=(CorrectionIn,),
        outputs=(Corrected,),
    ),
    Endpoint(
        "PUT",
        "/tickets/{id}/draft",
        save_draft,
        Access.AGENT,
        {
            "summary": "Save the reply being written (empty: discard it); GET /tickets/{id} "
            "gives it back to its author",
            "parameters": [TICKET_ID],
            "requestBody": body(DraftIn, "the reply so far"),
            "responses": {
                "200": json_content(ref(DraftSaved), "saved"),
                **errors(400, 404, 409, 413, 415),
                **UNAVAILABLE,
            },
        },
        inputs=(DraftIn,),
        outputs=(DraftSaved,),
    ),
    Endpoint(
        "POST",
        "/tickets/{id}/presence",
        set_presence,
        Access.AGENT,
        {
            "summary": "This page has the ticket open, is typing, or left (every replica's "
            "event streams hear it; say it again every 10 s, it lapses after 30)",
            "parameters": [TICKET_ID],
            "requestBody": body(PresenceIn, "the page's state"),
            "responses": {
                "204": {"description": "heard"},
                **errors(400, 404, 413, 415),
                **UNAVAILABLE,
            },
        },
        inputs=(PresenceIn,),
    ),
]
