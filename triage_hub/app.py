"""The application factory: wiring only, no I/O until the app starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web

from triage_hub.db import outbox
from triage_hub.db.notify import (
    DELIVERY_EVENTS,
    NEW_DELIVERIES,
    NEW_TICKETS,
    TICKET_DRAFTS,
    TICKET_EVENTS,
    TICKET_PRESENCE,
    Listener,
    Notifier,
    Wakeup,
)
from triage_hub.db.pool import Database, open_pool
from triage_hub.db.schema import apply_schema
from triage_hub.db.tickets import RecentWindow
from triage_hub.delivery.base import Sender
from triage_hub.delivery.mail import MailSender
from triage_hub.delivery.webhook import WebhookSender
from triage_hub.delivery.workers import DeliveryPool
from triage_hub.engines.base import Engine
from triage_hub.engines.builtin.engine import BuiltinEngine
from triage_hub.engines.hosts import make_pool
from triage_hub.events import EventHub
from triage_hub.intake import Intake
from triage_hub.keys import (
    AGENT_READS,
    BREAKER,
    CLAIMERS,
    DATABASE,
    DATABASE_URL,
    DELIVERIES,
    DELIVERY_WAKEUP,
    ENGINES,
    EVENT_HUB,
    INTAKE,
    LLM_POOL,
    LLM_STATUS,
    METRICS,
    NOTIFIER,
    PASSWORD_HASHING,
    RECENT_WINDOW,
    SETTINGS,
    SUPERVISOR,
    WAKEUP,
)
from triage_hub.metrics import Metrics
from triage_hub.settings import Settings
from triage_hub.supervisor import Supervisor
from triage_hub.triage.breaker import CircuitBreaker
from triage_hub.triage.claimers import ClaimerPool, EngineChoice
from triage_hub.triage.drafts import DraftStreamer
from triage_hub.triage.status import LLMStatus
from triage_hub.web.auth import auth_middleware
from triage_hub.web.guards import guard_middleware
from triage_hub.web.login import HASHES_AT_ONCE, first_agent
from triage_hub.web.middlewares import error_middleware
from triage_hub.web.preview import MARKDOWN_RENDERER, renderer_ctx
from triage_hub.web.protocol import LINGER_SECONDS, answer_protocol_errors
from triage_hub.web.request_id import AccessLog, add_request_id_header, request_id_middleware
from triage_hub.web.responses import MAX_BODY_BYTES
from triage_hub.web.routes import setup_routes
from triage_hub.web.security import add_security_headers

log = logging.getLogger(__name__)


def agents_share(pool_size: int) -> int:
    """How many of the pool's connections agents' reads may hold at once: half of them."""
    return max(1, pool_size // 2)


def choose_engines(settings: Settings, db: Database, llm: Engine) -> EngineChoice:
    """The engines TRIAGE_ENGINE asks for: the LLM's (the pool of hosts, shared by every
    claimer), the built-in one."""
    if settings.engine == "llm":
        return EngineChoice("llm", llm)
    builtin = BuiltinEngine(db, settings.retrain_every, settings.retrain_minutes * 60)
    return EngineChoice(
        settings.engine,
        llm if settings.engine == "auto" else None,
        builtin,
        judge=builtin.agreement,
    )


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the pool (waiting for the database), apply the schema; close the pool at exit."""
    settings = app[SETTINGS]
    if settings.through_pgbouncer:
        log.info(
            "DATABASE_URL goes through PgBouncer: no prepared statements kept; LISTEN and "
            "migrations on DATABASE_LISTEN_URL"
        )
    pool = await open_pool(
        app[DATABASE_URL],
        settings.db_pool_size,
        settings.db_connect_attempts,
        pgbouncer=settings.through_pgbouncer,
    )
    try:
        # The schema's session advisory lock needs one server connection throughout: direct.
        await apply_schema(settings.direct_database_url(app[DATABASE_URL]))
        app[DATABASE] = database = Database(pool)
        app[AGENT_READS] = database.share(agents_share(settings.db_pool_size), "agents' reads")
        app[RECENT_WINDOW] = RecentWindow()
        yield
    finally:
        try:
            await asyncio.wait_for(pool.close(), 10)
        except TimeoutError:
            pool.terminate()


async def triage_ctx(app: web.Application) -> AsyncIterator[None]:
    """New-ticket signals, the event hub, the claimer pool and its reaper; all stopped before
    the pool closes."""
    settings, db = app[SETTINGS], app[DATABASE]
    app[WAKEUP] = wakeup = Wakeup()
    app[DELIVERY_WAKEUP] = delivery_wakeup = Wakeup()
    app[NOTIFIER] = notifier = Notifier(db)
    app[BREAKER] = breaker = CircuitBreaker()
    app[EVENT_HUB] = hub = EventHub()
    app[SUPERVISOR] = supervisor = Supervisor(app[METRICS])
    # One pool of LLM hosts for the process: the claimers call it, /health asks it.
    app[LLM_POOL] = llm = make_pool(settings, app[METRICS])
    app[LLM_STATUS] = LLMStatus(llm, settings.model)
    app[ENGINES] = engines = choose_engines(settings, db, llm)
    app[CLAIMERS] = claimers = ClaimerPool(
        settings,
        db,
        wakeup,
        notifier,
        breaker,
        app[METRICS],
        DraftStreamer(db),
        supervisor,
        engines,
    )

    def new_tickets(_payload: str) -> None:
        wakeup.set()
        hub.publish("tickets", "{}")

    def reconnected() -> None:
        new_tickets("")  # claimers and dashboards catch up on what the gap may have hidden
        delivery_wakeup.set()

    listener = Listener(
        settings.direct_database_url(app[DATABASE_URL]),  # never through PgBouncer
        {
            NEW_TICKETS: new_tickets,
            TICKET_EVENTS: lambda payload: hub.publish("ticket", payload),
            TICKET_DRAFTS: lambda payload: hub.publish("draft", payload),
            TICKET_PRESENCE: lambda payload: hub.publish("presence", payload),
            DELIVERY_EVENTS: lambda payload: hub.publish("delivery", payload),
            NEW_DELIVERIES: lambda _payload: delivery_wakeup.set(),
        },
        on_connect=reconnected,
        keepalive=max(settings.poll_seconds, 10),
    )
    background = [
        supervisor.start("notifier", "notifier", notifier.run),
        supervisor.start("listener", "listener", listener.run),
    ]
    # Serve once LISTEN is in place, so the first events reach the first dashboards.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(listener.connected.wait(), 5)
    claimers.start()
    builtin = engines.builtin
    if settings.claimers and isinstance(builtin, BuiltinEngine):
        # Train now, not on the first ticket; then retrain as the agents correct it.
        background.append(
            supervisor.start("trainer", "trainer", lambda: builtin.retrain_loop(claimers.stopping))
        )
    try:
        yield
    finally:
        hub.close()
        await claimers.stop()
        await supervisor.stop(background)
        await llm.close()  # after the claimers: none of them calls it any more


async def intake_ctx(app: web.Application) -> AsyncIterator[None]:
    """The intake: new tickets stored behind the rate limit and the backlog cap."""
    app[INTAKE] = Intake(app[SETTINGS], app[DATABASE], app[WAKEUP], app[NOTIFIER], app[METRICS])
    yield


async def delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    """The outbox's workers, with a sender for each kind of delivery this replica is set up
    for (TRIAGE_SMTP_URL, TRIAGE_WEBHOOK_URL); the targets are also written for the trigger
    that fills the outbox."""
    settings, db = app[SETTINGS], app[DATABASE]
    senders: dict[str, Sender] = {}
    if settings.smtp_url is not None and settings.mail_from:
        smtp = settings.smtp_url.get_secret_value()
        senders["email"] = MailSender(smtp, settings.mail_from, app[MARKDOWN_RENDERER])
    if settings.webhook_url and settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
        senders["webhook"] = WebhookSender(settings.webhook_url, secret)
    await outbox.set_targets(db, email="email" in senders, webhook="webhook" in senders)
    app[DELIVERIES] = pool = DeliveryPool(
        settings, db, app[DELIVERY_WAKEUP], app[METRICS], app[SUPERVISOR], senders
    )
    if senders:
        pool.start()
    yield
    await pool.stop()


async def close_event_streams(app: web.Application) -> None:
    """End the dashboards' event streams first, so the HTTP server can drain."""
    app[EVENT_HUB].close()


def create_app(settings: Settings, database_url: str) -> web.Application:
    """Build the application for one process: every middleware and signal is added here, the
    shared objects in cleanup_ctx (in dependency order), the routes from their registry."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        # The request id first: the errors of those after it carry it too.
        middlewares=[request_id_middleware, error_middleware, guard_middleware, auth_middleware],
        handler_args={"lingering_time": LINGER_SECONDS, "access_log_class": AccessLog},
    )
    answer_protocol_errors(app)
    app[SETTINGS] = settings
    app[DATABASE_URL] = database_url
    app[METRICS] = Metrics()
    app[PASSWORD_HASHING] = asyncio.Semaphore(HASHES_AT_ONCE)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("triage_hub", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    app.on_response_prepare.append(add_security_headers)
    app.on_response_prepare.append(add_request_id_header)
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(triage_ctx)
    app.cleanup_ctx.append(intake_ctx)
    app.cleanup_ctx.append(renderer_ctx)
    app.cleanup_ctx.append(delivery_ctx)
    app.on_startup.append(first_agent)
    app.on_shutdown.append(close_event_streams)
    setup_routes(app)
    return app
