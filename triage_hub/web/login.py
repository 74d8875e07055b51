"""Logging in and out, and the one-time setup link that creates the first agent."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime

from aiohttp import web

from triage_hub.accounts import (
    check_agent_name,
    check_password,
    digest,
    hash_password,
    needs_rehash,
    new_secret,
    verify_password,
)
from triage_hub.db import accounts
from triage_hub.errors import BadRequest
from triage_hub.keys import DATABASE, SETTINGS
from triage_hub.web.access import Access, AccessRules
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

# Failed logins inside this window count; past a limit the next attempt waits. The tight limit
# is per account *from one address*: a guesser elsewhere cannot lock the agent out, while the
# account's own limit (any address) still stops a guesser with many addresses.
THROTTLE_WINDOW = 15 * 60
FAILURE_LIMITS = {"pair": 5, "agent": 50, "address": 30}
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


def _wait_seconds(failures: list[datetime], limit: int) -> int:
    """How long until fewer than `limit` failures are inside the window (0: not throttled)."""
    if len(failures) < limit:
        return 0
    frees_at = failures[len(failures) - limit].timestamp() + THROTTLE_WINDOW
    return max(1, math.ceil(frees_at - datetime.now(UTC).timestamp()))


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
    form = await read_form(request)
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    next_path = local_path(str(form.get("next", "")))
    db = request.app[DATABASE]
    address = client_address(request)
    keys = {
        "pair": f"pair:{name.lower()} from {address}",
        "agent": f"agent:{name.lower()}",
        "address": f"address:{address}",
    }
    failures = await accounts.recent_login_failures(db, list(keys.values()), THROTTLE_WINDOW)
    wait = max(_wait_seconds(failures[key], FAILURE_LIMITS[kind]) for kind, key in keys.items())
    if wait:
        minutes = math.ceil(wait / 60)
        error = f"Too many failed logins. Try again in {minutes} minute{'s' * (minutes > 1)}."
        response = _login_page(request, next_path, name, error, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    candidate = await accounts.agent_for_login(db, name) if name else None
    # argon2 takes ~0.2 s of CPU: never on the event loop.
    matches = await asyncio.to_thread(
        verify_password, candidate.password_hash if candidate else None, password
    )
    if not matches or candidate is None:
        await accounts.record_login_failure(db, list(keys.values()), THROTTLE_WINDOW)
        log.info("failed login for %r from %s", name[:64], address)
        return _login_page(request, next_path, name, "Wrong name or password.", 401)
    if candidate.disabled:
        error = "This account is disabled. Ask an administrator to enable it."
        return _login_page(request, next_path, name, error, 403)
    await accounts.clear_login_failures(db, [keys["pair"], keys["agent"]])
    if needs_rehash(candidate.password_hash):
        new_hash = await asyncio.to_thread(hash_password, password)
        await accounts.update_password_hash(db, candidate.id, new_hash)
    response = web.HTTPSeeOther(next_path)
    await _start_session(request, response, candidate.id)
    log.info("agent %s logged in from %s", candidate.name, address)
    raise response


async def logout(request: web.Request) -> web.Response:
    """POST /logout: end the session everywhere (it lives in the database) and drop the cookie."""
    agent = await principal(request)
    sid = session_id(request)
    if agent is not None and agent.kind == "session" and sid is not None:
        if not await csrf_ok(request, agent):
            return _cross_site(request)
        await accounts.delete_session(request.app[DATABASE], digest(sid))
        log.info("agent %s logged out", agent.name)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(cookie_name(request), path="/")
    raise response


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


async def setup_form(request: web.Request) -> web.Response:
    """GET /setup?token=…: the form that creates the first agent, from the logged link."""
    db = request.app[DATABASE]
    if await accounts.count_agents(db):
        return _setup_done(request)
    token = request.query.get("token", "")
    if not token or not await accounts.setup_token_valid(db, digest(token)):
        message = "This setup link is not valid: it was used, or it expired. Restart the server "
        message += "for a new one, or run `triage-hub agent add NAME`."
        return render_page(request, "error.html", {"title": "Setup link", "message": message}, 404)
    return _setup_page(request, token)


async def setup(request: web.Request) -> web.Response:
    """POST /setup: create the first agent (once), and log them in."""
    if not same_origin(request):
        return _cross_site(request)
    form = await read_form(request)
    token, name = str(form.get("token", "")), str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    try:
        check_agent_name(name)
        check_password(password)
        if password != form.get("confirm"):
            raise BadRequest("The two passwords differ.")
    except BadRequest as error:
        return _setup_page(request, token, name, error.message, 400)
    db = request.app[DATABASE]
    password_hash = await asyncio.to_thread(hash_password, password)
    agent_id = await accounts.insert_first_agent(db, name, password_hash, digest(token))
    if agent_id is None:
        return _setup_done(request, 409)
    log.info("first agent %s created through the setup link", name)
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


def setup_login_routes(app: web.Application, rules: AccessRules) -> None:
    """Register /login, /logout and /setup (all public: they are how one becomes an agent)."""
    router = app.router
    public = [
        router.add_get("/login", login_form, name="login"),
        router.add_post("/login", login),
        router.add_post("/logout", logout, name="logout"),
        router.add_get("/setup", setup_form, name="setup"),
        router.add_post("/setup", setup),
    ]
    rules.set(public, Access.PUBLIC)
    app.on_startup.append(first_agent)
