"""GET /openapi.json: the API described from the same pydantic models that validate it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from triage_hub import __version__
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
    TicketPage,
)
from triage_hub.web.responses import json_response

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable machine code"},
        "message": {"type": "string", "description": "for people"},
        "fields": {"type": "array", "items": {"type": "object"}},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _json(_ref("Error"), "error") for status in statuses}


def _page(summary: str) -> dict[str, Any]:
    return {"summary": summary, "responses": {"200": {"description": "text/html"}}}


def build_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    inputs = (TicketIn, ResolveIn, PreviewIn)
    outputs = (TicketCreated, TicketPage, Ticket, Resolved, Retried, Preview)
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
                        **_errors(400, 413, 415, 429, 503),
                    },
                },
                "get": {
                    "summary": "List tickets, newest first",
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
                    "responses": {"200": _json(_ref("TicketPage"), "a page"), **_errors(400, 503)},
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
                "post": _page("The intake form without JavaScript (form-encoded `message`)"),
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
        },
        "components": {"schemas": schemas},
    }


async def openapi(request: web.Request) -> web.Response:
    """GET /openapi.json."""
    return json_response(build_spec())
