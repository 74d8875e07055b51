"""Screenshots of the pages at desktop (1280 px) and phone (390 px) widths, for people to look at.

They land in test-artifacts/screenshots/ (git-ignored). The test also checks what a screenshot
cannot: nothing is wider than the screen, and every control has a name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.async_api import Page, Route, expect

from tests.auth import seed_accounts
from tests.browser import (
    DESKTOP,
    PHONE,
    Server,
    base_url,
    insert_ticket,
    launch_browser,
    new_context,
    open_page,
    screenshot,
    serve,
    set_triage,
)
from tests.conftest import engine_settings
from tests.fake_ollama import Behaviour, FakeOllama, unused_port_url
from tests.waiting import sql
from triage_hub.app import create_app

WIDE = {"width": 1920, "height": 1080}

REPLY = (
    "Hello Dana,\n\nWe are **sorry** about the double charge. The second payment has been "
    "refunded — see [our refund policy](https://example.com/refunds).\n\n"
    "- Refund: 3–5 working days\n- Reference: #4412\n\nBest regards,\nThe support team"
)
TICKETS: list[dict[str, Any]] = [
    {
        "message": "I was charged twice for my subscription this month! This is unacceptable, "
        "I want my money back today.\n\nOrder #4412, card ending 0042.",
        "minutes": 95,
        "triage": {
            "status": "COMPLETED",
            "category": "Billing",
            "sentiment": 2,
            "urgency": "High",
            "draft": REPLY,
        },
    },
    {
        "message": "The export button does nothing since the last update. Can you look?",
        "minutes": 40,
        "triage": {"status": "PROCESSING"},
    },
    {
        "message": "It would be lovely to have a dark mode. Love the app otherwise!",
        "minutes": 300,
        "triage": {
            "status": "COMPLETED",
            "category": "Feature Request",
            "sentiment": 9,
            "urgency": "Low",
            "draft": "Thank you for the suggestion! We have passed it on to the product team.",
        },
    },
    {
        "message": "Login shows a blank page on Safari 17 for our whole team since this morning.",
        "minutes": 12,
        "triage": {"status": "FAILED", "error": "sentiment: Input should be at most 10"},
    },
    {
        "message": "Why did the price go up? I need an invoice for March, please.",
        "minutes": 3000,
        "triage": {
            "status": "COMPLETED",
            "category": "Billing",
            "sentiment": 5,
            "urgency": "Medium",
            "draft": "Hello, the new prices were announced in January; your invoice is attached.",
        },
    },
    {"message": "Hello? Is anyone there? The app keeps logging me out.", "minutes": 0.2},
]


async def seed(database_url: str) -> str:
    """The tickets above; returns the id of the first (COMPLETED, with a markdown reply)."""
    ids = []
    for ticket in TICKETS:
        ticket_id = await insert_ticket(database_url, ticket["message"], ticket["minutes"])
        if "triage" in ticket:
            await set_triage(database_url, ticket_id, **ticket["triage"])
        ids.append(ticket_id)
    return ids[0]


async def fits_the_width(page: Page) -> None:
    """Nothing scrolls sideways."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], (width, viewport)


async def unnamed_controls(page: Page) -> list[str]:
    """Buttons, links and fields without an accessible name (by a cheap approximation)."""
    names = await page.evaluate(
        """[...document.querySelectorAll('button, a[href], textarea, select, input')]
             .filter(el => el.offsetParent !== null)
             .filter(el => !(el.getAttribute('aria-label') || el.labels?.length
                             || el.textContent.trim()))
             .map(el => el.outerHTML.slice(0, 80))"""
    )
    return [str(name) for name in names]


async def answer_503(route: Route) -> None:
    """/preview with every renderer busy."""
    await route.fulfill(
        status=503,
        content_type="application/json",
        body='{"error": "renderer_busy", "message": "The preview is busy."}',
    )


async def test_screenshots_of_the_pages(database_url: str, aiohttp_server: Server) -> None:
    first = await seed(database_url)
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        for label, viewport in (("1280", DESKTOP), ("390", PHONE)):
            # A ticket of this round's own, resolved at its end (the toast's screenshot).
            mine = await insert_ticket(database_url, f"Please resend my invoice ({label}).", 30)
            await set_triage(database_url, mine, status="COMPLETED", category="Billing",
                             sentiment=6, urgency="Low", draft="Here it is: attached.")  # fmt: skip
            context = await new_context(browser, viewport)
            page, watch = await open_page(context, f"{base}/login?next=/dashboard")
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"login-{label}")
            await watch.assert_clean()
            page, watch = await open_page(context, f"{base}/dashboard")  # logs in on the way
            watch.allow(r"status of 503")  # the refused previews below
            # (the second round also lists the ticket the first one submitted)
            await expect(page.locator("a.row-link").nth(len(TICKETS))).to_be_visible()
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"dashboard-list-{label}")

            await page.locator(f'a.row-link[data-ticket-id="{first}"]').click()
            await expect(page.locator("#draft-preview strong")).to_have_text("sorry")
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"dashboard-detail-{label}", full_page=False)
            # The preview cannot be updated: it says so.
            await page.route("**/preview", answer_503)
            await page.locator("#draft").press("End")
            await page.locator("#draft").type(" Thanks!")
            await expect(page.locator("#preview-stale")).to_be_visible()
            await page.locator("#preview-stale").scroll_into_view_if_needed()
            await screenshot(page, f"dashboard-detail-stale-{label}", full_page=False)
            await page.unroute("**/preview")
            await page.keyboard.press("Escape")

            await page.locator("a.row-link", has_text="Safari").click()
            await expect(page.locator("dialog .last-error")).to_be_visible()
            await screenshot(page, f"dashboard-detail-failed-{label}", full_page=False)
            await page.locator(".telemetry summary").click()
            await page.locator(".telemetry").evaluate("el => el.scrollIntoView({block: 'end'})")
            assert await unnamed_controls(page) == []
            await screenshot(page, f"dashboard-detail-telemetry-{label}", full_page=False)
            await page.locator(".telemetry summary").click()  # folded again for what follows
            await page.keyboard.press("Escape")

            await page.locator("a.row-link", has_text="export button").click()
            await expect(page.locator("#streaming-draft")).to_be_visible()
            await expect(page.locator("#resolve-reason")).to_have_text("Still being triaged")
            await screenshot(page, f"dashboard-detail-processing-{label}", full_page=False)
            await page.keyboard.press("Escape")

            await page.locator("a.row-link", has_text="Is anyone there").click()
            await expect(page.locator("dialog .waiting")).to_be_visible()
            await screenshot(page, f"dashboard-detail-pending-{label}", full_page=False)
            await page.keyboard.press("Escape")

            await page.locator(f'a.row-link[data-ticket-id="{mine}"]').click()
            await expect(page.locator("#draft")).to_have_value("Here it is: attached.")
            await page.get_by_role("button", name="Resolve").click()
            await expect(page.locator(".dashboard > .toasts .toast")).to_be_visible()
            await screenshot(page, f"dashboard-toast-{label}", full_page=False)
            await watch.assert_clean()

            page, watch = await open_page(context, f"{base}/submit")
            await page.fill("#message", "Help!")
            await page.get_by_role("button", name="Send message").click()
            await expect(page.locator("#message-errors")).not_to_be_empty()
            await fits_the_width(page)
            await screenshot(page, f"submit-{label}")
            await page.fill("#message", "The app logs me out every few minutes since Monday.")
            await page.get_by_role("button", name="Send message").click()
            await expect(page.locator(".confirmation")).to_be_visible()
            await screenshot(page, f"submit-confirmation-{label}")
            await page.get_by_role("link", name="Follow its status").click()
            await expect(page.locator("#ticket-status")).to_be_visible()
            await fits_the_width(page)
            await screenshot(page, f"status-{label}")
            # The customer's page of the ticket resolved above: the answer, in their time zone.
            await page.goto(f"{base}/submit/{mine}")
            await expect(page.locator(".answer .reply-body")).to_contain_text("Here it is")
            await fits_the_width(page)
            await screenshot(page, f"status-answered-{label}")
            await watch.assert_clean()
            await context.close()

        # A big screen gives the room to the subjects.
        context = await new_context(browser, WIDE)
        page, watch = await open_page(context, f"{base}/dashboard")
        await expect(page.locator("a.row-link").nth(len(TICKETS) - 1)).to_be_visible()
        await fits_the_width(page)
        subject = await page.locator(".list-head span").last.bounding_box()
        assert subject is not None and subject["width"] > 1000, subject  # 560 px at 1280
        await screenshot(page, "dashboard-list-1920")
        await page.locator(f'a.row-link[data-ticket-id="{first}"]').click()
        await expect(page.locator("#draft-preview strong")).to_have_text("sorry")
        await screenshot(page, "dashboard-detail-1920", full_page=False)
        await watch.assert_clean()


DANA_PASSWORD = "dana's password!"


async def test_screenshots_of_the_desk(
    database_url: str, fake_ollama: FakeOllama, aiohttp_server: Server
) -> None:
    """The desk's states (issue 10): corrected fields, who else is there, the saved reply, the
    undo window, a stale resolve, the search and its empty state, a FAILED ticket in words and
    a retry's attempt."""
    await seed_accounts(database_url, "dana", DANA_PASSWORD, "th_dana-s-token-for-screenshots")
    fake_ollama.behaviour = Behaviour.delayed(30)  # a retried triage runs while we look
    settings = engine_settings(
        database_url, fake_ollama, TRIAGE_LLM_TIMEOUT=60, TRIAGE_STALL_SECONDS=60
    )
    app = create_app(settings, database_url)
    base = base_url(await aiohttp_server(app))
    async with launch_browser() as browser:
        for label, viewport in (("1280", DESKTOP), ("390", PHONE)):
            first = await seed(database_url)
            failed = await insert_ticket(
                database_url, f"Exports are broken since Monday ({label})."
            )
            await set_triage(database_url, failed, status="FAILED",
                             error="category: Input should be 'Billing', 'Technical' or "
                             "'Feature Request'; urgency: Field required")  # fmt: skip
            context = await new_context(browser, viewport)
            page, watch = await open_page(context, f"{base}/dashboard")
            watch.allow(r"status of 412")
            dana_context = await new_context(browser)
            dana, dana_watch = await open_page(
                dana_context, f"{base}/dashboard?ticket={first}", "dana", DANA_PASSWORD
            )
            await dana.get_by_label("Urgency", exact=True).select_option("Medium")
            await expect(dana.locator("#note-urgency")).to_contain_text("changed by dana")

            await page.locator(f'a.row-link[data-ticket-id="{first}"]').click()
            await expect(page.locator("#presence")).to_have_text("dana is viewing")
            await expect(page.locator("#note-urgency")).to_contain_text("changed by dana")
            draft = page.locator("#draft")
            await draft.press("End")
            await draft.type(" Thanks for your patience!")
            await expect(page.locator("#save-state")).to_have_text(re.compile("^Saved "))
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"desk-detail-{label}", full_page=False)

            await page.get_by_role("button", name="Resolve").click()
            await expect(page.locator("dialog .toast-undo")).to_be_visible()
            await screenshot(page, f"desk-undo-{label}", full_page=False)
            await dana.get_by_label("Category").select_option("Technical")
            await expect(page.locator("#stale-notice")).to_be_visible()
            await page.locator("#stale-notice").scroll_into_view_if_needed()
            await screenshot(page, f"desk-stale-{label}", full_page=False)
            await page.get_by_role("button", name="Load the latest values").click()
            await expect(page.locator("#stale-notice")).to_be_hidden()
            await page.get_by_role("button", name="Resolve").click()
            await page.keyboard.press("Escape")  # it goes on: the toast is the page's now
            await expect(page.locator(".dashboard > .toasts .toast-undo")).to_be_visible()
            await screenshot(page, f"desk-undo-page-{label}", full_page=False)
            await page.keyboard.press("z")
            await expect(page.locator(".dashboard > .toasts .toast-undo")).to_be_hidden()
            await dana_watch.assert_clean()
            await dana_context.close()

            search = page.get_by_role("searchbox", name="Search tickets")
            await search.fill("charged twice")
            await search.press("Enter")
            # (one per round: the second also finds the first's)
            await expect(page.locator("a.row-link")).to_have_count(1 if label == "1280" else 2)
            await fits_the_width(page)
            await screenshot(page, f"desk-search-{label}")
            await search.fill("zebra crossing")
            await search.press("Enter")
            await expect(page.locator(".empty")).to_be_visible()
            assert await unnamed_controls(page) == []
            await screenshot(page, f"desk-search-empty-{label}")
            await page.get_by_role("button", name="Clear the search").click()

            await page.locator(f'a.row-link[data-ticket-id="{failed}"]').click()
            await page.get_by_text("What the system recorded").click()
            await expect(page.locator(".raw-error pre")).to_be_visible()
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"desk-failed-{label}", full_page=False)
            await page.get_by_role("button", name="Retry triage").click()
            await expect(page.locator(".retry-status")).to_have_text(
                re.compile("attempt 1 of 3 running"), timeout=15_000
            )
            await screenshot(page, f"desk-retrying-{label}", full_page=False)
            await page.keyboard.press("Escape")
            await watch.assert_clean()
            await context.close()


async def seed_triage_and_deliveries(database_url: str, label: str) -> dict[str, str]:
    """Built-in triages of each confidence with their contacts, and resolved tickets whose
    replies were sent, are retrying, were not delivered, or lost the race to Dana's."""
    ids: dict[str, str] = {}
    rows = (
        ("sure", "I was charged twice for March, please refund one of them.", "Billing", "High",
         {"category": 0.97, "urgency": 0.92, "sentiment": 0.9}, "Ada Lovelace", "ada@example.com"),
        ("unsure", "hey so the thing with the export is weird again?? also pricing", "Technical",
         "Low", {"category": 0.41, "urgency": 0.66, "sentiment": 0.35}, None, "bo@example.org"),
        ("middling", "Could you add SSO for our whole team? We are 40 people.", "Feature Request",
         "Medium", {"category": 0.78, "urgency": 0.61, "sentiment": 0.93}, "Chen Wei", None),
    )  # fmt: skip
    for key, message, category, urgency, confidence, name, email in rows:
        ticket_id = await insert_ticket(database_url, f"{message} ({label})", 20)
        await set_triage(database_url, ticket_id, status="COMPLETED", category=category,
                         sentiment=4, urgency=urgency, draft=REPLY)  # fmt: skip
        await sql(database_url, "UPDATE tickets SET engine = 'builtin', model = 'builtin-v1', "
                  "confidence = $2::jsonb, name = $3, email = $4 WHERE id = $1",
                  ticket_id, json.dumps(confidence), name, email)  # fmt: skip
        ids[key] = ticket_id
    for key in ("delivered", "unsent"):
        ticket_id = await insert_ticket(database_url, f"Where is my refund? ({label}, {key})", 90)
        await set_triage(database_url, ticket_id, status="RESOLVED", category="Billing",
                         sentiment=3, urgency="High", draft=REPLY)  # fmt: skip
        await sql(database_url, "UPDATE tickets SET name = 'Ada Lovelace', email = "
                  "'ada@example.com', resolved_by = 'dana' WHERE id = $1", ticket_id)  # fmt: skip
        ids[key] = ticket_id
    await sql(
        database_url,
        """INSERT INTO deliveries (ticket_id, kind, event, payload, status, attempts, last_error,
                                   sent_at)
           VALUES ($1, 'email', 'ticket.resolved', '{}', 'SENT', 1, NULL, now()),
                  ($1, 'webhook', 'ticket.resolved', '{}', 'PENDING', 2,
                   'https://hooks.example.com answered 503', NULL),
                  ($1, 'email', 'ticket.resolved', '{}', 'FAILED', 1,
                   'the mail server refused the address (550)', NULL)""",
        ids["delivered"],
    )
    return ids


async def test_screenshots_of_triage_quality_and_deliveries(
    database_url: str, aiohttp_server: Server
) -> None:
    """Issues 11 and 12: the banner while the LLM is unreachable, confidence badges and low
    confidence first, what triaged a ticket, Retry with the LLM, the reply's deliveries, and a
    reply that lost the race to another agent's."""
    base = await serve(aiohttp_server, database_url, OLLAMA_HOST=unused_port_url())
    async with launch_browser() as browser:
        for label, viewport in (("1280", DESKTOP), ("390", PHONE)):
            ids = await seed_triage_and_deliveries(database_url, label)
            context = await new_context(browser, viewport)
            page, watch = await open_page(context, f"{base}/dashboard?sort=confidence")
            await expect(page.locator("#engine-banner p")).to_be_visible(timeout=20_000)
            first_row = page.locator("a.row-link").first  # (the second round: the first's)
            await expect(first_row.locator(".row-confidence")).to_have_text("Low confidence")
            await expect(
                page.locator(f'a.row-link[data-ticket-id="{ids["unsure"]}"]')
            ).to_be_visible()
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"triage-list-{label}")

            await page.locator(f'a.row-link[data-ticket-id="{ids["unsure"]}"]').click()
            await expect(page.locator("#confidence-category")).to_have_text(
                "Low confidence — please check"
            )
            await expect(page.get_by_role("button", name="Retry with the LLM")).to_be_disabled()
            await expect(page.locator("#draft-preview strong")).to_have_text("sorry")
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"triage-detail-{label}", full_page=False)
            await page.locator(".detail-actions").scroll_into_view_if_needed()
            await screenshot(page, f"triage-detail-actions-{label}", full_page=False)
            await page.keyboard.press("Escape")

            await page.goto(f"{base}/dashboard?status=resolved&ticket={ids['delivered']}")
            await expect(page.locator("#deliveries li")).to_have_count(3)
            await page.locator("#deliveries").scroll_into_view_if_needed()
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"deliveries-{label}", full_page=False)

            # Tess's reply, kept in this browser, lost the race to Dana's resolve.
            key = f"triage-hub.reply.tess.{ids['unsent']}"
            copy = json.dumps({"body": "Hello Ada, I have refunded it myself. Tess",
                               "at": "2026-12-02T02:00:00+00:00"})  # fmt: skip
            await page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, copy])
            await page.goto(f"{base}/dashboard?status=resolved&ticket={ids['unsent']}")
            await expect(page.locator("#unsent-reply")).to_be_visible()
            await fits_the_width(page)
            assert await unnamed_controls(page) == []
            await screenshot(page, f"unsent-{label}", full_page=False)
            await watch.assert_clean()
            await context.close()
