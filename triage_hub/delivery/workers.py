"""The delivery workers: the claimers' machinery (supervised tasks, one-statement claims, a
lease renewed on a timer, fenced writes, a reaper) for the outbox's deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from triage_hub.db import outbox
from triage_hub.db.notify import Wakeup
from triage_hub.db.outbox import Delivery
from triage_hub.db.pool import Database
from triage_hub.delivery.base import Sender, SendFailed
from triage_hub.errors import DatabaseUnavailable
from triage_hub.logs import about
from triage_hub.metrics import Metrics
from triage_hub.settings import Settings
from triage_hub.supervisor import Supervised, Supervisor
from triage_hub.triage import lease
from triage_hub.triage.claimers import claimer_name
from triage_hub.triage.lease import LeaseLost

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600.0


class DeliveryPool:
    """`settings.delivery_workers` supervised workers and a reaper, for the senders given."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        wakeup: Wakeup,
        metrics: Metrics,
        supervisor: Supervisor,
        senders: dict[str, Sender],
    ) -> None:
        self.settings = settings
        self.db = db
        self.wakeup = wakeup
        self.metrics = metrics
        self.supervisor = supervisor
        self.senders = senders
        self.name = claimer_name()
        self.stopping = asyncio.Event()
        self._tasks: list[Supervised] = []

    def start(self) -> None:
        """Start the workers and the reaper."""
        for number in range(self.settings.delivery_workers):
            self._tasks.append(self.supervisor.start(f"delivery-{number}", "delivery", self._work))
        self._tasks.append(self.supervisor.start("delivery-reaper", "delivery-reaper", self._reap))

    async def stop(self) -> None:
        """Stop; a send under way gets the shutdown grace, then its lease lapses and another
        replica sends it again (at least once)."""
        self.stopping.set()
        self.wakeup.set()
        await self.supervisor.stop(self._tasks, self.settings.shutdown_grace_seconds)
        for sender in self.senders.values():
            await sender.close()

    def backoff(self, attempt: int) -> float:
        """Seconds before the next try: TRIAGE_DELIVERY_BACKOFF_SECONDS doubling, jittered."""
        base = self.settings.delivery_backoff_seconds * 2 ** (attempt - 1)
        return float(min(base, MAX_BACKOFF_SECONDS) * random.uniform(0.75, 1.0))

    async def _work(self) -> None:
        while not self.stopping.is_set():
            self.wakeup.clear()
            try:
                delivery = await outbox.claim_next(
                    self.db, self.name, self.settings.lease_seconds, list(self.senders)
                )
            except DatabaseUnavailable:
                delivery = None
            if delivery is None:
                await self.wakeup.wait(self.settings.poll_seconds)
                continue
            with about(ticket_id=delivery.ticket_id, delivery_id=delivery.id):
                await self._deliver(delivery)

    async def _deliver(self, delivery: Delivery) -> None:
        sender = self.senders.get(delivery.kind)
        where = f"delivery {delivery.id} ({delivery.kind}, ticket {delivery.ticket_id})"
        seconds = self.settings.lease_seconds
        try:
            if sender is None:
                raise SendFailed(f"{delivery.kind} deliveries are not configured here")
            async with lease.held(lambda: outbox.renew(self.db, delivery, seconds), seconds, where):
                await sender.send(delivery)
        except LeaseLost:
            self.metrics.deliveries.labels(delivery.kind, "lease_lost").inc()
            log.warning("%s: lease lost while sending", where)
            return
        except SendFailed as error:
            await self._failed(delivery, where, error)
            return
        if await outbox.delivered(self.db, delivery):
            self.metrics.deliveries.labels(delivery.kind, "sent").inc()
            log.info("%s: sent on try %d", where, delivery.attempt)

    async def _failed(self, delivery: Delivery, where: str, error: SendFailed) -> None:
        give_up = error.permanent or delivery.attempt >= self.settings.delivery_attempts
        retry_in = self.backoff(delivery.attempt)
        status = await outbox.not_delivered(self.db, delivery, error.message, retry_in, give_up)
        outcome = "failed" if status == "FAILED" else "retry" if status else "lease_lost"
        self.metrics.deliveries.labels(delivery.kind, outcome).inc()
        level = logging.WARNING if status == "FAILED" else logging.INFO
        log.log(level, "%s: try %d: %s -> %s", where, delivery.attempt, error.message,
                status or "fenced off")  # fmt: skip
        if status == "PENDING":
            self.wakeup.set_later(retry_in)

    async def _reap(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(DatabaseUnavailable):
                for item in await outbox.reap_deliveries(self.db, self.settings.delivery_attempts):
                    with about(ticket_id=item.ticket_id, delivery_id=item.id):
                        log.warning("delivery %s: its worker stopped; reaped to %s", item.id,
                                    item.status)  # fmt: skip
                    self.wakeup.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.settings.lease_seconds / 4)
