"""POST /tickets: our server against the naive reference app, side by side in one run.

Each app gets a fresh database with our schema; wrk loads them in turn (ours, reference, ours,
reference ...) at each connection count for every round, so drift on this shared 2-core machine
hits both alike; the table shows medians over the rounds. With pgbench on the machine, the same
INSERT also runs straight against PostgreSQL at 16 clients as a ceiling.

    .venv/bin/python bench/intake.py [--duration 10] [--rounds 3] [--connections 16 64]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, figures
from bench.figures import Figure

DATABASES = {"ours": "bench_intake_ours", "reference": "bench_intake_reference"}
PGBENCH_DATABASE = "bench_intake_pgbench"
P99_TARGET_MS = 10.0  # ours, POST /tickets at 16 connections
RATIO_TARGET = 0.7  # ours / reference requests/s at 64 connections
BODY = {"message": "I was charged twice for my subscription this month, please refund one."}
INSERT_SQL = "INSERT INTO tickets (user_message) VALUES ($1) RETURNING id, status, created_at"


@dataclass
class PgbenchResult:
    """What pgbench reported for one run."""

    tps: float
    latency_avg_ms: float
    failed: int


def find_pgbench() -> str | None:
    """pgbench on PATH or in Debian's PostgreSQL 15 bin folder, else None."""
    found = shutil.which("pgbench")
    fallback = Path("/usr/lib/postgresql/15/bin/pgbench")
    return found or (str(fallback) if fallback.exists() else None)


def run_pgbench(pgbench: str, url: str, clients: int, duration: int) -> PgbenchResult:
    """The app's INSERT ... RETURNING straight to PostgreSQL, prepared, `clients` sessions."""
    message = BODY["message"].replace("'", "''")
    script = INSERT_SQL.replace("$1", f"'{message}'") + ";\n"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    try:
        argv = [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", "2"]
        argv += ["-T", str(duration), "-f", file.name, url]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration + 30, check=True
        )
    finally:
        os.unlink(file.name)
    tps = re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE)
    latency = re.search(r"^latency average = ([\d.]+) ms", done.stdout, re.MULTILINE)
    failed = re.search(r"^number of failed transactions: (\d+)", done.stdout, re.MULTILINE)
    if tps is None or latency is None:
        raise RuntimeError(f"cannot parse pgbench output:\n{done.stdout}\n{done.stderr}")
    return PgbenchResult(
        float(tps.group(1)), float(latency.group(1)), int(failed.group(1)) if failed else 0
    )


def check_intake(server: common.Server) -> None:
    """One POST answers 201 with a PENDING ticket, one invalid POST answers 400."""
    status, body = common.http("POST", server.base_url + "/tickets", json.dumps(BODY).encode())
    created = json.loads(body)
    if status != 201 or created.get("status") != "PENDING" or "ticket_id" not in created:
        raise RuntimeError(f"{server.name}: POST /tickets answered {status} {body!r}")
    status, body = common.http("POST", server.base_url + "/tickets", b'{"message": "short"}')
    if status != 400:
        raise RuntimeError(f"{server.name}: a 5-character message answered {status} {body!r}")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per app and connection count")
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per app")
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench ceiling")
    figures.add_arguments(parser)
    return parser.parse_args()


def main() -> None:
    """Run the comparison and print the tables."""
    args = parse_args()
    figures.configure(args)
    pgbench = None if args.no_pgbench else find_pgbench()
    print("## POST /tickets: triage-hub vs the reference app\n")
    print(common.machine())
    print(f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"- {args.rounds} rounds x {args.duration}s per app and connection count, "
        f"{args.warmup}s warm-up per app\n"
    )
    urls = {app: common.create_database(name) for app, name in DATABASES.items()}
    if pgbench:
        pgbench_url = common.create_database(PGBENCH_DATABASE)
    results: dict[tuple[str, int], list[common.WrkResult]] = {}
    pgbench_results: list[PgbenchResult] = []
    answered: dict[str, int] = {}
    rows: dict[str, int] = {}
    problems: dict[str, list[str]] = {}
    started = time.monotonic()
    try:
        with (
            common.our_server(urls["ours"]) as ours,
            common.reference_server(urls["reference"]) as reference,
        ):
            servers = {"ours": ours, "reference": reference}
            for app, server in servers.items():
                check_intake(server)
                warm = common.run_wrk(
                    server.base_url + "/tickets", max(args.connections), args.warmup,
                    common.POST_TICKET_LUA,
                )  # fmt: skip
                answered[app] = 1 + warm.requests - warm.non_2xx
            for round_no in range(1, args.rounds + 1):
                for connections in args.connections:
                    for app, server in servers.items():
                        result = common.measure(
                            server.base_url + "/tickets", connections, args.duration,
                            common.POST_TICKET_LUA, [DATABASES[app]],
                        )  # fmt: skip
                        results.setdefault((app, connections), []).append(result)
                        answered[app] += result.requests - result.non_2xx
                        label = f"round {round_no} {app:>9} c={connections:<3}"
                        print(common.progress(label, result), flush=True)
                if pgbench:
                    common.wait_for_quiet()
                    run = run_pgbench(pgbench, pgbench_url, 16, args.duration)
                    pgbench_results.append(run)
                    print(f"round {round_no}   pgbench c=16  {run.tps:>8.0f} TPS", flush=True)
            for app, server in servers.items():
                rows[app] = int(str(common.fetchval(urls[app], "SELECT count(*) FROM tickets")))
                problems[app] = server.problems()
    finally:
        for name in DATABASES.values():
            common.drop_database(name)
        if pgbench:
            common.drop_database(PGBENCH_DATABASE)
    print(f"\n(total {time.monotonic() - started:.0f}s; load average at end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})\n")  # fmt: skip
    report(args, results, pgbench_results, answered, rows, problems)
    figures.write(args.figures, headline(args, results, pgbench_results))


def headline(
    args: argparse.Namespace,
    results: dict[tuple[str, int], list[common.WrkResult]],
    pgbench_results: list[PgbenchResult],
) -> list[Figure]:
    """The figures for `make bench`: the two targets, and ours against pgbench's ceiling."""
    summaries = {key: common.summarize(runs) for key, runs in results.items()}
    low, high = min(args.connections), max(args.connections)
    ours_low, reference_low = summaries[("ours", low)], summaries[("reference", low)]
    ours_high, reference_high = summaries[("ours", high)], summaries[("reference", high)]
    found = [
        Figure(
            f"POST /tickets p99, {low} connections",
            ours_low.p99,
            "ms",
            target=P99_TARGET_MS,
            anchor=reference_low.p99,
            anchor_label="the reference app, same run",
        ),
        Figure(
            f"POST /tickets requests/s, {high} connections",
            ours_high.requests_per_s,
            "req/s",
            target=RATIO_TARGET * reference_high.requests_per_s,
            lower_is_better=False,
            target_note=f"{RATIO_TARGET:g} × the reference",
            anchor=reference_high.requests_per_s,
            anchor_label="the reference app, same run",
        ),
    ]
    if pgbench_results:
        found.append(
            Figure(
                f"POST /tickets requests/s, {low} connections",
                ours_low.requests_per_s,
                "req/s",
                lower_is_better=False,
                anchor=statistics.median(r.tps for r in pgbench_results),
                anchor_label="pgbench, the same INSERT, 16 clients (ceiling)",
            )
        )
    return found


def report(
    args: argparse.Namespace,
    results: dict[tuple[str, int], list[common.WrkResult]],
    pgbench_results: list[PgbenchResult],
    answered: dict[str, int],
    rows: dict[str, int],
    problems: dict[str, list[str]],
) -> None:
    """Print the medians table, the per-round table and the verdicts."""
    summaries = {key: common.summarize(runs) for key, runs in results.items()}
    table = []
    for connections in args.connections:
        reference = summaries[("reference", connections)]
        for app in ("ours", "reference"):
            s = summaries[(app, connections)]
            ratio = s.requests_per_s / reference.requests_per_s
            table.append(
                [
                    "triage-hub" if app == "ours" else "reference app",
                    connections,
                    f"{s.requests_per_s:,.0f}",
                    common.ms(s.p50),
                    common.ms(s.p90),
                    common.ms(s.p99),
                    s.errors,
                    f"{ratio:.2f}",
                ]
            )
    if pgbench_results:
        tps = statistics.median(r.tps for r in pgbench_results)
        latency = statistics.median(r.latency_avg_ms for r in pgbench_results)
        failed = sum(r.failed for r in pgbench_results)
        table.append(
            ["pgbench, same INSERT", 16, f"{tps:,.0f}", f"(avg {latency:.2f})", "", "", failed, ""]
        )
    header = ["app", "conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "x reference"]
    print(f"Medians of {args.rounds} rounds of {args.duration}s:\n")
    print(common.markdown_table(header, table))
    disturbed = sum(s.disturbed_rounds for s in summaries.values())
    total = sum(s.rounds for s in summaries.values())
    print(
        f"\n{disturbed} of {total} wrk runs were disturbed by other work on the machine "
        "(over 15 % busy before, or over 5 % of the CPUs taken during the run)."
    )

    per_round = [
        [app, connections, *(f"{r.requests_per_s:,.0f} / {r.percentiles['99']:.1f}" for r in runs)]
        for (app, connections), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]
    rounds_header = ["app", "conns", *(f"round {i + 1} req/s / p99 ms" for i in range(args.rounds))]
    print("\nEvery round:\n")
    print(common.markdown_table(rounds_header, per_round))

    print("\nTargets:\n")
    low, high = min(args.connections), max(args.connections)
    p99 = summaries[("ours", low)].p99
    verdict = "PASS" if p99 <= P99_TARGET_MS else "FAIL"
    if low == 16:
        print(f"- {verdict}: POST /tickets p99 at 16 connections {p99:.2f} ms (target <= 10 ms)")
    ratio = summaries[("ours", high)].requests_per_s / summaries[("reference", high)].requests_per_s
    verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
    if high == 64:
        print(
            f"- {verdict}: requests/s at 64 connections {ratio:.2f} x the reference's "
            f"(target >= {RATIO_TARGET})"
        )
    print("\nIntegrity (every 2xx answer must be a committed row):\n")
    for app in ("ours", "reference"):
        ok = "ok" if rows.get(app, 0) >= answered.get(app, 0) else "MISSING ROWS"
        print(
            f"- {app}: {answered.get(app, 0):,} 2xx answers counted by wrk, "
            f"{rows.get(app, 0):,} rows in its database: {ok}; "
            f"{len(problems.get(app, []))} warning/error lines in its log"
        )


if __name__ == "__main__":
    main()
