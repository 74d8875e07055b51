"""Every route of the application, in one place, each with its access rule."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from triage_hub.web import events, health, metrics, openapi, pages, preview, tickets
from triage_hub.web.access import Access
from triage_hub.web.auth import setup_auth
from triage_hub.web.login import setup_login_routes

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def setup_routes(app: web.Application) -> None:
    """Register the API, the pages and who may call each."""
    rules = setup_auth(app)
    router = app.router
    rules.set(
        [
            router.add_post("/tickets", tickets.create_ticket),
            router.add_get("/health", health.health),
            router.add_get("/openapi.json", openapi.openapi),
            *router.add_static("/static", STATIC_DIR, name="static", append_version=True),
        ],
        Access.PUBLIC,
    )
    rules.set(
        [
            router.add_get("/tickets", tickets.list_tickets),
            router.add_get("/tickets/{id}", tickets.get_ticket),
            router.add_put("/tickets/{id}/resolve", tickets.resolve_ticket),
            router.add_post("/tickets/{id}/retry", tickets.retry_ticket),
            router.add_post("/preview", preview.preview),
            router.add_get("/events", events.events),
            router.add_get("/metrics", metrics.metrics),
        ],
        Access.AGENT,
    )
    pages.setup_page_routes(app, rules)
    setup_login_routes(app, rules)
