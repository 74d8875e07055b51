"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from triage_hub.db.tickets import count_backlog
from triage_hub.errors import DatabaseUnavailable
from triage_hub.keys import BREAKER, CLAIMERS, DATABASE, LLM_POOL, METRICS
from triage_hub.routing import Access, Endpoint


async def metrics(request: web.Request) -> web.Response:
    """This process's counters, plus the shared backlog when the database answers."""
    app = request.app
    registry = app[METRICS]
    registry.claims_in_flight.set(len(app[CLAIMERS].in_flight))
    registry.llm_paused.set(1 if app[BREAKER].is_open else 0)
    app[LLM_POOL].publish()
    try:
        for status, count in (await count_backlog(app[DATABASE])).items():
            registry.tickets.labels(status).set(count)
    except DatabaseUnavailable:
        pass  # still expose the process's own counters during an outage
    return web.Response(body=registry.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


ENDPOINTS = [
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        Access.AGENT,
        {
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "text format"}},
        },
    ),
]
