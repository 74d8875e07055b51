"""Shared bench helpers: bench databases, server subprocesses, wrk runs and markdown tables."""

from __future__ import annotations

import asyncio
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import asyncpg

import tests.auth
from triage_hub.db.schema import apply_schema

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
VENV_BIN = ROOT / ".venv" / "bin"
PG_SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
POST_TICKET_LUA = BENCH_DIR / "post_ticket.lua"
WRK_THREADS = 2
WRK_TIMEOUT_S = 10  # wrk leaves slower answers out of its latencies and counts them as errors
# How long a load run waits for other work on the machine to calm down (--quiet-wait).
QUIET_WAIT_S = 30.0
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)


# The benches load from one address into a growing backlog: they measure raw throughput, so
# neither the per-client intake rate limit nor the backlog cap may answer in its place.
RAW_INTAKE = {"TRIAGE_INTAKE_RATE_PER_MINUTE": "0", "TRIAGE_MAX_BACKLOG": "0"}
# Agent endpoints need an agent: the bench databases hold this API token and this agent.
BENCH_TOKEN = "th_bench-token-of-the-bench-databases-only"
AGENT = {"Authorization": f"Bearer {BENCH_TOKEN}"}
BENCH_AGENT, BENCH_PASSWORD = "bench", "bench password"


def dsn(database: str) -> str:
    """The URL of one database on the bench PostgreSQL server."""
    return f"{PG_SERVER}/{database}"


# --- databases ---------------------------------------------------------------------------------


async def _admin(statement: str) -> None:
    """Run one statement on the server's `postgres` database."""
    conn = await asyncpg.connect(dsn("postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_database(name: str) -> str:
    """(Re)create the bench database `name`, apply our schema to it, return its URL."""
    if not re.fullmatch(r"bench_\w+", name):
        raise ValueError(f"bench databases are named bench_*: {name!r}")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = dsn(name)
    asyncio.run(apply_schema(url))
    asyncio.run(seed_accounts(url))
    return url


async def seed_accounts(url: str) -> None:
    """BENCH_TOKEN and the agent BENCH_AGENT in the database (again: no change)."""
    await tests.auth.seed_accounts(url, BENCH_AGENT, BENCH_PASSWORD, BENCH_TOKEN)


def drop_database(name: str) -> None:
    """Drop the bench database `name` (connections are closed by force)."""
    if not re.fullmatch(r"bench_\w+", name):
        raise ValueError(f"bench databases are named bench_*: {name!r}")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def fetchval_in_loop(url: str, query: str) -> object:
    """fetchval on a connection of its own (inside a running event loop)."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


def fetchval(url: str, query: str) -> object:
    """One value from one query, on a connection of its own."""
    return asyncio.run(fetchval_in_loop(url, query))


# --- servers -----------------------------------------------------------------------------------


def prepared_database(
    name: str, rows: int, keep: bool, seed: Callable[[str], Coroutine[Any, Any, str]]
) -> str:
    """A seeded bench database: reused when `keep` finds one with `rows` tickets, else made anew
    and filled by `seed(url)` (which says in a line what it made)."""
    url = dsn(name)
    if keep:
        try:
            existing = int(str(fetchval(url, "SELECT count(*) FROM tickets")))
        except (OSError, asyncpg.PostgresError):
            existing = -1
        if existing == rows:
            print(f"- reusing {name} ({existing:,} tickets)")
            asyncio.run(apply_schema(url))
            asyncio.run(seed_accounts(url))
            return url
    url = create_database(name)
    started = time.monotonic()
    made = asyncio.run(seed(url))
    size = fetchval(url, "SELECT pg_size_pretty(pg_total_relation_size('tickets'))")
    print(f"- seeded in {time.monotonic() - started:.0f}s (table + indexes {size}): {made}")
    return url


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """One request; returns (status, body) for 2xx-5xx alike."""
    headers = {
        **({"Content-Type": "application/json"} if body is not None else {}),
        **(headers or {}),
    }
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class Server:
    """A server subprocess listening on 127.0.0.1:port, its output kept in a log file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:port."""
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """Everything the server wrote to stdout/stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def problems(self) -> list[str]:
        """Log lines that show trouble (warnings, errors, tracebacks)."""
        return [
            line
            for line in self.log_text().splitlines()
            if re.search(r"WARNING|ERROR|CRITICAL|Traceback|Exception", line)
        ]


@contextmanager
def running_server(
    name: str,
    argv: Sequence[str],
    port: int,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/health",
    timeout: float = 30.0,
) -> Iterator[Server]:
    """Start argv, wait until GET ready_path answers 200, and stop it (SIGINT) at the end."""
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    log_path = log_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env={**clean_environment(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, port, process, log_path)
    try:
        _wait_ready(server, ready_path, timeout)
        yield server
    finally:
        _stop(process)
        problems = server.problems()
        if problems:
            print(f"\n[{name}] server log has {len(problems)} problem line(s), e.g.:")
            for line in problems[:5]:
                print(f"    {line[:200]}")
            print(f"    (full log: {log_path})")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    """Poll GET path until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start:\n{server.log_text()[-2000:]}")
        try:
            status, _ = http("GET", server.base_url + path)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer {path} in {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (a graceful stop), then SIGKILL after 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def clean_environment() -> dict[str, str]:
    """This process's environment without DATABASE_URL and TRIAGE_*: servers get defaults."""
    return {
        k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("TRIAGE_")
    }


@contextmanager
def our_server(url: str, extra_env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """`triage-hub serve` on a free port, API only (TRIAGE_CLAIMERS=0), other settings default
    but for RAW_INTAKE."""
    port = free_port()
    argv = [str(VENV_BIN / "triage-hub"), "serve", "--port", str(port)]
    env = {"DATABASE_URL": url, "TRIAGE_CLAIMERS": "0", **RAW_INTAKE, **(extra_env or {})}
    with running_server("triage-hub", argv, port, env) as server:
        yield server


@contextmanager
def reference_server(url: str) -> Iterator[Server]:
    """bench/reference_app.py on a free port."""
    port = free_port()
    argv = [sys.executable, str(BENCH_DIR / "reference_app.py"), "--port", str(port), "--dsn", url]
    with running_server("reference", argv, port) as server:
        yield server


# --- the machine ------------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def busy_fraction(window_s: float = 1.0) -> float:
    """How busy the CPUs were over the next window_s seconds (0-1)."""
    idle0, total0 = _cpu_times()
    time.sleep(window_s)
    idle1, total1 = _cpu_times()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(max_busy: float = 0.15, max_wait_s: float | None = None) -> float:
    """Wait (up to max_wait_s, QUIET_WAIT_S unless given) until other work on the machine leaves
    the CPUs idle; return the last busy fraction.

    Other people's tests share these 2 cores; a run started during one of them is not comparable.
    """
    wait = QUIET_WAIT_S if max_wait_s is None else max_wait_s
    deadline = time.monotonic() + wait
    busy = busy_fraction(1.0 if wait > 0 else 0.25)  # not waiting: a shorter look suffices
    while busy > max_busy and time.monotonic() < deadline:
        busy = busy_fraction()
    return busy


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, CPU jiffies used so far, command line) of every process."""
    table: dict[int, tuple[int, int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state ppid ... utime(12th) stime(13th)
        table[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), cmdline)
    return table


class OtherWork:
    """CPU that work outside this bench used while it measured (other people's tests).

    All the CPU time the machine spent (from /proc/stat, so short-lived processes count too)
    minus ours: this process and its children (servers, wrk, pgbench), PostgreSQL's backends
    on our own databases and its background processes, and kernel threads.
    """

    def __init__(self, databases: Sequence[str]) -> None:
        self.databases = [f" {name} " for name in databases]
        self.before = _processes()
        self.machine_before = _busy_jiffies()
        self.children_before = _children_jiffies()

    def _ours(self, pid: int, table: Mapping[int, tuple[int, int, str]]) -> bool:
        """Whether pid belongs to the bench (or to nobody in particular)."""
        _, _, cmdline = table[pid]
        if not cmdline or pid == os.getpid():
            return True
        if cmdline.startswith("postgres:"):
            # a client backend: "postgres: 15/main: USER DATABASE HOST(PORT) STATE"
            backend = re.match(r"postgres: [^:]+: \S+ \S+ (\d[\d.]*\(\d+\)|\[local\])", cmdline)
            return backend is None or any(name in cmdline for name in self.databases)
        seen = set()
        while pid in table and pid not in seen and pid > 1:
            seen.add(pid)
            pid = table[pid][0]
            if pid == os.getpid():
                return True
        return False

    def fraction(self) -> float:
        """Other work's CPU since construction, as a fraction of all the machine's CPUs."""
        after = _processes()
        machine, total = _busy_jiffies()
        ours = _children_jiffies() - self.children_before
        ours += sum(
            used - (self.before[pid][1] if pid in self.before else 0)
            for pid, (_, used, _) in after.items()
            if self._ours(pid, after)
        )
        other = machine - self.machine_before[0] - ours
        return max(0.0, other / max(1, total - self.machine_before[1]))


def _busy_jiffies() -> tuple[int, int]:
    """(user + nice + system, all) jiffies of all CPUs so far; irq time is left out."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[0] + fields[1] + fields[2], sum(fields)


def _children_jiffies() -> int:
    """CPU jiffies of this process's children that have exited (wrk, pgbench)."""
    times = os.times()
    return round((times.children_user + times.children_system) * os.sysconf("SC_CLK_TCK"))


# --- wrk ---------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """What one wrk run reported; latencies in milliseconds."""

    requests_per_s: float
    requests: int
    percentiles: dict[str, float]
    non_2xx: int = 0
    socket_errors: int = 0
    busy_before: float = 0.0  # CPU busy fraction just before the run: other people's work
    other_work: float = 0.0  # CPU share that processes outside the bench used during the run
    raw: str = field(default="", repr=False)

    @property
    def disturbed(self) -> bool:
        """Other work kept the CPUs over 15 % busy before the run, or took over 5 % during it."""
        return self.busy_before > 0.15 or self.other_work > 0.05

    @property
    def errors(self) -> int:
        """Non-2xx/3xx answers plus socket errors (connect, read, write, timeout)."""
        return self.non_2xx + self.socket_errors


def parse_wrk(output: str) -> WrkResult:
    """Requests/s, request count, p50/p75/p90/p99 (ms) and errors from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    count = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if rps is None or count is None:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    percentiles = {
        pct: float(value) * _UNITS[unit] for pct, value, unit in _PERCENTILE.findall(output)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_s=float(rps.group(1)),
        requests=int(count.group(1)),
        percentiles=percentiles,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        raw=output,
    )


def run_wrk(
    url: str,
    connections: int,
    duration: float,
    script: Path | None = None,
    headers: Mapping[str, str] | None = None,
) -> WrkResult:
    """wrk -t2 -cN -dDs --latency --timeout 10s [-H …] [-s script] url, bounded by a hard
    timeout."""
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    argv += ["--timeout", f"{WRK_TIMEOUT_S}s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    done = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=duration + 30, check=True
    )
    return parse_wrk(done.stdout)


def measure(
    url: str,
    connections: int,
    duration: float,
    script: Path | None = None,
    databases: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> WrkResult:
    """run_wrk once the machine is quiet (up to QUIET_WAIT_S of waiting), noting how busy it was
    before and how much CPU other work (outside this bench and `databases`) took during it."""
    busy = wait_for_quiet()
    other = OtherWork(databases)
    result = run_wrk(url, connections, duration, script, headers)
    result.busy_before = busy
    result.other_work = other.fraction()
    return result


def progress(label: str, result: WrkResult) -> str:
    """One line per run, printed as the runs go."""
    busy = f"  (other work: {result.other_work:.0%} of the CPUs)" if result.disturbed else ""
    return (
        f"{label}  {result.requests_per_s:>8,.0f} req/s  p50 {ms(result.percentiles['50'])} ms  "
        f"p99 {ms(result.percentiles['99'])} ms  errors {result.errors}{busy}"
    )


@dataclass
class Summary:
    """Medians over the rounds of one (app, scenario)."""

    requests_per_s: float
    p50: float
    p90: float
    p99: float
    errors: int
    requests: int
    rounds: int
    disturbed_rounds: int  # rounds that other work on the machine disturbed (see WrkResult)


def summarize(results: Sequence[WrkResult]) -> Summary:
    """Median requests/s and percentiles; errors and requests summed over the rounds."""
    return Summary(
        requests_per_s=statistics.median(r.requests_per_s for r in results),
        p50=statistics.median(r.percentiles["50"] for r in results),
        p90=statistics.median(r.percentiles["90"] for r in results),
        p99=statistics.median(r.percentiles["99"] for r in results),
        errors=sum(r.errors for r in results),
        requests=sum(r.requests for r in results),
        rounds=len(results),
        disturbed_rounds=sum(1 for r in results if r.disturbed),
    )


def one_at_a_time(
    url: str, count: int, budget_s: float = 10.0, headers: Mapping[str, str] | None = None
) -> list[float]:
    """Latencies (ms) of up to `count` GETs of url in a row on one keep-alive connection."""
    parts = urllib.parse.urlsplit(url)
    conn = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    deadline = time.monotonic() + budget_s
    try:
        while len(latencies) < count and time.monotonic() < deadline:
            start = time.perf_counter()
            conn.request("GET", target, headers=dict(headers or {}))
            response = conn.getresponse()
            response.read()
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                raise RuntimeError(f"GET {target} answered {response.status}")
    finally:
        conn.close()
    return latencies


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


# --- reporting ---------------------------------------------------------------------------------


_NUMERIC = re.compile(r"[-\d.,x%/ ]*|\(avg [\d.]+\)")  # right-aligned cells (empty ones too)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; numeric-looking cells are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    align = [
        "---:" if cells and all(_NUMERIC.fullmatch(row[i]) for row in cells) else "---"
        for i in range(len(header))
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def machine() -> str:
    """nproc, CPU model, PostgreSQL and Python versions, wrk version: one line each."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    pg = str(fetchval(dsn("postgres"), "SELECT version()")).split(" on ")[0]
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    return "\n".join(
        [
            f"- cores: {os.cpu_count()} ({cpu}); load generator, servers and PostgreSQL share them",
            f"- {pg} on 127.0.0.1:5432 (loopback TCP)",
            f"- Python {platform.python_version()} ({sys.executable})",
            f"- {wrk[0] if wrk else 'wrk'}, {WRK_THREADS} threads",
        ]
    )


def ms(value: float) -> str:
    """Milliseconds with two decimals."""
    return f"{value:.2f}"
