"""Bodies in, JSON out: a request body becomes a validated model or form (or a 4xx domain
error, whatever the client sent), models become JSON responses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from pydantic import BaseModel, ValidationError

from triage_hub.errors import BadRequest, RequestTimeout, UnsupportedMediaType, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

# Requests are small: 5,000 characters as \uXXXX surrogate pairs are 60 KB, nothing legal is more.
MAX_BODY_BYTES = 64 * 1024
# The whole body must arrive within this: 64 KiB in 10 s is a 6.4 KB/s link, while a client
# that trickles a byte now and then would otherwise hold its connection for as long as it likes.
BODY_READ_SECONDS = 10.0
FORM_TYPE = "application/x-www-form-urlencoded"
# Our forms have at most five fields; parsing stops (400) past this many.
MAX_FORM_FIELDS = 100


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


async def read_body(request: web.Request) -> bytes:
    """The whole body (aiohttp keeps it for a second read), or the matching 4xx domain error."""
    try:
        async with asyncio.timeout(BODY_READ_SECONDS):
            return await request.read()  # raises 413 past the app's client_max_size
    except TimeoutError:
        raise RequestTimeout("The request body did not arrive in time.") from None
    except (ConnectionError, web.RequestPayloadError):
        # The client hung up mid-body (no one will read this answer), or the body's framing
        # or Content-Encoding is broken.
        message = "The request body is incomplete or malformed."
        raise BadRequest(message, code="invalid_body") from None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


QueryModel = TypeVar("QueryModel", bound=BaseModel)


def read_query(request: web.Request, model: type[QueryModel]) -> QueryModel:
    """The query string as `model` (its `problems` say, per parameter, what a refusal reads),
    or 400 invalid_parameter naming the first bad one."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as error:
        name = str(error.errors(include_url=False)[0]["loc"][0])
        problems: dict[str, str] = getattr(model, "problems", {})
        message = problems.get(name, f"`{name}` is not valid.")
        raise BadRequest(message, code="invalid_parameter", parameter=name) from None


async def read_json(request: web.Request, model: type[Model]) -> Model:
    """Parse and validate a JSON object body, or raise the matching 4xx domain error."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    body = await read_body(request)
    try:
        # JSON is UTF-8 (RFC 8259): json.loads would guess UTF-16/32 from bytes and accept a BOM.
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, NaN/Infinity, nested too deeply
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_failed(error, "The request body is not valid.") from None


async def read_form(request: web.Request, *, allow_nul: bool = False) -> MultiDictProxy[str]:
    """The fields of a form post (urlencoded UTF-8, as our pages send it), or a 4xx domain error;
    NUL characters only when the caller validates them (PostgreSQL text cannot hold one)."""
    # Not aiohttp's request.post(): it raises (a 500) on a multipart body without a boundary,
    # an unknown charset or invalid UTF-8, and writes multipart files to disk.
    if request.content_type != FORM_TYPE or (request.charset or "utf-8").lower() != "utf-8":
        raise UnsupportedMediaType(f"Send the form as {FORM_TYPE} in UTF-8.")
    body = await read_body(request)
    try:
        fields = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # not UTF-8 (raw or %-encoded), or too many fields
        raise BadRequest("The form is not valid UTF-8 form data.", code="invalid_form") from None
    if not allow_nul and any("\x00" in key or "\x00" in value for key, value in fields):
        raise BadRequest("The form holds a NUL character.", code="invalid_form")
    return MultiDictProxy(MultiDict(fields))
