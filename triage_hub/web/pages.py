"""HTML pages: the intake form and the agent dashboard (rendered by aiohttp-jinja2)."""

from __future__ import annotations

from aiohttp import web


def setup_page_routes(app: web.Application) -> None:
    """Register the HTML pages."""
