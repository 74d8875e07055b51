"""The agent's desk over HTTP: corrections, ETags, saved replies, presence, search."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.auth import seed_accounts
from tests.conftest import StartApp, make_settings
from tests.factories import insert_tickets
from tests.sse import EventReader
from tests.waiting import fetch_ticket, sql
from triage_hub.db import tickets
from triage_hub.db.pool import Database, create_pool

Client = TestClient[Any, Any]
DANA_TOKEN = "th_dana-s-own-token-for-the-desk-tests"
DANA = {"Authorization": f"Bearer {DANA_TOKEN}"}


@pytest.fixture
async def two_desks(start_app: StartApp, database_url: str) -> tuple[Client, Client]:
    """Two replicas on one database: the suite's agent (tess) on one, Dana on the other."""
    await seed_accounts(database_url, "dana", "dana's password!", DANA_TOKEN)
    tess = await start_app(make_settings(database_url))
    dana = await start_app(make_settings(database_url))
    dana.session.headers.update(DANA)
    return tess, dana


async def detail(client: Client, ticket_id: str) -> tuple[dict[str, Any], str]:
    response = await client.get(f"/tickets/{ticket_id}")
    assert response.status == 200
    return await response.json(), response.headers["ETag"]


async def test_a_correction_keeps_the_ais_values_and_says_who_changed_what(
    two_desks: tuple[Client, Client], database_url: str
) -> None:
    tess, dana = two_desks
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    stream = EventReader(await tess.get("/events"))
    before, etag = await detail(dana, ticket_id)
    assert (before["ai_urgency"], before["urgency"]) == ("High", "High")
    assert etag == f'"r{before["revision"]}"'

    response = await dana.patch(
        f"/tickets/{ticket_id}",
        json={"urgency": "Low", "sentiment": 6},
        headers={"If-Match": etag},
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    revision = before["revision"] + 1
    assert response.headers["ETag"] == f'"r{revision}"' and body["ticket"]["revision"] == revision
    assert [(c["field"], c["old_value"], c["new_value"]) for c in body["changes"]] == [
        ("urgency", "High", "Low"),
        ("sentiment", "2", "6"),
    ]
    after, _ = await detail(tess, ticket_id)
    assert (after["urgency"], after["sentiment"]) == ("Low", 6)
    assert (after["ai_urgency"], after["ai_sentiment"], after["ai_category"]) == (
        "High",
        2,
        "Billing",
    )
    assert {c["actor"] for c in after["changes"]} == {"dana (API token)"}
    assert after["status"] == "COMPLETED"
    # Every open dashboard hears it (and re-sorts): another replica's stream here.
    event = await stream.wait_for("ticket", id=ticket_id, urgency="Low")
    assert event.json()["revision"] == revision
    stream.response.close()


async def test_a_stale_page_gets_412_and_is_told_who_changed_what(
    two_desks: tuple[Client, Client], database_url: str
) -> None:
    tess, dana = two_desks
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    _, etag = await detail(tess, ticket_id)
    assert (await dana.patch(f"/tickets/{ticket_id}", json={"category": "Technical"})).status == 200

    for method, path, payload in (
        ("PUT", f"/tickets/{ticket_id}/resolve", {"ai_draft": "Thanks, fixed on our side."}),
        ("PATCH", f"/tickets/{ticket_id}", {"urgency": "Medium"}),
    ):
        response = await tess.request(method, path, json=payload, headers={"If-Match": etag})
        assert response.status == 412
        error = await response.json()
        assert error["error"] == "precondition_failed"
        assert error["message"] == (
            "dana (API token) changed category from Billing to Technical since you loaded this "
            "ticket."
        )
        assert error["revision"] == int(etag.strip('"r')) + 1 and error["status"] == "COMPLETED"
    row = await fetch_ticket(database_url, ticket_id)
    assert (row["status"], row["urgency"], row["category"]) == ("COMPLETED", "High", "Technical")

    garbage = await tess.patch(
        f"/tickets/{ticket_id}", json={"urgency": "Low"}, headers={"If-Match": "yesterday"}
    )
    assert garbage.status == 412
    _, fresh = await detail(tess, ticket_id)
    resolved = await tess.put(
        f"/tickets/{ticket_id}/resolve",
        json={"ai_draft": "Thanks, fixed on our side.", "urgency": "Medium"},
        headers={"If-Match": fresh},
    )
    assert resolved.status == 200
    final, _ = await detail(dana, ticket_id)
    assert (final["status"], final["urgency"], final["resolved_by"]) == (
        "RESOLVED",
        "Medium",
        "tess (API token)",
    )
    assert [(c["actor"], c["field"]) for c in final["changes"]] == [
        ("dana (API token)", "category"),
        ("tess (API token)", "urgency"),
        ("tess (API token)", "status"),
    ]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 200, None),  # nothing to change: nothing changes
        ({"urgency": "Urgent"}, 400, "validation_error"),
        ({"sentiment": 11}, 400, "validation_error"),
        ({"category": "Billing", "ai_category": "x"}, 200, None),
    ],
)
async def test_corrections_are_validated(
    client: Client, database_url: str, payload: dict[str, Any], status: int, code: str | None
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    response = await client.patch(f"/tickets/{ticket_id}", json=payload)
    assert response.status == status
    if code:
        assert (await response.json())["error"] == code
        assert (await fetch_ticket(database_url, ticket_id))["urgency"] == "High"


async def test_only_open_tickets_can_be_corrected(client: Client, database_url: str) -> None:
    pending, resolved = (
        *await insert_tickets(database_url, 1),
        *await insert_tickets(database_url, 1, "RESOLVED"),
    )
    for ticket_id in (pending, resolved):
        response = await client.patch(f"/tickets/{ticket_id}", json={"urgency": "Low"})
        assert response.status == 409
    missing = await client.patch(
        "/tickets/00000000-0000-0000-0000-000000000000", json={"urgency": "Low"}
    )
    assert missing.status == 404
    [failed] = await insert_tickets(database_url, 1, "FAILED")
    corrected = await client.patch(f"/tickets/{failed}", json={"category": "Technical"})
    assert corrected.status == 200  # a human triages what the model could not
    assert (await fetch_ticket(database_url, failed))["status"] == "FAILED"


async def test_a_saved_reply_is_restored_for_its_author_only(
    two_desks: tuple[Client, Client], database_url: str
) -> None:
    tess, dana = two_desks
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    _, before = await detail(dana, ticket_id)
    saved = await dana.put(f"/tickets/{ticket_id}/draft", json={"draft": "Hi! Half written…"})
    assert saved.status == 200 and (await saved.json())["saved_at"]
    again = await dana.put(f"/tickets/{ticket_id}/draft", json={"draft": "Hi! Now finished."})
    assert again.status == 200
    mine, etag = await detail(dana, ticket_id)
    assert mine["draft"]["body"] == "Hi! Now finished." and mine["other_drafts"] == []
    assert etag == before  # saving a reply is not a change of the ticket
    theirs, _ = await detail(tess, ticket_id)
    assert theirs["draft"] is None
    assert [d["author"] for d in theirs["other_drafts"]] == ["dana (API token)"]

    cleared = await dana.put(f"/tickets/{ticket_id}/draft", json={"draft": ""})
    assert cleared.status == 200
    assert (await detail(dana, ticket_id))[0]["draft"] is None

    await dana.put(f"/tickets/{ticket_id}/draft", json={"draft": "The final words."})
    await tess.put(f"/tickets/{ticket_id}/resolve", json={"ai_draft": "The final words."})
    assert await sql(database_url, "SELECT count(*) FROM reply_drafts") == 0
    late = await dana.put(f"/tickets/{ticket_id}/draft", json={"draft": "too late"})
    assert late.status == 409
    nul = await dana.put(f"/tickets/{ticket_id}/draft", json={"draft": "a\x00b"})
    assert nul.status == 400
    missing = await dana.put(
        "/tickets/00000000-0000-0000-0000-000000000000/draft", json={"draft": "x"}
    )
    assert missing.status == 404


async def test_presence_crosses_replicas_and_expires_with_the_page(
    two_desks: tuple[Client, Client], database_url: str
) -> None:
    tess, dana = two_desks
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    stream = EventReader(await tess.get("/events"))
    for state in ("viewing", "typing"):
        response = await dana.post(f"/tickets/{ticket_id}/presence", json={"state": state})
        assert response.status == 204
        event = await stream.wait_for("presence", id=ticket_id, state=state)
        assert event.json()["viewer"] == "dana (API token)"
    seen, _ = await detail(tess, ticket_id)
    assert [(p["viewer"], p["state"]) for p in seen["presence"]] == [("dana (API token)", "typing")]
    assert (await detail(dana, ticket_id))[0]["presence"] == []  # not oneself

    await dana.post(f"/tickets/{ticket_id}/presence", json={"state": "left"})
    await stream.wait_for("presence", id=ticket_id, state="left")
    assert (await detail(tess, ticket_id))[0]["presence"] == []
    await dana.post(f"/tickets/{ticket_id}/presence", json={"state": "viewing"})
    await sql(database_url, "UPDATE ticket_presence SET seen_at = now() - interval '1 minute'")
    assert (await detail(tess, ticket_id))[0]["presence"] == []  # a page that went silent
    bad = await dana.post(f"/tickets/{ticket_id}/presence", json={"state": "sleeping"})
    assert bad.status == 400
    stream.response.close()


async def test_search_by_words_stems_phrases_and_ids(client: Client, database_url: str) -> None:
    messages = [
        "My invoices for March were charged twice to my card",
        "The mobile app crashes when I upload a photo",
        "Die Rechnungen für März sind doppelt abgebucht worden",
        "Please add a dark mode, the white screen hurts at night",
    ]
    ids = []
    for message in messages:
        created = await client.post("/tickets", json={"message": message})
        ids.append((await created.json())["ticket_id"])

    async def found(**query: str) -> list[str]:
        response = await client.get("/tickets", params=query)
        assert response.status == 200, await response.text()
        return [row["id"] for row in (await response.json())["tickets"]]

    assert await found(q="invoice charged") == [ids[0]]  # English stems: invoices, charged
    assert await found(q="Rechnungen") == [ids[2]]  # the exact word, in any language
    assert await found(q="rechnung") == []  # a German stem: once the ticket's language is known
    await sql(database_url, "UPDATE tickets SET language = 'de' WHERE id = $1", ids[2])
    assert await found(q="rechnung") == [ids[2]]
    assert await found(q='"dark mode"') == [ids[3]]
    assert await found(q="photo -crashes") == []
    assert set(await found(q="twice or photo")) == {ids[0], ids[1]}
    assert await found(q=ids[1]) == [ids[1]]
    assert await found(q=ids[1][:8]) == [ids[1]]
    assert await found(q=ids[1][:8], sort="urgent") == [ids[1]]
    assert await found(q=ids[1][:8], status="RESOLVED") == []
    assert await found(q="invoice charged", sort="urgent") == [ids[0]]
    assert await found(q="invoice", status="RESOLVED") == []
    assert await found(q="nothing like this here") == []
    too_long = await client.get("/tickets", params={"q": "x" * 201})
    assert too_long.status == 400


async def test_a_failed_ticket_explains_itself(client: Client, database_url: str) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "FAILED")
    await sql(
        database_url,
        "UPDATE tickets SET last_error = $1",
        "category: Input should be 'Billing', 'Technical' or 'Feature Request'",
    )
    ticket, _ = await detail(client, ticket_id)
    assert ticket["last_error_explained"] == "the model answered a category we do not use"
    assert ticket["last_error"].startswith("category: Input should be")


async def test_a_search_looks_among_the_newest_first_and_then_everywhere(
    database_url: str,
) -> None:
    """The window path (the newest tickets first) and the fallback give the same pages."""
    ids = await insert_tickets(database_url, 30)  # 'ticket number N says hello', oldest first
    await sql(database_url, "UPDATE tickets SET user_message = 'the oldest one mentions zebras' "
              "WHERE id = $1", ids[0])  # fmt: skip
    pool = await create_pool(database_url, 2)
    try:
        db = Database(pool)
        window = tickets.RecentWindow(size=5)
        common = await tickets.list_tickets(db, 1, 3, [], "newest", "hello", window)
        assert [str(t.id) for t in common.tickets] == ids[::-1][:3]  # found in the window
        assert common.pagination.total_is_estimate  # more pages, uncounted
        deep = await tickets.list_tickets(db, 4, 3, [], "newest", "hello", window)
        assert [str(t.id) for t in deep.tickets] == ids[::-1][9:12]  # past it: everywhere
        rare = await tickets.list_tickets(db, 1, 3, [], "newest", "zebras", window)
        assert [str(t.id) for t in rare.tickets] == [ids[0]]
        assert (rare.pagination.total, rare.pagination.total_is_estimate) == (1, False)
    finally:
        await pool.close()
