"""The built-in engine as the claimers see it: a model trained in a thread from the shipped
labeled set plus every ticket an agent resolved, retrained as the agents correct it."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from triage_hub.db import training
from triage_hub.db.pool import Database
from triage_hub.engines.base import EngineAnswer, EngineHealth, OnDelta
from triage_hub.engines.builtin.data import shipped_examples
from triage_hub.engines.builtin.guard import no_worse
from triage_hub.engines.builtin.model import HIGH_RECALL_TARGET, BuiltinTriage, TrainingDataError
from triage_hub.engines.builtin.types import Example
from triage_hub.triage.output import TriageOutput

log = logging.getLogger(__name__)
T = TypeVar("T")

MODEL_NAME = "builtin-v1"
# The newest corrections kept out of a retraining to judge it on (at most this share, and
# this many): a new model is kept only if it is no worse on them than the one in use.
JUDGE_SHARE = 0.2
JUDGE_MAX = 200
# Resolved tickets read for training, newest first.
MAX_CORRECTIONS = 20_000
# A server's first model learns from every n-th ticket, about this many in all (0.7 s of
# training on this 2-core box, its High threshold not tuned), the next one from all of them.
FIRST_MODEL_EXAMPLES = 220


def in_daemon_thread(work: Callable[[], T]) -> Awaitable[T]:
    """`work()` in a thread of its own that a stopping process does not wait for: a training
    takes seconds (~10 s for the shipped set on 2 busy cores), and a server asked to stop, or a
    test's event loop closing, should not wait for a model nobody will use. (asyncio.to_thread's
    executor is joined at loop shutdown.)"""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # the awaiting task may have been cancelled meanwhile
            outcome()

    def run() -> None:
        try:
            result = work()
        except BaseException as error:  # handed to the awaiting task, which logs it
            outcome = functools.partial(future.set_exception, error)
        else:
            outcome = functools.partial(future.set_result, result)
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:  # the loop is closed: nobody waits for the result
            pass

    threading.Thread(target=run, name="builtin-training", daemon=True).start()
    return future


class BuiltinEngine:
    """Triage in the process, in milliseconds. Shared by every claimer of the process."""

    name = "builtin"

    def __init__(
        self,
        db: Database | None,
        retrain_every: int,
        retrain_min_seconds: float,
        *,
        base: Callable[[], list[Example]] = shipped_examples,
    ) -> None:
        self._db = db
        self._base = base
        self.retrain_every = retrain_every
        self.retrain_min_seconds = retrain_min_seconds
        self._model: BuiltinTriage | None = None
        self._trained_on = 0  # corrections in the model in use
        self._trained_at = 0.0
        self._lock = asyncio.Lock()

    async def model(self) -> BuiltinTriage:
        """The model in use, trained on first need (the shipped set and the corrections)."""
        if self._model is None:
            async with self._lock:
                if self._model is None:
                    corrections = await self._corrections()
                    await self._train([*self._base(), *corrections], len(corrections))
        assert self._model is not None
        return self._model

    async def _train(
        self, examples: list[Example], corrections: int, what: str = "", *, first: bool = False
    ) -> None:
        """Train on `examples` (in a thread) and use the model from now on; a `first` model, soon
        replaced, keeps the default High threshold rather than tune it."""
        target = None if first else HIGH_RECALL_TARGET
        self._model = await in_daemon_thread(
            functools.partial(BuiltinTriage.train, examples, high_recall_target=target)
        )
        self._trained_on = corrections
        self._trained_at = time.monotonic()
        log.info(
            "built-in engine trained%s on %d tickets (%d shipped, %d resolved by agents) in %.1f s",
            what,
            len(examples),
            len(examples) - corrections,
            corrections,
            self._model.report.seconds,
        )

    async def _train_at_start(self) -> None:
        """A server's first training, in two steps: a first model on every n-th ticket, about
        FIRST_MODEL_EXAMPLES (the tickets of a fresh start wait half a second, not several), then
        at once the model on all of them, which replaces it. Tickets wait for the first only."""
        async with self._lock:
            if self._model is not None:
                return
            shipped, corrections = self._base(), await self._corrections()
            everything = [*shipped, *corrections]
            first = range(0, len(everything), -(-len(everything) // FIRST_MODEL_EXAMPLES))
            try:
                in_first = sum(i >= len(shipped) for i in first)  # corrections among them
                examples = [everything[i] for i in first]
                await self._train(examples, in_first, " a first model", first=True)
            except TrainingDataError:  # too few of some label to leave any out
                await self._train(everything, len(corrections))
                return
        async with self._lock:
            await self._train(everything, len(corrections))

    async def _corrections(self) -> list[Example]:
        if self._db is None:
            return []
        return [
            Example(*row) for row in await training.resolved_examples(self._db, MAX_CORRECTIONS)
        ]

    async def triage(self, ticket_text: str, on_delta: OnDelta | None = None) -> EngineAnswer:
        """The model's triage (in a thread: a few ms of CPU); never raises for the ticket."""
        model = await self.model()
        started = time.perf_counter()
        prediction = await asyncio.to_thread(model.predict, ticket_text)
        output = TriageOutput.model_validate(
            {
                "category": prediction.category,
                "urgency": prediction.urgency,
                "sentiment": prediction.sentiment,
                "draft": prediction.draft,
            }
        )
        return EngineAnswer(
            output=output,
            engine=self.name,
            model=MODEL_NAME,
            confidence=dict(prediction.confidence),
            language=prediction.language,
            total_ms=(time.perf_counter() - started) * 1000,
        )

    async def agreement(self, ticket_text: str, output: TriageOutput) -> dict[str, float]:
        """How likely this engine finds another engine's triage (see BuiltinTriage.agreement);
        nothing while it is still being trained: an answer never waits for its confidence."""
        model = self._model
        if model is None:
            return {}
        return await asyncio.to_thread(
            model.agreement, ticket_text, output.category, output.urgency, output.sentiment
        )

    async def health(self) -> EngineHealth:
        """Ready once trained (it trains on the first ticket if nothing asked before)."""
        return EngineHealth(
            self.name,
            self._model is not None,
            {"model": MODEL_NAME, "corrections": self._trained_on},
        )

    async def close(self) -> None:
        """Nothing to release."""

    async def retrain_when_due(self) -> bool:
        """Train anew when `retrain_every` corrections came since the last training and
        `retrain_min_seconds` have passed; keep the new model only if it is no worse on the
        newest corrections (kept out of its training). True when a new model is in use."""
        if self._db is None or time.monotonic() - self._trained_at < self.retrain_min_seconds:
            return False
        corrections = await self._corrections()
        if len(corrections) - self._trained_on < self.retrain_every:
            return False
        old = await self.model()
        judge = min(JUDGE_MAX, max(1, int(len(corrections) * JUDGE_SHARE)))
        recent, rest = corrections[:judge], corrections[judge:]  # newest first
        new = await in_daemon_thread(functools.partial(BuiltinTriage.train, [*self._base(), *rest]))
        keep, figures = await asyncio.to_thread(no_worse, old, new, recent)
        self._trained_at = time.monotonic()
        summary = ", ".join(f"{name} {value:.3f}" for name, value in figures.items())
        if keep:
            self._model, self._trained_on = new, len(corrections)
            log.info("built-in engine retrained on %d corrections: kept (%s)", len(rest), summary)
        else:
            log.warning("built-in engine retrained: worse on the newest corrections, "
                        "keeping the old one (%s)", summary)  # fmt: skip
        return keep

    async def retrain_loop(self, stopping: asyncio.Event, check_seconds: float = 30.0) -> None:
        """Until stopping: train at start, then retrain whenever it is due (supervised)."""
        await self._train_at_start()
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), check_seconds)
            except TimeoutError:
                await self.retrain_when_due()
