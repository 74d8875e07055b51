"""`triage-hub serve` as a real child process, for tests that kill or stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Sequence

import aiohttp

from tests.pg import free_port


class ServeProcess:
    """A `python -m triage_hub serve` with its own port and environment."""

    def __init__(self, env: dict[str, str], args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.args = list(args)  # after `serve`: --log-format json
        # The intake rate limit is off unless the test sets it: tests post from one address.
        defaults = {"TRIAGE_INTAKE_RATE_PER_MINUTE": "0"}
        self.env = {**os.environ, **defaults, **env, "TRIAGE_PORT": str(self.port)}
        self.process: asyncio.subprocess.Process | None = None
        self._log: list[bytes] = []
        self._reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def spawn(self) -> None:
        """Start the process (without waiting for it to serve)."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "triage_hub",
            "serve",
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        # Read the log as it comes: a pipe nobody reads blocks the server once it is full.
        self._reader = asyncio.create_task(self._read_log())

    async def _read_log(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self._log.append(line)

    async def peek_stderr(self) -> str:
        """What it has logged so far (while it runs)."""
        await asyncio.sleep(0)
        return b"".join(self._log).decode(errors="replace")

    async def start(self, timeout: float = 20) -> None:  # noqa: ASYNC109
        """Start it and wait until /health answers 200."""
        await self.spawn()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.process.returncode is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not start: {await self.stderr()}")
                await asyncio.sleep(0.1)

    async def post_ticket(self, message: str) -> str:
        """POST /tickets; returns the ticket id."""
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{self.url}/tickets", json={"message": message}) as resp:
                assert resp.status == 201
                return str((await resp.json())["ticket_id"])

    def send(self, signum: signal.Signals) -> None:
        """Send a signal to the process."""
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 20) -> int:  # noqa: ASYNC109
        """Wait for it to exit; its exit code."""
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stderr(self) -> str:
        """What it logged (all of it once it exited)."""
        assert self.process is not None
        if self.process.returncode is not None and self._reader is not None:
            await self._reader
        return b"".join(self._log).decode(errors="replace")

    async def close(self) -> None:
        """Kill it if still running."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
