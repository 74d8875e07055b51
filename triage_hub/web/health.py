"""GET /health: is this process usable?"""

from __future__ import annotations

from aiohttp import web

from triage_hub import __version__
from triage_hub.keys import DATABASE
from triage_hub.web.responses import json_response


async def health(request: web.Request) -> web.Response:
    """200 when the database answers, 503 (with Retry-After) when it does not."""
    database_ok = await request.app[DATABASE].ping()
    body = {
        "status": "ok" if database_ok else "unavailable",
        "version": __version__,
        "database": "ok" if database_ok else "unreachable",
    }
    if database_ok:
        return json_response(body)
    return json_response(body, status=503, headers={"Retry-After": "2"})
