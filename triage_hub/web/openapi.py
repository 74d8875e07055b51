"""GET /openapi.json: the API described from the same pydantic models that validate it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from triage_hub import __version__
from triage_hub.keys import ACCESS_RULES
from triage_hub.models import (
    MESSAGE_MAX_CHARS,
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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _json(_ref("Error"), "error") for status in statuses}


def _try_later(description: str) -> dict[str, Any]:
    return {**_json(_ref("Error"), description), "headers": _RETRY_AFTER}


def _page(summary: str) -> dict[str, Any]:
    return {"summary": summary, "responses": {"200": {"description": "text/html"}}}


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
    ticket_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Triage Hub", "version": __version__},
        "paths": {
            "/tickets": {
                "post": {
                    "summary": f"Submit a complaint (10-{MESSAGE_MAX_CHARS} characters, trimmed)",
                    "requestBody": _json(_ref("TicketIn"), "the complaint"),
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
                    "summary": "List tickets, newest first, with the intake backlog",
                    "parameters": [
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": [s.value for s in Status]},
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("TicketList"), "a page and the backlog"),
                        **_errors(400, 503),
                    },
                },
            },
            "/tickets/{id}": {
                "get": {
                    "summary": "One ticket, in full",
                    "parameters": [ticket_id],
                    "responses": {"200": _json(_ref("Ticket"), "the ticket"), **_errors(404, 503)},
                },
            },
            "/tickets/{id}/resolve": {
                "put": {
                    "summary": "Resolve a COMPLETED or FAILED ticket with the reply sent",
                    "parameters": [ticket_id],
                    "requestBody": _json(_ref("ResolveIn"), "the final reply"),
                    "responses": {
                        "200": _json(_ref("Resolved"), "resolved"),
                        **_errors(400, 404, 409, 415, 503),
                    },
                },
            },
            "/tickets/{id}/retry": {
                "post": {
                    "summary": "Send a FAILED ticket back to the queue with fresh attempts",
                    "parameters": [ticket_id],
                    "responses": {
                        "200": _json(_ref("Retried"), "queued again"),
                        **_errors(404, 409, 503),
                    },
                },
            },
            "/preview": {
                "post": {
                    "summary": "Render a draft's markdown as sanitised HTML",
                    "requestBody": _json(_ref("PreviewIn"), "markdown"),
                    "responses": {"200": _json(_ref("Preview"), "html"), **_errors(400, 415)},
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
                    "summary": "The intake form without JavaScript (form-encoded `message`)",
                    "responses": {
                        "303": {"description": "stored: to /submit/{id}"},
                        "400": {"description": "text/html: the form again, with the errors"},
                        "429": {
                            "description": "text/html: the form again (rate limited)",
                            "headers": _RETRY_AFTER,
                        },
                        "503": {
                            "description": "text/html: the form again (backlog full or no db)",
                            "headers": _RETRY_AFTER,
                        },
                    },
                },
            },
            "/submit/{id}": {
                "get": {**_page("A submitted ticket's status"), "parameters": [ticket_id]}
            },
            "/submit/{id}/status": {
                "get": {
                    "summary": "A submitted ticket's public status: id, status, created_at",
                    "parameters": [ticket_id],
                    "responses": {"200": {"description": "status"}, **_errors(404)},
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
                "get": _page("The login form (`next`: a local path to go on to)"),
                "post": {
                    "summary": "Log in (form-encoded `name`, `password`, `next`)",
                    "responses": {
                        "303": {"description": "logged in: the session cookie, on to `next`"},
                        "401": {
                            "description": "text/html: wrong name or password, or a disabled "
                            "agent (the same page)"
                        },
                        "403": {"description": "text/html: a form from another site"},
                        "429": {
                            "description": "text/html: too many failed logins",
                            "headers": _RETRY_AFTER,
                        },
                    },
                },
            },
            "/logout": {
                "post": {
                    "summary": "End the session (form field `csrf_token`)",
                    "responses": {"303": {"description": "to /login"}},
                }
            },
            "/setup": {
                "get": _page("The one-time form that creates the first agent (`token`)"),
                "post": {
                    "summary": "Create the first agent (form-encoded `token`, `name`, "
                    "`password`, `confirm`)",
                    "responses": {
                        "303": {"description": "created and logged in: to /dashboard"},
                        "400": {"description": "text/html: the form again, with the error"},
                        "404": {"description": "text/html: the setup link is not valid"},
                        "409": {"description": "text/html: an agent exists already"},
                    },
                },
            },
        },
        "components": {"schemas": schemas, "securitySchemes": _SECURITY_SCHEMES},
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
