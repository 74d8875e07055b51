"""A fresh start with no LLM: how soon the built-in engine completes the first ticket, and then
each one (issue 11: "make run, post a ticket, and it is COMPLETED within a second").

    .venv/bin/python bench/builtin_start.py [--starts 3] [--tickets 50]

Each start: a fresh bench database, `triage-hub serve` with every default (TRIAGE_ENGINE=auto)
and OLLAMA_HOST pointing where nothing listens; one ticket posted the moment /health answers
(the built-in engine is still training then), then tickets one at a time, each timed from the
201 to COMPLETED as PostgreSQL sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DATABASE = "bench_builtin_start"
MESSAGES = [
    "The export button does nothing since the update, please fix it",
    "I was charged twice for my subscription this month, refund one please",
    "Could you add a dark mode? My eyes hurt at night",
    "Our whole team cannot log in since this morning!!",
]


async def completed_after(url: str, server: common.Server, message: str) -> float:
    """Seconds from the 201 of one posted ticket to its COMPLETED row."""
    connection = await asyncpg.connect(url)  # before the post: its connect is not the wait
    try:
        status, body = common.http(
            "POST", server.base_url + "/tickets", body=json.dumps({"message": message}).encode()
        )
        posted = time.monotonic()
        if status != 201:
            raise RuntimeError(f"POST /tickets answered {status}: {body[:200]!r}")
        ticket = json.loads(body)["ticket_id"]
        while True:
            row = await connection.fetchrow(
                "SELECT status, engine FROM tickets WHERE id = $1", ticket
            )
            if row is not None and row["status"] == "COMPLETED":
                if row["engine"] != "builtin":
                    raise RuntimeError(f"triaged by {row['engine']}, not the built-in engine")
                return time.monotonic() - posted
            if time.monotonic() - posted > 60:
                raise RuntimeError(f"ticket {ticket} not COMPLETED after 60 s: {row}")
            await asyncio.sleep(0.002)
    finally:
        await connection.close()


def one_start(tickets: int) -> tuple[float, float, list[float]]:
    """Seconds to /health, the first ticket's wait, then each later one's."""
    url = common.create_database(DATABASE)
    try:
        started = time.monotonic()
        env = {"OLLAMA_HOST": "http://127.0.0.1:9", "TRIAGE_CLAIMERS": "4"}
        with common.our_server(url, env) as server:
            ready = time.monotonic() - started
            first = asyncio.run(completed_after(url, server, MESSAGES[0]))
            later = [
                asyncio.run(completed_after(url, server, MESSAGES[n % len(MESSAGES)]))
                for n in range(tickets)
            ]
        return ready, first, later
    finally:
        common.drop_database(DATABASE)


def main() -> None:
    """Start, post, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="fresh starts")
    parser.add_argument("--tickets", type=int, default=50, help="tickets one at a time each")
    args = parser.parse_args()
    print("## A fresh start with no LLM: the built-in engine\n")
    print(common.machine())
    rows = []
    for number in range(1, args.starts + 1):
        ready, first, later = one_start(args.tickets)
        p50 = common.percentile([s * 1000 for s in later], 50)
        p99 = common.percentile([s * 1000 for s in later], 99)
        print(f"- start {number}: /health after {ready:.2f} s, first ticket {first:.2f} s")
        rows.append([number, f"{ready:.2f} s", f"{first:.2f} s", common.ms(p50), common.ms(p99)])
    header = ["start", "serve → /health 200", "first ticket → COMPLETED", "later p50", "later p99"]
    print()
    print(common.markdown_table(header, rows))


if __name__ == "__main__":
    main()
