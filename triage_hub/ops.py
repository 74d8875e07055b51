"""Operator commands: `triage-hub stats`, `requeue`, `reap` and `check` — each with --help,
--json, and exit codes a script can act on (0 done, 1 failed, 2 bad arguments; `check` also
3, degraded)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any

from triage_hub import check
from triage_hub.db import claims, ops, outbox, stats
from triage_hub.db.claims import notify_new_tickets
from triage_hub.db.pool import Database, open_pool
from triage_hub.db.schema import apply_schema
from triage_hub.settings import Settings

OPERATOR_COMMANDS = ("requeue", "stats", "reap", "check")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """`90s`, `15m`, `2h`, `7d` in seconds (argparse type)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 15m, 2h or 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def add_operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The operators' command group."""
    requeue = commands.add_parser(
        "requeue",
        help="send FAILED (or built-in-triaged) tickets back to the queue",
        description="Tickets back to PENDING with fresh attempts: FAILED ones (the default), or "
        "COMPLETED ones of an engine — `--engine builtin` re-runs what the built-in engine "
        "triaged while the LLM was down. Never RESOLVED tickets, never ones being triaged.",
    )
    requeue.add_argument(
        "--status",
        choices=["FAILED", "COMPLETED"],
        action="append",
        help="which tickets (repeatable; default FAILED, or COMPLETED with --engine)",
    )
    requeue.add_argument(
        "--engine", choices=["builtin", "ollama", "openai"], help="only those it triaged"
    )
    requeue.add_argument(
        "--since", type=duration, help="only tickets changed this recently (90s, 15m, 2h, 7d)"
    )
    requeue.add_argument("--json", action="store_true", help="the result as JSON")

    stats = commands.add_parser(
        "stats",
        help="tickets by status, the oldest waiting, failures by reason (and --quality)",
        description="What the desk holds now: tickets by status, how long the oldest PENDING "
        "one has waited, and over a period what became of the tickets per engine and why some "
        "failed; with --quality also how often each engine agreed with the agents.",
    )
    stats.add_argument("--quality", action="store_true", help="the agreement figures too")
    stats.add_argument("--days", type=int, default=30, help="the period (default 30)")
    stats.add_argument("--json", action="store_true", help="the figures as JSON")

    reap = commands.add_parser(
        "reap",
        help="one reaper pass: expired leases of tickets and deliveries back to the queue",
        description="What every replica's reapers do every few seconds, once, now: tickets "
        "whose claimer stopped answering go back to PENDING (or FAILED after "
        "TRIAGE_MAX_ATTEMPTS), deliveries whose worker stopped go back to be sent again (or "
        "are not delivered after TRIAGE_DELIVERY_ATTEMPTS). Leases still running are left.",
    )
    reap.add_argument("--json", action="store_true", help="the result as JSON")

    checks = commands.add_parser(
        "check",
        help="try the database, its schema, the LLM, the mail server and the webhook",
        description="What /health shows agents, for a shell: each part tried for real, nothing "
        "changed (the mail server is greeted, not sent to; the webhook gets a HEAD). Exit 0 all "
        "answer, 1 the desk cannot run (database, schema), 3 it runs degraded (LLM, mail, "
        "webhook).",
    )
    checks.add_argument("--json", action="store_true", help="the report as JSON")


async def _requeue(db: Database, args: argparse.Namespace, settings: Settings) -> str:
    statuses = args.status or (["COMPLETED"] if args.engine else ["FAILED"])
    ids = await ops.requeue(db, statuses, args.engine, args.since)
    if args.json:
        return json.dumps({"requeued": len(ids), "ids": [str(i) for i in ids]})
    what = " or ".join(statuses) + (f" by {args.engine}" if args.engine else "")
    return f"requeued {len(ids)} {what} ticket{'s' * (len(ids) != 1)}"


async def _reap(db: Database, args: argparse.Namespace, settings: Settings) -> str:
    tickets = await claims.reap_expired_leases(db, settings.max_attempts)
    deliveries = await outbox.reap(db, settings.delivery_attempts)
    if any(status == "PENDING" for _, status in tickets):
        await notify_new_tickets(db)
    if any(status == "PENDING" for _, status in deliveries):
        await outbox.notify_deliveries(db)
    if args.json:
        return json.dumps(
            {
                "tickets": [{"id": str(i), "status": s} for i, s in tickets],
                "deliveries": [{"id": str(i), "status": s} for i, s in deliveries],
            }
        )
    return f"reaped {_counted(tickets, 'ticket')}; {_counted(deliveries, 'delivery')}"


def _counted(reaped: list[tuple[Any, str]], noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    text = f"{len(reaped)} {noun if len(reaped) == 1 else plural}"
    if reaped:
        states = sorted({status for _, status in reaped})
        text += " (" + ", ".join(f"{sum(s == x for _, s in reaped)} to {x}" for x in states) + ")"
    return text


async def _stats(db: Database, args: argparse.Namespace, settings: Settings) -> str:
    figures: dict[str, Any] = await stats.counts(db)
    figures["deliveries"] = await ops.delivery_counts(db)
    quality = await stats.quality(db, max(1, args.days) * 86_400)
    figures["outcomes"], figures["failures"] = quality["outcomes"], quality["failures"]
    if args.quality:
        figures["agreement"], figures["latency_ms"] = quality["agreement"], quality["latency_ms"]
    if args.json:
        return json.dumps(figures, indent=2, default=str)
    return render_stats(figures, args.days)


def render_stats(figures: dict[str, Any], days: int) -> str:
    """The figures as text for a terminal."""
    lines = ["tickets by status:"]
    for status in ("PENDING", "PROCESSING", "COMPLETED", "FAILED", "RESOLVED"):
        lines.append(f"  {status:<11} {figures['by_status'].get(status, 0):>8}")
    oldest = figures["oldest_pending_seconds"]
    lines.append(f"oldest PENDING: {'none' if oldest is None else f'{oldest:.0f} s ago'}")
    lines += ["", f"the last {days} days, by engine · model · prompt:"]
    if not figures["outcomes"]:
        lines.append("  no tickets")
    for row in figures["outcomes"]:
        lines.append(
            f"  {row['engine']} · {row['model']} · {row['prompt_version']}: "
            f"{row['triaged']} triaged, {row['failed']} failed, {row['waiting']} waiting, "
            f"{row['retries']} retries, {row['handbacks']} hand-backs"
        )
    if figures["deliveries"]:
        lines += ["", "deliveries:"]
    for kind, group in figures["deliveries"].items():
        counts = ", ".join(f"{n} {status}" for status, n in sorted(group["by_status"].items()))
        waited = group["oldest_waiting_seconds"]
        lines.append(
            f"  {kind}: {counts}"
            + ("" if waited is None else f"; the oldest undelivered waits {waited:.0f} s")
        )
    if figures["failures"]:
        lines += ["", "why tickets failed:"]
        lines += [f"  {f['tickets']} × {f['reason']}" for f in figures["failures"]]
    for name, group in figures.get("agreement", {}).items():
        fields, mae = group["fields"], group["sentiment_mae"]
        lines += [
            "",
            f"agreement with the agents, {name} ({group['tickets']} resolved tickets):",
            f"  category {_pct(fields['category']['accuracy'])}, urgency "
            f"{_pct(fields['urgency']['accuracy'])}, High recall "
            f"{_pct(group['high_urgency_recall'])}, sentiment error "
            + ("–" if mae is None else f"{mae:.2f}"),
        ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


COMMANDS = {"requeue": _requeue, "stats": _stats, "reap": _reap}


async def _with_database(settings: Settings, url: str, args: argparse.Namespace) -> str:
    await apply_schema(settings.direct_database_url(url))
    pool = await open_pool(url, 2, 3, pgbouncer=settings.through_pgbouncer)
    try:
        return await COMMANDS[args.command](Database(pool), args, settings)
    finally:
        await pool.close()


def operator_command(settings: Settings, url: str, args: argparse.Namespace) -> int:
    """Run one operator command; its result on stdout, its exit code returned."""
    if args.command == "check":  # reads only: never migrates, and reports a database down
        checks = asyncio.run(check.run_checks(settings, url))
        output, code = check.render(checks, args.json), check.exit_code(checks)
    else:
        output, code = asyncio.run(_with_database(settings, url, args)), 0
    print(output)
    sys.stdout.flush()
    return code
