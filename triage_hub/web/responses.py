"""JSON in and out: request bodies become validated models, models become JSON responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from triage_hub.errors import BadRequest, UnsupportedMediaType, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

# Requests are small: 5,000 characters as \uXXXX surrogate pairs are 60 KB, nothing legal is more.
MAX_BODY_BYTES = 64 * 1024


def json_response(
    body: BaseModel | Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A JSON response (application/json; charset=utf-8)."""
    text = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body)
    return web.Response(
        text=text,
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def validation_failed(error: ValidationError, message: str) -> ValidationFailed:
    """A ValidationFailed naming each offending field, without echoing the input."""
    fields = [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "body",
            "message": item["msg"],
            "type": item["type"],
        }
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return ValidationFailed(message, fields=fields)


async def read_json(request: web.Request, model: type[Model]) -> Model:
    """Parse and validate a JSON object body, or raise the matching 4xx domain error."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    body = await request.read()  # raises 413 past the app's client_max_size
    try:
        data = json.loads(body)
    except ValueError:  # also invalid UTF-8
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_failed(error, "The request body is not valid.") from None
