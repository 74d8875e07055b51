"""A small server-sent events reader over an aiohttp response, for the tests."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class ServerEvent:
    """One event as the browser's EventSource would see it."""

    kind: str
    data: str
    id: str | None

    def json(self) -> Any:
        """The data as JSON."""
        return json.loads(self.data)


class EventReader:
    """Reads events off a text/event-stream response."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.retry_ms: int | None = None

    async def next(self, timeout: float = 10) -> ServerEvent:  # noqa: ASYNC109
        """The next event (comments and retry lines are skipped)."""
        kind, data, event_id = "message", [], None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the event stream ended")
                line = raw.decode().rstrip("\n")
                if not line:
                    if data:
                        return ServerEvent(kind, "\n".join(data), event_id)
                    continue
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    kind = value
                elif field == "data":
                    data.append(value)
                elif field == "id":
                    event_id = value
                elif field == "retry":
                    self.retry_ms = int(value)

    async def wait_for(
        self,
        kind: str,
        timeout: float = 10,  # noqa: ASYNC109
        **fields: Any,
    ) -> ServerEvent:
        """The next event of `kind` whose JSON data has the given fields."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                if event.kind == kind and all(
                    event.json().get(name) == value for name, value in fields.items()
                ):
                    return event
