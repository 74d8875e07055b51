"""PostgreSQL notifications: a debounced NOTIFY for new tickets, and one LISTEN connection per
process that wakes the claimers and feeds the dashboards' event streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import asyncpg

from triage_hub.db.claims import notify_new_tickets
from triage_hub.db.pool import CONNECTION_ERRORS, Database
from triage_hub.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

NEW_TICKETS = "triage_new_tickets"  # payload '' (sent by the application, debounced)
TICKET_EVENTS = "ticket_events"  # payload: the changed ticket as JSON (sent by a trigger)
TICKET_DRAFTS = "ticket_drafts"  # payload: {"id", "draft"} while a ticket is being triaged
NEW_DELIVERIES = "triage_deliveries"  # payload '': the outbox has rows (sent by a trigger)
TICKET_PRESENCE = "ticket_presence"  # payload: {"id", "viewer", "state", "at"} (see desk.sql)
# payload: {"id": the ticket, "delivery", "kind", "event", "status", "attempts"} (a trigger)
DELIVERY_EVENTS = "delivery_events"
LISTENER_APPLICATION_NAME = "triage-hub-listener"
# At most one NOTIFY per this many seconds: a NOTIFY per insert serialises commits (pgbench:
# 20,000 -> 6,200 TPS); one per 5 ms costs nothing and adds at most 5 ms to a pickup.
NOTIFY_INTERVAL = 0.005


class Wakeup:
    """Wakes idle claimers: set by local intake, the listener, and retry timers."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        """Wake every waiting claimer."""
        self._event.set()

    def clear(self) -> None:
        """Called by a claimer right before it looks for work, so no signal is lost."""
        self._event.clear()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 -- the poll fallback
        """Until the next signal, or `timeout` seconds (the poll fallback)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    def set_later(self, delay: float) -> None:
        """Wake claimers when a backed-off ticket becomes claimable."""
        asyncio.get_running_loop().call_later(delay, self._event.set)


class Notifier:
    """Sends the cross-replica NOTIFY for new tickets, coalescing bursts into one."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending = asyncio.Event()

    def request(self) -> None:
        """A ticket was committed: tell the other replicas soon."""
        self._pending.set()

    async def run(self) -> None:
        """Until cancelled: one NOTIFY per burst of requests."""
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                await notify_new_tickets(self._db)
            except DatabaseUnavailable:
                pass  # the listeners' poll fallback covers it; the error is logged by the pool
            await asyncio.sleep(NOTIFY_INTERVAL)


Handler = Callable[[str], None]
# The listener retries on anything the server says too (a dropped database, a failover), and
# on asyncpg's InterfaceError ("connection is closed"), which CONNECTION_ERRORS leaves out.
LISTENER_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class Listener:
    """LISTENs on its own connection (never a pooled one: the pool would UNLISTEN it) and
    reconnects when the connection drops; `on_connect` runs after each (re)connect so that
    whoever depends on it can catch up on what was missed meanwhile."""

    def __init__(
        self,
        dsn: str,
        handlers: Mapping[str, Handler],
        on_connect: Callable[[], None],
        keepalive: float,
    ) -> None:
        self._dsn = dsn
        self._handlers = dict(handlers)
        self._on_connect = on_connect
        self._keepalive = keepalive
        self.connected = asyncio.Event()
        self.connections = 0

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        self._handlers[channel](str(payload))

    async def run(self) -> None:
        """Until cancelled: stay connected and listening."""
        delay = 0.2
        while True:
            conn: asyncpg.Connection[asyncpg.Record] | None = None
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=5,
                    server_settings={"application_name": LISTENER_APPLICATION_NAME},
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                for channel in self._handlers:
                    await conn.add_listener(channel, self._dispatch)
                self.connections += 1
                self.connected.set()
                if self.connections > 1:
                    log.info("listener reconnected")
                self._on_connect()
                delay = 0.2
                await self._watch(conn, lost)
            except LISTENER_ERRORS as exc:
                log.warning(
                    "listener connection lost (%s); reconnecting in %.1fs",
                    type(exc).__name__,
                    delay,
                )
            finally:
                self.connected.clear()
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _watch(self, conn: asyncpg.Connection[asyncpg.Record], lost: asyncio.Event) -> None:
        """Return when the connection is gone; a ping now and then catches silent deaths."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._keepalive)
                break
            await conn.fetchval("SELECT 1", timeout=5)
        raise ConnectionResetError("listener connection closed")
