"""Who may call what, and the one registry of routes: each route is declared once, with its
handler, its access rule and its documentation; the router, the access rules and /openapi.json
are all made from it (web/routes.py, web/openapi.py)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel


class Access(enum.Enum):
    """What a route asks of the caller."""

    PUBLIC = "public"
    AGENT = "agent"  # JSON: 401 with WWW-Authenticate
    AGENT_PAGE = "agent page"  # HTML: redirect to /login?next=…


class AccessRules:
    """The access rule of every (resource, method) of the router."""

    def __init__(self) -> None:
        self._rules: dict[tuple[web.AbstractResource, str], Access] = {}

    def set(self, routes: Iterable[web.AbstractRoute], access: Access) -> None:
        """Give routes a rule; a GET's rule covers its HEAD."""
        for route in routes:
            assert route.resource is not None
            methods = {"GET", "HEAD"} if route.method == "GET" else {route.method}
            for method in methods:
                self._rules[(route.resource, method)] = access

    def rule(self, route: web.AbstractRoute, method: str) -> Access:
        """The rule of a route; AGENT when none was given."""
        if route.resource is None:  # aiohttp's own 404/405 answers
            return Access.PUBLIC
        return self._rules.get((route.resource, method), Access.AGENT)


@dataclass(frozen=True)
class Endpoint:
    """A route: what it does (`doc`, an OpenAPI operation without its security, which comes from
    `access`), who may call it, and the models its documentation refers to by name."""

    method: str
    path: str
    handler: Handler
    access: Access
    doc: dict[str, Any]
    name: str | None = None
    # Request models are described as they validate, response models as they serialise.
    inputs: tuple[type[BaseModel], ...] = ()
    outputs: tuple[type[BaseModel], ...] = ()
    # The query string, parsed by this model: its fields are the documented parameters.
    query: type[BaseModel] | None = field(default=None)


def register(
    router: web.UrlDispatcher, rules: AccessRules, endpoints: Iterable[Endpoint]
) -> list[Endpoint]:
    """Add every endpoint to the router with its rule; the endpoints, for the documentation."""
    registered = list(endpoints)
    for endpoint in registered:
        if endpoint.method == "GET":  # add_get answers HEAD too, and the GET's rule covers it
            route = router.add_get(endpoint.path, endpoint.handler, name=endpoint.name)
        else:
            route = router.add_route(
                endpoint.method, endpoint.path, endpoint.handler, name=endpoint.name
            )
        rules.set([route], endpoint.access)
    return registered
