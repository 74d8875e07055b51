"""The dashboard of issues 11 and 12 in a real browser: what triaged a ticket and how sure it was,
low confidence first, the banner while the LLM is down, Retry with the LLM, who wrote, and what
became of the reply (Queued, Retrying, Not delivered, and Reply sent only once it was); and a
reply that lost the race to another agent's, kept."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from tests.auth import AUTH, seed_accounts
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
    until,
    wait_live,
)
from tests.conftest import engine_settings
from tests.fake_ollama import FakeOllama
from tests.mailbox import Mailbox
from tests.waiting import fetch_ticket, sql, wait_for_statuses
from triage_hub.app import create_app

BANNER = "The LLM is unreachable — tickets are triaged by the built-in engine."
# The banner follows GET /health: a poll every 10 s of an LLM check cached for 5 s.
BANNER_SECONDS = 25_000
REFUNDED = "We have refunded the charge."
LOOKING = "We are looking into it right now."
MAIL = {"TRIAGE_MAIL_FROM": "support@desk.example", "TRIAGE_LEASE_SECONDS": 2,
        "TRIAGE_POLL_SECONDS": 0.2}  # fmt: skip


def badge(confidence: float) -> str:
    """What the badge of a field says (High ≥ 0.9, Medium ≥ 0.6, Low below)."""
    if confidence >= 0.9:
        return "High confidence"
    if confidence >= 0.6:
        return "Medium confidence"
    return "Low confidence — please check"


async def post_ticket(base: str, message: str, **contact: str) -> str:
    """A ticket through the public intake, as a customer posts it."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/tickets", json={"message": message, **contact}) as sent:
            assert sent.status == 201, await sent.text()
            return str((await sent.json())["ticket_id"])


async def set_confidence(
    database_url: str, ticket_id: str, confidence: dict[str, float] | None
) -> None:
    """A built-in triage's confidence, as the engine stores it (None: it gave none)."""
    await sql(
        database_url,
        "UPDATE tickets SET engine = 'builtin', model = 'builtin-v1', confidence = $2::jsonb "
        "WHERE id = $1",
        ticket_id,
        None if confidence is None else json.dumps(confidence),
    )


async def order(page: Page) -> list[str]:
    """The ticket ids of the list, top to bottom."""
    ids = await page.locator("a.row-link").evaluate_all(
        "links => links.map(a => a.dataset.ticketId)"
    )
    return [str(ticket_id) for ticket_id in ids]


async def test_a_builtin_triage_shows_its_engine_badges_and_contact_and_sorts_unsure_first(
    database_url: str, aiohttp_server: Server
) -> None:
    base = await serve(
        aiohttp_server,
        database_url,
        TRIAGE_ENGINE="builtin",
        TRIAGE_CLAIMERS=1,
        TRIAGE_POLL_SECONDS=0.5,
    )
    ada = await post_ticket(
        base,
        "I was charged twice for my subscription this month, please refund the second payment.",
        email="Ada@Example.COM",
        name="Ada Lovelace",
    )
    await wait_for_statuses(database_url, {"COMPLETED"}, 1, timeout=60)
    triaged = await fetch_ticket(database_url, ada)
    assert (triaged["engine"], triaged["model"]) == ("builtin", "builtin-v1")
    confidence = json.loads(triaged["confidence"])

    # Three more awaiting a reply, with confidences of each level, and one with none at all.
    sure, middling, unsure, unknown = [
        await insert_ticket(database_url, f"Please look at my {word} account soon.", minutes)
        for word, minutes in (("first", 40), ("second", 30), ("third", 20), ("fourth", 10))
    ]
    for ticket_id in (sure, middling, unsure, unknown):
        await set_triage(database_url, ticket_id, status="COMPLETED", category="Technical",
                         sentiment=5, urgency="Medium", draft=LOOKING)  # fmt: skip
    await set_confidence(database_url, sure, {"category": 0.97, "urgency": 0.93, "sentiment": 0.9})
    await set_confidence(database_url, middling, {"category": 0.7, "urgency": 0.64, "sentiment": 1})
    await set_confidence(database_url, unsure, {"category": 0.02, "urgency": 0.8, "sentiment": 0.5})
    await set_confidence(database_url, unknown, None)

    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        await wait_live(page)
        # Who wrote: in the list (the name, the address beside it on hover) and in the detail.
        requester = row(page, ada).locator(".requester")
        await expect(requester).to_have_text("From: Ada Lovelace")
        await expect(requester).to_have_attribute("title", "Ada Lovelace · ada@example.com")
        flag = row(page, unsure).locator(".row-confidence")
        await expect(flag).to_have_text("Low confidence")
        await expect(flag).to_have_attribute("title", "Low confidence — please check")
        await expect(row(page, sure).locator(".row-confidence")).to_be_hidden()
        await expect(page.locator("#engine-banner p")).to_be_hidden()  # builtin: no LLM to miss

        await row(page, ada).click()
        dialog = page.locator("dialog.detail")
        await expect(dialog.locator(".detail-title .requester")).to_have_text(
            "From: Ada Lovelace · ada@example.com"
        )
        await expect(dialog.locator(".triaged-by")).to_have_text("Built-in engine · builtin-v1")
        for field in ("category", "urgency", "sentiment"):
            shown = page.locator(f"#confidence-{field}")
            await expect(shown).to_have_text(badge(confidence[field]))
            title = f"{round(confidence[field] * 100)} % sure"
            await expect(shown).to_have_attribute("title", title)
        await expect(page.get_by_label("Category")).to_have_accessible_description(
            re.compile(re.escape(badge(confidence["category"])))
        )
        # TRIAGE_ENGINE=builtin: there is no LLM to retry with.
        await expect(page.get_by_role("button", name="Retry with the LLM")).to_be_hidden()
        await page.keyboard.press("Escape")

        await row(page, unsure).click()
        await expect(page.locator("#confidence-category")).to_have_text(
            "Low confidence — please check"
        )
        await expect(page.locator("#confidence-urgency")).to_have_text("Medium confidence")
        await expect(page.locator("#confidence-sentiment")).to_have_text(
            "Low confidence — please check"
        )
        await page.keyboard.press("Escape")
        await row(page, unknown).click()
        await expect(page.locator("#field-category")).to_have_value("Technical")
        for field in ("category", "urgency", "sentiment"):
            await expect(page.locator(f"#confidence-{field}")).to_be_hidden()  # none: no badge
        await page.keyboard.press("Escape")

        await page.get_by_text("Low confidence first", exact=True).click()
        await expect(page).to_have_url(re.compile(r"sort=confidence"))
        await expect(page.locator("#status-filter")).to_be_disabled()
        await until(page, f"document.querySelector('a.row-link')?.dataset.ticketId === '{unsure}'")
        listed = await order(page)
        assert listed.index(unsure) < listed.index(middling) < listed.index(sure)
        assert listed[-1] == unknown  # no confidence: last
        least = []
        for ticket_id in listed[:-1]:  # the real ones, in the order the database gave them
            stored = json.loads((await fetch_ticket(database_url, ticket_id))["confidence"])
            least.append(min(stored["category"], stored["urgency"]))
        assert least == sorted(least), least
        await page.reload()  # the order lives in the address
        await expect(page.locator("#sort-confidence")).to_be_checked()
        await watch.assert_clean()


async def test_the_banner_follows_the_llm_and_retry_with_the_llm_re_triages(
    database_url: str, fake_ollama: FakeOllama, aiohttp_server: Server
) -> None:
    settings = engine_settings(database_url, fake_ollama, TRIAGE_ENGINE="auto")
    base = base_url(await aiohttp_server(create_app(settings, database_url)))
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard")
        await wait_live(page)
        banner = page.locator("#engine-banner p")
        await expect(banner).to_be_hidden()

        await fake_ollama.stop()  # connections refused: the built-in engine stands in
        ticket_id = await post_ticket(
            base, "The app crashes every time I open the export page, please help."
        )
        await expect(row(page, ticket_id).locator(".status-badge")).to_have_text(
            "Needs reply", timeout=30_000
        )
        assert (await fetch_ticket(database_url, ticket_id))["engine"] == "builtin"
        await expect(banner).to_be_visible(timeout=BANNER_SECONDS)
        await expect(banner).to_contain_text(BANNER)
        await expect(page.locator("#engine-banner")).to_have_role("status")
        await expect(banner.get_by_role("link", name="Triage quality")).to_have_attribute(
            "href", "/dashboard/stats"
        )

        await row(page, ticket_id).click()
        await expect(page.locator(".triaged-by")).to_have_text("Built-in engine · builtin-v1")
        retry = page.get_by_role("button", name="Retry with the LLM")
        await expect(retry).to_be_visible()
        await expect(retry).to_be_disabled()  # it would only be the built-in engine again
        await expect(retry).to_have_accessible_description(
            "The LLM is unreachable: retry once it is back."
        )

        await fake_ollama.start()
        await expect(banner).to_be_hidden(timeout=BANNER_SECONDS)
        await expect(retry).to_be_enabled()
        await retry.click()
        await expect(page.locator(".triaged-by")).to_have_text(
            "LLM (Ollama) · mistral:7b · prompt triage-v1", timeout=30_000
        )
        await expect(retry).to_be_hidden()  # the LLM's own triage: nothing to redo
        await expect(page.locator("#draft")).to_be_editable()
        ticket = await fetch_ticket(database_url, ticket_id)
        assert (ticket["engine"], ticket["status"]) == ("ollama", "COMPLETED")
        assert fake_ollama.calls, "the LLM was not asked"
        await page.keyboard.press("Escape")
        # The stats page is one click away.
        await (
            page.get_by_role("navigation", name="Main")
            .get_by_role("link", name="Triage quality")
            .click()
        )
        await expect(page.get_by_role("heading", name="Triage quality")).to_be_visible()
        await watch.assert_clean()


def delivery_states(page: Page) -> Any:
    """The lines of the open ticket's deliveries."""
    return page.locator("#deliveries li")


async def resolve_by_api(base: str, ticket_id: str, reply: str) -> None:
    """Another agent's resolve, through the API."""
    async with aiohttp.ClientSession(headers=AUTH) as session:
        url = f"{base}/tickets/{ticket_id}/resolve"
        async with session.put(url, json={"ai_draft": reply}) as resolved:
            assert resolved.status == 200, await resolved.text()


async def test_the_reply_is_queued_then_sent_retried_or_not_delivered(
    database_url: str, mailbox: Mailbox, aiohttp_server: Server
) -> None:
    # This replica sends nothing (no delivery workers): its deliveries stay queued until a
    # second replica, started below, sends them — and the first one's page hears it.
    base = await serve(
        aiohttp_server, database_url, TRIAGE_SMTP_URL=mailbox.url, TRIAGE_DELIVERY_WORKERS=0,
        **MAIL,
    )  # fmt: skip
    tickets = []
    for n in range(3):
        ticket_id = await post_ticket(
            base, f"I was charged twice this month, order #44{n}.", email=f"ada{n}@example.com",
            name="Ada",
        )  # fmt: skip
        await set_triage(database_url, ticket_id, status="COMPLETED", category="Billing",
                         sentiment=3, urgency="High", draft=REFUNDED)  # fmt: skip
        tickets.append(ticket_id)
    first, second, third = tickets
    async with launch_browser() as browser:
        context = await new_context(browser)
        page, watch = await open_page(context, f"{base}/dashboard?ticket={first}")
        await wait_live(page)
        await expect(page.locator(".detail-title .requester")).to_have_text(
            "From: Ada · ada0@example.com"
        )
        await expect(page.locator("#draft")).to_have_value(REFUNDED)
        await page.get_by_role("button", name="Resolve").click()
        await expect(page.locator("dialog.detail")).to_be_hidden()  # after the undo window
        await page.evaluate("window.stillTheSamePage = true")
        await page.goto(f"{base}/dashboard?status=resolved&ticket={first}")
        await page.evaluate("window.stillTheSamePage = true")
        await expect(delivery_states(page)).to_have_text(["E-mail Queued"])
        await expect(page.locator("#preview-heading")).to_have_text("The reply")
        await expect(page.locator("dialog.detail")).not_to_contain_text("Reply sent")
        assert mailbox.received == []

        # A second replica with workers sends it; this page hears it through NOTIFY.
        await serve(aiohttp_server, database_url, TRIAGE_SMTP_URL=mailbox.url,
                    TRIAGE_DELIVERY_BACKOFF_SECONDS=6, **MAIL)  # fmt: skip
        await expect(delivery_states(page).locator(".delivery-state")).to_have_text("Reply sent")
        await expect(delivery_states(page).first).to_have_class(re.compile("delivery-sent"))
        assert [mail["To"] for mail in mailbox.received] == ["Ada <ada0@example.com>"]
        assert await page.evaluate("window.stillTheSamePage") is True  # live, not reloaded

        # Refused for now (4xx): retrying, then sent.
        mailbox.refusals = ["451 4.3.0 mailbox busy, try again later"]
        await page.goto(f"{base}/dashboard?status=resolved&ticket={second}")
        await resolve_by_api(base, second, "We have refunded the charge, Ada.")
        states = delivery_states(page).locator(".delivery-state")
        await expect(states).to_have_text("Retrying (1)")
        await expect(delivery_states(page).locator(".delivery-detail")).to_have_text(
            re.compile(r"^Last try: the mail server could not take the mail now \(451")
        )
        await expect(page.locator("dialog.detail")).not_to_contain_text("Reply sent")
        await expect(states).to_have_text("Reply sent", timeout=20_000)

        # Refused for good (5xx): not delivered, and why.
        mailbox.refuse_recipient = "550 5.1.1 no such user here"
        await page.goto(f"{base}/dashboard?status=resolved&ticket={third}")
        await resolve_by_api(base, third, "We have refunded the charge, Ada.")
        await expect(states).to_have_text(
            "Not delivered: the mail server refused the address (550)."
        )
        await expect(delivery_states(page).first).to_have_class(re.compile("delivery-failed"))
        await expect(page.locator("dialog.detail")).not_to_contain_text("Reply sent")
        query = "SELECT status FROM deliveries WHERE ticket_id = $1"
        assert await sql(database_url, query, third) == "FAILED"
        await watch.assert_clean()


async def test_a_reply_that_lost_the_race_to_another_agents_is_kept(
    database_url: str, aiohttp_server: Server
) -> None:
    ticket_id, other = [
        await insert_ticket(database_url, f"I was charged twice this month! ({n})", 5)
        for n in (1, 2)
    ]
    for each in (ticket_id, other):
        await set_triage(database_url, each, status="COMPLETED", category="Billing", sentiment=2,
                         urgency="High", draft="We are sorry about the double charge.")  # fmt: skip
    base = await serve(aiohttp_server, database_url)
    tess_text = "Hello, I have refunded the second charge myself today. Kind regards, Tess"
    dana_text = "Hello, the second charge is refunded. Best, Dana"
    await seed_accounts(database_url, "dana", "dana's password!", "th_dana-token-for-the-race")
    async with launch_browser() as browser:
        context = await new_context(browser)
        tess, tess_watch = await open_page(context, f"{base}/dashboard?ticket={ticket_id}")
        tess_watch.allow(r"status of 41[2]|status of 409")
        await wait_live(tess)
        dana_context = await new_context(browser)
        dana, dana_watch = await open_page(
            dana_context, f"{base}/dashboard?ticket={ticket_id}", "dana", "dana's password!"
        )
        await dana.locator("#draft").fill(dana_text)
        await dana.get_by_role("button", name="Resolve").click()  # her 5 s start first
        await tess.locator("#draft").fill(tess_text)
        await tess.get_by_role("button", name="Resolve").click()
        await expect(dana.locator("dialog.detail")).to_be_hidden()

        # Dana's went out; Tess's was refused (412) — and her text is still there, said so.
        unsent = tess.locator("#unsent-reply")
        await expect(unsent).to_be_visible()
        await expect(unsent).to_contain_text(
            "dana resolved this ticket first, so your reply was not sent."
        )
        await expect(tess.locator("#unsent-text")).to_have_value(tess_text)
        await expect(tess.locator(".toast-error")).to_contain_text("Could not resolve")
        ticket = await fetch_ticket(database_url, ticket_id)
        assert (ticket["ai_draft"], ticket["resolved_by"]) == (dana_text, "dana")
        await expect(tess.locator("#draft-preview")).to_contain_text("charge is refunded")

        await tess.reload()  # kept in this browser until Tess lets it go
        await expect(tess.locator("#unsent-text")).to_have_value(tess_text)
        await tess.get_by_role("button", name="Dismiss").click()
        await expect(unsent).to_be_hidden()
        await tess.reload()
        await expect(tess.locator(".detail-head .status-badge")).to_have_text("Resolved")
        await expect(unsent).to_be_hidden()

        # Resolved by someone else while Tess is still typing (she never pressed Resolve): what
        # she typed stays too, unsent — heard from the stream, not on her next save.
        await tess.goto(f"{base}/dashboard?ticket={other}")
        await tess.locator("#draft").fill("Hello, I am still writing this")
        await tess.locator("#draft").type(" reply")
        await resolve_by_api(base, other, dana_text)
        await expect(tess.locator(".detail-head .status-badge")).to_have_text("Resolved")
        await expect(tess.locator("#unsent-text")).to_have_value(
            "Hello, I am still writing this reply"
        )
        await tess_watch.assert_clean()
        await dana_watch.assert_clean()
        await dana_context.close()
