"""The pieces an endpoint's documentation is written with (OpenAPI 3.1 operations)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

RETRY_AFTER = {
    "Retry-After": {
        "description": "whole seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
TICKET_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}


def ref(model: type[BaseModel] | str) -> dict[str, str]:
    """A reference to a component schema (a model, or "Error")."""
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A JSON response (or body) with this schema."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Any]:
    """The JSON error object, for each status."""
    return {str(status): json_content(ref("Error"), "error") for status in statuses}


def try_later(description: str) -> dict[str, Any]:
    """A refusal that passes with time: the JSON error and Retry-After."""
    return {**json_content(ref("Error"), description), "headers": RETRY_AFTER}


# What every endpoint that reads the database may answer while it cannot.
UNAVAILABLE = {"503": try_later("database_unavailable, or busy")}


def html(description: str) -> dict[str, Any]:
    """An HTML page."""
    return {"description": description, "content": {"text/html": {}}}


def page(summary: str) -> dict[str, Any]:
    """A GET that answers a page."""
    return {"summary": summary, "responses": {"200": html("the page")}}


def body(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, **json_content(ref(model), description)}


def form(
    fields: dict[str, Any], required: list[str], description: str, *, optional: bool = False
) -> dict[str, Any]:
    """A form-encoded request body (what an HTML form posts); `optional`: the body may be
    left out altogether."""
    schema = {"type": "object", "properties": fields, "required": required}
    media = {"application/x-www-form-urlencoded": {"schema": schema}}
    return {"required": not optional, "description": description, "content": media}


def form_refused(description: str) -> dict[str, Any]:
    """A form endpoint's 400: the page again for a browser, the JSON error for anyone else
    (a body that is not UTF-8 form data, a NUL where none may be)."""
    content = {"text/html": {}, "application/json": {"schema": ref("Error")}}
    return {"description": description, "content": content}


# Every form endpoint refuses a body that is not form-encoded UTF-8.
NOT_A_FORM = json_content(ref("Error"), "unsupported_media_type: not a UTF-8 urlencoded form")


def query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """A query parameter."""
    return {"name": name, "in": "query", "schema": schema, "description": description}
