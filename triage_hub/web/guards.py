"""What every request must pass before any handler runs: a declared body that is not over the
limit."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from triage_hub.web.responses import MAX_BODY_BYTES


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a Content-Length over the limit (413, before a byte of the body is read)."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=length)
    return await handler(request)
