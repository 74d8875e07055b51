"""The triage pipeline: pickup latency, throughput with an instant model, and with a slow one.

    .venv/bin/python bench/pipeline.py [--pickups 200] [--tickets 3000] [--slow-tickets 160]

`triage-hub serve` runs as a child process against a fresh bench database on the machine's
PostgreSQL; the fake Ollama of the tests (a real HTTP server speaking Ollama's NDJSON protocol)
runs in this process, in a thread of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, figures
from bench.figures import Figure
from tests.fake_ollama import Behaviour, FakeOllama, ticket_text

# PERFORMANCE.md: one row claimed and completed per statement pair, 16 workers, no Python app.
SQL_CLAIM_COMPLETE_PER_S = 5300.0


class FakeInThread:
    """The fake Ollama on its own event loop, so the bench's own work does not delay it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.fake = FakeOllama()
        self.received: dict[str, float] = {}

    def __enter__(self) -> FakeInThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result()
        self.fake.script = self._record
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()

    def _record(self, body: dict[str, Any]) -> None:
        self.received.setdefault(ticket_text(body), time.monotonic())


@contextmanager
def pipeline(
    name: str, fake: FakeOllama, claimers: int, engine: str = "auto"
) -> Iterator[tuple[common.Server, str]]:
    """A fresh database and a serve process with `claimers` claimers talking to the fake."""
    url = common.create_database(name)
    try:
        env = {"OLLAMA_HOST": fake.url, "TRIAGE_CLAIMERS": str(claimers), "TRIAGE_ENGINE": engine}
        with common.our_server(url, env) as server:
            yield server, url
    finally:
        common.drop_database(name)


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def measure_pickups(server: common.Server, fake: FakeInThread, count: int) -> list[float]:
    """Post tickets one at a time to idle claimers; ms from the 201 to the model call."""
    latencies = []
    async with aiohttp.ClientSession() as session:
        for n in range(count):
            message = f"pickup {n:05d}: my invoice shows a charge I do not recognise"
            async with session.post(f"{server.base_url}/tickets", json={"message": message}) as r:
                assert r.status == 201, r.status
                answered = time.monotonic()
            while message not in fake.received:  # noqa: ASYNC110 -- set in another thread
                await asyncio.sleep(0.0005)
            latencies.append((fake.received[message] - answered) * 1000)
            await asyncio.sleep(0.02)  # let the claimers go idle again
    return latencies


async def drain(url: str, count: int, timeout: float) -> float:  # noqa: ASYNC109
    """Insert `count` tickets at once, wake the claimers, and time until all are COMPLETED."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO tickets (user_message) SELECT 'bulk ' || n || ': the export is broken' "
            "FROM generate_series(1, $1) AS n",
            count,
        )
        started = time.monotonic()
        await conn.execute("NOTIFY triage_new_tickets")
        while True:
            done = await conn.fetchval("SELECT count(*) FROM tickets WHERE status = 'COMPLETED'")
            if done >= count:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"only {done}/{count} completed in {timeout}s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


def pickup_figures(how: str, latencies: list[float]) -> list[Figure]:
    """p50 and p99 of a pickup measurement, against NOTIFY's own latency on an idle server."""
    return [
        Figure(
            f"pickup latency p{pct}, {how}",
            value,
            "ms",
            target=target,
            anchor=notify,
            anchor_label=f"NOTIFY alone, idle, p{pct} (PERFORMANCE.md)",
        )
        for pct, value, target, notify in (
            (50, statistics.median(latencies), 10.0, 0.5),
            (99, percentile(latencies, 99), 50.0, 1.1),
        )
    ]


def pickup_row(how: str, count: int, latencies: list[float]) -> list[object]:
    """A table row for a pickup measurement."""
    p50, p99 = statistics.median(latencies), percentile(latencies, 99)
    return [
        f"pickup latency, 201 → model call, {how} ({count} tickets, 4 idle claimers)",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        "p50 ≤ 10 ms, p99 ≤ 50 ms",
        "PASS" if p50 <= 10 and p99 <= 50 else "FAIL",
    ]


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pickups", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=3000)
    parser.add_argument("--claimers", type=int, default=8, help="claimers for the throughput run")
    parser.add_argument("--slow-tickets", type=int, default=160)
    parser.add_argument("--slow-seconds", type=float, default=4.0)
    parser.add_argument("--slow-claimers", type=int, default=32)
    parser.add_argument(
        "--engine",
        choices=["auto", "llm"],
        default="auto",
        help="TRIAGE_ENGINE (auto, the default, also asks the built-in engine for a second "
        "opinion on each answer without log-probabilities)",
    )
    figures.add_arguments(parser)
    return parser.parse_args()


def main() -> None:
    """Run the three measurements and print the table."""
    args = parse_args()
    figures.configure(args)
    rows: list[list[object]] = []
    found: list[Figure] = []
    with FakeInThread() as fake:
        with pipeline("bench_pickup", fake.fake, 4, args.engine) as (server, _):
            pickups = asyncio.run(measure_pickups(server, fake, args.pickups))
        rows.append(pickup_row("same process", args.pickups, pickups))
        found += pickup_figures("same process", pickups)
        with pipeline("bench_pickup_notify", fake.fake, 4, args.engine) as (_, url):
            intake_only = common.our_server(url, {"OLLAMA_HOST": fake.fake.url})
            with intake_only as intake:
                fake.received.clear()
                pickups = asyncio.run(measure_pickups(intake, fake, args.pickups))
        rows.append(
            pickup_row("API-only replica → claimer replica, by NOTIFY", args.pickups, pickups)
        )
        found += pickup_figures("API-only replica → claimer replica", pickups)

        with pipeline("bench_throughput", fake.fake, args.claimers, args.engine) as (_, url):
            # CPU-bound on 2 shared cores: start when other people's work is quiet, and say
            # when it took CPU during the run anyway.
            common.wait_for_quiet()
            other = common.OtherWork(["bench_throughput"])
            seconds = asyncio.run(drain(url, args.tickets, timeout=300))
            other_work = other.fraction()
        rate = args.tickets / seconds
        found.append(
            Figure(
                f"throughput, instant model, {args.claimers} claimers",
                rate,
                "tickets/s",
                target=300,
                lower_is_better=False,
                anchor=SQL_CLAIM_COMPLETE_PER_S,
                anchor_label="claim + complete in SQL alone, 16 workers (PERFORMANCE.md)",
            )
        )
        disturbed = f" (other work: {other_work:.0%} of the CPUs)" if other_work > 0.05 else ""
        rows.append(
            [
                f"throughput, instant model ({args.tickets} tickets, {args.claimers} "
                "claimers, 1 process)",
                f"{rate:.0f} tickets/s{disturbed}",
                "≥ 300 tickets/s",
                "PASS" if rate >= 300 else "FAIL",
            ]
        )

        fake.fake.behaviour = Behaviour.delayed(args.slow_seconds)
        with pipeline("bench_slow", fake.fake, args.slow_claimers, args.engine) as (_, url):
            seconds = asyncio.run(drain(url, args.slow_tickets, timeout=600))
        rate = args.slow_tickets / seconds
        ideal = args.slow_claimers / args.slow_seconds
        found.append(
            Figure(
                f"throughput, {args.slow_seconds:g} s model, {args.slow_claimers} claimers",
                rate,
                "tickets/s",
                target=0.9 * ideal,
                lower_is_better=False,
                target_note="0.9 × ideal",
                anchor=ideal,
                anchor_label="ideal: claimers / model seconds",
            )
        )
        rows.append(
            [
                f"throughput, {args.slow_seconds:g} s model ({args.slow_tickets} tickets, "
                f"{args.slow_claimers} claimers)",
                f"{rate:.2f} tickets/s = {rate / ideal:.2f} × ideal {ideal:g}/s",
                "≥ 0.9 × ideal",
                "PASS" if rate >= 0.9 * ideal else "FAIL",
            ]
        )
    print(common.machine())
    print()
    print(common.markdown_table(["measurement", "result", "target", ""], rows))
    figures.write(args.figures, found)


if __name__ == "__main__":
    main()
