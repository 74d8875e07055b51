"""GET /openapi.json: the API described from the registry — the same declarations that made
the router and the access rules, and the same pydantic models that validate and serialise."""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from triage_hub import __version__
from triage_hub.keys import ENDPOINTS
from triage_hub.routing import Access, Endpoint
from triage_hub.web.apidoc import json_content, ref
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


def _operation_id(method: str, path: str) -> str:
    """`get_tickets_id`, `post_login`: the method and the words of the path."""
    words = re.findall(r"[a-z]+", path)
    return "_".join([method.lower(), *words]) if words else f"{method.lower()}_root"


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The query parameters a model parses, each with the schema its field validates by."""
    schema = model.model_json_schema()
    return [
        {
            "name": name,
            "in": "query",
            "required": name in schema.get("required", []),
            "description": field.pop("description", ""),
            "schema": {key: value for key, value in field.items() if key != "title"},
        }
        for name, field in copy.deepcopy(schema["properties"]).items()
    ]


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's documentation, with its query parameters and what its access rule adds."""
    operation = copy.deepcopy(endpoint.doc)
    operation["operationId"] = _operation_id(endpoint.method, endpoint.path)
    if endpoint.query is not None:
        operation["parameters"] = [
            *operation.get("parameters", []),
            *_query_parameters(endpoint.query),
        ]
    if endpoint.access is not Access.PUBLIC:
        operation["security"] = [{"token": []}, {"session": []}]
        if endpoint.access is Access.AGENT_PAGE:
            operation["responses"]["303"] = {"description": "not logged in: to /login?next=…"}
        else:
            operation["responses"]["401"] = json_content(ref("Error"), "no valid session or token")
    return operation


def build_spec(endpoints: list[Endpoint]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these endpoints."""
    inputs = dict.fromkeys(model for endpoint in endpoints for model in endpoint.inputs)
    outputs = dict.fromkeys(model for endpoint in endpoints for model in endpoint.outputs)
    _, defs = models_json_schema(
        [(model, "validation") for model in inputs]
        + [(model, "serialization") for model in outputs],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Triage Hub", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {**defs.get("$defs", {}), "Error": _ERROR},
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


async def openapi(request: web.Request) -> web.Response:
    """GET /openapi.json."""
    return json_response(build_spec(request.app[ENDPOINTS]))


# Registered by routes.py beside the others (it reads them, so it cannot list itself here).
OPENAPI = Endpoint(
    "GET",
    "/openapi.json",
    openapi,
    Access.PUBLIC,
    {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}},
)
