"""`triage-hub check`: what /health shows agents, for a shell — the database, its schema, the
LLM, the mail server and the webhook receiver, each tried for real, nothing changed.

Exit 0 when everything configured answers; 1 when the desk cannot run (the database is
unreachable, or its schema is not this build's); 3 when it runs degraded (tickets are taken,
but the LLM, the mail server or the webhook receiver does not answer)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from typing import Literal
from urllib.parse import urlsplit

import asyncpg

from triage_hub.db import ops
from triage_hub.db.pool import CONNECTION_ERRORS, Database, create_pool
from triage_hub.db.schema import schema_digest
from triage_hub.delivery.base import SendFailed
from triage_hub.delivery.mail import SmtpServer
from triage_hub.delivery.webhook import WebhookSender
from triage_hub.engines.hosts import make_host_engine
from triage_hub.logs import without_credentials
from triage_hub.settings import LLMHost, Settings

EXIT_OK, EXIT_DOWN, EXIT_DEGRADED = 0, 1, 3
DATABASE_TIMEOUT = 10.0
# Down, or refusing us (a wrong password, no such database): each reported, none raised.
REFUSALS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.PostgresError)

State = Literal["ok", "down", "off"]


@dataclass(frozen=True)
class Check:
    """One part and what became of trying it."""

    part: str
    state: State
    detail: str
    required: bool = False  # without it the desk cannot run at all


async def check_database(url: str, pgbouncer: bool = False) -> list[Check]:
    """Connect, and compare the schema applied last with this build's."""
    where = _without_password(url)
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT):
            pool = await create_pool(url, 1, pgbouncer=pgbouncer)
    except REFUSALS as error:
        return [
            Check("database", "down", f"{where}: {type(error).__name__}: {error}"[:300], True),
            Check("schema", "down", "not checked: no database", True),
        ]
    try:
        info = await ops.schema_info(Database(pool))
    finally:
        await pool.close()
    database = Check("database", "ok", where, True)
    if info is None:
        return [database, Check("schema", "down", "none yet: run `triage-hub migrate`", True)]
    digest, applied_at = info
    if digest != schema_digest():
        detail = f"{digest}, applied {applied_at:%Y-%m-%d %H:%M} UTC, is not this build's " + (
            f"{schema_digest()}: run `triage-hub migrate` (or start this build's `serve`)"
        )
        return [database, Check("schema", "down", detail, True)]
    return [database, Check("schema", "ok", f"{digest}, applied {applied_at:%Y-%m-%d %H:%M} UTC")]


async def check_llm_hosts(settings: Settings) -> list[Check]:
    """Is every LLM host there with its model? (Not asked when only the built-in engine
    triages.) One line per host of TRIAGE_LLM_URLS (else OLLAMA_HOST), all asked at once."""
    if settings.engine == "builtin":
        return [Check("llm", "off", "not used: TRIAGE_ENGINE=builtin")]
    return list(await asyncio.gather(*(_check_host(settings, h) for h in settings.llm_hosts())))


async def _check_host(settings: Settings, host: LLMHost) -> Check:
    engine = make_host_engine(settings, host.url)
    try:
        report = await engine.report()
    finally:
        await engine.close()
    where = without_credentials(host.url)
    slots = f"{host.slots} slot{'s' if host.slots != 1 else ''}"
    if report.reachable and report.model_available:
        return Check("llm", "ok", f"{where} has {report.model} ({slots})")
    return Check("llm", "down", f"{where}: {report.error}")


async def check_mail(settings: Settings) -> Check:
    """Greet the mail server and log in, sending nothing."""
    if settings.smtp_url is None:
        return Check("smtp", "off", "not configured: replies are not mailed")
    server = SmtpServer.from_url(settings.smtp_url.get_secret_value())
    try:
        return Check("smtp", "ok", await server.probe())
    except SendFailed as error:
        return Check("smtp", "down", f"{server.describe()}: {error}")


async def check_webhook(settings: Settings) -> Check:
    """Is the receiver there? (A HEAD: nothing is signed or sent.)"""
    if not settings.webhook_url or settings.webhook_secret is None:
        return Check("webhook", "off", "not configured: no events are posted")
    sender = WebhookSender(settings.webhook_url, settings.webhook_secret.get_secret_value())
    try:
        return Check("webhook", "ok", await sender.probe())
    except SendFailed as error:
        return Check("webhook", "down", str(error))


async def run_checks(settings: Settings, url: str) -> list[Check]:
    """Every part, tried at once."""
    database, llm, *others = await asyncio.gather(
        check_database(url, settings.through_pgbouncer),
        check_llm_hosts(settings),
        check_mail(settings),
        check_webhook(settings),
    )
    return [*database, *llm, *others]


def exit_code(checks: list[Check]) -> int:
    """0 all answer, 1 the desk cannot run, 3 it runs degraded."""
    if any(check.state == "down" and check.required for check in checks):
        return EXIT_DOWN
    if any(check.state == "down" for check in checks):
        return EXIT_DEGRADED
    return EXIT_OK


def render(checks: list[Check], as_json: bool) -> str:
    """The report, as a table or as JSON."""
    if as_json:
        code = exit_code(checks)
        return json.dumps(
            {"ok": code == EXIT_OK, "exit_code": code, "checks": [asdict(c) for c in checks]},
            indent=2,
        )
    return "\n".join(f"{check.part:<9} {check.state:<5} {check.detail}" for check in checks)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
