"""Security headers on every kind of response: pages, API answers, errors, static files, the
event stream; the CSP nonce on the pages' scripts."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.auth import browser_like
from tests.conftest import StartApp, make_settings

Client = TestClient[Any, Any]
HTML = {"Accept": "text/html,application/xhtml+xml"}
REQUIRED_DIRECTIVES = {
    "default-src": "'none'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}


def policy(response: aiohttp.ClientResponse) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    parts = (
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    return {name: value for name, value in parts}


def assert_secure(response: aiohttp.ClientResponse) -> str | None:
    """The headers every response must carry; returns a page's CSP nonce (other responses may
    run no script at all)."""
    csp = policy(response)
    for directive, sources in REQUIRED_DIRECTIVES.items():
        assert csp[directive] == sources, (directive, csp)
    text = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in text and "unsafe-eval" not in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # plain http
    if response.content_type != "text/html":
        assert csp["script-src"] == "'none'"
        return None
    match = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{22,})'", csp["script-src"])
    assert match, csp["script-src"]
    return match.group(1)


async def test_every_kind_of_response_carries_the_headers(client: Client) -> None:
    cases: list[tuple[str, str, dict[str, str], Any, int]] = [
        ("GET", "/submit", HTML, None, 200),
        ("GET", "/dashboard", HTML, None, 200),
        ("GET", "/tickets", {}, None, 200),
        ("POST", "/tickets", {}, {"message": "The app crashes when I log in."}, 201),
        ("POST", "/tickets", {}, {"message": "short"}, 400),
        ("GET", "/tickets/not-a-ticket", {}, None, 404),
        ("GET", "/no/such/page", HTML, None, 404),
        ("GET", "/no/such/api", {}, None, 404),
        ("DELETE", "/tickets", {}, None, 405),
        ("POST", "/tickets", {"Content-Type": "text/plain"}, None, 415),
        ("GET", "/static/app.css", {}, None, 200),
        ("GET", "/health", {}, None, 200),
        ("GET", "/metrics", {}, None, 200),
        ("GET", "/openapi.json", {}, None, 200),
        ("GET", "/login", HTML, None, 200),
    ]
    for method, path, headers, body, status in cases:
        async with client.request(method, path, headers=headers, json=body) as response:
            assert response.status == status, (method, path)
            assert_secure(response)
    # Without credentials: the 401 and the redirect to /login carry them too.
    async with browser_like(str(client.make_url(""))) as anonymous:
        async with anonymous.get("/tickets") as response:
            assert response.status == 401
            assert_secure(response)
        async with anonymous.get("/dashboard", headers=HTML, allow_redirects=False) as response:
            assert response.status == 303
            assert_secure(response)
    async with client.get("/events", timeout=aiohttp.ClientTimeout(sock_read=5)) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert_secure(stream)


async def test_each_page_gets_a_fresh_nonce_and_only_its_scripts_carry_it(client: Client) -> None:
    nonces = []
    for path in ("/dashboard", "/dashboard", "/submit", "/login"):
        async with client.get(path, headers=HTML) as response:
            nonce = assert_secure(response)
            page = await response.text()
        assert nonce is not None
        scripts = re.findall(r"<script\b[^>]*>", page)
        executable = [tag for tag in scripts if 'type="application/json"' not in tag]
        if path == "/login":
            assert executable == []  # the login form needs no script
        else:
            assert len(executable) >= 2, executable  # the page's own scripts, then Alpine
        for tag in executable:
            assert f'nonce="{nonce}"' in tag and "src=" in tag, tag
        assert re.search(r"<[^>]+\son[a-z]+\s*=", page) is None  # no inline event handler
        nonces.append(nonce)
    assert len(set(nonces)) == len(nonces)


async def test_hsts_only_behind_a_trusted_tls_proxy(start_app: StartApp, database_url: str) -> None:
    behind = await start_app(make_settings(database_url, TRIAGE_TRUSTED_PROXIES="127.0.0.1/32"))
    async with behind.get("/health", headers={"X-Forwarded-Proto": "https"}) as response:
        assert (
            response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        )
    async with behind.get("/health") as response:
        assert "Strict-Transport-Security" not in response.headers
