"""The naive reference intake: aiohttp + asyncpg, default event loop and default pool settings.

It parses the JSON body, checks that `message` is a 10-5000 character string, inserts the row
and answers 201 JSON: the baseline that `bench/intake.py` compares `POST /tickets` against.
Run it as `python bench/reference_app.py --port P --dsn URL` (the database needs our schema).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

POOL = web.AppKey("pool", asyncpg.Pool)
INSERT_TICKET = "INSERT INTO tickets (user_message) VALUES ($1) RETURNING id, status, created_at"


def error(code: str, message: str, status: int = 400) -> web.Response:
    """A JSON error like the real app's."""
    return web.json_response({"error": code, "message": message}, status=status)


async def create_ticket(request: web.Request) -> web.Response:
    """POST /tickets: validate, insert, 201."""
    try:
        data = await request.json()
    except ValueError:
        return error("invalid_json", "The body is not valid JSON.")
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not 10 <= len(message) <= 5000:
        return error("validation_error", "`message` must be a string of 10-5000 characters.")
    row = await request.app[POOL].fetchrow(INSERT_TICKET, message)
    assert row is not None  # INSERT ... RETURNING always returns the row
    body = {
        "ticket_id": str(row["id"]),
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
        "message": "Ticket created and queued for processing",
    }
    return web.json_response(body, status=201, headers={"Location": f"/tickets/{row['id']}"})


async def health(request: web.Request) -> web.Response:
    """GET /health: 200 once the database answers (the bench waits for it)."""
    await request.app[POOL].fetchval("SELECT 1")
    return web.json_response({"status": "ok"})


def create_app(dsn: str) -> web.Application:
    """The whole app: one pool, two routes."""

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await asyncpg.create_pool(dsn)  # defaults: 10 connections
        yield
        await app[POOL].close()

    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/tickets", create_ticket)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    """Parse --port/--dsn and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--dsn", required=True, help="postgresql:// URL of a migrated database")
    args = parser.parse_args()
    web.run_app(create_app(args.dsn), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
