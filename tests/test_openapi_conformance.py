"""schemathesis against GET /openapi.json on a live `triage-hub serve`: the API answers what its
description says (status codes, content types, headers, bodies; valid input accepted, invalid
input refused) and never a 5xx. Bounded (a few hundred requests) and seeded, so reproducible."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.auth import AUTH
from tests.factories import insert_tickets
from tests.serve import ServeProcess

SCHEMATHESIS = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 12  # per operation and phase: with the coverage phase ~500 requests in all
SEED = "9"
TIMEOUT_SECONDS = 100
# An endless stream: a request to it never ends (tests/test_events.py covers it).
NEVER_ENDS = ["/events"]


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[ServeProcess]:
    """`triage-hub serve` on the test's database, API only."""
    process = ServeProcess({"DATABASE_URL": database_url, "TRIAGE_CLAIMERS": "0"})
    try:
        await process.start()
        yield process
    finally:
        await process.close()


async def schemathesis_run(server: ServeProcess, config: Path, *options: str) -> tuple[int, str]:
    """`st run` against the server's /openapi.json with every check; (exit code, output)."""
    argv = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/openapi.json",
        "--checks=all",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--phases=examples,coverage,fuzzing",
        "--workers=1",  # two threads: CPython 3.11's "AST constructor recursion depth mismatch"
        "--no-shrink",
        "--generation-database=none",
        "--request-timeout=10",
        "--max-redirects=0",
        f"--header=Authorization: {AUTH['Authorization']}",
        *(f"--exclude-path={path}" for path in NEVER_ENDS),
        *options,
    ]
    log = config.with_name("schemathesis.log")
    with log.open("wb") as output:  # a file: what it printed survives a timeout
        child = await asyncio.create_subprocess_exec(
            *argv,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            env={"NO_COLOR": "1", "PATH": str(SCHEMATHESIS.parent), "COLUMNS": "120"},
            cwd=config.parent,  # its crash cache (replayed by the next run) stays the test's own
        )
        try:
            code = await asyncio.wait_for(child.wait(), TIMEOUT_SECONDS)
        except TimeoutError:
            child.kill()
            code = await child.wait()
    return code, log.read_text(encoding="utf-8", errors="replace")


@pytest.mark.timeout(TIMEOUT_SECONDS + 40)
async def test_the_api_does_what_its_description_says(
    server: ServeProcess, database_url: str, tmp_path: Path
) -> None:
    # One real ticket, awaiting an agent, for the operations that take a ticket id: they then
    # reach more than their 404 (the ticket, its public status, a resolve, a refused retry).
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[parameters]\n"path.id" = "{ticket_id}"\n'
        # A valid If-Match that is stale is refused with 412, as RFC 9110 asks: valid data that
        # a well-behaved server turns down, like 409 for a ticket in the wrong state.
        "[checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]\n'
        # …and an If-Match that cannot be ours fails as a precondition (412), not as a 400.
        "[checks.negative_data_rejection]\n"
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415", '
        '"422", "428", "429", "5xx"]\n',
        encoding="utf-8",
    )
    code, output = await schemathesis_run(server, config)
    assert code == 0, output
