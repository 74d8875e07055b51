"""GET /tickets?q=… with a million tickets: full-text search and id lookup.

Seeds a bench database with 1M tickets whose messages are the 459 hand-written tickets of
evals/ (four languages, every kind of complaint) with a customer number each, over a year,
runs VACUUM ANALYZE, starts our server (API only) and measures each search: one client in a
row (p50/p99 as an agent feels it) and wrk at 16 connections.

    .venv/bin/python bench/search_1m.py [--rows 1000000] [--duration 5] [--rounds 2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, figures
from bench.figures import Figure

DATABASE = "bench_search_1m"
CONNECTIONS = 16
P99_TARGET_MS = 20.0
ROOT = Path(__file__).resolve().parent.parent
# Searches an agent types: two words (common and rare), a phrase, a negation, words in German,
# no match at all; the id lookups are added once the rows exist.
SEARCHES = [
    "invoice charged",
    "export csv",
    "webhook timeout",
    '"dark mode"',
    "login -password",
    "Rechnung doppelt",
    "zebra unicorn",
]
# Row i carries message i % len(messages), created SPAN/rows seconds after row i-1; most are
# RESOLVED, the newest 5 % COMPLETED, every 50th FAILED.
SEED_SQL = """
INSERT INTO tickets (user_message, status, category, sentiment, urgency, ai_draft, attempts,
                     created_at, updated_at, resolved_at, language)
SELECT left(($3::text[])[1 + i % array_length($3::text[], 1)] || ' (customer #' || i || ')', 5000),
       s.status,
       CASE WHEN s.status <> 'FAILED' THEN 'Technical' END,
       CASE WHEN s.status <> 'FAILED' THEN 5 END,
       CASE WHEN s.status <> 'FAILED' THEN 'Medium' END,
       CASE WHEN s.status <> 'FAILED' THEN 'Thanks for writing, we are looking into it.' END,
       1,
       now() - make_interval(secs => ($1::int - i) * $2::float8),
       now() - make_interval(secs => ($1::int - i) * $2::float8),
       CASE WHEN s.status = 'RESOLVED' THEN now() END,
       ($4::text[])[1 + i % array_length($4::text[], 1)]
FROM generate_series(1, $1::int) AS i,
     LATERAL (SELECT CASE WHEN i % 50 = 0 THEN 'FAILED'
                          WHEN i > $1::int * 0.95 THEN 'COMPLETED'
                          ELSE 'RESOLVED' END AS status) AS s
"""
SPAN_SECONDS = 365 * 86400


def labeled_messages() -> tuple[list[str], list[str | None]]:
    """The hand-written tickets' messages and languages (as the engine would detect them)."""
    messages: list[str] = []
    languages: list[str | None] = []
    for name in ("dev.jsonl", "heldout.jsonl"):
        for line in (ROOT / "evals" / name).read_text(encoding="utf-8").splitlines():
            ticket = json.loads(line)
            messages.append(ticket["message"])
            languages.append(
                ticket.get("lang") if ticket.get("lang") in ("de", "es", "fr") else None
            )
    return messages, languages


async def seed(url: str, rows: int) -> None:
    """Insert the tickets, VACUUM ANALYZE, CHECKPOINT."""
    messages, languages = labeled_messages()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SEED_SQL, rows, SPAN_SECONDS / rows, messages, languages)
        await conn.execute("VACUUM ANALYZE tickets")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def prepare_database(args: argparse.Namespace) -> str:
    """A seeded bench database: reused when --keep finds one with --rows tickets, else new."""

    async def fill(url: str) -> str:
        await seed(url, args.rows)
        index = await common.fetchval_in_loop(
            url, "SELECT pg_size_pretty(pg_relation_size('tickets_search_idx'))"
        )
        return f"{args.rows:,} tickets, the search index {index}"

    return common.prepared_database(DATABASE, args.rows, args.keep, fill)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="tickets to seed")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per search")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument(
        "--searches", nargs="+", default=SEARCHES, help="the full-text searches (id lookups too)"
    )
    parser.add_argument("--alone", type=int, default=300, help="requests one at a time each")
    figures.add_arguments(parser)
    return parser.parse_args()


def main() -> None:
    """Seed, measure each search, print the table."""
    args = parse_args()
    figures.configure(args)
    print(f"## GET /tickets?q=… with {args.rows:,} tickets\n")
    print(common.machine())
    url = prepare_database(args)
    some_id = str(common.fetchval(url, "SELECT id FROM tickets ORDER BY created_at LIMIT 1"))
    searches = [*args.searches, some_id, some_id[:8]]
    table = []
    alone_p99: dict[str, float] = {}
    try:
        with common.our_server(url) as server:
            for search in searches:
                path = "/tickets?" + urllib.parse.urlencode({"q": search})
                status, body = common.http("GET", server.base_url + path, headers=common.AGENT)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
                page = json.loads(body)
                common.wait_for_quiet()
                alone = common.one_at_a_time(server.base_url + path, args.alone, 8.0, common.AGENT)
                runs = [
                    common.measure(
                        server.base_url + path,
                        CONNECTIONS,
                        args.duration,
                        databases=[DATABASE],
                        headers=common.AGENT,
                    )
                    for _ in range(args.rounds)
                ]
                s = common.summarize(runs)
                p99 = common.percentile(alone, 99)
                alone_p99[search] = p99
                table.append(
                    [
                        f"`{search}`",
                        f"{page['pagination']['total']:,}"
                        + ("+" if page["pagination"]["total_is_estimate"] else ""),
                        f"{common.percentile(alone, 50):.2f}",
                        f"{p99:.2f}",
                        f"{s.requests_per_s:,.0f}",
                        common.ms(s.p99),
                        "PASS" if p99 <= P99_TARGET_MS else "FAIL",
                    ]
                )
                print(
                    f"- {search!r}: {table[-1][1]} matches, 1 client p99 {p99:.2f} ms", flush=True
                )
            problems = server.problems()
    finally:
        if not args.keep:
            common.drop_database(DATABASE)
    header = ["search", "matches", "1 client p50 ms", "1 client p99 ms"]
    header += [f"req/s at {CONNECTIONS}", f"p99 ms at {CONNECTIONS}", f"p99 ≤ {P99_TARGET_MS:g} ms"]
    print(f"\n(load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())})\n")
    print(common.markdown_table(header, table))
    if problems:
        print("\nThe server logged:\n" + "\n".join(problems))
    by_id = alone_p99[some_id]
    worst = max(args.searches, key=lambda search: alone_p99[search])
    figures.write(
        args.figures,
        [
            Figure(
                f"GET /tickets?q= full text, slowest ({worst}), 1 client p99, {args.rows:,} rows",
                alone_p99[worst],
                "ms",
                target=P99_TARGET_MS,
                anchor=by_id,
                anchor_label="q=<a ticket id> (an index lookup), same run",
            ),
            Figure(
                "GET /tickets?q=<8 characters of an id>, 1 client p99",
                alone_p99[some_id[:8]],
                "ms",
                target=P99_TARGET_MS,
                anchor=by_id,
                anchor_label="q=<the whole id>, same run",
            ),
        ],
    )


if __name__ == "__main__":
    main()
