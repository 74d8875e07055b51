"""The event hub: fans the database's notifications out to this process's dashboard streams."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# A browser that cannot keep up is cut off rather than buffered without bound; it reconnects
# and re-fetches, so it misses nothing.
SUBSCRIBER_QUEUE = 1000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    """One server-sent event."""

    id: str
    kind: str
    data: str

    def encode(self) -> bytes:
        """The event in the text/event-stream format (a comment line for PING)."""
        if not self.kind:
            return b": ping\n\n"
        lines = [f"id: {self.id}", f"event: {self.kind}"]
        # Only CR, LF and CRLF end a line of the stream (str.splitlines() would also split on
        # U+2028, U+2029, U+0085…, which browsers keep inside the data: a broken JSON event).
        lines += [f"data: {line}" for line in _LINE_BREAK.split(self.data)]
        return ("\n".join(lines) + "\n\n").encode()


# Sent after a quiet spell: keeps proxies from closing the stream, and finds dead clients.
PING = Event("", "", "")


class Subscription:
    """One open event stream's queue; None in it means the stream must end."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(SUBSCRIBER_QUEUE)

    async def next(self, timeout: float) -> Event | None:  # noqa: ASYNC109
        """The next event; PING after `timeout` seconds of quiet; None when closed."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return PING

    def close(self) -> None:
        """End the stream (drop what is queued: the client re-fetches when it reconnects)."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class EventHub:
    """Publishes events to every subscribed stream of this process."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._prefix = uuid.uuid4().hex[:8]  # ids are per process: catch-up is by re-fetch
        self._count = 0

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscriptions)

    def publish(self, kind: str, data: str) -> None:
        """Queue an event for every stream; a stream whose queue is full is closed."""
        self._count += 1
        event = Event(f"{self._prefix}-{self._count}", kind, data)
        for subscription in list(self._subscriptions):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscriptions.discard(subscription)
                subscription.close()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription for as long as the block runs."""
        subscription = Subscription()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every stream (at shutdown)."""
        for subscription in list(self._subscriptions):
            subscription.close()
        self._subscriptions.clear()
