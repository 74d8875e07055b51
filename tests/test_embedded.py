"""`serve` with no DATABASE_URL: an embedded PostgreSQL whose tickets survive a restart."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from pathlib import Path

import aiohttp

from tests.serve import ServeProcess


async def test_embedded_database_keeps_tickets_across_restarts() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="th-data-"))
    env = {"TRIAGE_DATA_DIR": str(data_dir), "TRIAGE_CLAIMERS": "0", "DATABASE_URL": ""}
    try:
        first = ServeProcess(env)
        await first.start(timeout=60)
        ticket_id = await first.post_ticket("Saved before the restart, please keep me.")
        first.send(signal.SIGTERM)
        assert await first.wait() == 0
        assert str(data_dir / "pgdata") in await first.stderr()

        second = ServeProcess(env)
        await second.start(timeout=60)
        try:
            async with aiohttp.ClientSession() as session:
                status_url = f"{second.url}/submit/{ticket_id}/status"  # public: no agent here
                async with session.get(status_url) as response:
                    assert response.status == 200
                    assert (await response.json())["status"] == "PENDING"
        finally:
            second.send(signal.SIGTERM)
            assert await second.wait() == 0
        # The embedded server stopped with the process: nothing is left running on the folder.
        assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    finally:
        await asyncio.to_thread(shutil.rmtree, data_dir, True)
