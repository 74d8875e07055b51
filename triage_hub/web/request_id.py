"""A request id for every request: the client's `X-Request-ID` when it is a sane token, else one
made here; echoed in the response's `X-Request-ID` (errors, files and event streams included)
and carried by every log line the request causes."""

from __future__ import annotations

import logging
import re
import secrets

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler
from aiohttp.web_request import BaseRequest

from triage_hub import logs
from triage_hub.keys import REQUEST_ID

HEADER = "X-Request-ID"
# What a proxy or a client may choose: a UUID, a hex string, `abc.123-x_y`; nothing that could
# break a log line or a header (spaces, quotes, CR/LF), nothing longer than 64 characters.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
ACCESS_LOGGER = "triage_hub.access"


def sane_request_id(value: str | None) -> str | None:
    """`value` when it is a sane token, else None."""
    if value is None or _SANE.fullmatch(value) is None:
        return None
    return value


def new_request_id() -> str:
    """A fresh id: 16 hex digits."""
    return secrets.token_hex(8)


def assign_request_id(request: BaseRequest) -> str:
    """The request's id (kept from the client when sane), also set for the log lines."""
    request_id = sane_request_id(request.headers.get(HEADER)) or new_request_id()
    request[REQUEST_ID] = request_id
    logs.REQUEST_ID.set(request_id)  # the request's own task: gone with it
    return request_id


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: every answer, the other middlewares' errors included, has
    its request id."""
    assign_request_id(request)
    return await handler(request)


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: echo the request's id."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[HEADER] = request_id


class AccessLog(AbstractAccessLogger):
    """One DEBUG line per request on `triage_hub.access` (TRIAGE_LOG_LEVEL=DEBUG: it costs
    intake throughput): `GET /tickets 201 1.2 ms` with the request id; the path without its
    query (a setup link's token, the words searched for)."""

    __slots__ = ()

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logging.getLogger(ACCESS_LOGGER), log_format)

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s %d %.1f ms",
            request.method,
            request.rel_url.raw_path,
            response.status,
            time * 1000,
            extra={"request_id": request.get(REQUEST_ID)},
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)
