"""Logging in and out, and the one-time setup link that creates the first agent."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from aiohttp import web

from triage_hub.accounts import (
    NAME,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    check_agent_name,
    check_password,
    digest,
    hash_password,
    is_agent_name,
    needs_rehash,
    new_secret,
    verify_password,
)
from triage_hub.db import accounts
from triage_hub.errors import BadRequest
from triage_hub.intake import bucket_key, retry_after
from triage_hub.keys import DATABASE, PASSWORD_HASHING, SETTINGS
from triage_hub.logs import without_addresses
from triage_hub.routing import Access, Endpoint
from triage_hub.web.apidoc import NOT_A_FORM, RETRY_AFTER, form, form_refused, html, page, query
from triage_hub.web.auth import (
    cookie_name,
    cookie_settings,
    csrf_ok,
    local_path,
    principal,
    same_origin,
    session_id,
)
from triage_hub.web.clients import client_address
from triage_hub.web.responses import read_form
from triage_hub.web.security import render_page

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Failed logins inside this window count; past a limit the next attempt waits. The tight limit
# is per account *from one address*: a guesser elsewhere cannot lock the agent out, while the
# account's own limit (any address) still stops a guesser with many addresses.
THROTTLE_WINDOW = 15 * 60
FAILURE_LIMITS = {"pair": 5, "agent": 50, "address": 30}
# argon2 hashes running at once in this process (64 MiB each): a flood of logins queues here
# instead of growing memory; logins are rare enough that two at a time keep up.
HASHES_AT_ONCE = 2
SETUP_LINK_SECONDS = 24 * 3600
FIRST_AGENT = "admin"  # the agent TRIAGE_ADMIN_PASSWORD creates


def _login_page(
    request: web.Request, next_path: str, name: str = "", error: str = "", status: int = 200
) -> web.Response:
    context = {"next": next_path, "name": name, "error": error}
    return render_page(request, "login.html", context, status)


def _cross_site(request: web.Request) -> web.Response:
    message = "This form was not sent from a page of this site. Reload the page and try again."
    return render_page(request, "error.html", {"title": "Form rejected", "message": message}, 403)


async def _start_session(request: web.Request, response: web.StreamResponse, agent_id: int) -> None:
    """A new session with a new id (the old one, if any, ends: no fixation), and its cookie."""
    db, settings = request.app[DATABASE], request.app[SETTINGS]
    old = session_id(request)
    if old is not None:
        await accounts.delete_session(db, digest(old))
    sid = new_secret()
    await accounts.create_session(
        db,
        digest(sid),
        agent_id,
        new_secret(),
        settings.session_max_hours * 3600,
        settings.session_idle_minutes * 60,
    )
    response.set_cookie(cookie_name(request), sid, **cookie_settings(request))  # type: ignore[arg-type]


async def _argon2(request: web.Request, work: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
    """Hash or verify a password: ~0.2 s of CPU, so off the event loop, a bounded few at once."""
    async with request.app[PASSWORD_HASHING]:
        return await asyncio.to_thread(work, *args, **kw)


def _throttle_keys(name: str, address: str) -> dict[str, str]:
    """The throttle's key of each kind; an IPv6 client by its /64, as for intake. Names no
    agent can have share one key ("?" is in none): whatever their length or characters (a NUL,
    kilobytes), they go into a text column and a btree index."""
    client, account = bucket_key(address), name.lower() if is_agent_name(name) else "?"
    return {
        "pair": f"pair:{account} from {client}",
        "agent": f"agent:{account}",
        "address": f"address:{client}",
    }


def _throttled(request: web.Request, next_path: str, name: str, wait: float) -> web.Response:
    seconds = retry_after(wait)
    minutes = math.ceil(seconds / 60)
    error = f"Too many failed logins. Try again in {minutes} minute{'s' * (minutes > 1)}."
    response = _login_page(request, next_path, name, error, 429)
    response.headers["Retry-After"] = str(seconds)
    return response


async def login_form(request: web.Request) -> web.Response:
    """GET /login: the form, or straight on when already logged in."""
    next_path = local_path(request.query.get("next"))
    agent = await principal(request)
    if agent is not None and agent.kind == "session":
        raise web.HTTPSeeOther(next_path)
    return _login_page(request, next_path)


async def login(request: web.Request) -> web.Response:
    """POST /login: check the password (throttled per account and per address), start a session."""
    if not same_origin(request):
        return _cross_site(request)
    form = await read_form(request, allow_nul=True)  # a NUL name is a wrong name (counted)
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    next_path = local_path(str(form.get("next", "")))
    db = request.app[DATABASE]
    address = client_address(request)
    keys = _throttle_keys(name, address)
    limits = {keys[kind]: FAILURE_LIMITS[kind] for kind in keys}
    # Counted as a failure before the check, in the same locked step that counts: parallel
    # guesses cannot all pass a count that none of them has added to yet.
    attempt = await accounts.reserve_login_attempt(db, limits, THROTTLE_WINDOW)
    if attempt.reservation is None:
        return _throttled(request, next_path, name, attempt.wait)
    candidate = await accounts.agent_for_login(db, name) if is_agent_name(name) else None
    matches = await _argon2(
        request, verify_password, candidate.password_hash if candidate else None, password
    )
    # A disabled account fails like a wrong password, after the same work: an answer of its
    # own would tell a guesser that the password was right.
    if candidate is None or not matches or candidate.disabled:
        disabled = " (a disabled account)" if matches else ""
        log.info("failed login for %s from %s%s", logged_name(name), address, disabled)
        return _login_page(request, next_path, name, "Wrong name or password.", 401)
    await accounts.take_back_login_failure(db, list(limits), attempt.reservation, keys["pair"])
    if needs_rehash(candidate.password_hash):
        new_hash = await _argon2(request, hash_password, password)
        await accounts.update_password_hash(db, candidate.id, new_hash)
    response = web.HTTPSeeOther(next_path)
    await _start_session(request, response, candidate.id)
    log.info("agent %s logged in from %s", without_addresses(candidate.name), address)
    raise response


async def logout(request: web.Request) -> web.Response:
    """POST /logout: end the session everywhere (it lives in the database) and drop the cookie."""
    agent = await principal(request)
    sid = session_id(request)
    if agent is not None and agent.kind == "session" and sid is not None:
        if not await csrf_ok(request, agent):
            return _cross_site(request)
        await accounts.delete_session(request.app[DATABASE], digest(sid))
        log.info("agent %s logged out", without_addresses(agent.name))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(cookie_name(request), path="/")
    raise response


def logged_name(name: str) -> str:
    """A name typed at the login, for the log: quoted, with an e-mail address masked; one that
    no agent could have (a password typed in the wrong field?) is not shown."""
    if not is_agent_name(name):
        return "a name no agent can have"
    return repr(without_addresses(name))


def _setup_page(
    request: web.Request, token: str, name: str = "", error: str = "", status: int = 200
) -> web.Response:
    context = {"token": token, "name": name, "error": error}
    return render_page(request, "setup.html", context, status)


def _setup_done(request: web.Request, status: int = 200) -> web.Response:
    context = {
        "title": "Setup is done",
        "message": "An agent account exists already. Log in, or ask an agent to add you.",
        "link": "/login",
        "link_text": "Log in",
    }
    return render_page(request, "error.html", context, status)


def _link_not_valid(request: web.Request) -> web.Response:
    message = "This setup link is not valid: it was used, or it expired. Restart the server "
    message += "for a new one, or run `triage-hub agent add NAME`."
    return render_page(request, "error.html", {"title": "Setup link", "message": message}, 404)


async def _setup_refused(request: web.Request, token: str, done_status: int) -> web.Response | None:
    """The page for a setup that is done or a link that is not valid; None when the link works."""
    db = request.app[DATABASE]
    if await accounts.count_agents(db):
        return _setup_done(request, done_status)
    if not token or not await accounts.setup_token_valid(db, digest(token)):
        return _link_not_valid(request)
    return None


async def setup_form(request: web.Request) -> web.Response:
    """GET /setup?token=…: the form that creates the first agent, from the logged link."""
    token = request.query.get("token", "")
    return await _setup_refused(request, token, 200) or _setup_page(request, token)


async def setup(request: web.Request) -> web.Response:
    """POST /setup: create the first agent (once), and log them in."""
    if not same_origin(request):
        return _cross_site(request)
    form = await read_form(request)
    token, name = str(form.get("token", "")), str(form.get("name", "")).strip()
    # Before any hashing: a public request without a working link must cost next to nothing.
    refused = await _setup_refused(request, token, 409)
    if refused is not None:
        return refused
    password = str(form.get("password", ""))
    try:
        check_agent_name(name)
        check_password(password)
        if password != form.get("confirm"):
            raise BadRequest("The two passwords differ.")
    except BadRequest as error:
        return _setup_page(request, token, name, error.message, 400)
    db = request.app[DATABASE]
    password_hash = await _argon2(request, hash_password, password)
    agent_id = await accounts.insert_first_agent(db, name, password_hash, digest(token))
    if agent_id is None:  # another request used the link or created an agent meanwhile
        return await _setup_refused(request, token, 409) or _link_not_valid(request)
    log.info("first agent %s created through the setup link", without_addresses(name))
    response = web.HTTPSeeOther("/dashboard")
    await _start_session(request, response, agent_id)
    raise response


def _public_url(request_host: str, port: int) -> str:
    host = "localhost" if request_host in ("", "0.0.0.0", "::") else request_host
    return f"http://{host}:{port}"


async def first_agent(app: web.Application) -> None:
    """on_startup: with no agent yet, create one from TRIAGE_ADMIN_PASSWORD or log a setup link.

    Never a default password."""
    db, settings = app[DATABASE], app[SETTINGS]
    if await accounts.count_agents(db):
        return
    if settings.admin_password is not None:
        password = settings.admin_password.get_secret_value()  # its length checked by Settings
        password_hash = await asyncio.to_thread(hash_password, password)
        if await accounts.insert_first_agent(db, FIRST_AGENT, password_hash) is not None:
            log.info("created agent %r from TRIAGE_ADMIN_PASSWORD", FIRST_AGENT)
        return
    token = new_secret()
    await accounts.insert_setup_token(db, digest(token), SETUP_LINK_SECONDS)
    log.warning(
        "no agent account yet: create the first one at %s/setup?token=%s (works once, for 24 h), "
        "or run `triage-hub agent add NAME`",
        _public_url(settings.host, settings.port),
        token,
    )


_NO_NUL = r"^[^\x00]*$"  # a form field holding NUL is refused (400) before anything is read
_PASSWORD = {
    "type": "string",
    "minLength": PASSWORD_MIN_CHARS,
    "maxLength": PASSWORD_MAX_CHARS,
    "pattern": _NO_NUL,
}

ENDPOINTS = [
    Endpoint(
        "GET",
        "/login",
        login_form,
        Access.PUBLIC,
        {
            **page("The login form"),
            "parameters": [query("next", {"type": "string"}, "a local path to go on to")],
        },
        name="login",
    ),
    Endpoint(
        "POST",
        "/login",
        login,
        Access.PUBLIC,
        {
            "summary": "Log in",
            "requestBody": form(
                {
                    "name": {"type": "string"},
                    "password": {"type": "string"},
                    "next": {"type": "string", "description": "a local path"},
                },
                [],
                "the login form",
            ),
            "responses": {
                "303": {"description": "logged in: the session cookie, on to `next`"},
                "400": form_refused("not UTF-8 form data"),
                "401": html("wrong name or password, or a disabled agent (the same page)"),
                "403": html("a form from another site"),
                "415": NOT_A_FORM,
                "429": {**html("too many failed logins"), "headers": RETRY_AFTER},
            },
        },
    ),
    Endpoint(
        "POST",
        "/logout",
        logout,
        Access.PUBLIC,
        {
            "summary": "End the session",
            "requestBody": form(
                {"csrf_token": {"type": "string"}},
                [],
                "the session's CSRF token (a bearer token needs none)",
                optional=True,
            ),
            "responses": {
                "303": {"description": "to /login"},
                "403": html("a form from another site"),
            },
        },
        name="logout",
    ),
    Endpoint(
        "GET",
        "/setup",
        setup_form,
        Access.PUBLIC,
        {
            "summary": "The one-time form that creates the first agent",
            "parameters": [query("token", {"type": "string"}, "from the setup link")],
            "responses": {
                "200": html("the form, or: setup is done"),
                "404": html("the link is not valid"),
            },
        },
        name="setup",
    ),
    Endpoint(
        "POST",
        "/setup",
        setup,
        Access.PUBLIC,
        {
            "summary": "Create the first agent, and log in",
            "requestBody": form(
                {
                    "token": {"type": "string", "pattern": _NO_NUL},
                    "name": {"type": "string", "pattern": f"^{NAME.pattern}$"},
                    "password": _PASSWORD,
                    "confirm": {**_PASSWORD, "description": "the password again"},
                },
                ["token", "name", "password", "confirm"],
                "the setup form",
            ),
            "responses": {
                "303": {"description": "created and logged in: to /dashboard"},
                "400": form_refused("the form again, with the error"),
                "403": html("a form from another site"),
                "404": html("the setup link is not valid"),
                "409": html("an agent exists already"),
                "415": NOT_A_FORM,
            },
        },
    ),
]
