"""The agent's desk in a real browser: words agents know, subjects, page sizes, a preview that says
when it is out of date, feedback (toasts, the tab title, notifications, why Resolve waits), and
a dashboard made for fingers on a phone."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.async_api import Page, Request, Route, expect

from tests.auth import AUTH
from tests.browser import (
    DESKTOP,
    PHONE,
    Server,
    base_url,
    insert_ticket,
    launch_browser,
    new_context,
    open_page,
    row,
    serve,
    set_triage,
    until,
    wait_live,
)
from tests.conftest import engine_settings
from tests.factories import DRAFT, insert_tickets
from tests.fake_ollama import Behaviour, FakeOllama
from tests.waiting import fetch_ticket
from triage_hub.app import create_app

MARKDOWN_TICKET = (
    "Hello team,\n\n## Steps to reproduce\n\n1. Open **Reports** and click `Export CSV`\n"
    "2. Wait for the [download](https://example.com/help)\n\n## Expected\n\nA file."
)


async def status_badges(page: Page) -> list[str]:
    """The status badges of the list, top to bottom."""
    return [text.strip() for text in await page.locator(".tickets .status-badge").all_inner_texts()]


async def test_statuses_are_labelled_for_agents(database_url: str, aiohttp_server: Server) -> None:
    [pending] = await insert_tickets(database_url, 1, "PENDING")
    [processing] = await insert_tickets(database_url, 1, "PROCESSING")
    [completed] = await insert_tickets(database_url, 1, "COMPLETED")
    [failed] = await insert_tickets(database_url, 1, "FAILED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?status=all")
        await wait_live(page)
        for ticket_id, label in (
            (pending, "New"),
            (processing, "AI drafting"),
            (completed, "Needs reply"),
            (failed, "Needs a human"),
        ):
            await expect(row(page, ticket_id).locator(".status-badge")).to_have_text(label)
        options = await page.locator("#status-filter option").all_inner_texts()
        assert options == [
            "Open (not resolved)",
            "New",
            "AI drafting",
            "Needs reply",
            "Needs a human",
            "Resolved",
            "All",
        ]
        # The filter still speaks the API's values.
        await page.select_option("#status-filter", label="Needs a human")
        await expect(page.locator("a.row-link")).to_have_count(1)
        assert "status=failed" in page.url

        # A change while the ticket is open is said in the same words, to screen readers too.
        await page.select_option("#status-filter", "all")
        await row(page, completed).click()
        dialog = page.locator("dialog.detail")
        await expect(dialog.locator(".detail-head .status-badge")).to_have_text("Needs reply")
        await set_triage(database_url, completed, status="FAILED", error="the model timed out")
        await expect(dialog.locator(".detail-head .status-badge")).to_have_text("Needs a human")
        spoken = dialog.locator("[aria-live]").first
        await expect(spoken).to_have_text("This ticket is now Needs a human")
        await watch.assert_clean()


async def test_the_list_shows_a_subject_and_the_requester_when_known(
    database_url: str, aiohttp_server: Server
) -> None:
    ticket_id = await insert_ticket(database_url, MARKDOWN_TICKET)
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        answer = await context.request.get(f"{base}/tickets", headers=AUTH)
        [api_row] = (await answer.json())["tickets"]
        assert api_row["subject"] == "Open Reports and click Export CSV"

        page, watch = await open_page(context, f"{base}/dashboard")
        subject = row(page, ticket_id).locator(".subject")
        await expect(subject).to_have_text("Open Reports and click Export CSV")
        await expect(row(page, ticket_id).locator(".requester")).to_be_hidden()

        # The API will name the requester (a later issue): the list shows it once it does.
        async def with_requester(route: Route) -> None:
            response = await route.fetch()
            body = await response.json()
            for ticket in body["tickets"]:
                ticket.update(name="Dana Scully", email="dana@example.com")
            await route.fulfill(response=response, json=body)

        await page.route(re.compile(r"/tickets\?"), with_requester)
        await page.reload()
        requester = row(page, ticket_id).locator(".requester")
        await expect(requester).to_have_text("From: Dana Scully")
        await expect(requester).to_have_attribute("title", "Dana Scully · dana@example.com")
        await watch.assert_clean()


async def test_page_size_is_chosen_kept_and_next_starts_at_the_top(
    database_url: str, aiohttp_server: Server
) -> None:
    await insert_tickets(database_url, 100)
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        rows = page.locator("a.row-link")
        await expect(rows).to_have_count(20)
        asked: list[str] = []

        def record(request: Request) -> None:
            if re.search(r"/tickets\?", request.url):
                asked.append(request.url)

        page.on("request", record)
        await page.select_option("#page-size", "50")
        await expect(rows).to_have_count(50)
        await expect(page.locator(".page-text")).to_have_text("Page 1 of 2 · 100 tickets")
        assert any("limit=50" in url for url in asked), asked
        assert "limit=50" in page.url

        await page.reload()
        await expect(page.locator("#page-size")).to_have_value("50")
        await expect(rows).to_have_count(50)

        # "Next →" sits below fifty rows; the next page (fifty more) is read from its top.
        await page.get_by_role("button", name="Next →").click()
        await expect(page.locator(".page-text")).to_have_text("Page 2 of 2 · 100 tickets")
        await expect(rows).to_have_count(50)
        top = await until(
            page,
            """(() => { const top = document.querySelector('.list').getBoundingClientRect().top;
                        return top >= 0 ? top : null; })()""",
        )
        assert top < 200, top
        await expect(rows.first).to_be_in_viewport()
        assert "page=2" in page.url and "limit=50" in page.url
        await watch.assert_clean()


async def answer_503(route: Route) -> None:
    """What /preview says when its renderers are all busy."""
    await route.fulfill(
        status=503,
        headers={"Retry-After": "1"},
        content_type="application/json",
        body=json.dumps({"error": "renderer_busy", "message": "The preview is busy."}),
    )


async def test_a_failed_preview_is_marked_out_of_date(
    database_url: str, aiohttp_server: Server
) -> None:
    first, second = await insert_tickets(database_url, 2, "COMPLETED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?ticket={first}")
        watch.allow(r"status of 503")  # Chromium logs the refused /preview requests
        preview = page.locator("#draft-preview")
        stale = page.locator("#preview-stale")
        await expect(preview).to_have_text(DRAFT)
        await expect(stale).to_be_hidden()

        await page.route("**/preview", answer_503)
        await page.locator("#draft").fill("We have **refunded** you.")
        await expect(stale).to_be_visible()
        await expect(stale).to_contain_text("Out of date")
        await expect(stale).to_contain_text("The preview is busy.")
        await expect(preview).to_have_class(re.compile("is-stale"))
        await expect(preview).to_have_text(DRAFT)  # the last good preview, not nothing

        await page.unroute("**/preview")
        await page.locator("#draft").fill("We have **refunded** you today.")
        await expect(preview.locator("strong")).to_have_text("refunded")
        await expect(stale).to_be_hidden()
        await expect(preview).not_to_have_class(re.compile("is-stale"))

        # No earlier preview to fall back on: said too.
        await page.route("**/preview", answer_503)
        await page.keyboard.press("Escape")
        await row(page, second).click()
        await expect(stale).to_contain_text("No preview")
        await watch.assert_clean()


STREAMED_DRAFT = (
    "Hello,\n\nThank you for telling us about the **double charge**. We have looked at your "
    "account and the second payment is already being refunded; you will see it within five "
    "working days.\n\nBest regards,\nThe support team"
)


async def test_a_streaming_draft_that_cannot_be_rendered_is_shown_as_text_and_said_so(
    database_url: str, fake_ollama: FakeOllama, aiohttp_server: Server
) -> None:
    # A second of silence, then the draft first, streamed over about three seconds.
    triage = {"draft": STREAMED_DRAFT, "category": "Billing", "sentiment": 3, "urgency": "High"}
    answer = Behaviour.reply(json.dumps(triage), chunks=30, chunk_delay=0.1)
    fake_ollama.behaviour = Behaviour.delayed(1.0, then=answer)
    app = create_app(engine_settings(database_url, fake_ollama), database_url)
    base = base_url(await aiohttp_server(app))
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        watch.allow(r"status of 503")
        await wait_live(page)
        await page.route("**/preview", answer_503)
        created = await context.request.post(
            f"{base}/tickets", data={"message": "I was charged twice for my subscription!"}
        )
        await row(page, (await created.json())["ticket_id"]).click()
        streaming = page.locator("#streaming-draft")
        await expect(streaming).to_contain_text("Hello,", timeout=15_000)
        await expect(streaming).to_have_class(re.compile("is-plain"))
        stale = page.locator(".streaming-block .preview-stale")
        await expect(stale).to_contain_text("Shown as plain text")
        await expect(stale).to_contain_text("The preview is busy.")
        await expect(streaming.locator("*")).to_have_count(0)  # text, never unrendered HTML
        await page.unroute("**/preview")
        await expect(page.locator("#draft")).to_have_value(STREAMED_DRAFT)
        await expect(page.locator("#draft-preview strong")).to_have_text("double charge")
        await watch.assert_clean()


HIDE_TAB = """() => {
    Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
    Object.defineProperty(document, 'hidden', {value: true, configurable: true});
    document.dispatchEvent(new Event('visibilitychange'));
}"""
SHOW_TAB = """() => {
    Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
    Object.defineProperty(document, 'hidden', {value: false, configurable: true});
    document.dispatchEvent(new Event('visibilitychange'));
}"""


async def test_the_tab_title_counts_tickets_that_arrive_while_hidden(
    database_url: str, aiohttp_server: Server
) -> None:
    await insert_tickets(database_url, 2)
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        await wait_live(page)
        await expect(page).to_have_title("Dashboard · Triage Hub")
        # (Headless Chromium keeps every tab visible: the test hides it as the browser would.)
        async with page.expect_response(re.compile(r"/tickets\?sort=newest&limit=1$")):
            await page.evaluate(HIDE_TAB)
        for n in range(3):
            created = await context.request.post(
                f"{base}/tickets", data={"message": f"Arrived while nobody looked, number {n}"}
            )
            assert created.status == 201
        await expect(page).to_have_title("(3) Dashboard · Triage Hub")
        await page.evaluate(SHOW_TAB)
        await expect(page).to_have_title("Dashboard · Triage Hub")
        await expect(page.locator("a.row-link")).to_have_count(5)
        await watch.assert_clean()


async def test_resolve_says_why_it_waits_and_every_action_says_how_it_went(
    database_url: str, aiohttp_server: Server
) -> None:
    [pending] = await insert_tickets(database_url, 1, "PENDING")
    done, taken = await insert_tickets(database_url, 2, "COMPLETED")
    [failed] = await insert_tickets(database_url, 1, "FAILED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        watch.allow(r"status of 412")  # the refused resolve below: the ticket changed since
        resolve = page.get_by_role("button", name="Resolve")
        reason = page.locator("#resolve-reason")
        dialog = page.locator("dialog.detail")

        await row(page, pending).click()
        await expect(resolve).to_be_disabled()
        await expect(reason).to_have_text("Still being triaged")
        await expect(resolve).to_have_accessible_description("Still being triaged")
        await page.keyboard.press("Escape")

        await row(page, done).click()
        draft = page.locator("#draft")
        await expect(draft).to_have_value(DRAFT)
        await expect(resolve).to_be_enabled()
        await expect(reason).to_be_hidden()
        await draft.fill("   ")
        await expect(resolve).to_be_disabled()
        await expect(reason).to_have_text("Write a reply first")
        await draft.fill("All sorted, the refund is on its way.")
        await resolve.click()
        await expect(dialog).to_be_hidden()
        toast = page.locator(".dashboard > .toasts .toast")
        await expect(toast).to_have_text(re.compile(rf"Resolved ticket {done[:8]}\."))
        await expect(page.locator(".dashboard > .toasts")).to_have_attribute("aria-live", "polite")

        # In the dialog (the page behind it is inert), its own live region carries the toast.
        await row(page, failed).click()
        await page.get_by_role("button", name="Retry triage").click()
        await expect(dialog.locator(".toasts .toast")).to_have_text(
            re.compile(rf"Queued ticket {failed[:8]} for another triage\.")
        )
        await page.keyboard.press("Escape")

        # Another agent got there first (just before this resolve reached the server): the
        # toast says so, and so does the dialog.
        async def beaten_to_it(route: Route) -> None:
            answer = await context.request.put(
                f"{base}/tickets/{taken}/resolve", data={"ai_draft": DRAFT}, headers=AUTH
            )
            assert answer.status == 200
            await route.continue_()

        await row(page, taken).click()
        await expect(page.locator("#draft")).to_have_value(DRAFT)
        await page.route(f"**/tickets/{taken}/resolve", beaten_to_it)
        await page.locator("#draft").fill("My own reply, a moment too late.")
        await resolve.click()
        await expect(dialog.locator(".toasts .toast-error")).to_contain_text(
            f"Could not resolve ticket {taken[:8]}"
        )
        await expect(dialog.locator(".action-error")).not_to_be_empty()
        assert (await fetch_ticket(database_url, taken))["ai_draft"] == DRAFT
        await watch.assert_clean()


# Every target a finger can hit, shown now, except links inside running text.
TARGETS = """(root) => [...root.querySelectorAll(
        'button, a[href], select, summary, label.notify-toggle, .segmented label')]
    .filter(el => el.offsetParent !== null && !el.closest('.preview'))
    .map(el => ({what: el.outerHTML.slice(0, 70), rect: el.getBoundingClientRect()}))
    .filter(item => item.rect.width > 2)
    .map(item => ({what: item.what, height: item.rect.height}))"""


async def small_targets(page: Page, root: str) -> list[dict[str, Any]]:
    """The visible targets under `root` less than 44 px tall."""
    targets = await page.locator(root).evaluate(TARGETS)
    assert targets, f"no targets under {root}"
    return [target for target in targets if target["height"] < 44]


async def test_every_target_on_a_phone_is_at_least_44_px_tall(
    database_url: str, aiohttp_server: Server
) -> None:
    await insert_tickets(database_url, 25, "COMPLETED")
    failed = await insert_ticket(database_url, "The newest ticket, and its triage failed.")
    await set_triage(database_url, failed, status="FAILED", error="the model timed out")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser, PHONE)
        page, watch = await open_page(context, f"{base}/dashboard")
        await expect(page.locator("a.row-link")).to_have_count(20)
        assert await small_targets(page, "body") == []
        await row(page, failed).click()
        await expect(page.get_by_role("button", name="Retry triage")).to_be_visible()
        await page.locator("#draft").fill("A reply with a [link](https://example.com).")
        await page.locator(".telemetry summary").click()
        assert await small_targets(page, "dialog.detail") == []
        await watch.assert_clean()


async def shortcut_hints(page: Page) -> int:
    """How many keyboard hints are shown."""
    hints = page.locator(".keyboard-hint")
    return sum([await hints.nth(i).is_visible() for i in range(await hints.count())])


async def test_no_keyboard_hints_on_touch_screens(
    database_url: str, aiohttp_server: Server
) -> None:
    [done] = await insert_tickets(database_url, 1, "COMPLETED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        for viewport, touch, hints in ((DESKTOP, False, 2), (PHONE, True, 0), (DESKTOP, True, 0)):
            context = await new_context(browser, viewport, has_touch=touch, is_mobile=touch)
            page, watch = await open_page(context, f"{base}/dashboard?ticket={done}")
            await expect(page.locator("#draft")).to_have_value(DRAFT)
            assert await shortcut_hints(page) == hints, (viewport, touch)
            await watch.assert_clean()
            await context.close()


# A Notification the test can read; the permission the "browser" gave survives a reload.
FAKE_NOTIFICATIONS = """
    window.notices = [];
    window.permissionAsks = 0;
    class FakeNotification {
        constructor(title, options) { window.notices.push({title, body: options.body}); }
        addEventListener() {}
        close() {}
        static get permission() { return localStorage.getItem('fake-permission') || 'default'; }
        static async requestPermission() {
            window.permissionAsks += 1;
            localStorage.setItem('fake-permission', 'granted');
            return 'granted';
        }
    }
    window.Notification = FakeNotification;
"""


async def test_desktop_notifications_for_high_urgency_when_asked_for(
    database_url: str, aiohttp_server: Server
) -> None:
    low = await insert_ticket(database_url, "Please add a dark mode to the reports page.")
    high = await insert_ticket(database_url, "Hi,\nAll our invoices are gone since this morning!")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        await context.add_init_script(FAKE_NOTIFICATIONS)
        page, watch = await open_page(context, f"{base}/dashboard")
        toggle = page.get_by_label("High-urgency alerts")
        await expect(toggle).not_to_be_checked()
        assert await page.evaluate("window.permissionAsks") == 0  # not before it is wanted
        await toggle.check()
        await expect(page.locator(".toasts .toast")).to_contain_text("Desktop notifications on")
        assert await page.evaluate("window.permissionAsks") == 1

        await page.reload()
        await expect(toggle).to_be_checked()  # remembered
        await wait_live(page)
        await page.evaluate("document.hasFocus = () => false")  # the agent is in another window
        await set_triage(database_url, low, status="COMPLETED", category="Feature Request",
                         sentiment=8, urgency="Low", draft=DRAFT)  # fmt: skip
        await set_triage(database_url, high, status="COMPLETED", category="Billing",
                         sentiment=2, urgency="High", draft=DRAFT)  # fmt: skip
        await until(page, "window.notices.length > 0")
        await expect(row(page, low).locator(".status-badge")).to_have_text("Needs reply")
        notices = await page.evaluate("window.notices")
        assert notices == [
            {
                "title": "High urgency: Billing",
                "body": "All our invoices are gone since this morning!",
            }
        ]

        await toggle.uncheck()
        await page.reload()
        await expect(toggle).not_to_be_checked()
        await watch.assert_clean()
