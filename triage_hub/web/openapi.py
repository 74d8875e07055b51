"""GET /openapi.json: the API described from the same pydantic models that validate it."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from triage_hub import __version__
from triage_hub.accounts import NAME, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS
from triage_hub.keys import ACCESS_RULES
from triage_hub.models import (
    MESSAGE_MAX_CHARS,
    MESSAGE_MIN_CHARS,
    Preview,
    PreviewIn,
    Resolved,
    ResolveIn,
    Retried,
    Status,
    Ticket,
    TicketCreated,
    TicketIn,
    TicketList,
)
from triage_hub.web.access import Access
from triage_hub.web.responses import json_response
from triage_hub.web.tickets import DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable machine code"},
        "message": {"type": "string", "description": "for people"},
        "fields": {"type": "array", "items": {"type": "object"}},
        "retry_after": {"type": "integer", "description": "429 and 503: as the Retry-After header"},
    },
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "whole seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


# The texts as the server checks them, which min/maxLength alone cannot say: a message is
# trimmed first (by Python's str.strip: what `\s` matches when Python reads the pattern), and
# no text may hold NUL, which PostgreSQL cannot store.
_MESSAGE = {
    "type": "string",
    "pattern": rf"^\s*[^\s\x00][^\x00]{{{MESSAGE_MIN_CHARS - 2},{MESSAGE_MAX_CHARS - 2}}}"
    r"[^\s\x00]\s*$",
    "description": f"{MESSAGE_MIN_CHARS}-{MESSAGE_MAX_CHARS} characters once trimmed, no NUL",
}
_REPLY = {
    "type": "string",
    "minLength": 1,
    "maxLength": 20000,
    "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$",
    "description": "not blank, no NUL",
}
_MARKDOWN = {"type": "string", "maxLength": 20000, "pattern": r"^[^\x00]*$"}


def _any_case(word: str) -> str:
    return "".join(f"[{letter}{letter.lower()}]" for letter in word)


# `status=`: empty (every status), or statuses in any case, comma-separated, spaces around.
_ONE_STATUS = "(?:" + "|".join(_any_case(status.value) for status in Status) + ")"
_STATUSES = rf"^[ \t]*(?:{_ONE_STATUS}(?:[ \t]*,[ \t]*{_ONE_STATUS})*)?[ \t]*$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _json(_ref("Error"), "error") for status in statuses}


def _try_later(description: str) -> dict[str, Any]:
    return {**_json(_ref("Error"), description), "headers": _RETRY_AFTER}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {}}}


def _form_refused(description: str) -> dict[str, Any]:
    """A form endpoint's 400: the page again for a browser, the JSON error for anyone else
    (a body that is not UTF-8 form data, a NUL where none may be)."""
    content = {"text/html": {}, "application/json": {"schema": _ref("Error")}}
    return {"description": description, "content": content}


# Every form endpoint refuses a body that is not form-encoded UTF-8.
_NOT_A_FORM = _json(_ref("Error"), "unsupported_media_type: not application/x-www-form-urlencoded")


def _page(summary: str) -> dict[str, Any]:
    return {"summary": summary, "responses": {"200": _html("the page")}}


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"required": True, **_json(schema, description)}


def _form(
    fields: dict[str, Any], required: list[str], description: str, *, optional: bool = False
) -> dict[str, Any]:
    """A form-encoded request body (what an HTML form posts); `optional`: the body may be
    left out altogether."""
    schema = {"type": "object", "properties": fields, "required": required}
    media = {"application/x-www-form-urlencoded": {"schema": schema}}
    return {"required": not optional, "description": description, "content": media}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _with_operation_ids(paths: dict[str, Any]) -> None:
    """Each operation named by its method and path: `get_tickets_id`, `post_login`."""
    for path, item in paths.items():
        for method, operation in item.items():
            words = re.findall(r"[a-z]+", path)
            operation["operationId"] = "_".join([method, *words]) if words else f"{method}_root"


def build_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    inputs = (TicketIn, ResolveIn, PreviewIn)
    outputs = (TicketCreated, TicketList, Ticket, Resolved, Retried, Preview)
    _, defs = models_json_schema(
        [(model, "validation") for model in inputs]
        + [(model, "serialization") for model in outputs],
        ref_template="#/components/schemas/{model}",
    )
    schemas = {**defs.get("$defs", {}), "Error": _ERROR}
    schemas["TicketIn"]["properties"]["message"] = _MESSAGE
    schemas["ResolveIn"]["properties"]["ai_draft"] = _REPLY
    schemas["PreviewIn"]["properties"]["markdown"] = _MARKDOWN
    ticket_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Triage Hub", "version": __version__},
        "paths": {
            "/tickets": {
                "post": {
                    "summary": f"Submit a complaint (10-{MESSAGE_MAX_CHARS} characters, trimmed)",
                    "requestBody": _body(_ref("TicketIn"), "the complaint"),
                    "responses": {
                        "201": _json(_ref("TicketCreated"), "queued"),
                        **_errors(400, 413, 415),
                        "429": _try_later(
                            "rate_limited: this client's token bucket is empty "
                            "(TRIAGE_INTAKE_RATE_PER_MINUTE, TRIAGE_INTAKE_BURST, per replica)"
                        ),
                        "503": _try_later(
                            "backlog_full: the PENDING backlog is at TRIAGE_MAX_BACKLOG; "
                            "or database_unavailable"
                        ),
                    },
                },
                "get": {
                    "summary": "List tickets, newest (or most urgent) first, with the backlog",
                    "parameters": [
                        _query(
                            "page",
                            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                            "pages past the last are empty",
                        ),
                        _query(
                            "limit",
                            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                            f"tickets per page (default {DEFAULT_LIMIT})",
                        ),
                        _query(
                            "status",
                            {"type": "string", "pattern": _STATUSES},
                            "one status or several, comma-separated, any case "
                            "(`PENDING,PROCESSING,COMPLETED,FAILED`: all but RESOLVED); "
                            "empty or absent: every status",
                        ),
                        _query(
                            "sort",
                            {"type": "string", "enum": ["newest", "urgent"]},
                            "`newest` (default), or `urgent`: High, Medium, Low, then "
                            "untriaged, oldest first within each",
                        ),
                    ],
                    "responses": {
                        "200": _json(_ref("TicketList"), "a page and the backlog"),
                        **_errors(400),
                        "503": _try_later("database_unavailable, or busy"),
                    },
                },
            },
            "/tickets/{id}": {
                "get": {
                    "summary": "One ticket, in full",
                    "parameters": [ticket_id],
                    "responses": {
                        "200": _json(_ref("Ticket"), "the ticket"),
                        **_errors(404),
                        "503": _try_later("database_unavailable, or busy"),
                    },
                },
            },
            "/tickets/{id}/resolve": {
                "put": {
                    "summary": "Resolve a COMPLETED or FAILED ticket with the reply sent",
                    "parameters": [ticket_id],
                    "requestBody": _body(_ref("ResolveIn"), "the final reply"),
                    "responses": {
                        "200": _json(_ref("Resolved"), "resolved"),
                        **_errors(400, 404, 409, 413, 415),
                        "503": _try_later("database_unavailable, or busy"),
                    },
                },
            },
            "/tickets/{id}/retry": {
                "post": {
                    "summary": "Send a FAILED ticket back to the queue with fresh attempts",
                    "parameters": [ticket_id],
                    "responses": {
                        "200": _json(_ref("Retried"), "queued again"),
                        **_errors(404, 409),
                        "503": _try_later("database_unavailable, or busy"),
                    },
                },
            },
            "/preview": {
                "post": {
                    "summary": "Render a draft's markdown as sanitised HTML",
                    "requestBody": _body(_ref("PreviewIn"), "markdown"),
                    "responses": {
                        "200": _json(_ref("Preview"), "html"),
                        **_errors(400, 413, 415),
                    },
                },
            },
            "/events": {
                "get": {
                    "summary": "Server-sent events: `ticket`, `tickets` and `draft`",
                    "responses": {"200": {"description": "text/event-stream"}},
                },
            },
            "/": {
                "get": {
                    "summary": "Redirects to /dashboard",
                    "responses": {"302": {"description": "to /dashboard"}},
                }
            },
            "/dashboard": {"get": _page("The agents' dashboard")},
            "/submit": {
                "get": _page("The intake form"),
                "post": {
                    "summary": "The intake form without JavaScript",
                    "requestBody": _form(
                        {"message": _MESSAGE},
                        ["message"],
                        "the complaint (a browser's CRLF line breaks are stored as LF)",
                    ),
                    "responses": {
                        "303": {"description": "stored: to /submit/{id}"},
                        "400": _form_refused("the form again, with the errors"),
                        "415": _NOT_A_FORM,
                        "429": {
                            **_html("the form again (rate limited)"),
                            "headers": _RETRY_AFTER,
                        },
                        "503": {
                            **_html("the form again (backlog full, or no database)"),
                            "headers": _RETRY_AFTER,
                        },
                    },
                },
            },
            "/submit/{id}": {
                "get": {
                    "summary": "A submitted ticket's status page",
                    "parameters": [ticket_id],
                    "responses": {
                        "200": _html("the page"),
                        "404": _html("no such ticket"),
                        "503": {
                            **_html("the database is unavailable"),
                            "headers": _RETRY_AFTER,
                        },
                    },
                },
            },
            "/submit/{id}/status": {
                "get": {
                    "summary": "A submitted ticket's public status (the status page's JSON twin)",
                    "parameters": [ticket_id],
                    "responses": {
                        "200": _json(_PUBLIC_STATUS, "its status"),
                        **_errors(404),
                        "503": _try_later("database_unavailable, or busy"),
                    },
                },
            },
            "/health": {
                "get": {
                    "summary": "Process, database and LLM health",
                    "responses": {
                        "200": {"description": "usable"},
                        "503": {"description": "database down"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text format"}},
                }
            },
            "/login": {
                "get": {
                    **_page("The login form"),
                    "parameters": [_query("next", {"type": "string"}, "a local path to go on to")],
                },
                "post": {
                    "summary": "Log in",
                    "requestBody": _form(
                        {
                            "name": {"type": "string"},
                            "password": {"type": "string"},
                            "next": {"type": "string", "description": "a local path"},
                        },
                        [],
                        "the login form",
                    ),
                    "responses": {
                        "303": {"description": "logged in: the session cookie, on to `next`"},
                        "400": _form_refused("not UTF-8 form data"),
                        "401": _html("wrong name or password, or a disabled agent (the same page)"),
                        "415": _NOT_A_FORM,
                        "403": _html("a form from another site"),
                        "429": {**_html("too many failed logins"), "headers": _RETRY_AFTER},
                    },
                },
            },
            "/logout": {
                "post": {
                    "summary": "End the session",
                    "requestBody": _form(
                        {"csrf_token": {"type": "string"}},
                        [],
                        "the session's CSRF token (a bearer token needs none)",
                        optional=True,
                    ),
                    "responses": {
                        "303": {"description": "to /login"},
                        "403": _html("a form from another site"),
                    },
                }
            },
            "/setup": {
                "get": {
                    "summary": "The one-time form that creates the first agent",
                    "parameters": [_query("token", {"type": "string"}, "from the setup link")],
                    "responses": {
                        "200": _html("the form, or: setup is done"),
                        "404": _html("the link is not valid"),
                    },
                },
                "post": {
                    "summary": "Create the first agent, and log in",
                    "requestBody": _form(
                        {
                            "token": {"type": "string"},
                            "name": {"type": "string", "pattern": f"^{NAME.pattern}$"},
                            "password": _PASSWORD,
                            "confirm": {**_PASSWORD, "description": "the password again"},
                        },
                        ["token", "name", "password", "confirm"],
                        "the setup form",
                    ),
                    "responses": {
                        "303": {"description": "created and logged in: to /dashboard"},
                        "400": _form_refused("the form again, with the error"),
                        "403": _html("a form from another site"),
                        "404": _html("the setup link is not valid"),
                        "415": _NOT_A_FORM,
                        "409": _html("an agent exists already"),
                    },
                },
            },
        },
        "components": {"schemas": schemas, "securitySchemes": _SECURITY_SCHEMES},
    }
    _with_operation_ids(spec["paths"])
    return spec


_PASSWORD = {"type": "string", "minLength": PASSWORD_MIN_CHARS, "maxLength": PASSWORD_MAX_CHARS}
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
_SECURITY_SCHEMES = {
    "token": {"type": "http", "scheme": "bearer", "description": "triage-hub token create"},
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "triage_session",
        "description": "a browser session from /login (`__Host-triage_session` over https); "
        "changes also need the session's X-CSRF-Token",
    },
}


def mark_agent_routes(spec: dict[str, Any], app: web.Application) -> dict[str, Any]:
    """Every operation the access rules keep for agents says so, from the rules themselves."""
    rules = app[ACCESS_RULES]
    for route in app.router.routes():
        operation = spec["paths"].get(route.resource.canonical if route.resource else "", {})
        operation = operation.get(route.method.lower())
        access = rules.rule(route, route.method)
        if operation is None or access is Access.PUBLIC:
            continue
        operation["security"] = [{"token": []}, {"session": []}]
        if access is Access.AGENT_PAGE:
            operation["responses"]["303"] = {"description": "not logged in: to /login?next=…"}
        else:
            operation["responses"]["401"] = _json(_ref("Error"), "no valid session or token")
    return spec


async def openapi(request: web.Request) -> web.Response:
    """GET /openapi.json."""
    return json_response(mark_agent_routes(build_spec(), request.app))
