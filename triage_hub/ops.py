"""Operator commands: `triage-hub requeue` (and, in time, stats, reap, check) — each with
--help, --json, and exit codes a script can act on (0 done, 1 failed, 2 bad arguments)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys

from triage_hub.db import ops
from triage_hub.db.pool import Database, open_pool
from triage_hub.db.schema import apply_schema

OPERATOR_COMMANDS = ("requeue",)
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
    requeue.add_argument("--engine", choices=["builtin", "ollama"], help="only those it triaged")
    requeue.add_argument(
        "--since", type=duration, help="only tickets changed this recently (90s, 15m, 2h, 7d)"
    )
    requeue.add_argument("--json", action="store_true", help="the result as JSON")


async def _with_database(url: str, args: argparse.Namespace) -> str:
    await apply_schema(url)
    pool = await open_pool(url, 2, 3)
    try:
        db = Database(pool)
        statuses = args.status or (["COMPLETED"] if args.engine else ["FAILED"])
        ids = await ops.requeue(db, statuses, args.engine, args.since)
    finally:
        await pool.close()
    if args.json:
        return json.dumps({"requeued": len(ids), "ids": [str(i) for i in ids]})
    what = " or ".join(statuses) + (f" by {args.engine}" if args.engine else "")
    return f"requeued {len(ids)} {what} ticket{'s' * (len(ids) != 1)}"


def operator_command(url: str, args: argparse.Namespace) -> None:
    """Run one operator command against the database; its result on stdout."""
    print(asyncio.run(_with_database(url, args)))
    sys.stdout.flush()
