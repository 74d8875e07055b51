"""The suite's agent and API token, seeded into the template database, and login helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg

from triage_hub.accounts import digest, hash_password

TEST_AGENT = "tess"
TEST_PASSWORD = "correct horse battery staple"
TEST_TOKEN = "th_the-test-suites-own-token-never-used-elsewhere"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


async def seed_accounts(
    url: str, agent: str = TEST_AGENT, password: str = TEST_PASSWORD, token: str = TEST_TOKEN
) -> None:
    """An agent and an API token in the database (the suite's unless told; again: no change)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO agents (name, password_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            agent,
            hash_password(password),
        )
        await conn.execute(
            "INSERT INTO api_tokens (name, token_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            agent,
            digest(token),
        )
    finally:
        await conn.close()


@asynccontextmanager
async def browser_like(base_url: str, **options: Any) -> AsyncIterator[aiohttp.ClientSession]:
    """A client with no credentials and its own cookie jar (cookies for 127.0.0.1 kept)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=base_url, cookie_jar=jar, **options) as session:
        yield session


async def log_in(
    session: aiohttp.ClientSession,
    name: str = TEST_AGENT,
    password: str = TEST_PASSWORD,
    next_path: str = "/dashboard",
) -> aiohttp.ClientResponse:
    """POST the login form the way the page does (same origin); the response, unfollowed."""
    origin = str(session._base_url).rstrip("/") if session._base_url else ""
    return await session.post(
        "/login",
        data={"name": name, "password": password, "next": next_path},
        headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
    )
