"""The pool of LLM hosts: does the pipeline keep every server's slots busy?

    .venv/bin/python bench/llm_pool.py [--tickets-per-slot 15] [--tokens 40] [--token-ms 25]

Each LLM server is a fake Ollama with a real server's capacity: `slots` answers at once, each
`--tokens` tokens streamed `--token-ms` apart (scheduled on the clock, so the delay does not
drift), up to `--queue` more requests waiting, and beyond that Ollama's 503 "server busy".
Its capacity is slots ÷ its mean call time, measured by the server itself. `triage-hub serve`
runs as a child process with TRIAGE_LLM_URLS naming the servers (one claimer per slot) against
a fresh bench database; the servers run in this process on an event loop of their own.

Throughput is measured in the steady state: from the 10 % to the 90 % completed ticket (the
first and last waves, when slots fill and empty, are left out). The runs: one host of 8
slots; three hosts of 1, 4 and 8; both again with `--extra-claimers` more claimers than slots
(they wait in the pool with a ticket claimed, so a freed slot never waits for a claim); the
three hosts with the 8-slot one killed halfway (TRIAGE_ENGINE=auto: a ticket the claimers gave
up on would go to the built-in engine, and show in the engines column).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, figures
from bench.figures import Figure
from tests.fake_ollama import BUSY, DEFAULT_MODEL, ticket_text, triage_for

STEADY_FROM, STEADY_TO = 0.1, 0.9


class CapacityServer:
    """A fake Ollama that serves `slots` answers at once, queues `queue` more, refuses more."""

    def __init__(self, slots: int, tokens: int, token_seconds: float, queue: int) -> None:
        self.slots = slots
        self.tokens = tokens
        self.token_seconds = token_seconds
        self.queue = queue
        self.port = 0
        self.active = 0
        self.waiting = 0
        self.max_active = 0
        self.calls = 0  # answers completed
        self.busy_seconds = 0.0  # summed over completed answers
        self.refused = 0  # 503s
        self._free: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where the pool reaches it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def capacity(self) -> float:
        """Answers per second when every slot is busy: slots ÷ its mean call time."""
        if not self.calls:
            return self.slots / (self.tokens * self.token_seconds)
        return self.slots / (self.busy_seconds / self.calls)

    async def start(self) -> None:
        """Listen on 127.0.0.1 (the same port after a stop)."""
        self._free = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        app.router.add_get("/api/tags", self._tags)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Close the port and every connection, answers in flight included: a dead host."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _tags(self, _request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": DEFAULT_MODEL, "model": DEFAULT_MODEL}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = await request.json()
        if self.active + self.waiting >= self.slots + self.queue:
            self.refused += 1
            return web.json_response({"error": BUSY}, status=503)
        assert self._free is not None
        self.waiting += 1
        try:
            async with self._free:
                await self._free.wait_for(lambda: self.active < self.slots)
                self.active += 1
        finally:
            self.waiting -= 1
        self.max_active = max(self.max_active, self.active)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await self._stream(request, body, started)
        finally:
            self.active -= 1
            async with self._free:
                self._free.notify()
        self.calls += 1
        self.busy_seconds += loop.time() - started
        return response

    async def _stream(
        self, request: web.Request, body: dict[str, Any], started: float
    ) -> web.StreamResponse:
        text = json.dumps(triage_for(ticket_text(body)))
        size = -(-len(text) // self.tokens)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        response = web.StreamResponse()
        response.content_type = "application/x-ndjson"
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        for index, piece in enumerate(pieces, start=1):
            # Token i leaves at started + i × delay, however late the previous one was.
            await asyncio.sleep(max(0.0, started + index * self.token_seconds - loop.time()))
            message = {"role": "assistant", "content": piece}
            await response.write(_line({"model": DEFAULT_MODEL, "message": message, "done": False}))
        elapsed_ns = int((loop.time() - started) * 1e9)
        final = {
            "model": DEFAULT_MODEL,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": elapsed_ns,
            "prompt_eval_count": 200,
            "eval_count": len(pieces),
            "eval_duration": elapsed_ns,
        }
        await response.write(_line(final))
        await response.write_eof()
        return response


def _line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\n"


class ServersInThread:
    """The servers on an event loop of their own, so the bench's polling does not delay them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the servers' loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        """Stop the loop."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


@dataclass
class Run:
    """What one drain measured."""

    tickets: int
    seconds: float  # steady state: from STEADY_FROM to STEADY_TO of the tickets completed
    statuses: dict[str, int]
    handbacks: int
    retried: int  # tickets with more than one attempt
    engines: dict[str, int]
    after_kill: float | None = None  # tickets/s from the kill to STEADY_TO

    @property
    def rate(self) -> float:
        """Tickets per second in the steady state."""
        return (STEADY_TO - STEADY_FROM) * self.tickets / self.seconds


async def drain(url: str, count: int, timeout: float, kill: Any = None) -> Run:  # noqa: ASYNC109
    """Insert `count` tickets at once, wake the claimers, and time the steady state until all
    are done; `kill()` is called once half of them are."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO tickets (user_message) SELECT 'bulk ' || n || ': the export is broken' "
            "FROM generate_series(1, $1) AS n",
            count,
        )
        started = time.monotonic()
        await conn.execute("NOTIFY triage_new_tickets")
        marks: dict[float, float] = {}
        killed = kill is None
        killed_at, done_at_kill = 0.0, 0
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM tickets WHERE status IN ('COMPLETED', 'FAILED')"
            )
            now = time.monotonic()
            for mark in (STEADY_FROM, STEADY_TO):
                if done >= mark * count:
                    marks.setdefault(mark, now)
            if not killed and done >= count // 2:
                await asyncio.to_thread(kill)
                killed, killed_at, done_at_kill = True, time.monotonic(), done
            if done >= count:
                break
            if now - started > timeout:
                raise RuntimeError(f"only {done}/{count} done in {timeout}s")
            await asyncio.sleep(0.02)
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM tickets GROUP BY status"))
        engines = dict(await conn.fetch("SELECT engine, count(*) FROM tickets GROUP BY engine"))
        handbacks = await conn.fetchval("SELECT sum(handbacks) FROM tickets")
        retried = await conn.fetchval("SELECT count(*) FROM tickets WHERE attempts > 1")
    finally:
        await conn.close()
    return Run(
        count,
        marks[STEADY_TO] - marks[STEADY_FROM],
        {str(k): int(v) for k, v in statuses.items()},
        int(handbacks or 0),
        int(retried),
        {str(k): int(v) for k, v in engines.items()},
        None
        if kill is None
        else (STEADY_TO * count - done_at_kill) / (marks[STEADY_TO] - killed_at),
    )


@contextmanager
def pipeline(
    name: str, servers: list[CapacityServer], env: dict[str, str], extra_claimers: int
) -> Iterator[str]:
    """A fresh database and a serve process whose claimers use these servers, one per slot
    (and `extra_claimers` more)."""
    url = common.create_database(name)
    urls = ",".join(f"{server.url}={server.slots}" for server in servers)
    claimers = sum(server.slots for server in servers) + extra_claimers
    try:
        settings = {"TRIAGE_LLM_URLS": urls, "TRIAGE_CLAIMERS": str(claimers), **env}
        with common.our_server(url, settings):
            yield url
    finally:
        common.drop_database(name)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets-per-slot", type=int, default=15, help="tickets per slot")
    parser.add_argument("--tokens", type=int, default=40, help="tokens per answer")
    # 40 tokens/s a stream: a 7B model on one GPU; an answer of 40 tokens then takes 1 s.
    parser.add_argument("--token-ms", type=float, default=25.0, help="ms between tokens")
    parser.add_argument("--queue", type=int, default=4, help="requests a server queues")
    parser.add_argument(
        "--extra-claimers",
        type=int,
        default=3,
        help="claimers beyond one per slot in two more runs (0: none): they wait for a slot "
        "with a ticket claimed, so no slot waits for a claim",
    )
    figures.add_arguments(parser)
    return parser.parse_args()


def main() -> None:
    """Run the three pipelines and print the table."""
    args = parse_args()
    figures.configure(args)
    loop = ServersInThread()
    rows: list[list[object]] = []
    found: list[Figure] = []

    def servers(*slots: int) -> list[CapacityServer]:
        made = [CapacityServer(n, args.tokens, args.token_ms / 1000, args.queue) for n in slots]
        for server in made:
            loop.run(server.start())
        return made

    def measure(
        label: str, sizes: tuple[int, ...], target: float, kill: bool = False, extra: int = 0
    ) -> None:
        made = servers(*sizes)
        tickets = args.tickets_per_slot * sum(sizes)
        engine = {"TRIAGE_ENGINE": "auto" if kill else "llm"}
        victim = made[-1]
        name = f"bench_llm_pool_{len(rows)}"
        with pipeline(name, made, engine, extra) as url:
            common.wait_for_quiet()
            other = common.OtherWork([f"bench_llm_pool_{len(rows)}"])
            run = asyncio.run(
                drain(url, tickets, 600, (lambda: loop.run(victim.stop())) if kill else None)
            )
            other_work = other.fraction()
        for server in made:
            loop.run(server.stop())
        capacity = sum(s.capacity for s in made)
        ratio = run.rate / capacity
        if kill and run.after_kill is not None:  # from the kill on, the survivors' capacity
            ratio = run.after_kill / sum(s.capacity for s in made[:-1])
        disturbed = f" (other work: {other_work:.0%} of the CPUs)" if other_work > 0.05 else ""
        bounded = all(s.max_active <= s.slots for s in made) and not any(s.refused for s in made)
        failed = run.statuses.get("FAILED", 0)
        after_kill = ""
        if kill:
            after_kill = f"; after the kill {run.after_kill or 0:.1f}/s = {ratio:.3f} of the rest"
        result = (
            f"{run.rate:.1f} tickets/s ÷ {capacity:.1f}/s = {run.rate / capacity:.3f}"
            f"{after_kill}{disturbed}; "
            f"max in flight {'/'.join(str(s.max_active) for s in made)}, 503s "
            f"{sum(s.refused for s in made)}; FAILED {failed}, hand-backs {run.handbacks}, "
            f"retried {run.retried}, engines {run.engines}"
        )
        if kill:
            met = failed == 0 and run.statuses.get("COMPLETED", 0) == tickets
            rows.append([label, result, "none FAILED", "PASS" if met else "FAIL"])
            found.append(Figure(f"{label}: tickets FAILED", float(failed), "", target=0.0))
            return
        rows.append(
            [label, result, f"≥ {target}", "PASS" if ratio >= target and bounded else "FAIL"]
        )
        found.append(
            Figure(
                f"{label}: tickets/s ÷ servers' capacity",
                ratio,
                "",
                target=target,
                lower_is_better=False,
                anchor=1.0,
                anchor_label="every slot busy all the time",
            )
        )

    extra = args.extra_claimers
    try:
        measure("one host, 8 slots", (8,), 0.95)
        measure("three hosts, 1 + 4 + 8 slots", (1, 4, 8), 0.9)
        if extra:
            measure(f"one host, 8 slots, {extra} claimers more", (8,), 0.95, extra=extra)
            measure(f"three hosts, {extra} claimers more", (1, 4, 8), 0.9, extra=extra)
        measure("three hosts, the 8-slot one killed halfway", (1, 4, 8), 0.0, kill=True)
    finally:
        loop.close()
    per_call = args.tokens * args.token_ms
    print(common.machine())
    print(
        f"- each answer: {args.tokens} tokens {args.token_ms:g} ms apart ({per_call:g} ms); "
        f"{args.tickets_per_slot} tickets per slot; a server queues {args.queue}, then 503"
    )
    print()
    print(common.markdown_table(["measurement", "result", "target", ""], rows))
    figures.write(args.figures, found)


if __name__ == "__main__":
    main()
