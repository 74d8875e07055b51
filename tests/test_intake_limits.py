"""Intake abuse: the per-client rate limit (429) and the PENDING backlog cap (503)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from tests.auth import AUTH
from tests.conftest import StartApp, make_settings
from tests.factories import insert_tickets
from tests.waiting import count_tickets, sql
from triage_hub.errors import BacklogFull
from triage_hub.intake import (
    BacklogGauge,
    JunkCredentials,
    TokenBucket,
    bucket_key,
    retry_after,
)
from triage_hub.keys import SETTINGS
from triage_hub.settings import Settings
from triage_hub.web.clients import client_address

Client = TestClient[Any, Any]
MESSAGE = {"message": "I was charged twice for my subscription this month."}
FORM_TEXT = "The export button does nothing since the update."


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the token bucket, on its own ------------------------------------------------------------


def test_bucket_allows_the_burst_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, 3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(1.0)
    clock.advance(0.25)
    assert bucket.take("a") == pytest.approx(0.75)  # a refused take costs nothing
    clock.advance(0.75)
    assert bucket.take("a") == 0.0
    assert bucket.take("a") == pytest.approx(1.0)


def test_bucket_refills_up_to_the_burst_and_no_further() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 2, clock=clock)
    assert bucket.take("a") == 0.0
    assert bucket.take("a") == 0.0
    clock.advance(3600)
    assert bucket.take("a") == 0.0
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0


def test_buckets_are_per_key() -> None:
    bucket = TokenBucket(1.0, 1, clock=FakeClock())
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0
    assert bucket.take("b") == 0.0


def test_full_buckets_are_forgotten() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5, clock=clock)
    for n in range(1000):
        bucket.take(f"10.0.{n // 256}.{n % 256}")
    assert len(bucket) == 1000
    clock.advance(0.5)  # 5 tokens at 10 a second: every bucket is full again
    bucket.take("192.0.2.1")
    assert len(bucket) == 1


def test_a_flood_of_addresses_cannot_grow_memory_without_bound() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.5, 10, max_buckets=100, clock=clock)
    for n in range(10_000):
        bucket.take(f"key {n}")
        clock.advance(0.0001)
    assert len(bucket) == 100
    # The most recent clients are still remembered, and still limited.
    for _ in range(9):
        assert bucket.take("key 9999") == 0.0
    assert bucket.take("key 9999") > 0


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after(0.001) == 1
    assert retry_after(1.0) == 1
    assert retry_after(1.2) == 2


def test_ipv6_clients_share_a_bucket_per_64() -> None:
    assert bucket_key("2001:db8::1") == bucket_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert bucket_key("2001:db8:0:1::1") == "2001:db8:0:1::/64"
    assert bucket_key("203.0.113.7") == "203.0.113.7"
    assert bucket_key("unknown") == "unknown"


# --- credentials that named no agent, on their own -------------------------------------------


def test_junk_credentials_are_remembered_briefly() -> None:
    clock = FakeClock()
    junk = JunkCredentials(2.0, clock=clock)
    junk.add(("token", b"junk"))
    assert ("token", b"junk") in junk
    assert ("session", b"junk") not in junk
    clock.advance(1.9)
    assert ("token", b"junk") in junk
    clock.advance(0.2)  # a token created just after it was first sent works by now
    assert ("token", b"junk") not in junk
    assert len(junk) == 0


def test_a_flood_of_junk_values_cannot_grow_memory_without_bound() -> None:
    junk = JunkCredentials(60.0, max_size=100, clock=FakeClock())
    for n in range(1000):
        junk.add(("token", str(n).encode()))
    assert len(junk) == 100
    assert ("token", b"999") in junk and ("token", b"0") not in junk


# --- the backlog gauge, on its own -----------------------------------------------------------


class SlowCount:
    """A PENDING count that takes a moment and remembers how often it ran."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        await asyncio.sleep(0.01)
        return self.value


async def test_gauge_counts_once_for_many_callers_and_caches() -> None:
    clock, count = FakeClock(), SlowCount(7)
    gauge = BacklogGauge(count, 10, clock=clock)
    assert await asyncio.gather(*(gauge.pending() for _ in range(20))) == [7] * 20
    assert count.calls == 1
    count.value = 3
    clock.advance(0.5)
    assert await gauge.pending() == 7  # fresh enough: no query
    clock.advance(0.5)
    assert await gauge.pending() == 3
    assert count.calls == 2


async def test_gauge_admits_up_to_the_cap_counting_tickets_in_flight() -> None:
    gauge = BacklogGauge(SlowCount(1), 3, clock=FakeClock())
    async with gauge.admission():
        async with gauge.admission():  # two being stored at once: 1 + 2 = the cap
            with pytest.raises(BacklogFull) as refused:
                async with gauge.admission():
                    pass
    assert refused.value.retry_after >= 1
    assert await gauge.pending() == 3  # both were stored: counted here until the next count


async def test_gauge_forgets_a_ticket_that_was_not_stored() -> None:
    gauge = BacklogGauge(SlowCount(0), 1, clock=FakeClock())
    with pytest.raises(RuntimeError):
        async with gauge.admission():
            raise RuntimeError("the insert failed")
    assert await gauge.pending() == 0
    async with gauge.admission():
        pass
    with pytest.raises(BacklogFull):
        async with gauge.admission():
            pass


async def test_gauge_without_a_cap_never_refuses() -> None:
    count = SlowCount(10**6)
    gauge = BacklogGauge(count, 0, clock=FakeClock())
    async with gauge.admission():
        pass
    assert count.calls == 0  # no cap: admission needs no count
    snapshot = await gauge.snapshot()
    assert (snapshot.pending, snapshot.cap, snapshot.full) == (10**6, None, False)
    async with gauge.admission():
        pass
    assert (await gauge.snapshot()).pending == 10**6 + 1


# --- the client's address ----------------------------------------------------------------------


def request_from(peer: str, trusted: str = "", forwarded: list[str] | None = None) -> web.Request:
    """A request as the app sees it: from `peer`, with these X-Forwarded-For headers."""
    app = web.Application()
    app[SETTINGS] = Settings(TRIAGE_TRUSTED_PROXIES=trusted)
    headers = [("X-Forwarded-For", value) for value in forwarded or []]

    class Transport:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return (peer, 50000) if name == "peername" else default

    return make_mocked_request("POST", "/tickets", headers=headers, app=app, transport=Transport())


@pytest.mark.parametrize(
    ("peer", "trusted", "forwarded", "expected"),
    [
        pytest.param("198.51.100.4", "", ["203.0.113.9"], "198.51.100.4", id="untrusted-peer"),
        pytest.param("10.0.0.2", "10.0.0.0/8", ["203.0.113.9"], "203.0.113.9", id="trusted"),
        pytest.param("10.0.0.2", "10.0.0.0/8", [], "10.0.0.2", id="trusted-no-header"),
        pytest.param(
            "10.0.0.2", "10.0.0.0/8", ["6.6.6.6, 203.0.113.9"], "203.0.113.9", id="spoofed-hop"
        ),
        pytest.param(
            "10.0.0.2",
            "10.0.0.0/8",
            ["6.6.6.6", "203.0.113.9, 10.0.0.7"],
            "203.0.113.9",
            id="two-proxies-two-headers",
        ),
        pytest.param(
            "10.0.0.2", "10.0.0.0/8", ["203.0.113.9, "], "203.0.113.9", id="trailing-comma"
        ),
        pytest.param("10.0.0.2", "10.0.0.0/8", ["203.0.113.9:4711"], "203.0.113.9", id="v4-port"),
        pytest.param(
            "10.0.0.2", "10.0.0.0/8", ["[2001:db8::7]:443"], "2001:db8::7", id="v6-bracketed"
        ),
        pytest.param("::ffff:10.0.0.2", "10.0.0.0/8", ["203.0.113.9"], "203.0.113.9", id="mapped"),
        pytest.param("::ffff:198.51.100.4", "", [], "198.51.100.4", id="mapped-peer"),
        pytest.param("10.0.0.2", "10.0.0.0/8", ["not an address"], "10.0.0.2", id="garbage"),
    ],
)
def test_client_address(peer: str, trusted: str, forwarded: list[str], expected: str) -> None:
    assert client_address(request_from(peer, trusted, forwarded)) == expected


# --- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
async def public() -> AsyncIterator[aiohttp.ClientSession]:
    """A customer's HTTP session: no agent credentials (agents may be exempt from the limit)."""
    async with aiohttp.ClientSession() as session:
        yield session


async def limited_app(start_app: StartApp, database_url: str, **overrides: Any) -> Client:
    """An app with the intake rate limit on: burst 2, then one every 10 s (unless overridden)."""
    values: dict[str, Any] = {
        "TRIAGE_INTAKE_RATE_PER_MINUTE": 6,
        "TRIAGE_INTAKE_BURST": 2,
        **overrides,
    }
    return await start_app(make_settings(database_url, **values))


async def post_ticket(
    public: aiohttp.ClientSession, app: Client, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str | None]:
    """POST /tickets as a customer: status, JSON body, Retry-After."""
    async with public.post(app.make_url("/tickets"), json=MESSAGE, headers=headers) as response:
        return response.status, await response.json(), response.headers.get("Retry-After")


async def statuses(
    public: aiohttp.ClientSession, app: Client, forwarded: Sequence[str | None]
) -> list[int]:
    """The status of one POST /tickets per entry, with that X-Forwarded-For (None: none)."""
    out = []
    for value in forwarded:
        headers = {"X-Forwarded-For": value} if value else None
        out.append((await post_ticket(public, app, headers))[0])
    return out


def rejected(metrics: str, reason: str) -> float:
    """triage_intake_rejected_total{reason=...} from the Prometheus text."""
    pattern = rf'^triage_intake_rejected_total\{{reason="{reason}"\}} (\S+)$'
    match = re.search(pattern, metrics, re.MULTILINE)
    assert match, metrics
    return float(match.group(1))


async def test_burst_then_429_with_retry_after_and_no_row(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url)
    assert await statuses(public, app, [None, None]) == [201, 201]
    status, body, retry = await post_ticket(public, app)
    assert status == 429
    assert retry is not None and retry.isdigit() and 1 <= int(retry) <= 10  # one token per 10 s
    assert body["error"] == "rate_limited"
    assert body["message"]
    assert body["retry_after"] == int(retry)
    assert await count_tickets(database_url) == 2
    metrics = await (await app.get("/metrics")).text()
    assert rejected(metrics, "rate_limited") == 1
    assert rejected(metrics, "backlog_full") == 0


async def test_agents_are_not_rate_limited(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url)
    assert await statuses(public, app, [None, None, None]) == [201, 201, 429]
    # The same address with the suite's API token (a script of the team) is let through …
    for _ in range(3):
        assert (await post_ticket(public, app, AUTH))[0] == 201
    # … a made-up token is not.
    made_up = {"Authorization": "Bearer th_made-up"}
    assert (await post_ticket(public, app, made_up))[0] == 429


async def test_rate_limit_comes_before_validation(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url)
    url = app.make_url("/tickets")
    async with public.post(url, json={"message": "short"}) as response:
        assert response.status == 400  # bad input is still a 400 (and spends a token)
    assert await statuses(public, app, [None]) == [201]
    async with public.post(url, data=b"{not json") as response:
        assert response.status == 429  # not 415: the limit comes first
    assert await count_tickets(database_url) == 1


async def test_bucket_refills_over_time(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url, TRIAGE_INTAKE_RATE_PER_MINUTE=600)
    assert await statuses(public, app, [None, None]) == [201, 201]
    for _ in range(20):  # a slow machine may have refilled a token meanwhile
        status, _, retry = await post_ticket(public, app)
        if status == 429:
            break
    assert (status, retry) == (429, "1")
    await asyncio.sleep(0.15)  # 10 tokens a second: one is back after 0.1 s
    assert await statuses(public, app, [None]) == [201]


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url)
    forged = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]
    assert await statuses(public, app, forged) == [201, 201, 429, 429]


async def test_clients_behind_a_trusted_proxy_have_their_own_buckets(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url, TRIAGE_TRUSTED_PROXIES="127.0.0.1")
    first = ["203.0.113.1", "203.0.113.1", "203.0.113.1"]
    assert await statuses(public, app, first) == [201, 201, 429]
    assert await statuses(public, app, ["203.0.113.2", "203.0.113.2"]) == [201, 201]
    # Without the header the proxy itself is the client: a bucket of its own.
    assert await statuses(public, app, [None]) == [201]


async def test_a_spoofed_left_hop_through_a_trusted_proxy_changes_nothing(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url, TRIAGE_TRUSTED_PROXIES="127.0.0.1")
    # The proxy appends the real peer (198.51.100.7) to whatever the client sent.
    spoofed = [f"192.0.2.{n}, 198.51.100.7" for n in range(1, 5)]
    assert await statuses(public, app, spoofed) == [201, 201, 429, 429]


async def test_ipv6_clients_are_limited_by_their_64(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url, TRIAGE_TRUSTED_PROXIES="127.0.0.1")
    rotating = ["2001:db8::1", "2001:db8::2", "2001:db8::3"]
    assert await statuses(public, app, rotating) == [201, 201, 429]
    assert await statuses(public, app, ["2001:db8:0:1::1"]) == [201]


async def test_form_post_is_limited_with_a_friendly_page(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url)
    url = app.make_url("/submit")
    for _ in range(2):
        async with public.post(url, data={"message": FORM_TEXT}, allow_redirects=False) as r:
            assert r.status == 303
    async with public.post(url, data={"message": FORM_TEXT}, allow_redirects=False) as response:
        assert response.status == 429
        assert response.content_type == "text/html"
        assert int(response.headers["Retry-After"]) >= 1
        html = await response.text()
    assert "You have sent several messages in a short time." in html
    assert f"{FORM_TEXT}</textarea>" in html  # nothing typed is lost
    assert await count_tickets(database_url) == 2


async def fail_pending(database_url: str) -> None:
    """Every PENDING ticket to FAILED, as claimers would (it leaves the backlog)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE tickets SET status = 'FAILED', attempts = 3, last_error = 'test'"
            " WHERE status = 'PENDING'"
        )
    finally:
        await conn.close()


async def test_backlog_cap_refuses_new_tickets_until_the_backlog_drains(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    await insert_tickets(database_url, 2)  # another replica's intake
    app = await start_app(make_settings(database_url, TRIAGE_MAX_BACKLOG=3))
    assert await statuses(public, app, [None]) == [201]
    status, body, retry = await post_ticket(public, app)
    assert status == 503
    assert body["error"] == "backlog_full"
    assert retry is not None and int(retry) >= 1 and body["retry_after"] == int(retry)
    assert await count_tickets(database_url) == 3

    await fail_pending(database_url)
    await asyncio.sleep(1.1)  # the gauge counts again at most once a second
    assert await statuses(public, app, [None, None, None, None]) == [201, 201, 201, 503]
    metrics = await (await app.get("/metrics")).text()
    assert rejected(metrics, "backlog_full") == 2


async def test_form_post_when_the_backlog_is_full(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    await insert_tickets(database_url, 1)
    app = await start_app(make_settings(database_url, TRIAGE_MAX_BACKLOG=1))
    async with public.post(app.make_url("/submit"), data={"message": FORM_TEXT}) as response:
        assert response.status == 503
        assert response.content_type == "text/html"
        assert int(response.headers["Retry-After"]) >= 1
        html = await response.text()
    assert "more messages than we can handle" in html
    assert await count_tickets(database_url) == 1


async def test_ticket_list_shows_the_backlog(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    await insert_tickets(database_url, 2)
    await insert_tickets(database_url, 3, "COMPLETED")
    app = await start_app(make_settings(database_url, TRIAGE_MAX_BACKLOG=4))
    body = await (await app.get("/tickets")).json()
    assert body["backlog"] == {"pending": 2, "cap": 4, "full": False}
    assert body["pagination"]["total"] == 5
    assert await statuses(public, app, [None, None, None]) == [201, 201, 503]
    body = await (await app.get("/tickets?status=PENDING")).json()
    assert body["backlog"] == {"pending": 4, "cap": 4, "full": True}


async def test_ticket_list_backlog_without_a_cap(start_app: StartApp, database_url: str) -> None:
    await insert_tickets(database_url, 3)
    app = await start_app(make_settings(database_url, TRIAGE_MAX_BACKLOG=0))
    body = await (await app.get("/tickets")).json()
    assert body["backlog"] == {"pending": 3, "cap": None, "full": False}


async def test_openapi_documents_the_backlog_and_retry_after(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).json()
    backlog = spec["components"]["schemas"]["Backlog"]
    assert set(backlog["properties"]) == {"pending", "cap", "full"}
    post = spec["paths"]["/tickets"]["post"]["responses"]
    assert "Retry-After" in post["429"]["headers"]
    assert "Retry-After" in post["503"]["headers"]


async def credential_lookups(database_url: str) -> int:
    """Scans of the token and session tables so far, by PostgreSQL's own counters: every
    credential lookup is one. A backend reports its counts by the time it exits, so stop the
    app (its pool) first."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(100):  # the pool's backends exit just after it closed
            others = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if others == 0:
                break
            await asyncio.sleep(0.05)
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)"
                " FROM pg_stat_user_tables WHERE relname IN ('api_tokens', 'agent_sessions')"
            )
        )
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "junk",
    [{"Authorization": "Bearer th_junk"}, {"Cookie": "triage_session=junk"}],
    ids=["bearer", "cookie"],
)
async def test_refused_posts_with_junk_credentials_cost_a_bounded_number_of_lookups(
    start_app: StartApp,
    database_url: str,
    public: aiohttp.ClientSession,
    junk: dict[str, str],
) -> None:
    app = await limited_app(start_app, database_url)
    codes = [(await post_ticket(public, app, junk))[0] for _ in range(40)]
    assert codes[:2] == [201, 201] and set(codes[2:]) == {429}
    await app.close()
    # Today's code: 38, one per refused post. Now: 1, the junk value is looked up once per
    # JUNK_SECONDS (2 s); 10 would take a flood of 40 posts 18 s.
    assert await credential_lookups(database_url) <= 10


async def test_an_agents_posts_do_not_spend_the_customers_budget(
    start_app: StartApp, database_url: str, public: aiohttp.ClientSession
) -> None:
    app = await limited_app(start_app, database_url)
    for _ in range(20):  # an agent's script behind the customers' NAT
        assert (await post_ticket(public, app, AUTH))[0] == 201
    assert await statuses(public, app, [None, None, None]) == [201, 201, 429]  # the full burst
    assert (await post_ticket(public, app, AUTH))[0] == 201  # exempt with an empty bucket too
    # The agent was never remembered as such: a revoked token is a customer's at once.
    await sql(database_url, "UPDATE api_tokens SET revoked_at = now()")
    assert (await post_ticket(public, app, AUTH))[0] == 429
