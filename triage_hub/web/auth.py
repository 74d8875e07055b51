"""Who may call what: every route has an access rule, and one middleware enforces it.

A request acts as an agent through a session cookie (browsers) or `Authorization: Bearer`
(scripts). A route nobody gave a rule is for agents: a new route cannot slip through public.
"""

from __future__ import annotations

import hmac
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from triage_hub.accounts import digest
from triage_hub.db import accounts
from triage_hub.db.accounts import Credential, Principal
from triage_hub.keys import ACCESS_RULES, DATABASE, PRINCIPAL, SETTINGS
from triage_hub.routing import Access
from triage_hub.web.clients import is_https
from triage_hub.web.middlewares import error_response
from triage_hub.web.responses import FORM_TYPE, read_form

SESSION_COOKIE = "triage_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WWW_AUTHENTICATE = 'Bearer realm="triage-hub"'


def cookie_name(request: web.Request) -> str:
    """`__Host-` (Secure, Path=/, no Domain) whenever the browser talks to us over https."""
    return f"__Host-{SESSION_COOKIE}" if is_https(request) else SESSION_COOKIE


def session_id(request: web.Request) -> str | None:
    """The session id the browser sent, if any."""
    return request.cookies.get(cookie_name(request)) or None


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer …`, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def credential(request: web.Request) -> Credential | None:
    """What the request presents to act as an agent, hashed: the bearer token first, then the
    session cookie; None for no credentials (then `principal` needs no database)."""
    token = bearer_token(request)
    if token is not None:
        return "token", digest(token)
    sid = session_id(request)
    return None if sid is None else ("session", digest(sid))


async def principal(request: web.Request, *, fresh: bool = False) -> Principal | None:
    """Who the request acts as, by its `credential`. Looked up once per request, unless
    `fresh` (a long-lived stream checking that its session still holds)."""
    if PRINCIPAL in request and not fresh:
        return request[PRINCIPAL]
    db, settings = request.app[DATABASE], request.app[SETTINGS]
    found = None
    presented = credential(request)
    if presented is not None:
        kind, hashed = presented
        if kind == "token":
            found = await accounts.token_principal(db, hashed)
        else:
            idle = settings.session_idle_minutes * 60
            found = await accounts.session_principal(db, hashed, idle)
    request[PRINCIPAL] = found
    return found


def same_origin(request: web.Request) -> bool:
    """The browser says the request comes from our own pages (headers it alone can set)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return False
    return True


async def csrf_ok(request: web.Request, agent: Principal) -> bool:
    """A cookie-authenticated change: same origin, and the session's token in a header or form
    field. Bearer requests are exempt: no browser attaches that header by itself."""
    if agent.kind == "token" or request.method in SAFE_METHODS:
        return True
    if not same_origin(request) or agent.csrf_token is None:
        return False
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type == FORM_TYPE:  # our pages post no other forms
        sent = (await read_form(request)).get(CSRF_FIELD)
    # Our tokens are ASCII; compare_digest raises (TypeError) on a str that is not.
    return sent is not None and sent.isascii() and hmac.compare_digest(sent, agent.csrf_token)


def login_url(request: web.Request) -> str:
    """/login, sending the agent back here afterwards."""
    return f"/login?next={quote(request.rel_url.path_qs, safe='/')}"


def local_path(target: str | None, default: str = "/dashboard") -> str:
    """`next` only ever leads to a path of this site: never another host, scheme or `//x`."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def unauthorized(request: web.Request, message: str, invalid_token: bool) -> web.Response:
    """401 with the WWW-Authenticate challenge."""
    challenge = WWW_AUTHENTICATE + (', error="invalid_token"' if invalid_token else "")
    return error_response(request, 401, "unauthorized", message, {"WWW-Authenticate": challenge})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Enforce the route's rule: agents only, and CSRF checks for cookie-borne changes."""
    access = request.app[ACCESS_RULES].rule(request.match_info.route, request.method)
    if access is Access.PUBLIC:
        return await handler(request)
    agent = await principal(request)
    if agent is None:
        if access is Access.AGENT_PAGE and request.method in SAFE_METHODS:
            raise web.HTTPSeeOther(login_url(request))
        token = bearer_token(request) is not None
        message = (
            "This API token is not valid (unknown or revoked)."
            if token
            else "Log in, or send an API token: Authorization: Bearer <token>."
        )
        return unauthorized(request, message, token)
    if not await csrf_ok(request, agent):
        return error_response(
            request,
            403,
            "csrf_failed",
            "This change did not come from a Triage Hub page of this site (CSRF check). "
            "Reload the page and try again.",
            {},
        )
    return await handler(request)


def cookie_settings(request: web.Request) -> dict[str, object]:
    """The session cookie's attributes: HttpOnly, SameSite=Lax, Secure over https."""
    settings = request.app[SETTINGS]
    return {
        "max_age": int(settings.session_max_hours * 3600),
        "path": "/",
        "httponly": True,
        "samesite": "Lax",
        "secure": is_https(request),
    }
