"""The requests aiohttp answers itself, before the app sees them (a bad request line, header
bytes or chunked encoding): answered like every error of ours, as a short JSON error with the
security headers and one log line.

aiohttp offers no hook for these (aio-libs/aiohttp#3287, #6463): its connection handler
answers text/plain echoing the bad bytes, skips on_response_prepare and logs a traceback for
each. So the app's server makes connection handlers of our subclass instead.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.web_request import BaseRequest

from triage_hub.web.middlewares import HTTP_ERROR_CODES, error_body
from triage_hub.web.request_id import HEADER, assign_request_id
from triage_hub.web.responses import json_response
from triage_hub.web.security import FIXED_HEADERS, NO_SCRIPT_POLICY

log = logging.getLogger(__name__)

# After an early answer (413, 408) the rest of the body is read and dropped for this long, so
# the client reads the answer rather than a reset; then the connection closes. aiohttp's 10 s
# would let a client that sends a byte now and then hold the connection that much longer.
LINGER_SECONDS = 2.0
PROTOCOL_ERROR_HEADERS = {"Content-Security-Policy": NO_SCRIPT_POLICY, **FIXED_HEADERS}


def _reason(error: BaseException | None) -> str:
    """What aiohttp's parser said, without the client's bytes it quotes below the first line."""
    if isinstance(error, web.RequestPayloadError) and error.__cause__ is not None:
        error = error.__cause__  # the parser's own error, with its message
    text = str(getattr(error, "message", "") or type(error).__name__)
    return text.partition("\n")[0].strip()[:100]


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, with its own error answers made like ours."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request that could not be parsed (or whose handling failed outside the app's
        middlewares): one log line (a traceback only for our own faults) and a JSON error, with
        a request id of its own."""
        request_id = assign_request_id(request)
        if status >= 500:
            self.log_exception("error handling request from %s", request.remote, exc_info=exc)
            body = error_body("internal_error", "Internal server error.")
        else:
            log.info("refused a request from %s: not valid HTTP (%r)", request.remote, _reason(exc))
            code = HTTP_ERROR_CODES.get(status, "bad_request")
            body = error_body(code, "The request is not valid HTTP.")
        if request.writer.output_size > 0:  # as aiohttp: too late for another answer
            raise ConnectionError("an answer was partly sent already")
        response = json_response(body, status, {**PROTOCOL_ERROR_HEADERS, HEADER: request_id})
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's error log; a body it could not decode (bad gzip) is the client's fault."""
        error = kw.get("exc_info")
        if isinstance(error, web.RequestPayloadError):
            # After answering, aiohttp reads what is left of the body, meets the parser's error
            # again and logs it as unhandled; it then closes the connection, as it should.
            log.info("closed a connection whose request body is malformed (%r)", _reason(error))
            return
        super().log_exception(*args, **kw)


class JsonErrorServer(web.Server):
    """aiohttp's low-level server, making our connection handlers."""

    def __call__(self) -> web.RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


def answer_protocol_errors(app: web.Application) -> None:
    """Whatever runs the app (run_app, AppRunner, the test server), its server is ours."""
    make_handler = app._make_handler

    def make_server(**kwargs: Any) -> web.Server:
        server = make_handler(**kwargs)
        server.__class__ = JsonErrorServer  # the same object, only its protocol factory differs
        return server

    app._make_handler = make_server  # type: ignore[method-assign]
