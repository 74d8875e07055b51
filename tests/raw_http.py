"""Raw HTTP over a socket, for requests no client library would send, and the app served the way
`triage-hub serve` serves it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict


@dataclass
class Answer:
    """One HTTP response as it came over the wire."""

    status_line: str
    headers: CIMultiDict[str]
    body: bytes

    @property
    def status(self) -> int:
        """The status code."""
        return int(self.status_line.split()[1])

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


async def read_answer(reader: asyncio.StreamReader, timeout: float = 5) -> Answer:  # noqa: ASYNC109
    """Read one response (status line, headers, Content-Length bytes of body)."""
    async with asyncio.timeout(timeout):
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *lines = head.removesuffix("\r\n\r\n").split("\r\n")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
        body = await reader.readexactly(int(headers.get("Content-Length", "0")))
    return Answer(status_line, headers, body)


async def exchange(port: int, request: bytes, timeout: float = 5) -> Answer:  # noqa: ASYNC109
    """Send raw bytes on a new connection; the response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await read_answer(reader, timeout)
    finally:
        writer.close()


def post(path: str, content_type: str | None, body: bytes, *extra: str) -> bytes:
    """A raw POST with the given Content-Type (None: no such header) and body."""
    headers = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if content_type is not None:
        headers.append(f"Content-Type: {content_type}")
    headers += [f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Served:
    """An app on a real port."""

    runner: web.AppRunner
    port: int


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[Served]:
    """The app on a port as web.run_app runs it for `triage-hub serve`: a handler carries on when
    its client hangs up (the test server would cancel it), and no access log."""
    runner = web.AppRunner(app, handler_cancellation=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Served(runner, runner.addresses[0][1])
    finally:
        await runner.cleanup()


def noisy_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the server logged at INFO or above (the access log aside)."""
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.INFO and record.name != "aiohttp.access"
    ]


def assert_quiet(caplog: pytest.LogCaptureFixture, requests: int) -> None:
    """At most one log line per bad request, and never a traceback."""
    records = noisy_records(caplog)
    assert len(records) <= requests, [r.getMessage() for r in records]
    for record in records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
        assert "\n" not in record.getMessage()
