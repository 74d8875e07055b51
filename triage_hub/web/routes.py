"""Every route of the application, in one place."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from triage_hub.web import events, health, metrics, openapi, pages, preview, tickets

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def setup_routes(app: web.Application) -> None:
    """Register the API."""
    app.router.add_post("/tickets", tickets.create_ticket)
    app.router.add_get("/tickets", tickets.list_tickets)
    app.router.add_get("/tickets/{id}", tickets.get_ticket)
    app.router.add_put("/tickets/{id}/resolve", tickets.resolve_ticket)
    app.router.add_post("/tickets/{id}/retry", tickets.retry_ticket)
    app.router.add_post("/preview", preview.preview)
    app.router.add_get("/events", events.events)
    app.router.add_get("/health", health.health)
    app.router.add_get("/metrics", metrics.metrics)
    app.router.add_get("/openapi.json", openapi.openapi)
    app.router.add_static("/static", STATIC_DIR, name="static", append_version=True)
    pages.setup_page_routes(app)
