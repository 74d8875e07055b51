"""Every object shared through the aiohttp application, each under a typed key."""

from __future__ import annotations

from aiohttp import web

from triage_hub.db.pool import Database
from triage_hub.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE_URL = web.AppKey("database_url", str)
DATABASE = web.AppKey("database", Database)
