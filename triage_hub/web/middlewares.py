"""One error middleware: every error leaves as a JSON object with `error` and `message`, or as
an HTML page when a browser navigated to the URL."""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler

from triage_hub.errors import DatabaseUnavailable, TriageHubError, TryLater
from triage_hub.web.responses import json_response
from triage_hub.web.security import render_page

log = logging.getLogger(__name__)

# aiohttp's own HTTP errors (no route, wrong method, body too large) as stable codes.
HTTP_ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    """The JSON error object."""
    return {"error": code, "message": message, **details}


def wants_html(request: web.Request) -> bool:
    """A browser navigating (Accept starts with text/html), not fetch() or curl (*/*)."""
    return request.headers.get("Accept", "").lstrip().startswith("text/html")


def error_response(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str],
    details: dict[str, object] | None = None,
) -> web.Response:
    """The error as JSON, or as a page for a browser."""
    if wants_html(request):
        title = f"{status} {HTTPStatus(status).phrase}"
        context = {"title": title, "message": message}
        response = render_page(request, "error.html", context, status)
        response.headers.update(headers)
        return response
    return json_response(error_body(code, message, **(details or {})), status, headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors, aiohttp's HTTP errors and anything unexpected into error answers."""
    try:
        return await handler(request)
    except TriageHubError as error:
        headers = {}
        if isinstance(error, DatabaseUnavailable | TryLater):
            headers["Retry-After"] = str(error.retry_after)
        return error_response(
            request, error.status, error.code, error.message, headers, error.details
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = HTTP_ERROR_CODES.get(error.status, "http_error")
        message = error.reason
        if error.status == 413:
            message = "The request body is too large."
        headers = {k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After")}
        return error_response(request, error.status, code, message, headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(request, 500, "internal_error", "Internal server error.", {})
