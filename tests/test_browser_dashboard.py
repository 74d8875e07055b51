"""The dashboard in a real browser: live updates across replicas, safe rendering, catch-up after
the event stream drops, the keyboard. Every page runs under a strict CSP (see tests/browser.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import asyncpg
from playwright.async_api import Page, expect

from tests.auth import AUTH
from tests.browser import (
    Server,
    base_url,
    insert_ticket,
    launch_browser,
    new_context,
    open_page,
    row,
    serve,
    set_triage,
    wait_live,
)
from tests.conftest import engine_settings, make_settings
from tests.factories import DRAFT, insert_tickets
from tests.fake_ollama import Behaviour, FakeOllama
from tests.waiting import fetch_ticket, wait_for_statuses
from triage_hub.app import create_app
from triage_hub.keys import EVENT_HUB


async def serve_engine(aiohttp_server: Server, database_url: str, fake: FakeOllama) -> str:
    """The app with 4 claimers talking to the fake Ollama."""
    server = await aiohttp_server(create_app(engine_settings(database_url, fake), database_url))
    return base_url(server)


# Every version of the streaming draft shown, recorded as it changes (too quick to poll for).
RECORD_STREAMING_DRAFT = """
    window.draftsSeen = [];
    const target = document.querySelector('#streaming-draft');
    new MutationObserver(() => window.draftsSeen.push(target.innerHTML))
        .observe(target, {childList: true, characterData: true, subtree: true});
"""


async def confirmed_ticket(page: Page) -> str:
    """The ticket id the intake form's confirmation shows, once it shows one."""
    shown = page.locator(".confirmation .ticket-id")
    await expect(shown).to_have_text(re.compile(r"^[0-9a-f-]{36}$"))
    return await shown.inner_text()


async def focused_ticket(page: Page) -> str | None:
    """The ticket id of the focused row, if a row has the focus."""
    value = await page.evaluate("document.activeElement && document.activeElement.dataset.ticketId")
    return value if isinstance(value, str) else None


async def test_a_ticket_is_submitted_triaged_live_and_resolved(
    database_url: str, fake_ollama: FakeOllama, aiohttp_server: Server
) -> None:
    # Slow enough to watch: 0.6 s of silence, then the answer streams for about 2.5 seconds.
    fake_ollama.behaviour = replace(Behaviour.delayed(0.6), chunks=16, chunk_delay=0.15)
    # The browser talks to an API-only replica; another replica, started later, does the triage:
    # every change reaches the page through PostgreSQL's NOTIFY.
    front = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        dash, dash_watch = await open_page(context, f"{front}/dashboard")
        await wait_live(dash)
        await dash.evaluate("window.stillTheSamePage = true")

        intake, intake_watch = await open_page(context, f"{front}/submit")
        await intake.fill("#message", "I was charged twice for my subscription this month!")
        await expect(intake.locator("#message-count")).to_have_text("51 / 5000 characters")
        await intake.get_by_role("button", name="Send message").click()
        ticket_id = await confirmed_ticket(intake)
        await intake.get_by_role("link", name="Follow its status").click()
        await expect(intake.locator("#ticket-status")).to_have_text(
            "Received — waiting in the queue"
        )

        ticket_row = row(dash, ticket_id)
        await expect(ticket_row.locator(".status-badge")).to_have_text("New")
        await expect(ticket_row).to_contain_text("Untriaged")
        await ticket_row.click()
        dialog = dash.locator("dialog.detail")
        await expect(dialog).to_be_visible()
        await expect(dialog.locator(".waiting")).to_be_visible()

        await dash.evaluate(RECORD_STREAMING_DRAFT)
        await serve_engine(aiohttp_server, database_url, fake_ollama)
        await expect(ticket_row.locator(".status-badge")).to_have_text("AI drafting")
        await expect(dash.locator(".ticket-row.is-processing")).to_have_count(1)

        await expect(dialog.locator(".detail-head .status-badge")).to_have_text(
            "Needs reply", timeout=15_000
        )
        await expect(ticket_row.locator(".status-badge")).to_have_text("Needs reply")
        await expect(ticket_row).to_contain_text("Billing")
        await expect(ticket_row).to_contain_text("Medium")
        await expect(ticket_row).to_contain_text("5/10 neutral")
        await expect(dash.locator(".ticket-row.is-processing")).to_have_count(0)
        await expect(dialog).to_contain_text("mistral:7b")
        draft = dash.locator("#draft")
        await expect(draft).to_have_value(re.compile("Thank you for reaching out"))
        # While the model wrote, the dialog showed the draft growing, part by part, rendered
        # (by /preview) as the customer will read it: never the raw `**` of the markdown.
        shown = [html for html in await dash.evaluate("window.draftsSeen") if html]
        rendered = [html for html in shown if html.startswith("<p>Hello,</p>")]
        assert rendered, shown
        assert not any("**" in html for html in shown), shown
        assert any("shortly" not in html for html in rendered), rendered  # a part, not the end
        await expect(dash.locator("#draft-preview strong")).to_have_text("billing")

        reply = "We have **refunded** the [second charge](https://example.com/refunds)."
        await draft.fill(reply)
        preview = dash.locator("#draft-preview")
        await expect(preview.locator("strong")).to_have_text("refunded")
        await expect(preview.locator("a")).to_have_attribute("rel", "noopener noreferrer")
        await dash.get_by_role("button", name="Resolve").click()
        await expect(dialog).to_be_hidden()
        await expect(ticket_row).to_have_count(0)  # it left the list of open tickets
        await expect(dash.locator(".empty")).to_have_text("No open tickets. All caught up.")

        stored = await fetch_ticket(database_url, ticket_id)
        assert (stored["status"], stored["ai_draft"]) == ("RESOLVED", reply)
        assert await dash.evaluate("window.stillTheSamePage") is True  # never reloaded
        # The customer's status page followed along by itself.
        await expect(intake.locator("#ticket-status")).to_have_text("Answered", timeout=8_000)
        await dash_watch.assert_clean()
        await intake_watch.assert_clean()


PAYLOADS = [
    "<script>alert(1)</script>",
    "[click me](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "![tracker](http://evil.example/x.png)",
    '<a href="javascript:alert(1)" x-on:click="alert(1)">raw link</a>',
    'x-on:click="alert(1)"',
    "{{ 7*7 }}",
    "'); alert(1); ('",
]
MESSAGE = "Hi <script>alert(1)</script> team, please look:\n" + "\n".join(PAYLOADS)
REPLY_DRAFT = "Hello " + "\n\n".join(PAYLOADS) + "\n\n[safe help](https://example.com/help)"


async def test_payloads_in_tickets_and_drafts_never_execute(
    database_url: str, fake_ollama: FakeOllama, aiohttp_server: Server
) -> None:
    triage = {"category": "Technical", "sentiment": 3, "urgency": "High", "draft": REPLY_DRAFT}
    fake_ollama.behaviour = Behaviour.reply(json.dumps(triage))
    base = await serve_engine(aiohttp_server, database_url, fake_ollama)
    async with launch_browser() as browser:
        context = await new_context(browser)
        intake, intake_watch = await open_page(context, f"{base}/submit")
        await intake.fill("#message", MESSAGE)
        await intake.get_by_role("button", name="Send message").click()
        ticket_id = await confirmed_ticket(intake)
        await wait_for_statuses(database_url, {"COMPLETED"}, 1)

        page, watch = await open_page(context, f"{base}/dashboard")
        ticket_row = row(page, ticket_id)
        # The subject is the first sentence without its greeting, as text.
        await expect(ticket_row.locator(".subject")).to_have_text("Please look:")
        await ticket_row.click()
        message = page.locator("dialog .message")
        await expect(message).to_have_text(MESSAGE)  # every payload shown as text
        await expect(page.locator("#draft")).to_have_value(REPLY_DRAFT)
        preview = page.locator("#draft-preview")
        await expect(preview.locator("a", has_text="safe help")).to_have_attribute(
            "href", "https://example.com/help"
        )
        # The payloads survive only as text: no element, attribute or URL carries them.
        html = await preview.inner_html()
        for forbidden in ("<script", "<img src", '<a href="javascript'):
            assert forbidden not in html, (forbidden, html)
        await expect(preview.locator("script, iframe, [src]")).to_have_count(0)
        await expect(preview.locator("img")).to_have_attribute("alt", "tracker")
        assert "{{ 7*7 }}" in await preview.inner_text()
        await expect(message.locator("*")).to_have_count(0)  # text only, no elements
        attributes = await page.evaluate(
            """[...document.querySelectorAll('#draft-preview *')]
                 .flatMap(el => [...el.attributes].map(a => a.name))"""
        )
        assert set(attributes) <= {"href", "rel", "alt", "title"}, attributes
        assert all(href.startswith("https://") for href in await preview_hrefs(page))

        # Poke at everything that could carry a handler, then look for any sign of execution.
        await message.click()
        await preview.locator("a", has_text="raw link").count()
        for text in ("raw link", "click me", "tracker"):
            target = preview.get_by_text(text, exact=False)
            if await target.count():
                await target.first.click(modifiers=["Alt"])
        await page.keyboard.press("Escape")
        await expect(page.locator("dialog.detail")).to_be_hidden()
        assert await page.evaluate("document.title") == "Dashboard · Triage Hub"
        await watch.assert_clean()
        await intake_watch.assert_clean()


async def preview_hrefs(page: Page) -> list[str]:
    """The href of every link in the preview."""
    hrefs = await page.evaluate(
        "[...document.querySelectorAll('#draft-preview a[href]')].map(a => a.href)"
    )
    return [str(href) for href in hrefs]


async def test_the_page_catches_up_after_the_event_stream_drops(
    database_url: str, aiohttp_server: Server
) -> None:
    done_a, done_b = await insert_tickets(database_url, 2, "COMPLETED")
    [failed] = await insert_tickets(database_url, 1, "FAILED")
    app = create_app(make_settings(database_url), database_url)
    base = base_url(await aiohttp_server(app))
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        watch.allow(r"ERR_FAILED")  # the refused reconnects of the stream, logged by Chromium
        await wait_live(page)
        await expect(page.locator("a.row-link")).to_have_count(3)
        await row(page, failed).click()
        dialog = page.locator("dialog.detail")
        await expect(dialog.locator(".last-error")).to_contain_text("less than or equal to 10")
        # The stream's opening scheduled a re-fetch of the list (at most 250 ms after the last
        # one): let it land now, or it would land during the outage and show the changes early.
        await page.wait_for_timeout(500)

        # The outage: the server ends the open stream, and reconnects are refused until later.
        # (Chromium's offline emulation does not cut an open EventSource, so it cannot do this.)
        await page.route("**/events", lambda route: route.abort())
        app[EVENT_HUB].close()
        await expect(page.locator(".live-state")).to_have_text(re.compile("Reconnecting"))

        api = context.request  # another agent's script, with its API token
        resolved = await api.put(
            f"{base}/tickets/{done_a}/resolve", data={"ai_draft": DRAFT}, headers=AUTH
        )
        assert resolved.status == 200
        assert (await api.post(f"{base}/tickets/{failed}/retry", headers=AUTH)).status == 200
        created = await api.post(f"{base}/tickets", data={"message": "Arrived during the outage"})
        new_id = (await created.json())["ticket_id"]
        await page.wait_for_timeout(500)
        await expect(row(page, done_a)).to_have_count(1)  # nothing arrives while it is down

        await page.unroute("**/events")  # the browser's next retry (2 s, from `retry:`) gets in
        await wait_live(page)
        await expect(row(page, done_a)).to_have_count(0)
        await expect(row(page, new_id).locator(".status-badge")).to_have_text("New")
        await expect(row(page, failed).locator(".status-badge")).to_have_text("New")
        await expect(row(page, done_b).locator(".status-badge")).to_have_text("Needs reply")
        await expect(dialog.locator(".detail-head .status-badge")).to_have_text("New")
        await expect(dialog.locator(".last-error")).to_be_hidden()
        await watch.assert_clean()


async def test_the_keyboard_moves_opens_closes_and_resolves_deliberately(
    database_url: str, aiohttp_server: Server
) -> None:
    oldest, middle, newest = await insert_tickets(database_url, 3, "COMPLETED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        await expect(page.locator("a.row-link")).to_have_count(3)
        keyboard = page.keyboard

        await keyboard.press("j")
        assert await focused_ticket(page) == newest
        await keyboard.press("j")
        assert await focused_ticket(page) == middle
        await keyboard.press("ArrowDown")
        assert await focused_ticket(page) == oldest
        await keyboard.press("ArrowDown")  # stays on the last row
        assert await focused_ticket(page) == oldest
        await keyboard.press("k")
        assert await focused_ticket(page) == middle
        await keyboard.press("ArrowUp")
        assert await focused_ticket(page) == newest

        dialog = page.locator("dialog.detail")
        await keyboard.press("Enter")
        await expect(dialog).to_be_visible()
        await expect(dialog.locator("#detail-title")).to_have_text(f"Ticket {newest[:8]}")
        assert "ticket=" + newest in page.url
        await keyboard.press("j")  # the list does not move behind the dialog
        await keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        assert await focused_ticket(page) == newest
        assert "ticket=" not in page.url

        # `r` goes to the reply (as in Gmail): no plain key resolves. A `j` or an `r` typed
        # there is just a letter; Ctrl+Enter resolves, once its undo window has passed, and the
        # next ticket has the focus, ready for Enter.
        await keyboard.press("j")
        assert await focused_ticket(page) == middle
        await keyboard.press("Enter")
        draft = page.locator("#draft")
        await expect(draft).to_have_value(DRAFT)
        await keyboard.press("r")
        await expect(draft).to_be_focused()
        await keyboard.press("End")
        await keyboard.type(" Kind regards, jr")
        await expect(dialog).to_be_visible()
        await keyboard.press("Control+Enter")
        await expect(dialog.get_by_role("button", name="Undo")).to_be_focused()
        await expect(dialog).to_be_hidden()
        await expect(row(page, middle)).to_have_count(0)
        await expect(row(page, oldest)).to_be_focused()
        assert (await fetch_ticket(database_url, middle))["ai_draft"] == DRAFT + " Kind regards, jr"

        # `z` undoes a resolve still waiting: nothing is sent, the reply is back in hand.
        await keyboard.press("Enter")
        await expect(draft).to_have_value(DRAFT)
        await keyboard.press("r")
        await keyboard.press("Control+Enter")
        await expect(dialog.get_by_role("button", name="Undo")).to_be_focused()
        await keyboard.press("z")
        await expect(dialog.locator(".toast")).to_have_text(re.compile("Not resolved"))
        await expect(draft).to_be_focused()
        await expect(dialog).to_be_visible()  # (test_browser_agent_desk.py waits out the window)
        await watch.assert_clean()


async def test_filter_order_and_pages(database_url: str, aiohttp_server: Server) -> None:
    pending = await insert_tickets(database_url, 21, "PENDING")
    [resolved] = await insert_tickets(database_url, 1, "RESOLVED")
    low = await insert_ticket(database_url, "Low urgency, oldest of the triaged", minutes_ago=90)
    high = await insert_ticket(database_url, "High urgency, newer than the low one", minutes_ago=5)
    await set_triage(database_url, low, status="COMPLETED", category="Billing", sentiment=9,
                     urgency="Low", draft=DRAFT)  # fmt: skip
    await set_triage(database_url, high, status="FAILED", category="Technical", sentiment=1,
                     urgency="High", error="model said nonsense")  # fmt: skip
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        rows = page.locator("a.row-link")
        await expect(rows).to_have_count(20)
        await expect(page.locator(".page-text")).to_have_text("Page 1 of 2 · 23 tickets")
        await expect(row(page, resolved)).to_have_count(0)

        await page.get_by_role("button", name="Next →").click()
        await expect(page.locator(".page-text")).to_have_text("Page 2 of 2 · 23 tickets")
        await expect(rows).to_have_count(3)
        assert "page=2" in page.url

        await page.get_by_text("Most urgent first").click()
        await expect(page.locator(".page-text")).to_have_text("Page 1 of 2 · 23 tickets")
        await expect(rows.nth(0)).to_have_attribute("data-ticket-id", high)
        await expect(rows.nth(1)).to_have_attribute("data-ticket-id", low)
        await expect(rows.nth(0)).to_contain_text("1/10 angry")
        await expect(rows.nth(1)).to_contain_text("9/10 happy")
        await expect(rows.nth(2)).to_contain_text("Untriaged")
        assert "sort=urgent" in page.url

        await page.select_option("#status-filter", "RESOLVED")
        await expect(rows).to_have_count(1)
        await expect(rows.nth(0)).to_have_attribute("data-ticket-id", resolved)
        await page.select_option("#status-filter", "all")
        await expect(page.locator(".page-text")).to_have_text("Page 1 of 2 · 24 tickets")

        # The view survives a reload: it lives in the address.
        await page.reload()
        await expect(page.locator("#status-filter")).to_have_value("all")
        await expect(page.locator("#sort-urgent")).to_be_checked()
        assert len(pending) == 21
        await watch.assert_clean()


async def test_retry_triage_from_the_detail_view(
    database_url: str, fake_ollama: FakeOllama, aiohttp_server: Server
) -> None:
    [failed] = await insert_tickets(database_url, 1, "FAILED")
    base = await serve_engine(aiohttp_server, database_url, fake_ollama)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?ticket={failed}")
        dialog = page.locator("dialog.detail")
        await expect(dialog).to_be_visible()
        await expect(dialog.locator(".last-error")).to_be_visible()
        await page.get_by_role("button", name="Retry triage").click()
        await expect(dialog.locator(".detail-head .status-badge")).to_have_text("Needs reply")
        await expect(page.locator("#draft")).to_have_value(re.compile("Thank you"))
        await expect(dialog.locator(".last-error")).to_be_hidden()
        await expect(page.get_by_role("button", name="Retry triage")).to_be_hidden()
        await expect(row(page, failed).locator(".status-badge")).to_have_text("Needs reply")
        conn = await asyncpg.connect(database_url)
        try:
            attempts = await conn.fetchval("SELECT attempts FROM tickets WHERE id = $1", failed)
        finally:
            await conn.close()
        assert attempts == 1
        await watch.assert_clean()
