"""HTML pages: the intake form and the agent dashboard (rendered by aiohttp-jinja2).

The pages carry no inline script, handler or style: behaviour lives in static/app.js (Alpine
components), and server data reaches it only as JSON (`<script type="application/json">`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from pydantic import ValidationError

from triage_hub.db import tickets
from triage_hub.errors import DatabaseUnavailable, NotFound
from triage_hub.keys import DATABASE
from triage_hub.models import MESSAGE_MAX_CHARS, MESSAGE_MIN_CHARS, Status, TicketIn
from triage_hub.web.tickets import submit_ticket

# What the dashboard lists unless told otherwise: everything an agent may still act on.
ACTIVE_STATUSES = [s.value for s in Status if s is not Status.RESOLVED]
# The status after which the public status page stops refreshing itself.
FINAL_FOR_CUSTOMER = {Status.RESOLVED}
# What the public status page tells a customer (never the triage or the text).
CUSTOMER_STATUS = {
    Status.PENDING: "Received — waiting in the queue",
    Status.PROCESSING: "Being triaged now",
    Status.COMPLETED: "Triaged — an agent will answer you",
    Status.FAILED: "Waiting for an agent",
    Status.RESOLVED: "Answered",
}


def _render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    response = _render(request, "error.html", {"title": title, "message": message}, status)
    if status == 503:
        response.headers["Retry-After"] = str(DatabaseUnavailable.retry_after)
    return response


def _form_context(message: str = "", errors: list[str] | None = None) -> dict[str, Any]:
    return {
        "message": message,
        "errors": errors or [],
        "min_chars": MESSAGE_MIN_CHARS,
        "max_chars": MESSAGE_MAX_CHARS,
        "config": {"min": MESSAGE_MIN_CHARS, "max": MESSAGE_MAX_CHARS, "api": "/tickets"},
    }


def _form_errors(error: ValidationError) -> list[str]:
    """The validation errors of the message field, in words for the person who typed it."""
    messages = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        kind = item["type"]
        if kind in ("missing", "string_type"):
            messages.append("Please describe your problem.")
        elif kind == "string_too_short":
            messages.append(f"Please write at least {MESSAGE_MIN_CHARS} characters.")
        elif kind == "string_too_long":
            messages.append(f"Please keep it to {MESSAGE_MAX_CHARS} characters or fewer.")
        else:
            messages.append(f"The message {item['msg'].removeprefix('Value error, ')}.")
    return messages


async def submit_form(request: web.Request) -> web.Response:
    """GET /submit: the complaint form."""
    return _render(request, "submit.html", _form_context())


async def submit_form_post(request: web.Request) -> web.Response:
    """POST /submit (a plain form post, for browsers without JavaScript)."""
    form = await request.post()
    raw = form.get("message")
    # Browsers send a textarea's line breaks as CRLF; the JSON path (and the API) stores LF.
    text = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
    try:
        body = TicketIn.model_validate({"message": text if isinstance(raw, str) else None})
    except ValidationError as error:
        return _render(request, "submit.html", _form_context(text, _form_errors(error)), 400)
    try:
        created = await submit_ticket(request.app, body.message)
    except DatabaseUnavailable:
        errors = ["We could not store your message just now. Please try again in a moment."]
        return _render(request, "submit.html", _form_context(text, errors), 503)
    raise web.HTTPSeeOther(f"/submit/{created.ticket_id}")


def _utc_label(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def _status_view(ticket_id: uuid.UUID, status: Status, created_at: str) -> dict[str, Any]:
    return {
        "id": str(ticket_id),
        "status": status.value,
        "label": CUSTOMER_STATUS[status],
        "final": status in FINAL_FOR_CUSTOMER,
        "created_at": created_at,
    }


async def _public_status(request: web.Request) -> dict[str, Any] | None:
    """The public view of the ticket in the path, or None when there is no such ticket."""
    try:
        target = uuid.UUID(request.match_info["id"])
    except ValueError:
        return None
    try:
        ticket = await tickets.get_ticket(request.app[DATABASE], target)
    except NotFound:
        return None
    return _status_view(ticket.id, ticket.status, ticket.created_at.isoformat())


async def submitted(request: web.Request) -> web.Response:
    """GET /submit/{id}: the confirmation, with the ticket's current status (public)."""
    try:
        view = await _public_status(request)
    except DatabaseUnavailable:
        return _error_page(request, 503, "Try again shortly", "The service is busy.")
    if view is None:
        return _error_page(request, 404, "Ticket not found", "There is no ticket with this number.")
    status_url = str(request.app.router["submitted-status"].url_for(id=view["id"]))
    context = {
        "ticket": view | {"status_url": status_url},
        "created_label": _utc_label(datetime.fromisoformat(view["created_at"])),
    }
    return _render(request, "submitted.html", context)


async def submitted_status(request: web.Request) -> web.Response:
    """GET /submit/{id}/status: the status page's JSON twin (id, status, created_at only)."""
    view = await _public_status(request)
    if view is None:
        raise NotFound("No such ticket.")
    response = web.json_response(view)
    response.headers["Cache-Control"] = "no-store"
    return response


async def dashboard(request: web.Request) -> web.Response:
    """GET /dashboard: the agents' live ticket list (filled in by app.js)."""
    config = {
        "statuses": [s.value for s in Status],
        "active": ACTIVE_STATUSES,
        "limit": 20,
        "api": {"tickets": "/tickets", "events": "/events", "preview": "/preview"},
    }
    return _render(request, "dashboard.html", {"config": config})


async def home(request: web.Request) -> web.Response:
    """GET /: the dashboard is the front door for agents."""
    raise web.HTTPFound("/dashboard")


def setup_page_routes(app: web.Application) -> None:
    """Register the HTML pages."""
    app.router.add_get("/", home, name="home")
    app.router.add_get("/dashboard", dashboard, name="dashboard")
    app.router.add_get("/submit", submit_form, name="submit")
    app.router.add_post("/submit", submit_form_post)
    app.router.add_get("/submit/{id}", submitted, name="submitted")
    app.router.add_get("/submit/{id}/status", submitted_status, name="submitted-status")
