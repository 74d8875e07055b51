"""GET /tickets?sort=urgent: the right order page after page, and a plan that walks an index
(as pgqueuer guards its claim query) instead of sorting every matching row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import insert_tickets
from triage_hub.db.tickets import SQL

Client = TestClient[Any, Any]
ACTIVE = ["PENDING", "PROCESSING", "COMPLETED", "FAILED"]
EVERY = [*ACTIVE, "RESOLVED"]
RANK = {"High": 0, "Medium": 2, "Low": 3, None: 4}
FAILED_RANK = 1  # right after High: it needs a human


def rank(row: Any) -> int:
    """The urgent order's rank of a ticket."""
    if row["urgency"] != "High" and row["status"] == "FAILED":
        return FAILED_RANK
    return RANK[row["urgency"]]


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A plan node and every node under it."""
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


async def test_urgent_pages_follow_one_order_across_statuses(
    client: Client, database_url: str
) -> None:
    ids = [
        *await insert_tickets(database_url, 4, "PENDING"),
        *await insert_tickets(database_url, 5, "COMPLETED"),
        *await insert_tickets(database_url, 3, "FAILED"),
        *await insert_tickets(database_url, 2, "RESOLVED"),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        for n, ticket_id in enumerate(ids):  # every urgency in every status, created in turn
            urgency = ["High", "Medium", "Low", None][n % 4]
            await conn.execute(
                """UPDATE tickets
                   SET urgency = CASE WHEN status IN ('COMPLETED', 'RESOLVED')
                                      THEN coalesce($2, 'Low') ELSE $2 END,
                       created_at = now() - make_interval(secs => $3)
                   WHERE id = $1""",
                ticket_id,
                urgency,
                n * 7 % 13,  # some at the same moment: then by id
            )
        rows = await conn.fetch("SELECT id, status, urgency, created_at FROM tickets")
    finally:
        await conn.close()
    for statuses in (ACTIVE, ["FAILED", "PENDING"], EVERY):
        expected = [
            str(row["id"])
            for row in sorted(
                (row for row in rows if row["status"] in statuses),
                key=lambda row: (rank(row), row["created_at"], row["id"]),
            )
        ]
        seen: list[str] = []
        for page in range(1, 7):
            params = {"status": ",".join(statuses), "sort": "urgent", "limit": 3, "page": page}
            body = await (await client.get("/tickets", params=params)).json()
            seen += [ticket["id"] for ticket in body["tickets"]]
        assert seen == expected, statuses


async def test_the_urgent_order_walks_its_index(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        # 20,000 tickets, mostly RESOLVED, each status with every urgency: enough rows that a
        # plan sorting all of them costs far more than walking an index.
        await conn.execute(
            """
            INSERT INTO tickets (user_message, status, category, sentiment, urgency, ai_draft,
                                 claim_token, lease_expires_at, resolved_at, created_at)
            SELECT 'ticket number ' || n || ' says hello', status,
                   'Billing', 5, (ARRAY['High', 'Medium', 'Low'])[1 + n % 3],
                   'We are sorry about the double charge; a refund is on its way.',
                   CASE WHEN status = 'PROCESSING' THEN gen_random_uuid() END,
                   CASE WHEN status = 'PROCESSING' THEN now() + interval '1 hour' END,
                   CASE WHEN status = 'RESOLVED' THEN now() END,
                   now() - n * interval '1 minute'
            FROM generate_series(1, 20000) AS n,
                 LATERAL (SELECT CASE WHEN n % 10 < 7 THEN 'RESOLVED'
                                      ELSE (ARRAY['PENDING', 'PROCESSING', 'COMPLETED',
                                                  'FAILED'])[1 + n % 4] END AS status) AS s
            """
        )
        await conn.execute("VACUUM ANALYZE tickets")
        for statuses in (ACTIVE, ["PENDING"], EVERY):
            for limit, offset in ((20, 0), (100, 2000)):
                plan = await conn.fetchval(
                    "EXPLAIN (FORMAT JSON) " + SQL["list_tickets_urgent"], statuses, limit, offset
                )
                nodes = list(plan_nodes(json.loads(plan)[0]["Plan"]))
                scans = {
                    (node["Node Type"], node.get("Index Name"))
                    for node in nodes
                    if node.get("Relation Name") == "tickets"
                }
                assert scans == {
                    ("Index Only Scan", "tickets_urgent_v2_idx"),
                    ("Index Scan", "tickets_pkey"),
                }, (statuses, offset, scans)
                sorted_rows = [node["Plan Rows"] for node in nodes if node["Node Type"] == "Sort"]
                # Only the few rows the index scans handed on are sorted, never the table.
                assert all(rows <= len(statuses) * (limit + offset) for rows in sorted_rows)
    finally:
        await conn.close()
