"""Tickets in any state, written straight to the database for tests that need them."""

from __future__ import annotations

import asyncpg

DRAFT = "We are sorry about the double charge; a refund is on its way."

_TO_STATUS = {
    "PENDING": "",
    "PROCESSING": """UPDATE tickets SET status = 'PROCESSING', attempts = 1,
        claim_token = gen_random_uuid(), lease_expires_at = now() + interval '1 hour'""",
    "COMPLETED": f"""UPDATE tickets SET status = 'COMPLETED', attempts = 1, category = 'Billing',
        sentiment = 2, urgency = 'High', ai_draft = '{DRAFT}', model = 'mistral:7b',
        ai_category = 'Billing', ai_sentiment = 2, ai_urgency = 'High'""",
    "FAILED": """UPDATE tickets SET status = 'FAILED', attempts = 3,
        last_error = 'sentiment: Input should be less than or equal to 10'""",
    "RESOLVED": f"""UPDATE tickets SET status = 'RESOLVED', attempts = 1, category = 'Billing',
        sentiment = 2, urgency = 'High', ai_draft = '{DRAFT}', resolved_at = now()""",
}


async def insert_tickets(database_url: str, count: int, status: str = "PENDING") -> list[str]:
    """Insert `count` tickets one second apart, oldest first; returns their ids in that order."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """INSERT INTO tickets (user_message, created_at)
               SELECT 'ticket number ' || n || ' says hello',
                      now() - interval '1 day' + n * interval '1 second'
               FROM generate_series(1, $1) AS n
               RETURNING id, created_at""",
            count,
        )
        ids = [row["id"] for row in sorted(rows, key=lambda row: row["created_at"])]
        if _TO_STATUS[status]:
            await conn.execute(_TO_STATUS[status] + " WHERE id = ANY($1::uuid[])", ids)
        return [str(ticket_id) for ticket_id in ids]
    finally:
        await conn.close()
