"""One error middleware: every error leaves as a JSON object with `error` and `message`."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from triage_hub.errors import DatabaseUnavailable, TriageHubError
from triage_hub.web.responses import json_response

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


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors, aiohttp's HTTP errors and anything unexpected into JSON errors."""
    try:
        return await handler(request)
    except TriageHubError as error:
        headers = {}
        if isinstance(error, DatabaseUnavailable):
            headers["Retry-After"] = str(error.retry_after)
        return json_response(
            error_body(error.code, error.message, **error.details), error.status, headers
        )
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = HTTP_ERROR_CODES.get(error.status, "http_error")
        message = error.reason
        if error.status == 413:
            message = "The request body is too large."
        headers = {k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After")}
        return json_response(error_body(code, message), error.status, headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(error_body("internal_error", "Internal server error."), 500)
