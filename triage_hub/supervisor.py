"""Background tasks that cannot die silently: each is logged and restarted when it fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from triage_hub.metrics import Metrics

log = logging.getLogger(__name__)

FIRST_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
# A task that ran this long before failing starts again from the first delay.
HEALTHY_SECONDS = 60.0

Job = Callable[[], Coroutine[Any, Any, None]]


class Supervised:
    """One supervised task: its kind (claimer, reaper, …), and whether its body runs now."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.running = False
        self.restarts = 0
        self.task: asyncio.Task[None] | None = None


class Supervisor:
    """Runs jobs as tasks. A job that returns is done; one that raises is logged with its stack
    and started again after a backoff (0.5 s doubling to 30 s), for as long as the app runs."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._jobs: list[Supervised] = []

    def start(self, name: str, kind: str, job: Job) -> Supervised:
        """Start `job` under supervision."""
        supervised = Supervised(name, kind)
        supervised.task = asyncio.create_task(self._run(supervised, job), name=name)
        self._jobs.append(supervised)
        self._metrics.tasks_configured.labels(kind).inc()
        return supervised

    def live(self, kind: str) -> int:
        """How many jobs of a kind are running their body now (not waiting to restart)."""
        return sum(job.running for job in self._jobs if job.kind == kind)

    def configured(self, kind: str) -> int:
        """How many jobs of a kind were started."""
        return sum(job.kind == kind for job in self._jobs)

    def restarts(self, kind: str) -> int:
        """How often jobs of a kind died and were started again."""
        return sum(job.restarts for job in self._jobs if job.kind == kind)

    def kinds(self) -> list[str]:
        """Every kind of job, in the order first started."""
        return list(dict.fromkeys(job.kind for job in self._jobs))

    async def _run(self, supervised: Supervised, job: Job) -> None:
        delay = FIRST_RESTART_DELAY
        live = self._metrics.tasks_live.labels(supervised.kind)
        while True:
            started = time.monotonic()
            supervised.running = True
            live.inc()
            try:
                await job()
                return
            except Exception:
                if time.monotonic() - started >= HEALTHY_SECONDS:
                    delay = FIRST_RESTART_DELAY
                supervised.restarts += 1
                self._metrics.task_restarts.labels(supervised.kind).inc()
                log.exception(
                    "background task %s died; restarting it in %.1fs", supervised.name, delay
                )
            finally:
                supervised.running = False
                live.dec()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)

    async def stop(self, jobs: list[Supervised] | None = None, grace: float = 0.0) -> None:
        """Wait up to `grace` seconds for jobs (default: all) to return, then cancel the rest."""
        chosen = self._jobs if jobs is None else jobs
        tasks = [job.task for job in chosen if job.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace) if grace > 0 else ((), set(tasks))
        for task in pending:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
