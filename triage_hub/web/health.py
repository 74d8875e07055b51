"""GET /health: is this process usable? Public in short, for agents in detail."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from triage_hub import __version__
from triage_hub.db.schema import schema_digest
from triage_hub.engines.base import LLMReport
from triage_hub.errors import DatabaseUnavailable
from triage_hub.keys import (
    BREAKER,
    CLAIMERS,
    DATABASE,
    DELIVERIES,
    LLM_STATUS,
    SETTINGS,
    SUPERVISOR,
)
from triage_hub.routing import Access, Endpoint
from triage_hub.web.auth import principal
from triage_hub.web.responses import json_response


async def _asked_by_agent(request: web.Request) -> bool:
    try:
        return await principal(request) is not None
    except DatabaseUnavailable:
        return False


async def _details(app: web.Application, llm: LLMReport) -> dict[str, Any]:
    """What agents see besides the public answer: versions, hosts, errors, the live tasks."""
    supervisor, breaker = app[SUPERVISOR], app[BREAKER]
    return {
        "version": __version__,
        "schema": schema_digest(),
        "llm": llm.model_dump(),
        # Each LLM host: ready or open (skipped, probed), its slots, calls in flight, calls,
        # errors, mean call time, tokens/s, and what its last probe found.
        "llm_hosts": await app[LLM_STATUS].hosts(),
        "claimers": {
            "configured": app[SETTINGS].claimers,
            "live": supervisor.live("claimer"),
            "in_flight": len(app[CLAIMERS].in_flight),
            "paused": breaker.is_open,
            "last_error": breaker.last_error,
        },
        "deliveries": sorted(app[DELIVERIES].senders),  # what the outbox sends: email, webhook
        "background": {
            kind: {
                "configured": supervisor.configured(kind),
                "live": supervisor.live(kind),
                "restarts": supervisor.restarts(kind),
            }
            for kind in supervisor.kinds()
        },
    }


async def health(request: web.Request) -> web.Response:
    """200 when the database answers, 503 (with Retry-After) when it does not.

    The LLM's state is reported but does not fail the check: tickets keep being accepted while
    it is down. Anyone sees the status, the database and whether the LLM answers; hosts, model,
    errors and the background tasks only an agent (they tell an attacker what runs inside).
    """
    app = request.app
    database_ok = await app[DATABASE].ping()
    llm = await app[LLM_STATUS].report()
    body: dict[str, Any] = {
        "status": "ok" if database_ok else "unavailable",
        "database": "ok" if database_ok else "unreachable",
        "llm": {"reachable": llm.reachable},
    }
    if database_ok and await _asked_by_agent(request):
        body.update(await _details(app, llm))
    if database_ok:
        return json_response(body)
    return json_response(
        body, status=503, headers={"Retry-After": str(DatabaseUnavailable.retry_after)}
    )


ENDPOINTS = [
    Endpoint(
        "GET",
        "/health",
        health,
        Access.PUBLIC,
        {
            "summary": "Is the process usable: status, database, LLM reachable (and, for agents, "
            "hosts, model, errors and the background tasks)",
            "responses": {
                "200": {"description": "usable"},
                "503": {"description": "database down"},
            },
        },
    ),
]
