"""The application factory: wiring only, no I/O until the app starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from triage_hub.db.pool import Database, open_pool
from triage_hub.db.schema import apply_schema
from triage_hub.keys import DATABASE, DATABASE_URL, SETTINGS
from triage_hub.settings import Settings
from triage_hub.web.middlewares import error_middleware
from triage_hub.web.responses import MAX_BODY_BYTES
from triage_hub.web.routes import setup_routes

log = logging.getLogger(__name__)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the pool (waiting for the database), apply the schema; close the pool at exit."""
    settings = app[SETTINGS]
    pool = await open_pool(app[DATABASE_URL], settings.db_pool_size, settings.db_connect_attempts)
    try:
        await apply_schema(app[DATABASE_URL])
        app[DATABASE] = Database(pool)
        yield
    finally:
        await pool.close()


def create_app(settings: Settings, database_url: str) -> web.Application:
    """Build the application for one process: API, and the background work in cleanup_ctx."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[DATABASE_URL] = database_url
    app.cleanup_ctx.append(database_ctx)
    setup_routes(app)
    return app
