"""Every background task is supervised: the listener and the NOTIFY sender as well as the
claimers and the reaper (whose deaths tests/test_engine_faults.py causes in a running app)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.conftest import StartApp, engine_settings
from tests.fake_ollama import FakeOllama
from triage_hub import supervisor as supervisor_module
from triage_hub.metrics import Metrics
from triage_hub.supervisor import Supervisor


async def test_the_app_supervises_its_listener_and_notifier(
    start_app: StartApp, database_url: str, fake_ollama: FakeOllama
) -> None:
    app = await start_app(engine_settings(database_url, fake_ollama))
    background = (await (await app.get("/health")).json())["background"]
    for kind in ("listener", "notifier", "claimer", "reaper"):
        assert background[kind]["configured"] >= 1, (kind, background)
        assert background[kind]["live"] == background[kind]["configured"], (kind, background)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.ReadOnlySQLTransactionError("read-only after a failover"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients already"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_a_listener_that_dies_of_a_database_error_runs_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    """The errors that are no connection loss end a task's loop; the supervisor logs the stack,
    counts the restart (health and /metrics read these) and runs the job again."""
    monkeypatch.setattr(supervisor_module, "FIRST_RESTART_DELAY", 0.01)
    metrics = Metrics()
    supervisor = Supervisor(metrics)
    runs = 0
    again = asyncio.Event()

    async def listener() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise error
        again.set()
        await asyncio.Event().wait()  # listening, until stopped

    supervisor.start("listener", "listener", listener)
    await asyncio.wait_for(again.wait(), timeout=10)
    assert (supervisor.restarts("listener"), supervisor.live("listener")) == (2, 1)
    died = [r for r in caplog.records if "background task listener died" in r.getMessage()]
    assert len(died) == 2 and all(record.exc_info for record in died)
    value = metrics.registry.get_sample_value(
        "triage_background_task_restarts_total", {"kind": "listener"}
    )
    assert value == 2
    await supervisor.stop()
    assert supervisor.live("listener") == 0
