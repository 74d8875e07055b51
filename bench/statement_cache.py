"""What turning asyncpg's statement cache off costs (as the pool does behind PgBouncer).

The app's own queries on the app's own pool (`create_pool`), 16 tasks for a few seconds each:
the intake's INSERT and the API's ticket read, on a direct connection with the cache (the
default), on a direct connection without it, and through a real PgBouncer in transaction mode
(without it, the only way that works) when /usr/sbin/pgbouncer is here. The modes take turns
in every round, so drift on the shared machine hits each alike; the table shows medians.

    .venv/bin/python bench/statement_cache.py [--seconds 3] [--rounds 3] [--tasks 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from tests.pgbouncer import PgBouncer, pgbouncer_binary
from triage_hub.db.pool import Database, create_pool
from triage_hub.db.tickets import create_ticket, get_ticket

DATABASE = "bench_statement_cache"
MESSAGE = "I was charged twice for my subscription this month, please refund one."
POOL_SIZE = 10  # the app's default TRIAGE_DB_POOL_SIZE

Work = Callable[[Database], Awaitable[object]]


async def _rate(url: str, pgbouncer: bool, work: Work, tasks: int, seconds: float) -> float:
    """Operations per second of `work` from `tasks` tasks sharing one pool."""
    pool = await create_pool(url, POOL_SIZE, pgbouncer=pgbouncer)
    db = Database(pool)
    done = 0
    try:
        for _ in range(POOL_SIZE):  # warm every connection (and its cache) first
            await work(db)
        stop = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await work(db)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(tasks)))
        return done / (time.perf_counter() - started)
    finally:
        await pool.close()


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=16)
    args = parser.parse_args()

    url = common.create_database(DATABASE)
    binary = pgbouncer_binary()
    bouncer = PgBouncer(binary, url) if binary else None
    modes: list[tuple[str, str, bool]] = [
        ("direct, statement cache on (default)", url, False),
        ("direct, statement cache off", url, True),
    ]
    if bouncer is not None:
        bouncer.start()
        modes.append(
            (f"{bouncer.version()}, transaction mode, cache off", bouncer.url(DATABASE), True)
        )
    else:
        print("- no pgbouncer here (apt-get install pgbouncer): its row is left out")

    async def seed() -> uuid.UUID:
        pool = await create_pool(url, 1)
        try:
            return (await create_ticket(Database(pool), MESSAGE)).ticket_id
        finally:
            await pool.close()

    ticket_id = asyncio.run(seed())
    works: dict[str, Work] = {
        "intake INSERT": lambda db: create_ticket(db, MESSAGE),
        "ticket read": lambda db: get_ticket(db, ticket_id),
    }
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        for round_number in range(1, args.rounds + 1):
            for work_name, work in works.items():
                for mode, mode_url, off in modes:
                    rate = asyncio.run(_rate(mode_url, off, work, args.tasks, args.seconds))
                    rates.setdefault((work_name, mode), []).append(rate)
            print(f"- round {round_number}/{args.rounds} done")
    finally:
        if bouncer is not None:
            bouncer.stop()
        common.drop_database(DATABASE)

    rows = []
    for work_name in works:
        base = statistics.median(rates[(work_name, modes[0][0])])
        for mode, _url, _off in modes:
            median = statistics.median(rates[(work_name, mode)])
            rows.append([work_name, mode, f"{median:,.0f}", f"{median / base:.2f}"])
    print()
    print(f"{args.tasks} tasks, pool of {POOL_SIZE}, {args.seconds:g} s × {args.rounds} rounds")
    print(common.markdown_table(["work", "pool", "per second (median)", "÷ default"], rows))
    print()
    print(common.machine())


if __name__ == "__main__":
    main()
