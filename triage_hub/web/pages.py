"""HTML pages: the intake form and the agent dashboard (rendered by aiohttp-jinja2).

The pages carry no inline script, handler or style: behaviour lives in static/js/ (Alpine
components, one file per feature), and server data reaches it only as JSON: each page's one
`<script type="application/json" id="page-config">` block, made here from the Python constants.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from triage_hub.db import tickets
from triage_hub.db.desk import PRESENCE_SECONDS
from triage_hub.errors import (
    BacklogFull,
    DatabaseUnavailable,
    MarkdownTooComplex,
    NotFound,
    RateLimited,
    RendererBusy,
    TryLater,
)
from triage_hub.keys import DATABASE, INTAKE, SETTINGS
from triage_hub.models import (
    CATEGORIES,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_SEARCH_CHARS,
    MESSAGE_MAX_CHARS,
    MESSAGE_MIN_CHARS,
    REPLY_MAX_CHARS,
    SENTIMENT_MAX,
    SENTIMENT_MIN,
    URGENCIES,
    Status,
    Ticket,
    TicketIn,
)
from triage_hub.routing import Access, Endpoint
from triage_hub.web.apidoc import (
    NOT_A_FORM,
    RETRY_AFTER,
    TICKET_ID,
    UNAVAILABLE,
    errors,
    form,
    form_refused,
    html,
    json_content,
    page,
)
from triage_hub.web.auth import principal
from triage_hub.web.intake_limits import check_intake
from triage_hub.web.preview import MARKDOWN_RENDERER
from triage_hub.web.responses import read_form
from triage_hub.web.security import render_page

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
# What agents read for each status (the API keeps the values).
STATUS_LABEL = {
    Status.PENDING: "New",
    Status.PROCESSING: "AI drafting",
    Status.COMPLETED: "Needs reply",
    Status.FAILED: "Needs a human",
    Status.RESOLVED: "Resolved",
}
# The dashboard's page sizes; the API's default comes first.
PAGE_SIZES = sorted({DEFAULT_LIMIT, 50, MAX_LIMIT})
# The dashboard names the backlog only from this share of TRIAGE_MAX_BACKLOG on.
BACKLOG_WARN_RATIO = 0.8
# What agents read for a sentiment score (the list's bar, the detail's 1–10 control).
SENTIMENT_WORDS = ((3, "angry"), (6, "neutral"), (SENTIMENT_MAX, "happy"))
# An open ticket's page says it is there this often; the server forgets it after PRESENCE_SECONDS.
PRESENCE_EVERY_SECONDS = 10
# The dashboard asks GET /health this often whether the LLM answers (the banner of an outage).
ENGINE_CHECK_EVERY_SECONDS = 10
# What agents read for the engine that triaged a ticket (the API keeps the names).
ENGINE_LABEL = {
    "builtin": "Built-in engine",
    "ollama": "LLM (Ollama)",
    "openai": "LLM (OpenAI-compatible)",
}
# A field's confidence as a badge: the first level whose floor it reaches (issue 11).
CONFIDENCE_LEVELS = (
    {"min": 0.9, "label": "High confidence", "level": "high"},
    {"min": 0.6, "label": "Medium confidence", "level": "medium"},
    {
        "min": 0.0,
        "label": "Low confidence — please check",
        "level": "low",
        "short": "Low confidence",
    },
)
# The banner while TRIAGE_ENGINE=auto stands in for an LLM that does not answer; with `llm`,
# tickets wait for it instead.
ENGINE_BANNERS = {
    "auto": "The LLM is unreachable — tickets are triaged by the built-in engine.",
    "llm": "The LLM is unreachable — new tickets wait until it answers again.",
}
# What a delivery of the reply says, by its outbox status ({attempts}, {error} filled in);
# "Reply sent" only once the receiver took it.
DELIVERY_LABELS = {
    "queued": "Queued",
    "sending": "Sending now…",
    "retrying": "Retrying ({attempts})",
    "sent": "Reply sent",
    "failed": "Not delivered: {error}",
    "last_try": "Last try: {error}",
}
DELIVERY_KINDS = {"email": "E-mail", "webhook": "Webhook"}


def _error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    response = render_page(request, "error.html", {"title": title, "message": message}, status)
    if status == 503:
        response.headers["Retry-After"] = str(DatabaseUnavailable.retry_after)
    return response


Form = dict[str, str]  # what a no-JS post sent: message, email, name


def _form_context(form: Form | None = None, errors: list[str] | None = None) -> dict[str, Any]:
    form = form or {}
    return {
        "message": form.get("message", ""),
        "email": form.get("email", ""),
        "name": form.get("name", ""),
        "errors": errors or [],
        "min_chars": MESSAGE_MIN_CHARS,
        "max_chars": MESSAGE_MAX_CHARS,
        "config": {
            "min": MESSAGE_MIN_CHARS,
            "max": MESSAGE_MAX_CHARS,
            "api": "/tickets",
            "created_label": CUSTOMER_STATUS[Status.PENDING],
        },
    }


def _form_errors(error: ValidationError) -> list[str]:
    """The validation errors of the message field, in words for the person who typed it."""
    messages = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        kind = item["type"]
        if item["loc"][:1] == ("email",):
            messages.append("Please check your e-mail address, or leave it empty.")
        elif item["loc"][:1] == ("name",):
            messages.append("Please keep your name to 200 characters.")
        elif kind in ("missing", "string_type"):
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
    return render_page(request, "submit.html", _form_context())


async def _form_fields(request: web.Request) -> Form:
    """The posted fields, the message's CRLF line breaks as LF (as the JSON path stores it)."""
    posted = await read_form(request, allow_nul=True)  # TicketIn says why not
    fields = {name: str(posted.get(name, "")) for name in ("message", "email", "name")}
    fields["message"] = fields["message"].replace("\r\n", "\n")
    return fields


def _form_again(
    request: web.Request, form: Form, errors: list[str], status: int, retry_after: int | None = None
) -> web.Response:
    """The form again, with what was typed kept and what went wrong (and when to retry)."""
    response = render_page(request, "submit.html", _form_context(form, errors), status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _form_try_later(request: web.Request, form: Form, error: TryLater) -> web.Response:
    """The form again after a refusal that passes with time, in a sentence for people."""
    if isinstance(error, RateLimited):
        reason = "You have sent several messages in a short time."
    else:
        reason = "We are receiving more messages than we can handle right now."
    errors = [f"{reason} Please try again in {error.retry_after} seconds."]
    return _form_again(request, form, errors, error.status, error.retry_after)


async def submit_form_post(request: web.Request) -> web.Response:
    """POST /submit (a plain form post, for browsers without JavaScript)."""
    try:
        await check_intake(request)
    except RateLimited as error:
        return _form_try_later(request, await _form_fields(request), error)
    form = await _form_fields(request)
    try:
        body = TicketIn.model_validate({k: v or None for k, v in form.items()})
    except ValidationError as error:
        return _form_again(request, form, _form_errors(error), 400)
    try:
        created = await request.app[INTAKE].submit(body.message, body.email, body.name)
    except BacklogFull as error:
        return _form_try_later(request, form, error)
    except DatabaseUnavailable:
        errors = ["We could not store your message just now. Please try again in a moment."]
        return _form_again(request, form, errors, 503, DatabaseUnavailable.retry_after)
    raise web.HTTPSeeOther(f"/submit/{created.ticket_id}")


def _utc_label(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def _status_view(ticket: Ticket) -> dict[str, Any]:
    """What the customer may see: the status in their words, and once answered the answer."""
    answered = ticket.status is Status.RESOLVED
    return {
        "id": str(ticket.id),
        "status": ticket.status.value,
        "label": CUSTOMER_STATUS[ticket.status],
        "final": ticket.status in FINAL_FOR_CUSTOMER,
        "created_at": ticket.created_at.isoformat(),
        "reply": ticket.ai_draft if answered else None,
        "answered_at": ticket.resolved_at.isoformat() if answered and ticket.resolved_at else None,
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
    return _status_view(ticket)


async def submitted(request: web.Request) -> web.Response:
    """GET /submit/{id}: the confirmation, with the ticket's current status (public)."""
    try:
        view = await _public_status(request)
    except DatabaseUnavailable:
        return _error_page(request, 503, "Try again shortly", "The service is busy.")
    if view is None:
        return _error_page(request, 404, "Ticket not found", "There is no ticket with this number.")
    status_url = str(request.app.router["submitted-status"].url_for(id=view["id"]))
    reply_html = None
    if view["reply"]:
        try:  # the preview's sanitiser: http(s)/mailto links only, no raw HTML, no scripts
            reply_html = await request.app[MARKDOWN_RENDERER].render(view["reply"])
        except (MarkdownTooComplex, RendererBusy):
            reply_html = None  # shown as plain text instead
    context = {
        "ticket": view,
        "reply_html": reply_html,
        "config": {k: v for k, v in view.items() if k != "reply"}
        | {"status_url": status_url, "statuses": [s.value for s in Status]},
        "created_label": _utc_label(datetime.fromisoformat(view["created_at"])),
        "answered_label": view["answered_at"]
        and _utc_label(datetime.fromisoformat(view["answered_at"])),
    }
    return render_page(request, "submitted.html", context)


async def submitted_status(request: web.Request) -> web.Response:
    """GET /submit/{id}/status: the status page's JSON twin (id, status, created_at, and once
    answered the reply and when)."""
    view = await _public_status(request)
    if view is None:
        raise NotFound("No such ticket.")
    response = web.json_response(view)
    response.headers["Cache-Control"] = "no-store"
    return response


async def dashboard(request: web.Request) -> web.Response:
    """GET /dashboard: the agents' live ticket list (filled in by static/js/dashboard*.js)."""
    agent = await principal(request)
    assert agent is not None  # the route is for agents only
    settings = request.app[SETTINGS]
    config = {
        "statuses": [s.value for s in Status],
        "status_labels": {s.value: label for s, label in STATUS_LABEL.items()},
        "active": ACTIVE_STATUSES,
        "page_size": DEFAULT_LIMIT,
        "page_sizes": PAGE_SIZES,
        "backlog_warn_ratio": BACKLOG_WARN_RATIO,
        "categories": list(CATEGORIES),
        "urgencies": list(URGENCIES),
        "sentiments": [
            {"value": value, "word": next(word for top, word in SENTIMENT_WORDS if value <= top)}
            for value in range(SENTIMENT_MIN, SENTIMENT_MAX + 1)
        ],
        "max_attempts": settings.max_attempts,
        "reply_max": REPLY_MAX_CHARS,
        "search_max": MAX_SEARCH_CHARS,
        # How this agent's changes, drafts and presence are signed (theirs are shown, not ours).
        "me": agent.actor,
        "presence_every_seconds": PRESENCE_EVERY_SECONDS,
        "presence_seconds": PRESENCE_SECONDS,
        "engine_mode": settings.engine,
        "engine_labels": ENGINE_LABEL,
        "engine_banner": ENGINE_BANNERS.get(settings.engine, ""),
        "engine_check_every_seconds": ENGINE_CHECK_EVERY_SECONDS,
        "confidence_levels": CONFIDENCE_LEVELS,
        "delivery_labels": DELIVERY_LABELS,
        "delivery_kinds": DELIVERY_KINDS,
        "api": {
            "tickets": "/tickets",
            "events": "/events",
            "preview": "/preview",
            "health": "/health",
        },
    }
    context = {"config": config, "agent_name": agent.name, "csrf_token": agent.csrf_token}
    return render_page(request, "dashboard.html", context)


async def home(request: web.Request) -> web.Response:
    """GET /: the dashboard is the front door for agents."""
    raise web.HTTPFound("/dashboard")


_PUBLIC_STATUS = {
    "type": "object",
    "required": ["id", "status", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "enum": [s.value for s in Status]},
        "label": {"type": "string", "description": "the status in the customer's words"},
        "final": {"type": "boolean", "description": "the status will not change again"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_MESSAGE_FIELD = TicketIn.model_json_schema()["properties"]["message"]

ENDPOINTS = [
    Endpoint(
        "GET",
        "/",
        home,
        Access.PUBLIC,
        {
            "summary": "Redirects to /dashboard",
            "responses": {"302": {"description": "to /dashboard"}},
        },
        name="home",
    ),
    Endpoint("GET", "/submit", submit_form, Access.PUBLIC, page("The intake form"), name="submit"),
    Endpoint(
        "POST",
        "/submit",
        submit_form_post,
        Access.PUBLIC,
        {
            "summary": "The intake form without JavaScript",
            "requestBody": form(
                {
                    "message": _MESSAGE_FIELD,
                    # Browsers send empty fields: empty is "not given".
                    "email": {
                        "type": "string",
                        "anyOf": [{"maxLength": 0}, {"format": "email"}],
                        "description": "optional: where the reply goes",
                    },
                    "name": {
                        "type": "string",
                        "maxLength": 200,
                        "pattern": r"^[^\x00]*$",
                        "description": "optional",
                    },
                },
                ["message"],
                "the complaint (a browser's CRLF line breaks are stored as LF)",
            ),
            "responses": {
                "303": {"description": "stored: to /submit/{id}"},
                "400": form_refused("the form again, with the errors"),
                "415": NOT_A_FORM,
                "429": {**html("the form again (rate limited)"), "headers": RETRY_AFTER},
                "503": {
                    **html("the form again (backlog full, or no database)"),
                    "headers": RETRY_AFTER,
                },
            },
        },
    ),
    Endpoint(
        "GET",
        "/submit/{id}",
        submitted,
        Access.PUBLIC,
        {
            "summary": "A submitted ticket's status page",
            "parameters": [TICKET_ID],
            "responses": {
                "200": html("the page"),
                "404": html("no such ticket"),
                "503": {**html("the database is unavailable"), "headers": RETRY_AFTER},
            },
        },
        name="submitted",
    ),
    Endpoint(
        "GET",
        "/submit/{id}/status",
        submitted_status,
        Access.PUBLIC,
        {
            "summary": "A submitted ticket's public status (the status page's JSON twin)",
            "parameters": [TICKET_ID],
            "responses": {
                "200": json_content(_PUBLIC_STATUS, "its status"),
                **errors(404),
                **UNAVAILABLE,
            },
        },
        name="submitted-status",
    ),
    Endpoint(
        "GET",
        "/dashboard",
        dashboard,
        Access.AGENT_PAGE,
        page("The agents' dashboard"),
        name="dashboard",
    ),
]
