"""The asyncpg pool: opened with retries. A lost connection becomes DatabaseUnavailable, a pool
with no free connection DatabaseBusy; any other error (a bug) stays what it is."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import asyncpg
import asyncpg.pool

from triage_hub.errors import DatabaseBusy, DatabaseUnavailable

log = logging.getLogger(__name__)

# What asyncpg raises when the server is down, restarting or full, or the connection broke
# mid-query: a refused or reset socket, a connect or query timeout, a connection lost under us
# (ConnectionDoesNotExistError and the other PostgresConnectionErrors), a server that refuses
# connections while it starts or stops (CannotConnectNowError, admin or crash shutdown) or has
# no connection slot left. Not InterfaceError: its subclasses (DataError for a bad argument,
# ClientConfigurationError, ...) are bugs of ours; see connection_lost for its plain instances.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)
# A plain InterfaceError with one of these texts is a connection (or the pool, at shutdown)
# that closed under us: asyncpg has no class of its own for them.
_CLOSED_TEXTS = ("connection is closed", "pool is closed", "pool is closing")
ACQUIRE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 10.0
# Short OLTP statements only: JIT compiling costs more than it saves (a deep urgent page whose
# cost estimate passed jit_optimize_above_cost spent ~2 s in LLVM for a 0.5 s query).
# PgBouncer refuses startup parameters it does not know ("unsupported startup parameter: jit"):
# behind it, jit is the pooler's or the database's to set (README: Behind PgBouncer).
SERVER_SETTINGS = {"jit": "off"}

Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


def connection_lost(error: BaseException) -> bool:
    """Whether `error` means the database cannot be reached (an outage), not a bug of ours."""
    if isinstance(error, CONNECTION_ERRORS):
        return True
    return type(error) is asyncpg.InterfaceError and any(
        text in str(error) for text in _CLOSED_TEXTS
    )


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Decode jsonb into Python values."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_reset(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Skip asyncpg's per-release reset round trip: pooled connections never hold session state.

    Nothing here takes session advisory locks, LISTENs or SETs on a pooled connection (the
    listener and the schema lock use their own, direct connections; the advisory locks in SQL
    are pg_advisory_xact_lock), so RESET ALL/UNLISTEN * would only cost a round trip per query
    (measured +15 % intake throughput without it). The same rule makes PgBouncer's transaction
    mode safe.
    """


def pool_options(pgbouncer: bool) -> dict[str, Any]:
    """asyncpg's options for a direct connection, or for one through PgBouncer in transaction
    mode, where each transaction may run on another server connection: a statement prepared
    on one is missing on the next ("prepared statement does not exist"), so nothing is cached
    (asyncpg then prepares an unnamed statement for each query). Only behind it: the cache
    saves a round trip per query, and without it a pool's query rate halves
    (bench/statement_cache.py)."""
    if pgbouncer:
        return {"statement_cache_size": 0}
    return {"server_settings": SERVER_SETTINGS}


async def create_pool(
    dsn: str, size: int, *, pgbouncer: bool = False
) -> asyncpg.Pool[asyncpg.Record]:
    """Open a pool once; raises on failure (see open_pool for retries)."""
    pool: asyncpg.Pool[asyncpg.Record] = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        reset=_no_reset,
        timeout=CONNECT_TIMEOUT,
        command_timeout=COMMAND_TIMEOUT,
        max_inactive_connection_lifetime=60.0,
        **pool_options(pgbouncer),
    )
    return pool


async def open_pool(
    dsn: str, size: int, attempts: int, *, pgbouncer: bool = False
) -> asyncpg.Pool[asyncpg.Record]:
    """Open the pool, retrying with exponential backoff while the database is not up yet."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return await create_pool(dsn, size, pgbouncer=pgbouncer)
        except CONNECTION_ERRORS as exc:
            if attempt == attempts:
                raise DatabaseUnavailable(
                    f"could not connect to the database after {attempts} attempts: {exc}"
                ) from exc
            log.warning(
                "database not reachable (attempt %d/%d): %s; retrying in %.1fs",
                attempt,
                attempts,
                exc,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def _released_on_close(conn: Connection, error: asyncpg.InterfaceError) -> bool:
    """asyncpg hands a pooled connection back the moment it closes: a call through the proxy
    we still hold then raises a bare InterfaceError ("released back to the pool"), a loss too."""
    return type(error) is asyncpg.InterfaceError and getattr(conn, "_con", conn) is None


class Database:
    """The pool, handing out connections: a lost connection surfaces as DatabaseUnavailable,
    no free connection within `acquire_timeout` as DatabaseBusy.

    `share()` makes a view of the same pool that may hold only part of it at once.
    """

    def __init__(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        acquire_timeout: float = ACQUIRE_TIMEOUT,
        *,
        name: str = "the pool",
        limits: tuple[asyncio.Semaphore, ...] | None = None,
    ) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        self.name = name
        # Connections in use, counted here (the share's first, then the whole pool's): waiting
        # for a place is a full pool, so asyncpg's own acquire never queues, and a timeout
        # there can only be a connect that hung.
        self._limits = limits or (asyncio.Semaphore(pool.get_max_size()),)

    def share(self, connections: int, name: str) -> Database:
        """A view of this pool that holds at most `connections` at once, so that whoever uses
        the rest never waits behind its callers."""
        own = asyncio.Semaphore(connections)
        return Database(self.pool, self.acquire_timeout, name=name, limits=(own, *self._limits))

    async def _take_places(self) -> None:
        """A place in each limit, in order, or DatabaseBusy once acquire_timeout has passed."""
        taken = 0
        deadline: float | None = None
        try:
            for limit in self._limits:
                if limit.locked():
                    if deadline is None:
                        deadline = asyncio.get_running_loop().time() + self.acquire_timeout
                    async with asyncio.timeout_at(deadline):
                        await limit.acquire()
                else:
                    await limit.acquire()  # free: returns at once
                taken += 1
        except BaseException as error:
            for limit in self._limits[:taken]:
                limit.release()
            if isinstance(error, TimeoutError):
                log.warning(
                    "database busy: no free connection in %s within %.1fs",
                    self.name,
                    self.acquire_timeout,
                )
                raise DatabaseBusy("The server is busy; retry shortly.") from None
            raise

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; DatabaseUnavailable when the database cannot be reached,
        DatabaseBusy when every connection stays in use."""
        await self._take_places()
        closed_while_held = False
        try:
            async with self.pool.acquire(timeout=self.acquire_timeout) as conn:
                try:
                    yield conn
                except asyncpg.InterfaceError as error:
                    closed_while_held = _released_on_close(conn, error)
                    raise
        except Exception as error:
            if not (closed_while_held or connection_lost(error)):
                raise
            log.warning("database unavailable: %s: %s", type(error).__name__, error)
            raise DatabaseUnavailable("The database is unavailable; retry shortly.") from error
        finally:
            for limit in self._limits:
                limit.release()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Rows of one statement."""
        async with self.connection() as conn:
            return await conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """The first row of one statement, or None."""
        async with self.connection() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first value of one statement."""
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def ping(self) -> bool:
        """True when a trivial query succeeds."""
        try:
            return bool(await self.fetchval("SELECT true"))
        except DatabaseUnavailable:
            return False
