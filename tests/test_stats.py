"""/stats: how often each engine agreed with the agents, and the page that shows it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.factories import insert_tickets
from tests.waiting import sql

Client = TestClient[Any, Any]


async def resolve(client: Client, ticket_id: str, **fields: Any) -> None:
    body = {"ai_draft": "Thanks for telling us; it is sorted now.", **fields}
    response = await client.put(f"/tickets/{ticket_id}/resolve", json=body)
    assert response.status == 200


async def test_stats_show_agreement_after_a_few_corrected_tickets(
    client: Client, database_url: str
) -> None:
    ids = await insert_tickets(database_url, 4, "COMPLETED")  # AI: Billing, High, sentiment 2
    await sql(database_url, "UPDATE tickets SET engine = 'ollama', prompt_version = 'triage-v1'")
    await resolve(client, ids[0])  # the agent agreed
    await resolve(client, ids[1], urgency="Low")  # corrected the urgency
    await resolve(client, ids[2], category="Technical", sentiment=5)
    await insert_tickets(database_url, 1, "FAILED")

    response = await client.get("/stats", params={"days": "7"})
    assert response.status == 200
    report = await response.json()
    [(group, figures)] = report["agreement"].items()
    assert group == "ollama · mistral:7b · triage-v1"
    assert figures["tickets"] == 3
    assert figures["fields"]["category"]["accuracy"] == 2 / 3
    assert figures["fields"]["urgency"]["accuracy"] == 2 / 3
    assert figures["high_urgency_recall"] == 1.0  # both High-by-the-agent were High by the AI
    assert figures["sentiment_mae"] == 1.0  # 0, 0, 3
    assert report["failures"][0]["tickets"] == 1
    assert (
        report["failures"][0]["reason"]
        == "the model's sentiment was not a whole number from 1 to 10"
    )
    assert (await client.get("/stats", params={"days": "0"})).status == 400

    page = await client.get("/dashboard/stats", params={"days": "7"})
    assert page.status == 200
    html = await page.text()
    assert "<svg" in html and "67 %" in html and "ollama · mistral:7b · triage-v1" in html
    assert "the model&#39;s sentiment was not a whole number" in html
