"""The intake form in a real browser: the live character rule, API errors inline, no-JS posting."""

from __future__ import annotations

import json
import re

import asyncpg
from playwright.async_api import Route, expect

from tests.browser import Server, launch_browser, new_context, open_page, serve


async def stored_messages(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT user_message FROM tickets ORDER BY created_at")
    finally:
        await conn.close()
    return [row["user_message"] for row in rows]


async def busy(route: Route) -> None:
    """What the API answers while PostgreSQL is down."""
    await route.fulfill(
        status=503,
        headers={"Retry-After": "2"},
        content_type="application/json",
        body=json.dumps(
            {"error": "database_unavailable", "message": "The database is unavailable."}
        ),
    )


async def test_the_rule_is_shown_as_you_type_and_errors_inline(
    database_url: str, aiohttp_server: Server
) -> None:
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/submit")
        # The 503 below is logged by Chromium as a failed resource load.
        watch.allow(r"status of 503")
        counter = page.locator("#message-count")
        send = page.get_by_role("button", name="Send message")
        errors = page.locator("#message-errors")
        await expect(counter).to_have_text("0 / 5000 characters · 10 more needed")

        await page.fill("#message", "   short   ")  # spaces around the text do not count
        await expect(counter).to_have_text("5 / 5000 characters · 5 more needed")
        await expect(counter).to_have_class(re.compile("is-under"))
        await send.click()
        await expect(errors).to_have_text("Please write at least 10 characters.")
        await expect(page.locator("#message")).to_have_attribute("aria-invalid", "true")

        await page.fill("#message", "x" * 5001)
        await expect(counter).to_have_text("5001 / 5000 characters · 1 too many")
        await expect(counter).to_have_class(re.compile("is-over"))

        emoji = "Five smiles count as five: 😀😀😀😀😀"
        await page.fill("#message", emoji)
        await expect(counter).to_have_text(f"{len(emoji)} / 5000 characters")
        await expect(counter).to_have_class(re.compile("is-ok"))

        await page.route("**/tickets", busy)
        await send.click()
        await expect(errors).to_contain_text("The database is unavailable.")
        await expect(errors).to_contain_text("Please try again in 2 seconds.")
        assert await stored_messages(database_url) == []

        await page.unroute("**/tickets")
        await send.click()
        confirmation = page.locator(".confirmation")
        await expect(confirmation).to_be_visible()
        await expect(page.locator(".confirmation h1")).to_be_focused()
        ticket_id = await confirmation.locator(".ticket-id").inner_text()
        link = page.get_by_role("link", name="Follow its status")
        await expect(link).to_have_attribute("href", f"/submit/{ticket_id}")
        assert await stored_messages(database_url) == [emoji]

        await page.get_by_role("button", name="Send another message").click()
        await expect(page.locator("#message")).to_have_value("")
        await expect(page.locator("#message")).to_be_focused()
        await expect(errors).to_have_text("")
        await watch.assert_clean()


async def test_the_form_works_without_javascript(database_url: str, aiohttp_server: Server) -> None:
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser, java_script_enabled=False)
        page, watch = await open_page(context, f"{base}/submit")
        watch.allow(r"status of 400")  # the re-rendered form's status
        await page.fill("#message", "   too short ")
        await page.get_by_role("button", name="Send message").click()
        await expect(page.locator("#message-errors")).to_contain_text(
            "Please write at least 10 characters."
        )
        await expect(page.locator("#message")).to_have_value("   too short ")
        assert await stored_messages(database_url) == []

        await page.fill("#message", "Nothing works without JavaScript?\nIt does.")
        await page.get_by_role("button", name="Send message").click()
        await expect(page).to_have_url(re.compile(r"/submit/[0-9a-f-]{36}$"))
        ticket_id = page.url.rsplit("/", 1)[1]
        await expect(page.locator("#ticket-status")).to_have_text("Received — waiting in the queue")
        await expect(page.locator(".ticket-id")).to_have_text(ticket_id)
        await page.get_by_role("link", name="Refresh status").click()
        await expect(page).to_have_url(f"{base}/submit/{ticket_id}")
        assert await stored_messages(database_url) == [
            "Nothing works without JavaScript?\nIt does."
        ]
        await watch.assert_clean()


async def test_the_answer_shows_in_the_readers_own_time_zone(
    database_url: str, aiohttp_server: Server
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        ticket_id = await conn.fetchval(
            """INSERT INTO tickets (user_message, status, ai_draft, created_at, resolved_at)
               VALUES ('Where is my refund, please?', 'RESOLVED', $1,
                       '2026-12-01 23:10:00+00', '2026-12-01 23:40:00+00')
               RETURNING id""",
            "Hello,\n\nthe refund is **on its way**.\n<script>alert(1)</script>",
        )
    finally:
        await conn.close()
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser, locale="en-US", timezone_id="Asia/Tokyo")
        page, watch = await open_page(context, f"{base}/submit/{ticket_id}")
        answer = page.locator(".answer")
        await expect(page.locator("h1")).to_have_text("We answered your message")
        await expect(answer.locator(".reply-body strong")).to_have_text("on its way")
        assert await answer.locator("script").count() == 0  # rendered by the sanitiser
        # 23:40 UTC is 08:40 the next morning in Tokyo; the page says so in Tokyo's time.
        await expect(answer.locator("time")).to_have_text("Dec 2, 2026, 8:40 AM")
        await expect(page.locator("dd time")).to_have_text("Dec 2, 2026, 8:10 AM")
        await watch.assert_clean()
        await context.close()
