"""The agent's desk in a real browser (issue 10: §2, §3 and the search box): a correction
re-sorts every open dashboard, two agents on one ticket see each other, a stale resolve keeps
its reply, replies are saved as typed (through a reload and an expired session), resolving
waits out its undo window, the search box, and a FAILED ticket that says why in words."""

from __future__ import annotations

import asyncio
import re
import time

from playwright.async_api import Browser, BrowserContext, Page, Request, expect

from tests.auth import seed_accounts
from tests.browser import (
    Server,
    Watch,
    base_url,
    insert_ticket,
    launch_browser,
    log_in,
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
from tests.waiting import fetch_ticket, sql
from triage_hub.app import create_app

DANA_PASSWORD = "dana's password!"
DANA_TOKEN = "th_dana-s-own-token-for-the-browser-desk"


async def as_dana(
    database_url: str, browser: Browser, url: str
) -> tuple[BrowserContext, Page, Watch]:
    """A second agent, Dana, logged in in a browser context of her own."""
    await seed_accounts(database_url, "dana", DANA_PASSWORD, DANA_TOKEN)
    context = await new_context(browser)
    page, watch = await open_page(context, url, "dana", DANA_PASSWORD)
    return context, page, watch


async def order(page: Page) -> list[str]:
    """The ticket ids of the list, top to bottom."""
    ids = await page.locator("a.row-link").evaluate_all(
        "links => links.map(a => a.dataset.ticketId)"
    )
    return [str(ticket_id) for ticket_id in ids]


async def dialogs_seen(watch: Watch, count: int = 1) -> list[str]:
    """The JS dialogs the page opened, once there are `count` (the watch answers "stay")."""
    for _ in range(100):  # up to 5 s
        if len(watch.dialogs) >= count:
            break
        await asyncio.sleep(0.05)
    seen = list(watch.dialogs)
    watch.dialogs.clear()
    return seen


async def local_copies(page: Page) -> list[str]:
    """The replies this browser keeps for the server (localStorage keys)."""
    keys = await page.evaluate("Object.keys(localStorage).filter(k => k.includes('.reply.'))")
    return [str(key) for key in keys]


def record_requests(page: Page, pattern: str) -> list[tuple[float, str]]:
    """(time, method) of every request the page sends whose URL matches `pattern`."""
    sent: list[tuple[float, str]] = []

    def record(request: Request) -> None:
        if re.search(pattern, request.url):
            sent.append((time.monotonic(), request.method))

    page.on("request", record)
    return sent


async def test_a_correction_re_sorts_every_open_dashboard(
    database_url: str, aiohttp_server: Server
) -> None:
    high, medium, low = [
        await insert_ticket(database_url, f"A {word} one, {minutes} minutes old.", minutes)
        for word, minutes in (("high", 30), ("medium", 20), ("low", 10))
    ]
    failed = await insert_ticket(database_url, "The model could not triage this one.", 5)
    for ticket_id, urgency, sentiment in (
        (high, "High", 2),
        (medium, "Medium", 5),
        (low, "Low", 8),
    ):
        await set_triage(database_url, ticket_id, status="COMPLETED", category="Billing",
                         sentiment=sentiment, urgency=urgency, draft=DRAFT)  # fmt: skip
    await set_triage(database_url, failed, status="FAILED", error="the model timed out")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        tess, tess_watch = await open_page(context, f"{base}/dashboard?sort=urgent")
        await wait_live(tess)
        await tess.evaluate("window.stillTheSamePage = true")
        assert await order(tess) == [high, failed, medium, low]  # FAILED right after High

        dana_context, dana, dana_watch = await as_dana(
            database_url, browser, f"{base}/dashboard?ticket={low}"
        )
        urgency = dana.get_by_label("Urgency", exact=True)
        await expect(urgency).to_have_value("Low")
        await expect(urgency).to_be_enabled()
        await expect(dana.locator("#note-urgency")).to_have_text("AI said: Low")
        await urgency.select_option("High")
        await expect(dana.locator("#note-urgency")).to_have_text(
            re.compile(r"^AI said: Low\s+changed by dana just now$")
        )
        await expect(urgency).to_have_accessible_description(re.compile("changed by dana"))
        await expect(dana.locator(".toasts .toast")).to_have_text(re.compile("Urgency set to High"))

        # Tess's list, on another context, re-sorts at once: High first, oldest first among them.
        await until(
            tess, f"[...document.querySelectorAll('a.row-link')][1]?.dataset.ticketId === '{low}'"
        )
        assert await order(tess) == [high, low, failed, medium]
        await expect(row(tess, low)).to_contain_text("High")
        assert await tess.evaluate("window.stillTheSamePage") is True  # live, not reloaded

        # A ticket that fails moves up to right after High, though its urgency stayed Medium.
        await set_triage(database_url, medium, status="FAILED", category="Billing", sentiment=5,
                         urgency="Medium", error="the model timed out")  # fmt: skip
        await expect(row(tess, medium).locator(".status-badge")).to_have_text("Needs a human")
        await until(
            tess, f"document.querySelectorAll('a.row-link')[2]?.dataset.ticketId === '{medium}'"
        )
        assert await order(tess) == [high, low, medium, failed]

        sentiment = dana.get_by_label("Sentiment")
        await sentiment.select_option("3")
        await expect(dana.locator("#note-sentiment")).to_contain_text("AI said: 8 (happy)")
        await expect(row(tess, low)).to_contain_text("3/10 angry")
        ticket = await fetch_ticket(database_url, low)
        assert (ticket["urgency"], ticket["ai_urgency"], ticket["sentiment"]) == ("High", "Low", 3)
        assert ticket["status"] == "COMPLETED"  # corrected, not resolved
        changes = await sql(
            database_url,
            "SELECT array_agg(actor || ':' || field ORDER BY revision) FROM ticket_changes",
        )
        assert changes == ["dana:urgency", "dana:sentiment"]

        # A FAILED ticket is triaged by hand, from Tess's desk this time.
        await row(tess, failed).click()
        category = tess.get_by_label("Category")
        await expect(category).to_have_value("")
        await expect(tess.locator("#note-category")).to_have_text("AI said nothing")
        await category.select_option("Technical")
        await expect(tess.locator("#note-category")).to_contain_text("changed by tess")
        assert (await fetch_ticket(database_url, failed))["category"] == "Technical"
        await tess_watch.assert_clean()
        await dana_watch.assert_clean()
        await dana_context.close()


async def test_two_agents_on_one_ticket_see_each_other_come_type_and_go(
    database_url: str, aiohttp_server: Server
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    # Two replicas: presence crosses them through PostgreSQL's NOTIFY.
    tess_base = await serve(aiohttp_server, database_url)
    dana_base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        tess, tess_watch = await open_page(context, f"{tess_base}/dashboard?ticket={ticket_id}")
        await wait_live(tess)
        dana_context, dana, dana_watch = await as_dana(
            database_url, browser, f"{dana_base}/dashboard?ticket={ticket_id}"
        )
        await wait_live(dana)
        tess_sees, dana_sees = tess.locator("#presence"), dana.locator("#presence")
        await expect(tess_sees).to_have_text("dana is viewing")  # her arrival, as an event
        await expect(dana_sees).to_have_text("tess is viewing")  # already there, from GET
        await expect(tess_sees).to_have_role("status")  # read out politely, as it changes

        await dana.locator("#draft").press("End")
        await dana.locator("#draft").type(" Let me add a word.")
        await expect(tess_sees).to_have_text("dana is typing…")
        await expect(tess_sees).to_have_text("dana is viewing", timeout=15_000)  # a pause: 5 s
        await expect(dana_sees).to_have_text("tess is viewing")  # no echo of her own

        # Dana's page goes silent (its heartbeats lost): Tess's page forgets her after the lapse.
        await dana.route("**/presence", lambda route: route.abort())
        dana_watch.allow(r"ERR_FAILED")
        await sql(database_url, "UPDATE ticket_presence SET seen_at = now() - interval '27 s' "
                  "WHERE viewer = 'dana'")  # fmt: skip
        await tess.reload()  # its read of the ticket: dana seen 27 s ago, 3 s left
        await expect(tess_sees).to_have_text("dana is viewing")
        await expect(tess_sees).to_have_text("", timeout=8_000)
        await dana.unroute("**/presence")

        # Closing the dialog says "left" at once; closing the tab too.
        await expect(dana_sees).to_have_text("tess is viewing")
        await tess.keyboard.press("Escape")
        await expect(dana_sees).to_have_text("")
        await row(tess, ticket_id).click()
        await expect(dana_sees).to_have_text("tess is viewing")
        await tess_watch.assert_clean()
        await tess.close(run_before_unload=True)
        await expect(dana_sees).to_have_text("")
        await dana_watch.assert_clean()
        await dana_context.close()


async def test_a_resolve_after_anothers_correction_gets_412_and_keeps_the_reply(
    database_url: str, aiohttp_server: Server
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    base = await serve(aiohttp_server, database_url)
    mine = "Hello, we refunded the second charge today. Kind regards, Tess"
    async with launch_browser() as browser:
        context = await new_context(browser)
        tess, tess_watch = await open_page(context, f"{base}/dashboard?ticket={ticket_id}")
        tess_watch.allow(r"status of 412")
        dana_context, dana, dana_watch = await as_dana(
            database_url, browser, f"{base}/dashboard?ticket={ticket_id}"
        )
        await expect(dana.get_by_label("Urgency", exact=True)).to_be_enabled()
        await tess.locator("#draft").fill(mine)
        await tess.get_by_role("button", name="Resolve").click()
        await expect(tess.locator("dialog .toast-undo")).to_contain_text("Resolving ticket")

        # Within Tess's undo window, Dana lowers the urgency: Tess's resolve carries the values
        # and the ETag she saw, so the server refuses it and says who changed what.
        await dana.get_by_label("Urgency", exact=True).select_option("Low")
        stale = tess.locator("#stale-notice")
        await expect(stale).to_contain_text(
            "dana changed urgency from High to Low since you loaded this ticket. "
            "Your reply is kept."
        )
        await expect(stale).to_have_role("alert")
        load_latest = tess.get_by_role("button", name="Load the latest values")
        await expect(load_latest).to_be_focused()
        await expect(tess.locator("#draft")).to_have_value(mine)
        await expect(tess.locator("#draft")).to_be_editable()
        assert (await fetch_ticket(database_url, ticket_id))["status"] == "COMPLETED"

        await load_latest.click()
        await expect(stale).to_be_hidden()
        await expect(tess.get_by_label("Urgency", exact=True)).to_have_value("Low")
        await expect(tess.locator("#note-urgency")).to_contain_text("changed by dana")
        await expect(tess.locator("#draft")).to_have_value(mine)  # not the AI's draft again
        await tess.get_by_role("button", name="Resolve").click()
        await expect(tess.locator("dialog.detail")).to_be_hidden()
        ticket = await fetch_ticket(database_url, ticket_id)
        assert (ticket["status"], ticket["urgency"], ticket["ai_draft"]) == (
            "RESOLVED",
            "Low",
            mine,
        )
        assert ticket["resolved_by"] == "tess"
        await expect(dana.locator(".detail-head .status-badge")).to_have_text("Resolved")
        await tess_watch.assert_clean()
        await dana_watch.assert_clean()
        await dana_context.close()


async def test_a_reply_is_saved_as_typed_and_back_after_a_reload_or_on_another_device(
    database_url: str, aiohttp_server: Server
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?ticket={ticket_id}")
        draft, state = page.locator("#draft"), page.locator("#save-state")
        await expect(draft).to_have_value(DRAFT)
        await expect(state).to_have_text("")
        saves = record_requests(page, r"/draft$")
        await draft.press("End")
        await draft.type(" We will call you tomorrow.")
        await expect(state).to_have_text(re.compile(r"^Saved \d{1,2}:\d\d"))
        assert len(saves) <= 2, saves  # debounced: not one save per keystroke
        body = await sql(database_url, "SELECT body FROM reply_drafts WHERE author = 'tess'")
        assert body == DRAFT + " We will call you tomorrow."

        await page.reload()
        await expect(draft).to_have_value(DRAFT + " We will call you tomorrow.")
        await expect(state).to_have_text(re.compile(r"^Saved \d{1,2}:\d\d"))
        other = await new_context(browser)  # another device: the server's copy
        laptop, laptop_watch = await open_page(other, f"{base}/dashboard?ticket={ticket_id}")
        await expect(laptop.locator("#draft")).to_have_value(DRAFT + " We will call you tomorrow.")
        await laptop_watch.assert_clean()
        await other.close()

        # The server cannot take it for now: said, retried, saved once it can.
        watch.allow(r"status of 503")
        await page.route("**/draft", lambda route: route.fulfill(status=503, json={
            "error": "database_unavailable", "message": "Try again shortly."}))  # fmt: skip
        await draft.type(" Promise.")
        await expect(state).to_have_text("Not saved — retrying")
        await expect(page.locator("dialog [aria-live]").first).to_have_text(
            "Your reply is not saved yet. Retrying."
        )
        # Logging out now asks first (the watch answers "stay").
        await page.keyboard.press("Escape")
        await page.get_by_role("button", name="Log out").click()
        assert await dialogs_seen(watch) == [
            "confirm: A reply you wrote is not saved yet. Log out anyway?"
        ]
        assert page.url.startswith(f"{base}/dashboard")
        await page.unroute("**/draft")
        await row(page, ticket_id).click()  # opening the ticket again tries at once
        await expect(draft).to_have_value(DRAFT + " We will call you tomorrow. Promise.")
        await expect(state).to_have_text(re.compile(r"^Saved \d{1,2}:\d\d"))
        assert await sql(database_url, "SELECT body FROM reply_drafts") == (
            DRAFT + " We will call you tomorrow. Promise."
        )
        assert await local_copies(page) == []  # the server has it: no copy left behind
        await watch.assert_clean()


async def test_unsaved_text_asks_before_the_tab_closes(
    database_url: str, aiohttp_server: Server
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?ticket={ticket_id}")
        watch.allow(r"ERR_FAILED")
        await expect(page.locator("#draft")).to_have_value(DRAFT)
        await page.route("**/draft", lambda route: route.abort())
        await page.locator("#draft").type("Not kept by the server yet")
        await expect(page.locator("#save-state")).to_have_text("Not saved — retrying")
        await page.close(run_before_unload=True)
        assert [text.split(":")[0] for text in await dialogs_seen(watch)] == ["beforeunload"]
        assert not page.is_closed()  # the agent stayed
        assert await page.locator("#draft").input_value() == DRAFT + "Not kept by the server yet"
        await watch.assert_clean()


async def test_an_expired_session_mid_edit_keeps_the_reply_through_the_login(
    database_url: str, aiohttp_server: Server
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?ticket={ticket_id}")
        watch.allow(r"401")  # the refused requests, as Chromium logs them
        await wait_live(page)
        draft, state = page.locator("#draft"), page.locator("#save-state")
        await draft.fill("Dear customer,")
        await expect(state).to_have_text(re.compile(r"^Saved "))
        # (Presence is answered here, so that its heartbeat cannot meet the ended session first.)
        await page.route("**/presence", lambda route: route.fulfill(status=204))
        await sql(database_url, "DELETE FROM agent_sessions")  # the session ends mid-edit
        await draft.fill("Dear customer, the refund is on its way")
        await page.wait_for_url(re.compile(r"/login\?next="))
        assert watch.dialogs == []  # no "leave the page?": the text is kept in this browser
        assert await local_copies(page) == [f"triage-hub.reply.tess.{ticket_id}"]
        assert await sql(database_url, "SELECT body FROM reply_drafts") == "Dear customer,"
        await log_in(page)
        await page.wait_for_url(f"{base}/dashboard?ticket={ticket_id}")
        await expect(draft).to_have_value("Dear customer, the refund is on its way")
        await expect(state).to_have_text(re.compile(r"^Saved "))
        body = await sql(database_url, "SELECT body FROM reply_drafts WHERE author = 'tess'")
        assert body == "Dear customer, the refund is on its way"
        assert await local_copies(page) == []
        await watch.assert_clean()


async def test_resolve_waits_out_its_undo_window_and_undo_sends_nothing(
    database_url: str, aiohttp_server: Server
) -> None:
    undone, resolved = await insert_tickets(database_url, 2, "COMPLETED")
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        puts = record_requests(page, r"/resolve$")
        dialog = page.locator("dialog.detail")

        await row(page, undone).click()
        await expect(page.locator("#draft")).to_have_value(DRAFT)
        await page.get_by_role("button", name="Resolve").click()
        toast = dialog.locator(".toast-undo")
        await expect(toast).to_contain_text(f"Resolving ticket {undone[:8]}…")
        live = await toast.evaluate("el => el.closest('[aria-live]').getAttribute('aria-live')")
        assert live == "polite"  # announced
        undo = toast.get_by_role("button", name="Undo")
        await expect(undo).to_be_focused()  # Enter or Space undoes at once
        await expect(undo).to_have_accessible_description(f"Resolving ticket {undone[:8]}…")
        await expect(page.locator("#draft")).not_to_be_editable()
        await expect(page.get_by_role("button", name="Resolve")).to_be_disabled()
        await page.keyboard.press("Enter")
        await expect(toast).to_have_count(0)
        await expect(dialog.locator(".toast")).to_have_text(re.compile("Not resolved"))
        await page.wait_for_timeout(6000)  # past the window: still nothing was sent
        assert puts == []
        assert (await fetch_ticket(database_url, undone))["status"] == "COMPLETED"
        await expect(dialog).to_be_visible()
        await expect(page.locator("#draft")).to_be_editable()
        await page.keyboard.press("Escape")

        # Without Undo, the resolve goes after the window, also with the dialog closed meanwhile.
        await row(page, resolved).click()
        await expect(page.locator("#draft")).to_have_value(DRAFT)
        await page.get_by_role("button", name="Resolve").click()
        clicked = time.monotonic()
        await page.keyboard.press("Escape")
        page_toast = page.locator(".dashboard > .toasts .toast-undo")
        await expect(page_toast).to_contain_text(f"Resolving ticket {resolved[:8]}…")
        assert (await fetch_ticket(database_url, resolved))["status"] == "COMPLETED"
        await expect(row(page, resolved)).to_have_count(0)
        assert [method for _, method in puts] == ["PUT"]
        assert puts[0][0] - clicked > 4, "sent before the undo window ended"
        assert (await fetch_ticket(database_url, resolved))["status"] == "RESOLVED"
        await expect(page.locator(".dashboard > .toasts .toast")).to_have_text(
            re.compile(rf"Resolved ticket {resolved[:8]}\.")
        )
        await watch.assert_clean()


async def test_search_finds_by_word_and_by_short_id(
    database_url: str, aiohttp_server: Server
) -> None:
    invoice = await insert_ticket(database_url, "My invoices for March were charged twice", 30)
    crash = await insert_ticket(database_url, "The mobile app crashes when I upload a photo", 20)
    dark = await insert_ticket(database_url, "Please add a dark mode to the reports", 10)
    await set_triage(database_url, crash, status="COMPLETED", category="Technical", sentiment=3,
                     urgency="High", draft=DRAFT)  # fmt: skip
    await set_triage(database_url, dark, status="RESOLVED", category="Feature Request",
                     sentiment=8, urgency="Low", draft=DRAFT)  # fmt: skip
    base = await serve(aiohttp_server, database_url)
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        rows = page.locator("a.row-link")
        await expect(rows).to_have_count(2)  # open tickets
        search = page.get_by_role("searchbox", name="Search tickets")
        await search.fill("invoice charged")  # English stems, after a pause in the typing
        await expect(rows).to_have_count(1)
        await expect(row(page, invoice)).to_be_visible()
        assert "q=invoice+charged" in page.url

        await page.reload()  # the search lives in the address
        await expect(search).to_have_value("invoice charged")
        await expect(rows).to_have_count(1)

        await search.fill(crash[:8])  # the short id, as the list shows it
        await search.press("Enter")
        await expect(rows).to_have_count(1)
        await expect(row(page, crash)).to_be_visible()

        # The status filter and the order still apply.
        await search.fill("dark mode")
        await search.press("Enter")
        empty = page.locator(".empty")
        await expect(empty).to_have_text("No tickets match “dark mode” among the open tickets.")
        await page.get_by_role("button", name="Search all tickets").click()
        await expect(page.locator("#status-filter")).to_have_value("all")
        await expect(row(page, dark)).to_be_visible()
        assert "q=dark+mode" in page.url and "status=all" in page.url
        await search.fill("twice or photo")
        await search.press("Enter")
        await page.get_by_text("Most urgent first").click()
        await expect(rows).to_have_count(2)
        assert await order(page) == [crash, invoice]  # High first, untriaged last
        await search.fill("zebra")
        await search.press("Enter")
        await expect(empty).to_have_text("No tickets match “zebra”.")

        await page.get_by_role("button", name="Clear the search").click()
        await expect(search).to_have_value("")
        await expect(search).to_be_focused()
        await expect(rows).to_have_count(3)
        assert "q=" not in page.url
        await search.blur()
        await page.keyboard.press("/")  # back to the search from anywhere on the list
        await expect(search).to_be_focused()
        await watch.assert_clean()


async def test_a_failed_ticket_says_why_folds_the_raw_error_and_retry_says_the_attempt(
    database_url: str, fake_ollama: FakeOllama, aiohttp_server: Server
) -> None:
    [failed] = await insert_tickets(database_url, 1, "FAILED")
    raw = "category: Input should be 'Billing', 'Technical' or 'Feature Request'"
    await sql(database_url, "UPDATE tickets SET last_error = $1", raw)
    # Once retried: an answer the model gets wrong, then a good one that takes its time.
    fake_ollama.queue(Behaviour.invalid_enum(), Behaviour.delayed(2.5))
    app = create_app(engine_settings(database_url, fake_ollama), database_url)
    base = base_url(await aiohttp_server(app))
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?ticket={failed}")
        problem = page.locator(".last-error")
        await expect(problem.get_by_role("heading")).to_have_text("Needs a human")
        await expect(problem.locator(".error-words")).to_contain_text(
            "The model answered a category we do not use."
        )
        raw_text = problem.locator(".raw-error pre")
        await expect(raw_text).to_be_hidden()  # folded away
        await expect(raw_text).to_have_text(raw)
        await problem.get_by_text("What the system recorded").click()
        await expect(raw_text).to_be_visible()

        await page.get_by_role("button", name="Retry triage").click()
        status = page.locator(".retry-status")
        await expect(status).to_have_text("Retrying — attempt 2 of 3 running…", timeout=15_000)
        await expect(page.locator("#streaming-heading")).to_contain_text("attempt 2 of 3")
        await expect(page.locator(".detail-head .status-badge")).to_have_text(
            "Needs reply", timeout=15_000
        )
        await expect(status).to_be_hidden()
        await expect(problem).to_be_hidden()
        await watch.assert_clean()
