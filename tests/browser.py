"""Browser helpers: Debian's Chromium driven by Playwright's async API, pages under the server's
own Content-Security-Policy, agent pages reached by logging in through /login.

pytest-playwright's fixtures are sync and break every later pytest-asyncio test, so the tests
launch the browser themselves (0.6 s), one per test, inside their own event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    async_playwright,
    expect,
)

from tests.auth import TEST_AGENT, TEST_PASSWORD
from tests.conftest import make_settings
from triage_hub.app import create_app

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# Room for a busy CI machine; a passing expectation returns as soon as it holds.
expect.set_options(timeout=10_000)
# Every CSP violation, as the browser reports it to the page (and before any page script runs).
RECORD_CSP_VIOLATIONS = """
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(
        e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile));
"""


Server = Any  # pytest-aiohttp's aiohttp_server factory and the TestServer it returns


async def serve(aiohttp_server: Server, database_url: str, **settings: Any) -> str:
    """The whole app on a real port; returns its base URL (no trailing slash)."""
    app = create_app(make_settings(database_url, **settings), database_url)
    return base_url(await aiohttp_server(app))


def base_url(server: Server) -> str:
    """A TestServer's URL without the trailing slash."""
    return str(server.make_url("")).rstrip("/")


def chromium_or_skip() -> str:
    """The Chromium to drive; missing is a skip on a developer's machine, a failure in CI."""
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must run the browser tests")
    pytest.skip(message + " — skipped outside CI only")


@asynccontextmanager
async def launch_browser() -> AsyncIterator[Browser]:
    """A headless Chromium for one test."""
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Watch:
    """What a page said that a user would not want: JS dialogs, console errors, page errors,
    Content-Security-Policy violations."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Tolerate console errors matching `pattern` (e.g. the aborted event stream)."""
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        # Alpine reports a failing expression as a warning: that is a bug here too.
        alpine = message.type == "warning" and message.text.startswith("Alpine")
        if (message.type == "error" or alpine) and not any(
            pattern.search(message.text) for pattern in self.allowed
        ):
            self.errors.append(message.text)

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")

    async def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    async def csp_violations(self) -> list[str]:
        """The violations the browser reported on the page now shown."""
        found = await self.page.evaluate("window.cspViolations || null")
        assert isinstance(found, list), "the CSP recorder did not run on this page"
        return [str(item) for item in found]

    async def assert_clean(self) -> None:
        """No dialog opened, nothing was logged as an error, no CSP violation."""
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors
        assert await self.csp_violations() == []


async def new_context(
    browser: Browser, viewport: dict[str, int] | None = None, **options: Any
) -> BrowserContext:
    """A browser context that records the CSP violations of every page."""
    context = await browser.new_context(
        viewport=viewport or DESKTOP,  # type: ignore[arg-type]
        reduced_motion="reduce",
        **options,
    )
    context.set_default_timeout(10_000)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    return context


async def open_page(
    context: BrowserContext, url: str, name: str = TEST_AGENT, password: str = TEST_PASSWORD
) -> tuple[Page, Watch]:
    """A new page at `url`, watched for dialogs and errors from the first moment; an agent page
    that sends the browser to /login is reached by logging in (as the suite's agent unless told)."""
    page = await context.new_page()
    watch = Watch(page)
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    page.on("dialog", watch.on_dialog)
    await page.goto(url)
    if urlsplit(page.url).path == "/login" and urlsplit(url).path != "/login":
        await log_in(page, name, password)
        await page.wait_for_url(url)
    return page, watch


async def log_in(page: Page, name: str = TEST_AGENT, password: str = TEST_PASSWORD) -> None:
    """Fill in and send the login form the page shows."""
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def wait_live(page: Page) -> None:
    """Until the dashboard's event stream is open."""
    await page.locator(".live-state", has_text="Live").wait_for()


def row(page: Page, ticket_id: str) -> Any:
    """The dashboard row of a ticket."""
    return page.locator(f'a.row-link[data-ticket-id="{ticket_id}"]')


async def until(page: Page, expression: str, seconds: float = 10) -> Any:
    """Poll a JS expression until it is truthy; its value. (`page.wait_for_function` polls with
    code made from a string, which the page's CSP refuses.)"""
    deadline = time.monotonic() + seconds
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        assert time.monotonic() < deadline, f"still false after {seconds} s: {expression}"
        await asyncio.sleep(0.05)


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as test-artifacts/screenshots/NAME.png (the screen only for a dialog)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


async def set_triage(
    database_url: str,
    ticket_id: str,
    *,
    status: str,
    category: str | None = None,
    sentiment: int | None = None,
    urgency: str | None = None,
    draft: str | None = None,
    error: str | None = None,
) -> None:
    """Give a ticket a state and triage straight in the database, as the AI's own values too
    (the change trigger fires)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """UPDATE tickets SET status = $2, category = $3, sentiment = $4, urgency = $5,
                   ai_draft = $6, last_error = $7, attempts = GREATEST(attempts, 1),
                   ai_category = $3, ai_sentiment = $4, ai_urgency = $5,
                   model = CASE WHEN $3::text IS NULL THEN NULL ELSE 'mistral:7b' END,
                   first_token_ms = CASE WHEN $3::text IS NULL THEN NULL ELSE 412 END,
                   total_ms = CASE WHEN $3::text IS NULL THEN NULL ELSE 2380 END,
                   prompt_tokens = CASE WHEN $3::text IS NULL THEN NULL ELSE 312 END,
                   completion_tokens = CASE WHEN $3::text IS NULL THEN NULL ELSE 96 END,
                   claim_token = CASE WHEN $2 = 'PROCESSING' THEN gen_random_uuid() END,
                   lease_expires_at = CASE WHEN $2 = 'PROCESSING'
                                      THEN now() + interval '1 hour' END,
                   resolved_at = CASE WHEN $2 = 'RESOLVED' THEN now() END
               WHERE id = $1""",
            ticket_id,
            status,
            category,
            sentiment,
            urgency,
            draft,
            error,
        )
    finally:
        await conn.close()


async def insert_ticket(database_url: str, message: str, minutes_ago: float = 0) -> str:
    """Insert a PENDING ticket created `minutes_ago`; returns its id."""
    conn = await asyncpg.connect(database_url)
    try:
        value = await conn.fetchval(
            """INSERT INTO tickets (user_message, created_at)
               VALUES ($1, now() - make_interval(secs => $2)) RETURNING id""",
            message,
            minutes_ago * 60,
        )
    finally:
        await conn.close()
    return str(value)
