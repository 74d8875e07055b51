"""GET /events: server-sent events for the dashboard."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from triage_hub.errors import DatabaseUnavailable
from triage_hub.keys import EVENT_HUB
from triage_hub.routing import Access, Endpoint
from triage_hub.web.auth import principal

PING_SECONDS = 15.0
RETRY_MS = 2000
# An open stream re-checks its session or token this often: logout, `agent disable` and
# `token revoke` end it within this time on every replica.
RECHECK_SECONDS = 15.0


async def events(request: web.Request) -> web.StreamResponse:
    """Stream `ticket`, `tickets`, `draft`, `presence` and `delivery` events until the client
    or the server goes away.

    Ids are per process; a client that reconnects (to this or another replica) re-fetches what
    it shows instead of replaying, so it misses nothing.
    """
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
    loop = asyncio.get_running_loop()
    checked = loop.time()
    async with request.app[EVENT_HUB].subscribe() as subscription:
        while True:
            event = await subscription.next(PING_SECONDS)
            if event is None:
                break
            if loop.time() - checked >= RECHECK_SECONDS:
                checked = loop.time()
                with contextlib.suppress(DatabaseUnavailable):  # an outage ends no stream
                    if await principal(request, fresh=True) is None:
                        break
            try:
                await response.write(event.encode())
            except ConnectionError:
                break
    return response


ENDPOINTS = [
    Endpoint(
        "GET",
        "/events",
        events,
        Access.AGENT,
        {
            "summary": "Server-sent events: `ticket`, `tickets`, `draft`, `presence`, `delivery`",
            "responses": {"200": {"description": "text/event-stream"}},
        },
    ),
]
