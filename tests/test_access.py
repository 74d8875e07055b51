"""Every route registered in the router has its access rule, and the rule holds over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.auth import AUTH, browser_like
from tests.factories import DRAFT, insert_tickets
from triage_hub.keys import ACCESS_RULES
from triage_hub.routing import Access

Client = TestClient[Any, Any]
PUBLIC, AGENT, PAGE = Access.PUBLIC, Access.AGENT, Access.AGENT_PAGE

# The whole table. A route added to the app without a line here fails the first test; a route
# added without a rule in the app is for agents (the middleware's default), never public.
RULES = {
    ("POST", "/tickets"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/static"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/submit"): PUBLIC,
    ("POST", "/submit"): PUBLIC,
    ("GET", "/submit/{id}"): PUBLIC,
    ("GET", "/submit/{id}/status"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/setup"): PUBLIC,
    ("POST", "/setup"): PUBLIC,
    ("GET", "/tickets"): AGENT,
    ("GET", "/tickets/{id}"): AGENT,
    ("PATCH", "/tickets/{id}"): AGENT,
    ("PUT", "/tickets/{id}/resolve"): AGENT,
    ("PUT", "/tickets/{id}/draft"): AGENT,
    ("POST", "/tickets/{id}/presence"): AGENT,
    ("POST", "/tickets/{id}/retry"): AGENT,
    ("POST", "/preview"): AGENT,
    ("GET", "/events"): AGENT,
    ("GET", "/metrics"): AGENT,
    ("GET", "/stats"): AGENT,
    ("GET", "/dashboard"): PAGE,
    ("GET", "/dashboard/stats"): PAGE,
}


def routes(client: Client) -> list[tuple[str, str, Any]]:
    """(method, canonical path, route) of every route, HEADs included."""
    return [
        (route.method, route.resource.canonical, route)
        for route in client.app.router.routes()
        if route.resource is not None
    ]


def concrete(path: str, ticket_id: str) -> str:
    """A URL that reaches the route."""
    if path == "/static":
        return "/static/app.css"
    return path.replace("{id}", ticket_id)


def expected(method: str, path: str) -> Access:
    return RULES[("GET" if method == "HEAD" else method, path)]


async def test_the_table_names_every_route_and_the_app_agrees(client: Client) -> None:
    registered = {("GET" if m == "HEAD" else m, path) for m, path, _ in routes(client)}
    assert registered == set(RULES)
    rules = client.app[ACCESS_RULES]
    for method, path, route in routes(client):
        assert rules.rule(route, method) is expected(method, path), (method, path)


async def test_without_credentials_each_route_answers_by_its_rule(
    client: Client, database_url: str
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    async with browser_like(str(client.make_url(""))) as anonymous:
        for method, path, _ in routes(client):
            url = concrete(path, ticket_id)
            async with anonymous.request(
                method,
                url,
                json={} if method in ("POST", "PUT", "PATCH") else None,
                allow_redirects=False,
            ) as response:
                location = response.headers.get("Location", "")
                rule = expected(method, path)
                where = (method, url, response.status)
                if rule is AGENT:
                    assert response.status == 401, where
                    assert response.headers["WWW-Authenticate"].startswith("Bearer "), where
                    if method != "HEAD":
                        assert (await response.json())["error"] == "unauthorized"
                elif rule is PAGE:
                    assert response.status == 303, where
                    assert location == f"/login?next={url}", where
                else:
                    assert "WWW-Authenticate" not in response.headers, where
                    assert not location.startswith("/login?next="), where


async def test_with_the_api_token_every_agent_route_lets_the_caller_in(
    client: Client, database_url: str
) -> None:
    [ticket_id] = await insert_tickets(database_url, 1, "COMPLETED")
    base = str(client.make_url(""))
    async with aiohttp.ClientSession(base_url=base, headers=AUTH) as scripted:
        for method, path, _ in routes(client):
            if expected(method, path) is PUBLIC or path == "/events":
                continue
            url = concrete(path, ticket_id)
            body = {"ai_draft": DRAFT} if "resolve" in url else {}
            async with scripted.request(
                method,
                url,
                json=body if method in ("POST", "PUT", "PATCH") else None,
                allow_redirects=False,
            ) as response:
                assert response.status not in (401, 403, 303), (method, url, response.status)
        async with scripted.get("/events", timeout=aiohttp.ClientTimeout(sock_read=5)) as stream:
            assert stream.status == 200
            assert stream.headers["Content-Type"] == "text/event-stream"


async def test_a_revoked_or_made_up_token_is_refused_with_invalid_token(client: Client) -> None:
    async with browser_like(str(client.make_url(""))) as anonymous:
        for value in ("Bearer th_made-up", "Bearer ", "Basic dGVzczp4"):
            async with anonymous.get("/tickets", headers={"Authorization": value}) as response:
                assert response.status == 401
                challenge = response.headers["WWW-Authenticate"]
                assert challenge.startswith('Bearer realm="triage-hub"')
                assert ('error="invalid_token"' in challenge) is (value == "Bearer th_made-up")


async def test_openapi_marks_exactly_the_agent_routes(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).json()
    assert set(spec["components"]["securitySchemes"]) == {"token", "session"}
    for (method, path), rule in RULES.items():
        operation = spec["paths"].get(path, {}).get(method.lower())
        if operation is None:
            assert path in ("/static", "/openapi.json")  # files; the document itself
            continue
        assert ("security" in operation) is (rule is not PUBLIC), (method, path)
        if rule is AGENT:
            assert "401" in operation["responses"], (method, path)
