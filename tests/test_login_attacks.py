"""Attacks on the public account endpoints: racing the login throttle, spreading guesses over an
IPv6 /64, telling a disabled account by its answer, and making /setup hash for nothing."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.auth import TEST_AGENT, TEST_PASSWORD, browser_like, log_in
from tests.conftest import StartApp, make_settings
from tests.waiting import sql
from triage_hub.web import login

Client = TestClient[Any, Any]


def base(client: Client) -> str:
    return str(client.make_url("")).rstrip("/")


async def behind_proxy(start_app: StartApp, database_url: str) -> Client:
    """An app behind a trusted proxy on 127.0.0.1: X-Forwarded-For stands for the client."""
    return await start_app(make_settings(database_url, TRIAGE_TRUSTED_PROXIES="127.0.0.1"))


async def attempt(
    app: Client, address: str, name: str = TEST_AGENT, password: str = "a guess"
) -> tuple[int, str]:
    """One login from `address`: its status and page."""
    async with browser_like(base(app), headers={"X-Forwarded-For": address}) as browser:
        response = await log_in(browser, name, password)
        return response.status, await response.text()


async def statuses(app: Client, address: str, count: int, **options: str) -> list[int]:
    """`count` logins from one address, one after the other."""
    return [(await attempt(app, address, **options))[0] for _ in range(count)]


async def test_parallel_guesses_from_one_address_are_checked_at_most_the_limit(
    start_app: StartApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "FAILURE_LIMITS", {"pair": 3, "agent": 10, "address": 30})
    replicas = [await behind_proxy(start_app, database_url) for _ in range(2)]
    # All at once, on two replicas, so that each one's check comes before any other's hash.
    guesses = (attempt(replicas[n % 2], "198.51.100.1") for n in range(20))
    results = await asyncio.gather(*guesses)
    counted = Counter(status for status, _ in results)
    # Only the pair's limit of guesses reached a password check; the rest were refused unchecked,
    # so they did not reach the account's limit either …
    assert counted == {401: 3, 429: 17}
    failures = "SELECT count(*) FROM login_failures WHERE key = $1"
    assert await sql(database_url, failures, f"agent:{TEST_AGENT}") == 3
    # … and the agent, from elsewhere, is not locked out by one address.
    assert (await attempt(replicas[0], "203.0.113.7", password=TEST_PASSWORD))[0] == 303


async def test_a_success_clears_only_its_own_pairs_failures(
    start_app: StartApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "FAILURE_LIMITS", {"pair": 3, "agent": 9, "address": 30})
    app = await behind_proxy(start_app, database_url)
    # A guesser spread over five addresses, and the agent mistyping twice at their own desk.
    for n in range(5):
        assert await statuses(app, f"198.51.100.{n}", 1) == [401]
    assert await statuses(app, "203.0.113.7", 2) == [401, 401]
    assert (await attempt(app, "203.0.113.7", password=TEST_PASSWORD))[0] == 303
    # The account keeps the guesser's five and the agent's two (the success itself is none) …
    failures = "SELECT count(*) FROM login_failures WHERE key = $1"
    assert await sql(database_url, failures, f"agent:{TEST_AGENT}") == 7
    # … while the agent's own pair starts again: two more mistypes are not yet its limit of 3.
    assert await statuses(app, "203.0.113.7", 2) == [401, 401]
    # That makes 9 on the account, its limit: now nobody gets in for a while.
    assert (await attempt(app, "192.0.2.50", password=TEST_PASSWORD))[0] == 429


async def test_addresses_in_one_ipv6_64_count_as_one(
    start_app: StartApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "FAILURE_LIMITS", {"pair": 3, "agent": 50, "address": 5})
    app = await behind_proxy(start_app, database_url)
    # One host owns the whole /64: a new address per guess is the same guesser.
    pair = [(await attempt(app, f"2001:db8:1:2::{n:x}"))[0] for n in range(1, 4)]
    assert pair == [401, 401, 401]
    assert (await attempt(app, "2001:db8:1:2:ffff::1", password=TEST_PASSWORD))[0] == 429
    many_names = [
        (await attempt(app, f"2001:db8:7:7:{n}::1", name=f"someone-{n}"))[0] for n in range(6)
    ]
    assert many_names == [401] * 5 + [429]
    # The next /64 is someone else.
    assert (await attempt(app, "2001:db8:7:8::1", name="someone-else"))[0] == 401
    assert (await attempt(app, "2001:db8:1:3::1", password=TEST_PASSWORD))[0] == 303


async def test_a_name_no_agent_can_have_is_a_wrong_name(
    start_app: StartApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "FAILURE_LIMITS", {"pair": 5, "agent": 50, "address": 3})
    app = await behind_proxy(start_app, database_url)
    # A NUL cannot be stored in text, and a key past ~2.7 kB cannot go into a btree index.
    for name in ("tess\x00", "x" * 6000, "émile"):
        status, page = await attempt(app, "198.51.100.1", name=name)
        assert status == 401 and "Wrong name or password." in page, name[:8]
    # They counted as guesses from that address.
    assert (await attempt(app, "198.51.100.1", password=TEST_PASSWORD))[0] == 429


def without_nonce(page: str) -> str:
    """The page without its per-response CSP nonce."""
    return re.sub(r'nonce="[^"]*"', 'nonce=""', page)


async def test_a_disabled_agent_with_the_right_password_reads_like_a_wrong_password(
    start_app: StartApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "FAILURE_LIMITS", {"pair": 3, "agent": 50, "address": 30})
    app = await behind_proxy(start_app, database_url)
    await sql(database_url, "UPDATE agents SET disabled_at = now() WHERE name = $1", TEST_AGENT)
    wrong = await attempt(app, "198.51.100.1", password="not the password")
    right = await attempt(app, "198.51.100.1", password=TEST_PASSWORD)
    assert right[0] == wrong[0] == 401
    assert without_nonce(right[1]) == without_nonce(wrong[1])
    assert "Wrong name or password." in right[1] and "disabled" not in right[1]
    # It counted as a failure: the third attempt was the pair's last.
    assert (await attempt(app, "198.51.100.1", password=TEST_PASSWORD))[0] == 401
    assert (await attempt(app, "198.51.100.1", password=TEST_PASSWORD))[0] == 429


def setup_form(token: str, name: str = "mallory") -> dict[str, str]:
    return {
        "token": token,
        "name": name,
        "password": "a good password",
        "confirm": "a good password",
    }


async def timed_setup_posts(app: Client, token: str, count: int) -> tuple[float, set[int], str]:
    """`count` POST /setup one after the other: seconds taken, the statuses, the last page."""
    statuses: set[int] = set()
    page = ""
    async with browser_like(base(app), headers={"Origin": base(app)}) as browser:
        started = time.monotonic()
        for _ in range(count):
            async with browser.post("/setup", data=setup_form(token)) as response:
                statuses.add(response.status)
                page = await response.text()
        return time.monotonic() - started, statuses, page


async def test_setup_when_done_refuses_before_any_password_hashing(client: Client) -> None:
    # The suite's agent exists: setup is long done. 20 posts cost far less than a hash each
    # (~0.2 s: 4 s in all).
    elapsed, answered, page = await timed_setup_posts(client, "guessed", 20)
    assert elapsed < 1, elapsed
    assert answered == {409} and "Setup is done" in page


async def test_a_guessed_setup_link_is_not_valid_and_costs_no_hash(
    start_app: StartApp, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await sql(database_url, "DELETE FROM agents")
    with caplog.at_level(logging.WARNING, logger="triage_hub.web.login"):
        app = await start_app(make_settings(database_url))
    [record] = [r for r in caplog.records if "/setup?token=" in r.getMessage()]
    token = record.getMessage().split("/setup?token=")[1].split()[0]
    # Setup is open, but the link is guessed: that is not "setup is done", and as cheap.
    elapsed, answered, page = await timed_setup_posts(app, "guessed", 20)
    assert answered == {404} and "This setup link is not valid" in page
    assert elapsed < 1, elapsed
    assert await sql(database_url, "SELECT count(*) FROM agents") == 0
    # The real link still works.
    async with browser_like(base(app), headers={"Origin": base(app)}) as browser:
        data = setup_form(token, "lead")
        async with browser.post("/setup", data=data, allow_redirects=False) as response:
            assert response.status == 303
    assert await sql(database_url, "SELECT array_agg(name) FROM agents") == ["lead"]
