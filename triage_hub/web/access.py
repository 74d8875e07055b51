"""The access rule of every route: public, or for agents (JSON or page)."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from aiohttp import web


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
