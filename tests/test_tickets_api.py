"""GET /tickets, GET /tickets/{id}, PUT /tickets/{id}/resolve."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.factories import DRAFT, insert_tickets

Client = TestClient[Any, Any]


async def test_list_is_newest_first_and_paginated(client: Client, database_url: str) -> None:
    ids = await insert_tickets(database_url, 45)
    first = await (await client.get("/tickets")).json()
    assert [t["id"] for t in first["tickets"]] == ids[::-1][:20]
    assert first["pagination"] == {
        "page": 1,
        "limit": 20,
        "total": 45,
        "total_pages": 3,
        "total_is_estimate": False,
    }
    last = await (await client.get("/tickets", params={"page": "3", "limit": "20"})).json()
    assert [t["id"] for t in last["tickets"]] == ids[::-1][40:]
    beyond = await (await client.get("/tickets", params={"page": "4"})).json()
    assert beyond["tickets"] == []
    summary = first["tickets"][0]
    assert set(summary) >= {
        "id",
        "user_message",
        "category",
        "sentiment",
        "urgency",
        "status",
        "created_at",
    }
    assert datetime.fromisoformat(summary["created_at"]).utcoffset() is not None


async def test_list_filters_by_status(client: Client, database_url: str) -> None:
    await insert_tickets(database_url, 3, "PENDING")
    completed = await insert_tickets(database_url, 2, "COMPLETED")
    response = await client.get("/tickets", params={"status": "COMPLETED", "limit": "1"})
    body = await response.json()
    assert [t["id"] for t in body["tickets"]] == [completed[-1]]
    assert body["tickets"][0]["category"] == "Billing"
    assert body["pagination"]["total"] == 2
    assert body["pagination"]["total_pages"] == 2
    lower = await (await client.get("/tickets", params={"status": "pending"})).json()
    assert lower["pagination"]["total"] == 3


async def test_total_is_an_estimate_past_the_exact_cap(client: Client, database_url: str) -> None:
    from triage_hub.db.tickets import EXACT_COUNT_CAP

    await insert_tickets(database_url, EXACT_COUNT_CAP + 500)
    conn = await asyncpg.connect(database_url)
    await conn.execute("ANALYZE tickets")
    await conn.close()
    for params in ({}, {"status": "PENDING"}):
        body = await (await client.get("/tickets", params=params)).json()
        assert body["pagination"]["total_is_estimate"] is True
        assert EXACT_COUNT_CAP < body["pagination"]["total"] < 2 * EXACT_COUNT_CAP


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": ""}, "page"),
        ({"page": "99999999999999999999"}, "page"),
        ({"page": "5002", "limit": "20"}, "page"),
        ({"page": "1001", "limit": "1"}, "page"),  # one bound for every limit, as documented
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "DONE"}, "status"),
        ({"status": "PENDING,DONE"}, "status"),
        ({"status": "PENDING,"}, "status"),
        ({"status": "proce\u017f\u017fing"}, "status"),  # "ſ".upper() is "S"; not a status
        ({"status": "PENDING\u3000"}, "status"),  # nor is an ideographic space a blank
        ({"sort": "oldest"}, "sort"),
    ],
)
async def test_bad_list_parameters_get_400(
    client: Client, params: dict[str, str], parameter: str
) -> None:
    response = await client.get("/tickets", params=params)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid_parameter"
    assert body["parameter"] == parameter


async def test_get_returns_the_full_ticket(client: Client, database_url: str) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    response = await client.get(f"/tickets/{ticket_id}")
    assert response.status == 200
    ticket = await response.json()
    for field in (
        "id",
        "user_message",
        "category",
        "sentiment",
        "urgency",
        "ai_draft",
        "status",
        "raw_ai_response",
        "created_at",
        "updated_at",
        "attempts",
        "last_error",
        "model",
        "first_token_ms",
        "total_ms",
    ):
        assert field in ticket
    assert ticket["ai_draft"] == DRAFT
    assert ticket["sentiment"] == 2


@pytest.mark.parametrize(
    "bad_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "1", "%00", "' OR 1=1 --"]
)
async def test_unknown_or_malformed_id_is_404(client: Client, bad_id: str) -> None:
    response = await client.get(f"/tickets/{bad_id}")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"
    response = await client.put(f"/tickets/{bad_id}/resolve", json={"ai_draft": "Thanks!"})
    assert response.status == 404


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED"])
async def test_resolve_stores_the_final_reply(
    client: Client, database_url: str, status: str
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, status)
    response = await client.put(
        f"/tickets/{ticket_id}/resolve", json={"ai_draft": "Refunded. Sorry!"}
    )
    assert response.status == 200
    body = await response.json()
    assert body["message"] == "Ticket resolved successfully"
    assert body["ticket"]["id"] == ticket_id
    assert body["ticket"]["status"] == "RESOLVED"
    assert datetime.fromisoformat(body["ticket"]["updated_at"]).utcoffset() is not None
    ticket = await (await client.get(f"/tickets/{ticket_id}")).json()
    assert ticket["status"] == "RESOLVED"
    assert ticket["ai_draft"] == "Refunded. Sorry!"
    assert ticket["resolved_at"] is not None


@pytest.mark.parametrize("status", ["PENDING", "PROCESSING", "RESOLVED"])
async def test_resolve_from_other_states_is_409_and_changes_nothing(
    client: Client, database_url: str, status: str
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, status)
    before = await (await client.get(f"/tickets/{ticket_id}")).json()
    response = await client.put(f"/tickets/{ticket_id}/resolve", json={"ai_draft": "Hi there"})
    assert response.status == 409
    body = await response.json()
    assert body["error"] == "invalid_state"
    assert body["status"] == status
    assert await (await client.get(f"/tickets/{ticket_id}")).json() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ai_draft": ""},
        {"ai_draft": "   \n"},
        {"ai_draft": None},
        {"ai_draft": 42},
        {"ai_draft": "nul \u0000 inside"},
    ],
)
async def test_resolve_needs_a_draft(
    client: Client, database_url: str, body: dict[str, Any]
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    response = await client.put(f"/tickets/{ticket_id}/resolve", json=body)
    assert response.status == 400
    error = await response.json()
    assert error["error"] == "validation_error"
    assert error["fields"][0]["field"] == "ai_draft"
    ticket = await (await client.get(f"/tickets/{ticket_id}")).json()
    assert ticket["status"] == "COMPLETED"


async def test_resolve_checks_the_body_format(client: Client, database_url: str) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    response = await client.put(
        f"/tickets/{ticket_id}/resolve", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    response = await client.put(f"/tickets/{ticket_id}/resolve", data=b"ai_draft=hi")
    assert response.status == 415


async def test_list_several_statuses_and_most_urgent_first(
    client: Client, database_url: str
) -> None:
    pending = await insert_tickets(database_url, 2, "PENDING")
    failed = await insert_tickets(database_url, 1, "FAILED")
    completed = await insert_tickets(database_url, 3, "COMPLETED")
    await insert_tickets(database_url, 2, "RESOLVED")
    conn = await asyncpg.connect(database_url)
    await conn.execute("UPDATE tickets SET urgency = $2 WHERE id = $1", completed[0], "Low")
    await conn.execute("UPDATE tickets SET urgency = $2 WHERE id = $1", completed[1], "Medium")
    await conn.close()
    active = "PENDING,PROCESSING,COMPLETED,FAILED"
    body = await (await client.get("/tickets", params={"status": active})).json()
    assert body["pagination"]["total"] == 6
    assert {t["status"] for t in body["tickets"]} == {"PENDING", "FAILED", "COMPLETED"}
    urgent = await (
        await client.get("/tickets", params={"status": active, "sort": "urgent"})
    ).json()
    # High (completed[2]), then FAILED (needs a human), Medium, Low, then the untriaged.
    ids = [t["id"] for t in urgent["tickets"]]
    assert ids[:4] == [completed[2], failed[0], completed[1], completed[0]]
    assert set(ids[4:]) == set(pending)
    everything = await (await client.get("/tickets", params={"sort": "urgent"})).json()
    assert everything["pagination"]["total"] == 8


async def test_retry_puts_a_failed_ticket_back_in_the_queue(
    client: Client, database_url: str
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "FAILED")
    response = await client.post(f"/tickets/{ticket_id}/retry")
    assert response.status == 200
    body = await response.json()
    assert body["ticket"]["status"] == "PENDING"
    ticket = await (await client.get(f"/tickets/{ticket_id}")).json()
    assert (ticket["status"], ticket["attempts"], ticket["last_error"]) == ("PENDING", 0, None)


@pytest.mark.parametrize("status", ["PENDING", "PROCESSING", "COMPLETED", "RESOLVED"])
async def test_retry_from_other_states_is_409(
    client: Client, database_url: str, status: str
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, status)
    response = await client.post(f"/tickets/{ticket_id}/retry")
    assert response.status == 409
    assert (await response.json())["status"] == status
    assert (await client.post(f"/tickets/{uuid.uuid4()}/retry")).status == 404


async def test_low_confidence_first_lists_what_needs_checking(
    client: Client, database_url: str
) -> None:
    sure, unsure, unknown, middling = await insert_tickets(database_url, 4, "COMPLETED")
    await insert_tickets(database_url, 2, "PENDING")
    conn = await asyncpg.connect(database_url)
    for ticket_id, confidence in (
        (sure, '{"category": 0.97, "urgency": 0.95}'),
        (unsure, '{"category": 0.91, "urgency": 0.41}'),
        (middling, '{"category": 0.62, "urgency": 0.88}'),
    ):
        await conn.execute(
            "UPDATE tickets SET confidence = $2::jsonb WHERE id = $1", ticket_id, confidence
        )
    await conn.close()
    body = await (await client.get("/tickets", params={"sort": "confidence"})).json()
    assert [t["id"] for t in body["tickets"]] == [unsure, middling, sure, unknown]
    assert body["tickets"][0]["confidence"] == {"category": 0.91, "urgency": 0.41}
