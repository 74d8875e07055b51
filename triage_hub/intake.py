"""Intake: storing a new complaint, behind the limits that keep floods out — a per-client token
bucket and a cap on the PENDING backlog. No web framework here: the HTTP and form paths call it.

Both limits live in this process: the buckets are per replica (N replicas let a client through N
times as fast), and the backlog is the shared PENDING count, re-read at most once a second.
Agents are exempt from the buckets; credentials that named no agent are remembered briefly,
so that a flood carrying a junk token is refused without a lookup each.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from triage_hub.db import tickets
from triage_hub.db.accounts import Credential
from triage_hub.db.notify import Notifier, Wakeup
from triage_hub.db.pool import Database
from triage_hub.errors import BacklogFull
from triage_hub.metrics import Metrics
from triage_hub.models import Backlog, TicketCreated
from triage_hub.settings import Settings

Clock = Callable[[], float]

# Past this many clients with a partly empty bucket, the least recently served are forgotten
# (given a full bucket back): ~20 MB at worst, instead of memory that grows with a flood.
MAX_BUCKETS = 100_000
# How often a replica re-reads the PENDING count: other replicas' intake and the claimers'
# progress show up within this; in between, this process counts its own new tickets.
BACKLOG_REFRESH_SECONDS = 1.0
# A full backlog drains at the pace of the LLM, seconds per ticket: no point retrying sooner.
BACKLOG_RETRY_AFTER = 30
# A credential that named no agent is not looked up again for this long: a flood carrying one
# junk token costs a lookup per this many seconds and replica. A junk value turns good only
# when a token is created just after a client first sent it: it works this soon. Credentials
# that name an agent are never remembered, so a revocation holds at once on every replica.
JUNK_SECONDS = 2.0
# Past this many junk credentials (a flood that varies them), the oldest are forgotten: ~2 MB.
JUNK_REMEMBERED = 10_000


class TokenBucket:
    """Token buckets by client key: `burst` tokens each, refilled at `rate_per_second`.

    A bucket is kept as the moment it will be full again (a GCRA, which is a token bucket in
    one float); a full bucket and no bucket are the same, so full ones are forgotten.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        *,
        max_buckets: int = MAX_BUCKETS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.interval = 1 / rate_per_second
        self.capacity = burst * self.interval  # how far ahead `full_at` may run
        self.max_buckets = max_buckets
        self._clock = clock
        # key -> full_at, least recently taken from first. A bucket is full at most `capacity`
        # after its last take, so everything older than that sits at the front.
        self._full_at: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._full_at)

    def take(self, key: str) -> float:
        """Take a token from key's bucket: 0.0 if there was one, else seconds until there is."""
        now = self._clock()
        self._forget_full(now)
        full_at = max(self._full_at.get(key, now), now) + self.interval
        if full_at - now > self.capacity + 1e-9:  # taking one would leave less than none
            return full_at - now - self.capacity
        self._full_at[key] = full_at
        self._full_at.move_to_end(key)
        while len(self._full_at) > self.max_buckets:
            self._full_at.popitem(last=False)
        return 0.0

    def _forget_full(self, now: float) -> None:
        while self._full_at:
            key, full_at = next(iter(self._full_at.items()))
            if full_at > now:
                return
            del self._full_at[key]


class JunkCredentials:
    """Credentials recently looked up that named no agent, each for `seconds`, the
    `max_size` most recent at most."""

    def __init__(
        self,
        seconds: float = JUNK_SECONDS,
        *,
        max_size: int = JUNK_REMEMBERED,
        clock: Clock = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_size = max_size
        self._clock = clock
        self._until: OrderedDict[Credential, float] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._until)

    def __contains__(self, presented: Credential) -> bool:
        now = self._clock()
        while self._until:  # forget the expired, which sit at the front
            oldest, until = next(iter(self._until.items()))
            if until > now:
                break
            del self._until[oldest]
        return presented in self._until

    def add(self, presented: Credential) -> None:
        """Remember a credential that named no agent."""
        self._until[presented] = self._clock() + self.seconds
        self._until.move_to_end(presented)
        while len(self._until) > self.max_size:
            self._until.popitem(last=False)


class BacklogGauge:
    """The PENDING tickets of all replicas: counted at most once a `refresh_seconds` (one
    count at a time), plus the tickets this process has added since that count began."""

    def __init__(
        self,
        count: Callable[[], Awaitable[int]],
        cap: int,
        *,
        refresh_seconds: float = BACKLOG_REFRESH_SECONDS,
        clock: Clock = time.monotonic,
        on_full: Callable[[], None] = lambda: None,
    ) -> None:
        self.cap = cap
        self.refresh_seconds = refresh_seconds
        self._on_full = on_full
        self._count = count
        self._clock = clock
        self._counted = 0
        self._counted_at: float | None = None
        self._added = 0  # tickets this process has added, ever
        self._added_at_count = 0  # ... when the last count began
        self._in_flight = 0  # admitted, not yet committed
        self._recount: asyncio.Task[None] | None = None

    async def pending(self) -> int:
        """PENDING tickets now, counting again first when the last count is stale."""
        stale = self._counted_at is None or self._clock() - self._counted_at >= self.refresh_seconds
        if stale:
            if self._recount is None:
                self._recount = asyncio.create_task(self._count_again())
                self._recount.add_done_callback(_retrieve_exception)
            # Shielded: one caller giving up must not cancel the count the others await.
            await asyncio.shield(self._recount)
        return self._counted + self._added - self._added_at_count

    async def _count_again(self) -> None:
        added_before = self._added
        try:
            counted = await self._count()
        finally:
            self._recount = None
        # Tickets added while the count ran may be in it or not: count them once more, so the
        # gauge errs high (refusing a little early) for at most one refresh.
        self._counted, self._added_at_count = counted, added_before
        self._counted_at = self._clock()

    async def snapshot(self) -> Backlog:
        """What the dashboard shows."""
        pending = await self.pending()
        cap = self.cap or None
        return Backlog(pending=pending, cap=cap, full=cap is not None and pending >= cap)

    def admission(self) -> Admission:
        """`async with` it around storing a new ticket: BacklogFull when there is no room."""
        return Admission(self)

    async def _reserve(self) -> None:
        if self.cap:
            # No await between the check and the reservation: exact within this process.
            if await self.pending() + self._in_flight >= self.cap:
                self._on_full()
                raise BacklogFull(BACKLOG_RETRY_AFTER)
        self._in_flight += 1

    def _release(self, stored: bool) -> None:
        self._in_flight -= 1
        if stored:
            self._added += 1


class Admission:
    """A place in the backlog for one new ticket while it is stored (a plain class: a
    generator-based context manager costs several µs on every intake)."""

    __slots__ = ("_gauge",)

    def __init__(self, gauge: BacklogGauge) -> None:
        self._gauge = gauge

    async def __aenter__(self) -> None:
        await self._gauge._reserve()

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._gauge._release(stored=kind is None)


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    # Every waiter may have gone; the failure is theirs to report, not the loop's.
    if not task.cancelled():
        task.exception()


def bucket_key(address: str) -> str:
    """The rate limit's key for a client address: IPv6 by its /64, which one host may own."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


def retry_after(seconds: float) -> int:
    """Whole seconds for Retry-After, at least 1."""
    return max(1, math.ceil(seconds))


class Intake:
    """Stores new tickets (BacklogFull at the cap) and wakes the claimers here and in every
    replica; holds this process's rate buckets (None: no limit) and junk-credential memory."""

    def __init__(
        self, settings: Settings, db: Database, wakeup: Wakeup, notifier: Notifier, metrics: Metrics
    ) -> None:
        self._db = db
        self._wakeup = wakeup
        self._notifier = notifier
        self._metrics = metrics
        self.buckets: TokenBucket | None = None
        if settings.intake_rate_per_minute > 0:
            self.buckets = TokenBucket(settings.intake_rate_per_minute / 60, settings.intake_burst)
        self.backlog = BacklogGauge(
            lambda: tickets.count_pending(db),
            settings.max_backlog,
            on_full=lambda: metrics.intake_rejected.labels("backlog_full").inc(),
        )
        self.junk = JunkCredentials()

    async def submit(
        self, message: str, email: str | None = None, name: str | None = None
    ) -> TicketCreated:
        """Store a validated complaint (and who wrote it) as PENDING; returns once committed."""
        async with self.backlog.admission():
            created = await tickets.create_ticket(self._db, message, email, name)
        self._wakeup.set()
        self._notifier.request()
        self._metrics.tickets_created.inc()
        return created
