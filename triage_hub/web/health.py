"""GET /health: is this process usable?"""

from __future__ import annotations

from aiohttp import web

from triage_hub import __version__
from triage_hub.errors import DatabaseUnavailable
from triage_hub.keys import BREAKER, CLAIMERS, DATABASE, LLM_STATUS, SETTINGS
from triage_hub.web.responses import json_response


async def health(request: web.Request) -> web.Response:
    """200 when the database answers, 503 (with Retry-After) when it does not.

    The LLM's state is reported but does not fail the check: tickets keep being accepted while
    Ollama is down, and the claimers resume by themselves when it is back.
    """
    app = request.app
    database_ok = await app[DATABASE].ping()
    llm = await app[LLM_STATUS].report()
    body = {
        "status": "ok" if database_ok else "unavailable",
        "version": __version__,
        "database": "ok" if database_ok else "unreachable",
        "llm": llm.model_dump(),
        "claimers": {
            "configured": app[SETTINGS].claimers,
            "in_flight": len(app[CLAIMERS].in_flight),
            "paused": app[BREAKER].is_open,
            "last_error": app[BREAKER].last_error,
        },
    }
    if database_ok:
        return json_response(body)
    return json_response(
        body, status=503, headers={"Retry-After": str(DatabaseUnavailable.retry_after)}
    )
