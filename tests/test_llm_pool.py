"""A pool of LLM hosts (TRIAGE_LLM_URLS) end to end: several fake Ollamas on real ports, the
real ollama client, real PostgreSQL, the whole app."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import StartApp
from tests.factories import insert_tickets
from tests.fake_ollama import Behaviour, ticket_text
from tests.pool_fakes import llm_urls, pool_settings, running_fakes
from tests.test_operator_cli import run
from tests.waiting import wait_for_statuses

Client = TestClient[Any, Any]
pytestmark = pytest.mark.both_backends  # each test against Ollama fakes and OpenAI ones
# Each answer takes a while (8 pieces, 30 ms apart), so that every host is kept full.
STEADY = Behaviour(chunks=8, chunk_delay=0.03)


def sample(text: str, name: str, host: str) -> float:
    """One per-host sample of the Prometheus text."""
    match = re.search(rf'^{re.escape(name)}\{{host="{re.escape(host)}"\}} (\S+)$', text, re.M)
    assert match, f"{name} for {host} not in metrics"
    return float(match.group(1))


async def rows(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetch("SELECT status, attempts, handbacks, engine FROM tickets")
    finally:
        await conn.close()
    return [dict(row) for row in found]


async def health_hosts(client: Client) -> dict[str, dict[str, Any]]:
    report = await (await client.get("/health")).json()
    return {host["url"]: host for host in report["llm_hosts"]}


async def test_calls_are_spread_in_proportion_to_the_slots_and_never_beyond(
    start_app: StartApp, database_url: str, llm_backend: str
) -> None:
    slots = [1, 4, 8]
    async with running_fakes(3, STEADY, llm_backend) as fakes:
        settings = pool_settings(database_url, backend=llm_backend, urls=llm_urls(fakes, slots))
        assert settings.claimers == 13  # one per slot, TRIAGE_CLAIMERS unset
        client = await start_app(settings)
        await insert_tickets(database_url, 104)
        await wait_for_statuses(database_url, {"COMPLETED"}, 104, timeout=60)

        calls = [len(fake.calls) for fake in fakes]
        assert sum(calls) == 104  # each ticket once, no retries
        for fake, n, made in zip(fakes, slots, calls, strict=True):
            assert fake.max_active <= n, f"{fake.url} got {fake.max_active} calls at once"
            share = n / sum(slots)
            assert 0.5 * share <= made / 104 <= 1.5 * share, (slots, calls)

        metrics = await (await client.get("/metrics")).text()
        hosts = await health_hosts(client)
        for fake, n, made in zip(fakes, slots, calls, strict=True):
            assert sample(metrics, "triage_llm_host_calls_total", fake.url) == made
            assert sample(metrics, "triage_llm_host_slots", fake.url) == n
            assert sample(metrics, "triage_llm_host_up", fake.url) == 1
            assert sample(metrics, "triage_llm_host_in_flight", fake.url) == 0
            assert sample(metrics, "triage_llm_host_call_seconds_count", fake.url) == made
            assert sample(metrics, "triage_llm_host_completion_tokens_total", fake.url) > 0
            assert sample(metrics, "triage_llm_host_tokens_per_second", fake.url) > 0
            host = hosts[fake.url]
            assert (host["state"], host["slots"], host["calls"], host["errors"]) == (
                "ready",
                n,
                made,
                0,
            )
            assert host["mean_call_ms"] > 0 and host["tokens_per_second"] > 0
            assert host["probe"]["reachable"] and host["probe"]["model_available"]


async def test_more_claimers_than_slots_wait_for_a_slot(
    start_app: StartApp, database_url: str, llm_backend: str
) -> None:
    async with running_fakes(2, STEADY, llm_backend) as fakes:
        settings = pool_settings(
            database_url, backend=llm_backend, urls=llm_urls(fakes, [1, 2]), TRIAGE_CLAIMERS=12
        )
        await start_app(settings)
        await insert_tickets(database_url, 30)
        await wait_for_statuses(database_url, {"COMPLETED"}, 30, timeout=60)
        assert [fake.max_active for fake in fakes] == [1, 2]  # full, and never beyond
        assert sum(len(fake.calls) for fake in fakes) == 30


async def test_a_host_that_dies_mid_run_leaves_its_tickets_to_the_others(
    start_app: StartApp, database_url: str, llm_backend: str
) -> None:
    slow = Behaviour(chunks=8, chunk_delay=0.06)
    async with running_fakes(3, slow, llm_backend) as fakes:
        small, medium, big = fakes
        # auto: the built-in engine would answer if the claimers ever thought the LLM down.
        urls = llm_urls(fakes, [1, 4, 8])
        await start_app(
            pool_settings(database_url, backend=llm_backend, urls=urls, TRIAGE_ENGINE="auto")
        )
        await insert_tickets(database_url, 80)
        await big.wait_active(8)
        await big.stop()  # its 8 answers are cut off mid-stream; then connections are refused

        await wait_for_statuses(database_url, {"COMPLETED", "FAILED"}, 80, timeout=60)
        tickets = await rows(database_url)
        assert {t["status"] for t in tickets} == {"COMPLETED"}
        assert {t["engine"] for t in tickets} == {llm_backend}  # never the fallback
        assert {(t["attempts"], t["handbacks"]) for t in tickets} == {(1, 0)}  # nothing spent
        finished_on_big = len(big.calls) - 8
        assert len(small.calls) + len(medium.calls) + finished_on_big >= 80
        assert small.max_active <= 1 and medium.max_active <= 4 and big.max_active <= 8


async def test_a_host_that_comes_back_is_used_again(
    start_app: StartApp, database_url: str, llm_backend: str
) -> None:
    async with running_fakes(2, STEADY, llm_backend) as (first, second):
        await first.stop()
        client = await start_app(
            pool_settings(database_url, backend=llm_backend, urls=llm_urls([first, second], [2, 2]))
        )
        await insert_tickets(database_url, 10)
        await wait_for_statuses(database_url, {"COMPLETED"}, 10, timeout=30)
        assert len(second.calls) == 10
        hosts = await health_hosts(client)
        assert hosts[first.url]["state"] == "open" and hosts[second.url]["state"] == "ready"
        assert "unreachable" in hosts[first.url]["last_error"]
        assert hosts[first.url]["errors"] >= 1
        metrics = await (await client.get("/metrics")).text()
        assert sample(metrics, "triage_llm_host_up", first.url) == 0

        await first.start()  # the same port
        for n in range(200):
            await client.post("/tickets", json={"message": f"after the restart #{n}"})
            if any("after the restart" in ticket_text(call) for call in first.calls):
                break
            await asyncio.sleep(0.1)
        assert first.calls_for("after the restart"), "the host that came back got no call"
        await wait_for_statuses(database_url, {"COMPLETED"}, 10 + n + 1, timeout=30)
        assert (await health_hosts(client))[first.url]["state"] == "ready"  # its probe answered


@pytest.mark.parametrize("failure", ["invalid_enum", "stall_forever"])
async def test_a_tickets_own_failure_is_not_the_hosts(
    start_app: StartApp, database_url: str, failure: str, llm_backend: str
) -> None:
    async with running_fakes(2, backend=llm_backend) as fakes:
        poison = getattr(Behaviour, failure)()
        for fake in fakes:
            fake.script = lambda body: poison if "poison" in ticket_text(body) else None
        urls = llm_urls(fakes, [2, 2])
        client = await start_app(
            pool_settings(database_url, backend=llm_backend, urls=urls, TRIAGE_STALL_SECONDS=0.3)
        )
        await client.post("/tickets", json={"message": "a poison ticket"})
        await insert_tickets(database_url, 12)
        await wait_for_statuses(database_url, {"COMPLETED"}, 12, timeout=30)
        statuses = await wait_for_statuses(database_url, {"FAILED"}, 1, timeout=30)
        assert sorted(statuses.values()).count("FAILED") == 1
        calls = sum(len(fake.calls_for("poison")) for fake in fakes)
        assert calls == 3  # TRIAGE_MAX_ATTEMPTS or TRIAGE_MAX_HANDBACKS: the ticket's own
        hosts = await health_hosts(client)
        assert {host["state"] for host in hosts.values()} == {"ready"}
        errors = sum(host["errors"] for host in hosts.values())
        assert errors == (0 if failure == "invalid_enum" else 3)  # an invalid answer answered
        metrics = await (await client.get("/metrics")).text()
        for fake in fakes:
            assert sample(metrics, "triage_llm_host_up", fake.url) == 1


async def test_when_every_host_is_down_the_claimers_pause_and_resume(
    start_app: StartApp, database_url: str, llm_backend: str
) -> None:
    async with running_fakes(2, backend=llm_backend) as fakes:
        for fake in fakes:
            await fake.stop()
        client = await start_app(
            pool_settings(database_url, backend=llm_backend, urls=llm_urls(fakes, [1, 1]))
        )
        await insert_tickets(database_url, 4)
        await asyncio.sleep(1.0)
        report = await (await client.get("/health")).json()
        assert report["llm"]["reachable"] is False
        assert report["claimers"]["paused"] is True
        assert "every LLM host is down" in report["claimers"]["last_error"]
        assert {(t["status"], t["attempts"]) for t in await rows(database_url)} == {("PENDING", 0)}

        await fakes[1].start()
        await wait_for_statuses(database_url, {"COMPLETED"}, 4, timeout=30)
        assert len(fakes[1].calls) == 4


async def test_check_asks_every_host(database_url: str, llm_backend: str) -> None:
    async with running_fakes(3, backend=llm_backend) as fakes:
        await fakes[2].stop()
        env = {
            "DATABASE_URL": database_url,
            "TRIAGE_LLM_URLS": llm_urls(fakes, [1, 4, 8]),
            "TRIAGE_LLM_BACKEND": llm_backend,
        }
        code, out, err = await run("check", "--json", env=env)
        report = json.loads(out)
        llm = [check for check in report["checks"] if check["part"] == "llm"]
        assert [check["state"] for check in llm] == ["ok", "ok", "down"], err
        assert fakes[0].url in llm[0]["detail"] and "1 slot)" in llm[0]["detail"]
        assert "8 slots" not in llm[2]["detail"] and fakes[2].url in llm[2]["detail"]
        assert code == 3  # the desk runs, degraded
