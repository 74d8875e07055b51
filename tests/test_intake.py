"""POST /tickets: the public intake."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.waiting import count_tickets

JSON = {"Content-Type": "application/json"}


async def test_create_returns_201_with_location_and_stores_the_trimmed_message(
    client: TestClient[Any, Any], database_url: str
) -> None:
    response = await client.post("/tickets", json={"message": "  I was charged twice!  "})
    assert response.status == 201
    assert response.content_type == "application/json"
    assert response.charset == "utf-8"
    body = await response.json()
    ticket_id = uuid.UUID(body["ticket_id"])
    assert body["status"] == "PENDING"
    assert body["message"] == "Ticket created and queued for processing"
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None
    assert response.headers["Location"] == f"/tickets/{ticket_id}"

    stored = await (await client.get(response.headers["Location"])).json()
    assert stored["user_message"] == "I was charged twice!"
    assert stored["status"] == "PENDING"


@pytest.mark.parametrize("length", [10, 5000])
async def test_message_length_bounds_are_inclusive(
    client: TestClient[Any, Any], length: int
) -> None:
    response = await client.post("/tickets", json={"message": "é" * length})
    assert response.status == 201


async def test_length_is_counted_after_trimming(client: TestClient[Any, Any]) -> None:
    response = await client.post("/tickets", json={"message": "\n  " + "x" * 5000 + "\t "})
    assert response.status == 201


async def test_astral_characters_are_fine(client: TestClient[Any, Any]) -> None:
    message = "😡" * 5000  # 20 kB of UTF-8, 60 kB as \\ud83d\\ude21 escapes
    response = await client.post("/tickets", data=json.dumps({"message": message}), headers=JSON)
    assert response.status == 201


BAD_BODIES = [
    pytest.param(b"{not json", "invalid_json", id="invalid-json"),
    pytest.param(b"\xff\xfe{}", "invalid_json", id="invalid-utf8"),
    pytest.param(b"", "invalid_json", id="empty-body"),
    pytest.param(b'["a list"]', "invalid_json", id="not-an-object"),
    pytest.param(b'"a string"', "invalid_json", id="json-string"),
    pytest.param(b"{}", "validation_error", id="missing-message"),
    pytest.param(b'{"message": null}', "validation_error", id="null-message"),
    pytest.param(b'{"message": 12345678901}', "validation_error", id="number-message"),
    pytest.param(b'{"message": ["a", "b"]}', "validation_error", id="list-message"),
    pytest.param(b'{"message": "too short"}', "validation_error", id="short"),
    pytest.param(b'{"message": "   short    "}', "validation_error", id="short-after-trim"),
    pytest.param(json.dumps({"message": "x" * 5001}).encode(), "validation_error", id="too-long"),
    pytest.param(b'{"message": "hello\\u0000 world, NUL"}', "validation_error", id="nul"),
    pytest.param(b'{"message": "lone \\ud800 surrogate"}', "validation_error", id="surrogate"),
]


@pytest.mark.parametrize(("body", "code"), BAD_BODIES)
async def test_bad_bodies_get_400_and_change_nothing(
    client: TestClient[Any, Any], database_url: str, body: bytes, code: str
) -> None:
    response = await client.post("/tickets", data=body, headers=JSON)
    assert response.status == 400
    error = await response.json()
    assert error["error"] == code
    assert error["message"]
    if code == "validation_error":
        assert [field["field"] for field in error["fields"]] == ["message"]
    assert await count_tickets(database_url) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}],
)
async def test_non_json_content_type_gets_415(
    client: TestClient[Any, Any], database_url: str, headers: dict[str, str]
) -> None:
    response = await client.post(
        "/tickets", data=b'{"message": "a perfectly fine message"}', headers=headers
    )
    assert response.status == 415
    assert (await response.json())["error"] == "unsupported_media_type"
    assert await count_tickets(database_url) == 0


async def test_json_with_charset_is_accepted(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/tickets",
        data=b'{"message": "a perfectly fine message"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 201


async def test_body_over_the_limit_gets_413(
    client: TestClient[Any, Any], database_url: str
) -> None:
    body = json.dumps({"message": "x" * 4000, "padding": "y" * 70_000}).encode()
    response = await client.post("/tickets", data=body, headers=JSON)
    assert response.status == 413
    assert (await response.json())["error"] == "payload_too_large"
    assert await count_tickets(database_url) == 0


async def test_unknown_route_and_wrong_method_are_json_errors(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/nothing-here")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"
    response = await client.delete("/tickets")
    assert response.status == 405
    assert (await response.json())["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


async def test_contact_is_optional_stored_lower_cased_and_shown(
    client: TestClient[Any, Any],
) -> None:
    body = {"message": "Where is my refund?", "email": " Ada@Example.COM ", "name": " Ada "}
    response = await client.post("/tickets", json=body)
    assert response.status == 201
    ticket_id = (await response.json())["ticket_id"]
    stored = await (await client.get(f"/tickets/{ticket_id}")).json()
    assert (stored["email"], stored["name"]) == ("ada@example.com", "Ada")
    [listed] = (await (await client.get("/tickets")).json())["tickets"]
    assert (listed["email"], listed["name"]) == ("ada@example.com", "Ada")

    anonymous = await client.post("/tickets", json={"message": "No contact given here."})
    stored = await (await client.get(anonymous.headers["Location"])).json()
    assert (stored["email"], stored["name"]) == (None, None)


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        ({"email": "not an address"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "ada@"}, "email"),
        ({"email": 42}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul \u0000 name"}, "name"),
    ],
)
async def test_bad_contact_gets_400_naming_the_field(
    client: TestClient[Any, Any], database_url: str, contact: dict[str, Any], field: str
) -> None:
    response = await client.post("/tickets", json={"message": "A fine message.", **contact})
    assert response.status == 400
    error = await response.json()
    assert [item["field"] for item in error["fields"]] == [field]
    assert await count_tickets(database_url) == 0
