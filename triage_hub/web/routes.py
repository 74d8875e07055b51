"""Every route of the application, from the registry: each module declares its endpoints
(handler, access rule, documentation) and this puts them in the router, once."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from triage_hub.keys import ACCESS_RULES, ENDPOINTS
from triage_hub.routing import Access, AccessRules, register
from triage_hub.web import (
    desk,
    events,
    health,
    login,
    metrics,
    openapi,
    pages,
    preview,
    stats,
    tickets,
)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def setup_routes(app: web.Application) -> None:
    """Register the API, the pages and who may call each."""
    app[ACCESS_RULES] = rules = AccessRules()
    declared = [
        *tickets.ENDPOINTS,
        *desk.ENDPOINTS,
        *preview.ENDPOINTS,
        *events.ENDPOINTS,
        *health.ENDPOINTS,
        *metrics.ENDPOINTS,
        *pages.ENDPOINTS,
        *stats.ENDPOINTS,
        *login.ENDPOINTS,
        openapi.OPENAPI,
    ]
    app[ENDPOINTS] = register(app.router, rules, declared)
    # Files, not an API: outside the document, public.
    static = app.router.add_static("/static", STATIC_DIR, name="static", append_version=True)
    rules.set(static, Access.PUBLIC)
