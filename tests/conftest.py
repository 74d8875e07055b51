"""Fixtures: a real PostgreSQL, a fresh database per test, and the app on a real HTTP server."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import pg
from tests.auth import AUTH, seed_accounts
from tests.fake_ollama import FakeOllama
from tests.mailbox import Mailbox, running_mailbox
from triage_hub.app import create_app
from triage_hub.settings import Settings

# The fake LLM servers, one per backend: the fixture `fake_ollama` and the both_backends marker.
pytest_plugins = ["tests.llm_fakes"]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """TEST_DATABASE_URL's server, or an embedded PostgreSQL for the session."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from triage_hub.db.embedded import start_embedded

    server = start_embedded(Path(tempfile.mkdtemp(prefix="th-embedded-")))
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def template_name(server_url: str) -> Iterator[str]:
    """A migrated template database with the suite's agent and token, one per test process."""
    name = f"th_template_{os.getpid()}"

    async def create() -> None:
        await seed_accounts(await pg.create_template(server_url, name))

    asyncio.run(create())
    yield name
    asyncio.run(pg.drop_database(server_url, name))


@pytest.fixture
async def database_url(server_url: str, template_name: str) -> AsyncIterator[str]:
    """A fresh, migrated database of the test's own."""
    name, url = await pg.create_database(server_url, template_name)
    yield url
    await pg.drop_database(server_url, name)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: claimers and the intake rate limit off unless asked for."""
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "TRIAGE_CLAIMERS": 0,
        "TRIAGE_DB_CONNECT_ATTEMPTS": 3,
        "TRIAGE_INTAKE_RATE_PER_MINUTE": 0,  # tests post many tickets from one address
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) in the test process; `.url` is its TRIAGE_SMTP_URL."""
    with running_mailbox() as box:
        yield box


@pytest.fixture
async def client(database_url: str, aiohttp_client: Any) -> TestClient[Any, Any]:
    """The whole app on a real HTTP server, with its own database; requests carry the suite's
    API token."""
    app = create_app(make_settings(database_url), database_url)
    test_client: TestClient[Any, Any] = await aiohttp_client(app, headers=AUTH)
    return test_client


def engine_settings(database_url: str, fake: FakeOllama, **overrides: Any) -> Settings:
    """Settings for tests of the triage engine: claimers on, every timing short."""
    values: dict[str, Any] = {
        "OLLAMA_HOST": fake.url,
        "TRIAGE_LLM_BACKEND": fake.backend,
        "TRIAGE_ENGINE": "llm",  # these tests are of the LLM path: no built-in fallback
        "TRIAGE_CLAIMERS": 4,
        "TRIAGE_LEASE_SECONDS": 2,
        "TRIAGE_POLL_SECONDS": 0.5,
        "TRIAGE_RETRY_BACKOFF_SECONDS": 0.05,
        "TRIAGE_STALL_SECONDS": 5,
        "TRIAGE_LLM_TIMEOUT": 10,
        "TRIAGE_SHUTDOWN_GRACE": 1,
    }
    values.update(overrides)
    return make_settings(database_url, **values)


StartApp = Callable[[Settings], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def start_app(database_url: str, aiohttp_client: Any) -> StartApp:
    """Start an app (a replica) on the test's database, its client carrying the suite's API
    token; all are stopped before the database is dropped."""

    async def start(settings: Settings) -> TestClient[Any, Any]:
        app = create_app(settings, database_url)
        test_client: TestClient[Any, Any] = await aiohttp_client(app, headers=AUTH)
        return test_client

    return start


@pytest.fixture
async def engine(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> TestClient[Any, Any]:
    """The whole app with 4 claimers talking to the fake Ollama."""
    return await start_app(engine_settings(database_url, fake_ollama))
