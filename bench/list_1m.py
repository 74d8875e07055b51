"""GET /tickets with a million tickets in the table: first pages, whole and by status.

Seeds a fresh bench database with one INSERT ... SELECT over generate_series (a year of
tickets, mostly RESOLVED/COMPLETED, some FAILED, a PENDING backlog, a few PROCESSING), runs
VACUUM ANALYZE, starts our server (API only) and loads each URL with wrk at 16 connections.
Last, the crowd case: 200 connections of the dashboard's urgent list while 4 post tickets.

    .venv/bin/python bench/list_1m.py [--rows 1000000] [--duration 10] [--rounds 3] [--keep]
                                      [--urgent-only] [--crowd-duration 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, figures
from bench.figures import Figure

DATABASE = "bench_list_1m"
CONNECTIONS = 16
P99_TARGET_MS = 15.0
PATHS = [
    "/tickets",
    "/tickets?status=COMPLETED",
    "/tickets?status=PENDING",
    "/tickets?limit=100",
    "/tickets?status=RESOLVED",  # beyond the list: the most common status, see BENCHMARKS
]
# The dashboard's "active tickets, most urgent first" (issue 9, item 12), and every ticket so.
URGENT = "/tickets?status=PENDING,PROCESSING,COMPLETED,FAILED&sort=urgent"
URGENT_PATHS = [URGENT, "/tickets?sort=urgent"]
CROWD = 200  # connections listing URGENT in the crowd case
CROWD_INTAKE = 4  # connections posting tickets meanwhile

# One statement: row i is the i-th oldest ticket, created `$2` seconds after the one before
# (jittered by under half of that, so still in order). The newest `$3` are the PENDING backlog
# and 16 are PROCESSING under a live lease; of the rest 2 % FAILED, COMPLETED for the newest 5 %
# (awaiting an agent) and a quarter of the older ones, RESOLVED otherwise. Every row satisfies
# schema.sql's CHECK constraints.
SEED_SQL = """
WITH base AS (
    SELECT i,
           now() - make_interval(secs => (($1::int - i) + (i::bigint * 7919 % 1000) / 2000.0)
                                         * $2::float8) AS created_at,
           CASE WHEN i > $1::int - $3::int THEN 'PENDING'
                WHEN i > $1::int - $3::int - 16 THEN 'PROCESSING'
                WHEN i % 50 = 0 THEN 'FAILED'
                WHEN i > $1::int * 0.95 OR i % 100 < 25 THEN 'COMPLETED'
                ELSE 'RESOLVED' END AS status
    FROM generate_series(1, $1::int) AS i
), triaged AS (
    SELECT base.*,
           status IN ('COMPLETED', 'RESOLVED') AS is_triaged,
           (ARRAY['Billing', 'Technical', 'Feature Request'])[1 + i % 3] AS category,
           1 + (i * 31) % 10 AS sentiment,
           (ARRAY['High', 'Medium', 'Low'])[1 + (i * 7) % 3] AS urgency,
           'Hi, thank you for reaching out. ' || (ARRAY[
               'We have refunded the duplicate charge; it shows within 5 business days.',
               'Our engineers reproduced the problem and a fix ships this week.',
               'Thanks for the idea: we added it to our roadmap and will keep you posted.',
               'Could you send us a screenshot of the error so we can look closer?'
           ])[1 + i % 4] AS draft
    FROM base
)
INSERT INTO tickets (
    user_message, status, category, sentiment, urgency, ai_draft, raw_ai_response, attempts,
    claim_token, claimed_by, lease_expires_at, last_error, model, first_token_ms, total_ms,
    prompt_tokens, completion_tokens, available_at, created_at, updated_at, resolved_at)
SELECT
    (ARRAY[
        'I was charged twice for my subscription this month!',
        'The export button does nothing since the last update.',
        'Please add a dark mode, my eyes hurt at night.',
        'I cannot log in: the reset email never arrives.',
        'Your app crashes every time I open the settings page on Android.',
        'Why did my invoice go up without any notice? This is unacceptable.',
        'It would be great to schedule reports by email every Monday.',
        'Sync between my laptop and phone has been broken for three days.'
    ])[1 + i % 8] || ' (customer #' || i || ')',
    status,
    CASE WHEN is_triaged THEN category END,
    CASE WHEN is_triaged THEN sentiment END,
    CASE WHEN is_triaged THEN urgency END,
    CASE WHEN is_triaged THEN draft END,
    CASE WHEN is_triaged THEN jsonb_build_object(
        'category', category, 'sentiment', sentiment, 'urgency', urgency, 'draft', draft) END,
    CASE status WHEN 'PENDING' THEN 0 WHEN 'FAILED' THEN 3 ELSE 1 END,
    CASE WHEN status = 'PROCESSING' THEN gen_random_uuid() END,
    CASE WHEN status = 'PROCESSING' THEN 'bench-claimer' END,
    CASE WHEN status = 'PROCESSING' THEN now() + interval '1 day' END,  -- the reaper keeps off
    CASE WHEN status = 'FAILED' THEN 'the model answered invalid JSON 3 times' END,
    CASE WHEN status <> 'PENDING' THEN 'mistral:7b' END,
    CASE WHEN is_triaged THEN 300 + i % 700 END,
    CASE WHEN is_triaged THEN 4000 + i % 9000 END,
    CASE WHEN is_triaged THEN 350 + i % 200 END,
    CASE WHEN is_triaged THEN 120 + i % 180 END,
    created_at,
    created_at,
    CASE WHEN status = 'RESOLVED' THEN created_at + interval '3 hours'
         WHEN is_triaged OR status = 'FAILED' THEN created_at + interval '20 seconds'
         ELSE created_at END,
    CASE WHEN status = 'RESOLVED' THEN created_at + interval '3 hours' END
FROM triaged
"""
SPAN_SECONDS = 365 * 86400


async def seed(url: str, rows: int, pending: int) -> dict[str, int]:
    """Insert the tickets, VACUUM ANALYZE, CHECKPOINT; return the count per status."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SEED_SQL, rows, SPAN_SECONDS / rows, min(pending, rows))
        await conn.execute("VACUUM ANALYZE tickets")
        await conn.execute("CHECKPOINT")  # no seed writes left to flush during the load
        counted = await conn.fetch("SELECT status, count(*) AS n FROM tickets GROUP BY 1")
        return {row["status"]: row["n"] for row in counted}
    finally:
        await conn.close()


def check_page(server: common.Server, path: str) -> str:
    """GET path answers 200 with a full first page; returns a short description of it."""
    status, body = common.http("GET", server.base_url + path, headers=common.AGENT)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    page = json.loads(body)
    pagination = page["pagination"]
    estimate = " (estimate)" if pagination.get("total_is_estimate") else ""
    return f"{len(page['tickets'])} tickets, total {pagination['total']:,}{estimate}"


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="tickets to seed")
    parser.add_argument("--pending", type=int, default=3_000, help="of which PENDING (newest)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per URL, interleaved")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per URL")
    parser.add_argument(
        "--keep", action="store_true", help=f"keep (and reuse) the seeded database {DATABASE}"
    )
    parser.add_argument(
        "--urgent-only",
        action="store_true",
        help="load only /tickets (for comparison) and the sort=urgent URLs, then the crowd case",
    )
    parser.add_argument(
        "--crowd-duration", type=int, default=10, help="seconds of the crowd case (0: skip it)"
    )
    parser.add_argument(
        "--paths", nargs="+", default=None, help="load only these URLs (`urgent`: the urgent list)"
    )
    parser.add_argument("--alone", type=int, default=300, help="requests one at a time per URL")
    figures.add_arguments(parser)
    return parser.parse_args()


def crowd_case(
    server: common.Server, duration: int
) -> tuple[list[list[object]], list[common.WrkResult]]:
    """CROWD connections of urgent lists and CROWD_INTAKE of POST /tickets at once: what each
    got, and the log lines the run added. Rows of the table it prints, and the two runs."""
    log_before = server.log_text()
    with ThreadPoolExecutor(2) as runner:
        lists = runner.submit(
            common.run_wrk, server.base_url + URGENT, CROWD, duration, headers=common.AGENT
        )
        intake = runner.submit(
            common.run_wrk,
            server.base_url + "/tickets",
            CROWD_INTAKE,
            duration,
            common.POST_TICKET_LUA,
        )
        results = [(f"{CROWD} x `GET {URGENT}`", lists.result())]
        results.append((f"{CROWD_INTAKE} x `POST /tickets` meanwhile", intake.result()))
    added = server.log_text()[len(log_before) :]
    rows: list[list[object]] = []
    for label, result in results:
        rows.append(
            [
                label,
                f"{result.requests_per_s:,.0f}",
                common.ms(result.percentiles["50"]),
                common.ms(result.percentiles["99"]),
                result.non_2xx,
                result.socket_errors,
            ]
        )
    unavailable, busy = added.count("database unavailable"), added.count("database busy")
    rows.append([f"log lines: {unavailable} `database unavailable`, {busy} `database busy`"])
    return rows, [result for _, result in results]


def prepare_database(args: argparse.Namespace) -> str:
    """A seeded bench database: reused when --keep finds one with --rows tickets, else new."""

    async def fill(url: str) -> str:
        counts = await seed(url, args.rows, args.pending)
        mix = ", ".join(f"{status} {n:,}" for status, n in sorted(counts.items()))
        return f"{sum(counts.values()):,} tickets, {mix}"

    return common.prepared_database(DATABASE, args.rows, args.keep, fill)


def main() -> None:
    """Seed, load each URL, print the table."""
    args = parse_args()
    figures.configure(args)
    print(f"## GET /tickets with {args.rows:,} tickets\n")
    print(common.machine())
    print(f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"- {args.rounds} rounds x {args.duration}s per URL at {CONNECTIONS} connections, "
        f"{args.warmup}s warm-up per URL"
    )
    url = prepare_database(args)
    paths = ["/tickets", *URGENT_PATHS] if args.urgent_only else [*PATHS, *URGENT_PATHS]
    if args.paths:
        paths = [URGENT if path == "urgent" else path for path in args.paths]
    crowd: list[list[object]] = []
    crowd_results: list[common.WrkResult] = []
    results: dict[str, list[common.WrkResult]] = {}
    pages: dict[str, str] = {}
    alone: dict[str, list[float]] = {}
    try:
        with common.our_server(url) as server:
            for path in paths:
                pages[path] = check_page(server, path)
                common.run_wrk(
                    server.base_url + path, CONNECTIONS, args.warmup, headers=common.AGENT
                )
                common.wait_for_quiet()
                alone[path] = common.one_at_a_time(
                    server.base_url + path, args.alone, 5.0, headers=common.AGENT
                )
            for round_no in range(1, args.rounds + 1):
                for path in paths:
                    result = common.measure(
                        server.base_url + path,
                        CONNECTIONS,
                        args.duration,
                        databases=[DATABASE],
                        headers=common.AGENT,
                    )
                    results.setdefault(path, []).append(result)
                    print(common.progress(f"round {round_no} {path:<26}", result), flush=True)
            if args.crowd_duration > 0:  # last: its intake adds tickets
                common.wait_for_quiet()
                crowd, crowd_results = crowd_case(server, args.crowd_duration)
            problems = server.problems()
    finally:
        if not args.keep:
            common.drop_database(DATABASE)
    print(f"\n(load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())})\n")
    table = []
    disturbed = 0
    for path in paths:
        s = common.summarize(results[path])
        disturbed += s.disturbed_rounds
        verdict = "PASS" if s.p99 <= P99_TARGET_MS else "FAIL"
        table.append(
            [
                f"`GET {path}`",
                f"{s.requests_per_s:,.0f}",
                common.ms(s.p50),
                common.ms(s.p90),
                common.ms(s.p99),
                s.errors,
                f"{common.percentile(alone[path], 50):.2f} / "
                f"{common.percentile(alone[path], 99):.2f}",
                verdict,
            ]
        )
    header = ["request", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors"]
    header += ["1 client p50 / p99 ms", f"p99 <= {P99_TARGET_MS:g} ms"]
    print(f"Medians of {args.rounds} rounds of {args.duration}s, {CONNECTIONS} connections:\n")
    print(common.markdown_table(header, table))
    print(
        f"\n{disturbed} of {len(paths) * args.rounds} wrk runs were disturbed by other work on "
        "the machine (over 15 % busy before, or over 5 % of the CPUs taken during the run)."
    )
    print("\nFirst pages served:\n")
    for path in paths:
        print(f"- `GET {path}`: {pages[path]}")
    if crowd:
        print(f"\nThe crowd case ({args.crowd_duration}s; pool of 10, the server's default):\n")
        header = ["load", "req/s", "p50 ms", "p99 ms", "non-2xx", "socket errors"]
        print(common.markdown_table(header, crowd[:-1]))
        print(f"\n{crowd[-1][0]}")
    print(f"\n{len(problems)} warning/error lines in the server log.")
    figures.write(args.figures, headline(args, results, alone, crowd_results))


def headline(
    args: argparse.Namespace,
    results: dict[str, list[common.WrkResult]],
    alone: dict[str, list[float]],
    crowd: list[common.WrkResult],
) -> list[Figure]:
    """The figures for `make bench`: the first page, the urgent list, intake in the crowd."""
    found = []
    newest = common.summarize(results["/tickets"]).p99 if "/tickets" in results else None
    if newest is not None:
        found.append(
            Figure(
                f"GET /tickets p99, {CONNECTIONS} connections, {args.rows:,} tickets",
                newest,
                "ms",
                target=P99_TARGET_MS,
                anchor=common.percentile(alone["/tickets"], 99),
                anchor_label="one client at a time, same run",
            )
        )
    if URGENT in results:
        found.append(
            Figure(
                f"GET the urgent list p99, {CONNECTIONS} connections",
                common.summarize(results[URGENT]).p99,
                "ms",
                target=P99_TARGET_MS,
                anchor=newest,
                anchor_label="GET /tickets (newest first), same run" if newest else "",
            )
        )
    if crowd:
        intake = crowd[1]  # the urgent lists are crowd[0]
        found.append(
            Figure(
                f"POST /tickets refused while {CROWD} urgent lists run",
                intake.non_2xx + intake.socket_errors,
                "answers",
                target=0,
                anchor=intake.requests,
                anchor_label="POST /tickets answered in the crowd case",
            )
        )
    return found


if __name__ == "__main__":
    main()
