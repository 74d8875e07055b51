"""GET /events: server-sent events fed by LISTEN/NOTIFY, across replicas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import StartApp, engine_settings
from tests.fake_ollama import Behaviour, FakeOllama, triage_for
from tests.sse import EventReader
from tests.waiting import wait_for_statuses

MESSAGE = "The invoice for October charged us twice, please fix it."
pytestmark = pytest.mark.both_backends


async def open_stream(client: Any) -> EventReader:
    response = await client.get("/events")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"].startswith("no-cache")
    return EventReader(response)


async def test_changes_made_through_one_replica_reach_the_stream_of_another(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    worker = await start_app(engine_settings(database_url, fake_ollama))
    viewer = await start_app(engine_settings(database_url, fake_ollama, TRIAGE_CLAIMERS=0))
    stream = await open_stream(viewer)

    created = await worker.post("/tickets", json={"message": MESSAGE})
    ticket_id = (await created.json())["ticket_id"]
    # The worker's claimers are woken in-process, so the claim may be announced before the
    # debounced new-ticket NOTIFY: collect everything up to COMPLETED, in any order.
    seen = []
    while not seen or seen[-1].json().get("status") != "COMPLETED":
        seen.append(await stream.next())
    assert stream.retry_ms == 2000
    assert "tickets" in [event.kind for event in seen]
    changes = [event.json() for event in seen if event.kind == "ticket"]
    assert [change["status"] for change in changes] == ["PROCESSING", "COMPLETED"]
    assert {change["id"] for change in changes} == {ticket_id}
    assert all(event.id for event in seen)
    expected = triage_for(MESSAGE)
    assert changes[-1]["category"] == expected["category"]
    assert changes[-1]["urgency"] == expected["urgency"]

    resolved = await viewer.put(f"/tickets/{ticket_id}/resolve", json={"ai_draft": "Done!"})
    assert resolved.status == 200
    await stream.wait_for("ticket", id=ticket_id, status="RESOLVED")
    stream.response.close()


async def test_the_draft_streams_while_the_model_writes(
    engine: Any, database_url: str, fake_ollama: FakeOllama
) -> None:
    draft = "Thank you for reporting the double charge. " * 8
    answer = json.dumps({"category": "Billing", "sentiment": 3, "urgency": "High", "draft": draft})
    fake_ollama.behaviour = Behaviour.reply(answer, chunks=30, chunk_delay=0.05)
    stream = await open_stream(engine)
    created = await engine.post("/tickets", json={"message": MESSAGE})
    ticket_id = (await created.json())["ticket_id"]
    partial = await stream.wait_for("draft", id=ticket_id)
    so_far = partial.json()["draft"]
    assert so_far and draft.startswith(so_far) and len(so_far) < len(draft)
    await stream.wait_for("ticket", id=ticket_id, status="COMPLETED")
    await wait_for_statuses(database_url, {"COMPLETED"}, 1)
    stream.response.close()


@pytest.mark.parametrize("ascii_only", [True, False], ids=["escaped", "raw"])
async def test_emoji_and_unicode_line_breaks_stream_intact(
    engine: Any, database_url: str, fake_ollama: FakeOllama, ascii_only: bool
) -> None:
    """Escaped surrogate pairs split across chunks, and U+2028, U+2029, U+0085 in the draft: every
    event arrives whole as JSON, each a prefix of the draft, and the ticket completes."""
    draft = "Thank you \U0001f600 for the kind words!\u2028Line two\u2029three\u0085four. " * 4
    answer = json.dumps(
        {"category": "Feature Request", "sentiment": 9, "urgency": "Low", "draft": draft},
        ensure_ascii=ascii_only,
    )
    fake_ollama.behaviour = Behaviour.reply(answer, chunks=60, chunk_delay=0.03)
    stream = await open_stream(engine)
    created = await engine.post("/tickets", json={"message": MESSAGE})
    ticket_id = (await created.json())["ticket_id"]
    drafts = []
    while True:
        event = await stream.next()
        if event.kind == "draft":
            drafts.append(event.json()["draft"])  # strict JSON: a split event would not parse
        elif event.kind == "ticket" and event.json()["status"] == "COMPLETED":
            break
    assert drafts and all(draft.strip().startswith(shown) for shown in drafts)
    assert any("\u2028" in shown for shown in drafts)
    assert list((await wait_for_statuses(database_url, {"COMPLETED"}, 1)).values()) == ["COMPLETED"]
    stored = (await (await engine.get(f"/tickets/{ticket_id}")).json())["ai_draft"]
    assert stored == draft.strip()
    stream.response.close()


async def test_streams_end_when_the_server_shuts_down(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    client = await start_app(engine_settings(database_url, fake_ollama))
    stream = await open_stream(client)
    await client.server.close()
    try:
        while True:
            await stream.next(timeout=5)
    except (EOFError, Exception) as ended:
        assert not isinstance(ended, TimeoutError)
