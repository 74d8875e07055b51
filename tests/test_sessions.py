"""Browser sessions: login, logout, revocation on every replica, timeouts, fixation, throttling,
CSRF, cookies behind a TLS proxy."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.auth import TEST_AGENT, TEST_PASSWORD, browser_like, log_in
from tests.conftest import StartApp, make_settings
from tests.factories import DRAFT, insert_tickets
from tests.sse import EventReader
from tests.waiting import sql
from triage_hub.accounts import digest
from triage_hub.db.accounts import disable_agent
from triage_hub.keys import DATABASE
from triage_hub.web import events, login

Client = TestClient[Any, Any]


def base(client: Client) -> str:
    return str(client.make_url("")).rstrip("/")


def cookie_of(response: aiohttp.ClientResponse) -> str:
    """The raw Set-Cookie header of the session cookie."""
    [header] = [h for h in response.headers.getall("Set-Cookie", []) if "triage_session=" in h]
    return header


def same_origin(client: Client) -> dict[str, str]:
    return {"Origin": base(client), "Sec-Fetch-Site": "same-origin"}


async def csrf_token(session: aiohttp.ClientSession) -> str:
    """The token the dashboard page carries."""
    async with session.get("/dashboard") as response:
        assert response.status == 200
        page = await response.text()
    return page.split('name="csrf-token" content="')[1].split('"')[0]


async def test_login_sets_a_safe_session_cookie_and_logout_ends_it(client: Client) -> None:
    async with browser_like(base(client)) as browser:
        async with browser.get("/dashboard", allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/login?next=/dashboard"
        async with browser.get("/login?next=/dashboard") as response:
            assert response.status == 200
            assert 'name="next" value="/dashboard"' in await response.text()

        response = await log_in(browser, next_path="/dashboard?status=failed")
        assert response.status == 303
        assert response.headers["Location"] == "/dashboard?status=failed"
        cookie = cookie_of(response)
        assert cookie.startswith("triage_session=")
        attributes = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=lax", "path=/"} <= attributes
        assert "secure" not in attributes  # plain http, no TLS proxy configured
        assert any(a.startswith("max-age=") for a in attributes)

        async with browser.get("/tickets") as response:
            assert response.status == 200
        token = await csrf_token(browser)
        # A logged-in agent who opens /login goes straight on.
        async with browser.get("/login?next=/tickets", allow_redirects=False) as response:
            assert response.headers["Location"] == "/tickets"

        data = {"csrf_token": token}
        async with browser.post(
            "/logout", data=data, headers=same_origin(client), allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/login"
            assert 'triage_session=""' in cookie_of(response)
        async with browser.get("/tickets") as response:
            assert response.status == 401


async def test_the_old_cookie_is_dead_after_logout(client: Client, database_url: str) -> None:
    async with browser_like(base(client)) as browser:
        await log_in(browser)
        stolen = browser.cookie_jar.filter_cookies(client.make_url("/"))["triage_session"].value
        token = await csrf_token(browser)
        await browser.post("/logout", data={"csrf_token": token}, headers=same_origin(client))
    assert await sql(database_url, "SELECT count(*) FROM agent_sessions") == 0
    async with browser_like(base(client), cookies={"triage_session": stolen}) as replay:
        async with replay.get("/tickets") as response:
            assert response.status == 401


async def test_wrong_passwords_unknown_agents_and_hostile_next_paths(client: Client) -> None:
    async with browser_like(base(client)) as browser:
        for name, password in ((TEST_AGENT, "not the password"), ("nobody", TEST_PASSWORD)):
            response = await log_in(browser, name, password)
            assert response.status == 401
            assert "Wrong name or password." in await response.text()
            assert "triage_session" not in response.cookies
        for hostile in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "x", ""):
            response = await log_in(browser, next_path=hostile)
            assert response.status == 303
            assert response.headers["Location"] == "/dashboard", hostile


async def test_login_refuses_a_form_posted_from_another_site(client: Client) -> None:
    async with browser_like(base(client)) as browser:
        for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            data = {"name": TEST_AGENT, "password": TEST_PASSWORD}
            async with browser.post(
                "/login", data=data, headers=headers, allow_redirects=False
            ) as response:
                assert response.status == 403
                assert "triage_session" not in response.cookies


async def test_the_session_id_changes_at_every_login(client: Client, database_url: str) -> None:
    # An attacker plants a session id of their choosing before the agent logs in (fixation).
    planted = "planted-by-an-attacker"
    async with browser_like(base(client), cookies={"triage_session": planted}) as browser:
        await log_in(browser)
        first = browser.cookie_jar.filter_cookies(client.make_url("/"))["triage_session"].value
        assert first != planted
        await log_in(browser)
        second = browser.cookie_jar.filter_cookies(client.make_url("/"))["triage_session"].value
    assert second != first
    hashes = [digest(value) for value in (planted, first, second)]
    live = await sql(
        database_url,
        "SELECT array_agg(id_hash) FROM agent_sessions WHERE id_hash = ANY($1)",
        hashes,
    )
    assert live == [digest(second)]  # the planted id never existed, the first ended at login


async def test_logout_and_disable_end_sessions_on_every_replica(
    start_app: StartApp, database_url: str
) -> None:
    one = await start_app(make_settings(database_url))
    two = await start_app(make_settings(database_url))
    async with browser_like(base(one)) as on_one:
        await log_in(on_one)
        cookie = on_one.cookie_jar.filter_cookies(one.make_url("/"))["triage_session"].value
        async with browser_like(base(two), cookies={"triage_session": cookie}) as on_two:
            assert (await on_two.get("/tickets")).status == 200
            token = await csrf_token(on_one)
            await on_one.post("/logout", data={"csrf_token": token}, headers=same_origin(one))
            assert (await on_two.get("/tickets")).status == 401

        await log_in(on_one)
        cookie = on_one.cookie_jar.filter_cookies(one.make_url("/"))["triage_session"].value
        async with browser_like(base(two), cookies={"triage_session": cookie}) as on_two:
            assert (await on_two.get("/tickets")).status == 200
            # What `triage-hub agent disable` runs (the CLI itself: tests/test_accounts_cli.py).
            assert await disable_agent(one.app[DATABASE], TEST_AGENT) == 1
            assert (await on_two.get("/tickets")).status == 401
            assert (await on_one.get("/tickets")).status == 401
        # Refused like a wrong password (tests/test_login_attacks.py compares the two).
        response = await log_in(on_one)
        assert response.status == 401
        assert "Wrong name or password." in await response.text()


async def test_idle_and_absolute_timeouts(client: Client, database_url: str) -> None:
    async with browser_like(base(client)) as browser:
        await log_in(browser)
        assert (await browser.get("/tickets")).status == 200
        # Idle for longer than TRIAGE_SESSION_IDLE_MINUTES (60):
        await sql(
            database_url, "UPDATE agent_sessions SET last_seen_at = now() - interval '61 min'"
        )
        assert (await browser.get("/tickets")).status == 401

        await log_in(browser)
        # Active a minute ago: fine, and the activity moves the idle deadline.
        await sql(database_url, "UPDATE agent_sessions SET last_seen_at = now() - interval '2 min'")
        assert (await browser.get("/tickets")).status == 200
        seen = await sql(database_url, "SELECT now() - last_seen_at FROM agent_sessions")
        assert seen.total_seconds() < 5
        # Past TRIAGE_SESSION_MAX_HOURS however active it is:
        await sql(database_url, "UPDATE agent_sessions SET expires_at = now() - interval '1 s'")
        assert (await browser.get("/tickets")).status == 401


async def test_failed_logins_are_throttled_per_account_and_per_address(
    start_app: StartApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login, "FAILURE_LIMITS", {"pair": 3, "agent": 6, "address": 5})
    # Behind a trusted proxy, X-Forwarded-For stands for the client's address.
    app = await start_app(make_settings(database_url, TRIAGE_TRUSTED_PROXIES="127.0.0.1"))

    async def attempt(address: str, name: str = TEST_AGENT, password: str = "a guess") -> int:
        async with browser_like(base(app), headers={"X-Forwarded-For": address}) as browser:
            response = await log_in(browser, name, password)
            if response.status == 429:
                assert 1 <= int(response.headers["Retry-After"]) <= login.THROTTLE_WINDOW
                assert "Too many failed logins" in await response.text()
            return response.status

    assert [await attempt("198.51.100.1") for _ in range(3)] == [401, 401, 401]
    # This address may not try this account any more, even with the right password …
    assert await attempt("198.51.100.1", password=TEST_PASSWORD) == 429
    # … but the agent, elsewhere, is not locked out by it:
    assert await attempt("203.0.113.7", password=TEST_PASSWORD) == 303
    # Guesses from many addresses add up on the account, on top of the first three: the
    # success cleared only its own name-and-address pair.
    assert [await attempt(f"198.51.100.{n}") for n in range(10, 13)] == [401] * 3
    assert await attempt("203.0.113.7", password=TEST_PASSWORD) == 429
    # One address trying many names stops at the address's limit.
    names = [f"someone-{n}" for n in range(6)]
    assert [await attempt("192.0.2.9", name) for name in names] == [401] * 5 + [429]


async def test_csrf_a_cookie_borne_change_needs_the_token_and_our_origin(
    client: Client, database_url: str
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    resolve = f"/tickets/{ticket_id}/resolve"
    body = {"ai_draft": DRAFT}
    async with browser_like(base(client)) as browser:
        await log_in(browser)
        token = await csrf_token(browser)
        refused = [
            {},  # no token
            {"X-CSRF-Token": "not-the-token"},
            {"X-CSRF-Token": token, "Origin": "https://evil.example"},
            {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
            {"X-CSRF-Token": token, "Sec-Fetch-Site": "same-site"},
        ]
        for headers in refused:
            async with browser.put(resolve, json=body, headers=headers) as response:
                assert response.status == 403, headers
                assert (await response.json())["error"] == "csrf_failed"
        status = await sql(database_url, "SELECT status FROM tickets WHERE id = $1", ticket_id)
        assert status == "COMPLETED"
        headers = {"X-CSRF-Token": token, **same_origin(client)}
        async with browser.put(resolve, json=body, headers=headers) as response:
            assert response.status == 200
        # Reading needs no token.
        assert (await browser.get(f"/tickets/{ticket_id}")).status == 200


async def test_bearer_requests_are_exempt_from_csrf(client: Client, database_url: str) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    # The client fixture sends only the API token: no cookie, no CSRF token, no Origin.
    headers = {"Origin": "https://elsewhere.example"}
    response = await client.put(
        f"/tickets/{ticket_id}/resolve", json={"ai_draft": DRAFT}, headers=headers
    )
    assert response.status == 200


async def test_behind_a_trusted_tls_proxy_the_cookie_is_secure_and_host_only(
    start_app: StartApp, database_url: str
) -> None:
    behind = await start_app(make_settings(database_url, TRIAGE_TRUSTED_PROXIES="127.0.0.1"))
    https = {"X-Forwarded-Proto": "https"}
    async with browser_like(base(behind), headers=https) as browser:
        response = await log_in(browser)
        cookie = cookie_of(response)
        assert cookie.startswith("__Host-triage_session=")
        attributes = {part.strip().lower() for part in cookie.split(";")}
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= attributes
        assert not any(a.startswith("domain=") for a in attributes)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        value = cookie.split(";")[0].split("=", 1)[1]
        direct = {"__Host-triage_session": value}
    async with browser_like(base(behind), headers=https, cookies=direct) as again:
        assert (await again.get("/tickets")).status == 200

    # The same header from a peer that is not a configured proxy is only a string.
    direct_app = await start_app(make_settings(database_url))
    async with browser_like(base(direct_app), headers=https) as browser:
        response = await log_in(browser)
        assert cookie_of(response).startswith("triage_session=")
        assert "secure" not in cookie_of(response).lower()
        assert "Strict-Transport-Security" not in response.headers


async def test_an_open_event_stream_ends_when_its_session_does(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "RECHECK_SECONDS", 0.1)
    monkeypatch.setattr(events, "PING_SECONDS", 0.05)
    async with browser_like(base(client)) as browser:
        await log_in(browser)
        token = await csrf_token(browser)
        response = await browser.get("/events")
        assert response.status == 200
        reader = EventReader(response)
        await browser.post("/logout", data={"csrf_token": token}, headers=same_origin(client))
        async with asyncio.timeout(5):
            with pytest.raises(EOFError):
                while True:
                    await reader.next()
