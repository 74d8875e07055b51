"""Logging in and out in a real browser, under the server's own Content-Security-Policy."""

from __future__ import annotations

import re

from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from playwright.async_api import expect

from tests.auth import TEST_AGENT
from tests.browser import (
    Server,
    launch_browser,
    log_in,
    new_context,
    open_page,
    screenshot,
    serve,
    wait_live,
)
from tests.factories import insert_tickets
from tests.waiting import sql


async def test_log_in_work_and_log_out(database_url: str, aiohttp_server: Server) -> None:
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/login?next=/dashboard")
        watch.allow(r"status of 401")  # the failed login's page answers 401, as it should
        await log_in(page, password="not my password")
        await expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
        await expect(page.get_by_label("Name")).to_have_value(TEST_AGENT)
        await log_in(page)
        await page.wait_for_url(f"{base}/dashboard")
        await wait_live(page)
        await expect(page.locator(".agent-name")).to_have_text(TEST_AGENT)
        assert await watch.csp_violations() == []

        await page.get_by_role("button", name="Log out").click()
        await page.wait_for_url(f"{base}/login")
        await page.goto(f"{base}/dashboard")
        await page.wait_for_url(re.compile(r"/login\?next=/dashboard$"))
        await watch.assert_clean()


async def test_an_ended_session_sends_the_dashboard_back_to_login(
    database_url: str, aiohttp_server: Server
) -> None:
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?status=failed")
        await wait_live(page)
        await sql(database_url, "DELETE FROM agent_sessions")  # e.g. `agent disable` elsewhere
        watch.allow(r"401")  # the refused list request, as Chromium logs it
        try:  # a request of the agent's: the list, refused with 401
            await page.locator("#status-filter").select_option("all", timeout=3000)
        except PlaywrightTimeoutError:
            pass  # one of the page's own requests (the live stream's) met the 401 first
        await page.wait_for_url(re.compile(r"/login\?next=%2Fdashboard"))
        await log_in(page)
        await page.wait_for_url(re.compile(r"/dashboard"))
        await wait_live(page)
        await watch.assert_clean()


async def test_the_watch_sees_what_the_policy_blocks(
    database_url: str, aiohttp_server: Server
) -> None:
    # The zero-violation checks above are only worth something if a violation would be seen.
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/submit")
        watch.allow(r"Content Security Policy")
        await page.evaluate(
            """() => {
                const script = document.createElement('script');
                script.textContent = 'window.injected = true';
                document.head.appendChild(script);
                const style = document.createElement('div');
                style.setAttribute('style', 'color: red');
                document.body.appendChild(style);
            }"""
        )
        await page.wait_for_function("window.cspViolations.length >= 2")
        assert await page.evaluate("window.injected === undefined")
        violations = await watch.csp_violations()
        assert any(v.startswith("script-src") for v in violations), violations


async def test_the_dashboard_shows_the_backlog_and_when_intake_is_paused(
    database_url: str, aiohttp_server: Server
) -> None:
    base = await serve(aiohttp_server, database_url, TRIAGE_MAX_BACKLOG=5)
    await insert_tickets(database_url, 3)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        backlog = page.locator(".backlog")
        # Well below the cap: a quiet count, no alarm.
        await expect(backlog).to_have_text("3 waiting for triage")
        await expect(backlog).to_have_class(re.compile("backlog-quiet"))
        # At 80 % of the cap the agents are told that intake will pause; the page hears live.
        response = await context.request.post(
            f"{base}/tickets", data={"message": "The fourth one in, close to the cap."}
        )
        assert response.status == 201
        await expect(backlog).to_have_text("Intake pauses at 5: 4 waiting for triage")
        await expect(backlog).to_have_class(re.compile("backlog-near"))
        # A fifth ticket through the public intake fills the backlog.
        intake, _ = await open_page(context, f"{base}/submit")
        await intake.fill("#message", "The fifth one in, and the backlog is full now.")
        await intake.get_by_role("button", name="Send message").click()
        await expect(intake.locator(".confirmation")).to_be_visible()
        await expect(backlog).to_have_text("Intake paused: 5 waiting for triage (the cap is 5)")
        await expect(backlog).to_have_class(re.compile("backlog-full"))
        await screenshot(page, "dashboard-backlog-full", full_page=False)
        await watch.assert_clean()
