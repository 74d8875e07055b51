"""A flood of public account requests: the server's memory and one real login's wait.

    .venv/bin/python bench/login_flood.py [--requests 150] [--concurrency 50]

A `triage-hub serve` (API only) behind a "trusted proxy" (this script, on 127.0.0.1), so that
each flooding request can come from an address of its own and the login throttle, which would
stop a single address after a few, does not answer in place of the password check. Two floods
in turn, each with the bench agent logging in once from another address half a second in:

- `POST /setup` with a guessed link (setup is long done): should cost no password hash;
- `POST /login` with a new name from a new address each time: one argon2 check each (64 MiB,
  ~0.2 s of a core), bounded by the process's hashing semaphore.

The table shows the flood's time, the real login's time, and the server's resident memory
before and at its peak (VmHWM, which only grows: read after each flood).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, figures
from bench.figures import Figure

DATABASE = "bench_login_flood"
# Before issue 9's fixes, 150 requests at 50 (BENCHMARKS.md, "Floods of logins"): the real
# login's seconds (the faster of two runs) and the peak MB, per flood.
BEFORE = {"/setup": (9.5, 453.0), "/login": (6.4, 453.0)}


def memory_mb(pid: int, field: str) -> float:
    """A VmRSS / VmHWM line of /proc/PID/status, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


async def post(
    session: aiohttp.ClientSession, path: str, form: dict[str, str], address: str
) -> int:
    """One same-origin form post from `address`; its status."""
    headers = {"Origin": str(session._base_url).rstrip("/"), "X-Forwarded-For": address}
    async with session.post(path, data=form, headers=headers, allow_redirects=False) as response:
        await response.read()
        return response.status


async def flood(
    base_url: str, path: str, forms: list[dict[str, str]], concurrency: int
) -> tuple[float, float, Counter[int]]:
    """The forms posted `concurrency` at a time, a real login half a second in: the flood's
    seconds, the real login's seconds, the flood's statuses."""
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency + 1)
    async with aiohttp.ClientSession(base_url=base_url, connector=connector) as session:

        async def one(n: int, form: dict[str, str]) -> int:
            async with limit:
                return await post(session, path, form, f"10.{n // 250}.{n % 250}.1")

        async def real_login() -> float:
            await asyncio.sleep(0.5)
            started = time.monotonic()
            login = {"name": common.BENCH_AGENT, "password": common.BENCH_PASSWORD}
            status = await post(session, "/login", {**login, "next": "/"}, "192.0.2.1")
            if status != 303:
                raise RuntimeError(f"the real login answered {status}")
            return time.monotonic() - started

        started = time.monotonic()
        waiting = asyncio.create_task(real_login())
        statuses = Counter(await asyncio.gather(*(one(n, f) for n, f in enumerate(forms))))
        elapsed = time.monotonic() - started
        return elapsed, await waiting, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=50)
    figures.add_arguments(parser)
    args = parser.parse_args()
    figures.configure(args)
    found: list[Figure] = []
    url = common.create_database(DATABASE)
    setup_form = {"token": "guessed", "name": "mallory", "password": "p" * 12, "confirm": "p" * 12}
    floods = {
        "POST /setup, guessed link": ("/setup", [setup_form] * args.requests),
        "POST /login, a new name each": (
            "/login",
            [{"name": f"guess-{n}", "password": "p" * 12} for n in range(args.requests)],
        ),
    }
    rows = []
    try:
        env = {"TRIAGE_TRUSTED_PROXIES": "127.0.0.1"}
        with common.our_server(url, env) as server:
            pid = server.process.pid
            for label, (path, forms) in floods.items():
                before = memory_mb(pid, "VmRSS")
                seconds, login_s, statuses = asyncio.run(
                    flood(server.base_url, path, forms, args.concurrency)
                )
                answers = ", ".join(f"{n}× {s}" for s, n in sorted(statuses.items()))
                peak = memory_mb(pid, "VmHWM")
                before_s, before_mb = BEFORE[path]
                anchor = "before issue 9's fix, 150 at 50 (BENCHMARKS.md)"
                found.append(
                    Figure(
                        f"{label}: a real login meanwhile",
                        login_s,
                        "s",
                        anchor=before_s,
                        anchor_label=anchor,
                    )
                )
                found.append(
                    Figure(
                        f"{label}: the server's peak memory",
                        peak,
                        "MB",
                        anchor=before_mb,
                        anchor_label=anchor,
                    )
                )
                rows.append(
                    [
                        label,
                        f"{args.requests} at {args.concurrency}",
                        answers,
                        f"{seconds:.2f}",
                        f"{login_s:.2f}",
                        f"{before:.0f}",
                        f"{peak:.0f}",
                    ]
                )
    finally:
        common.drop_database(DATABASE)
    header = ["flood", "requests", "answers", "flood s", "real login s", "RSS MB", "peak MB"]
    print(common.markdown_table(header, rows))
    figures.write(args.figures, found)


if __name__ == "__main__":
    main()
