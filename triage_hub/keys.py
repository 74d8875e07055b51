"""Every object shared through the aiohttp application, each under a typed key."""

from __future__ import annotations

import asyncio

from aiohttp import web

from triage_hub.db.accounts import Principal
from triage_hub.db.notify import Notifier, Wakeup
from triage_hub.db.pool import Database
from triage_hub.db.tickets import RecentWindow
from triage_hub.delivery.workers import DeliveryPool
from triage_hub.engines.pool import LLMPool
from triage_hub.events import EventHub
from triage_hub.intake import Intake
from triage_hub.metrics import Metrics
from triage_hub.routing import AccessRules, Endpoint
from triage_hub.settings import Settings
from triage_hub.supervisor import Supervisor
from triage_hub.triage.breaker import CircuitBreaker
from triage_hub.triage.claimers import ClaimerPool, EngineChoice
from triage_hub.triage.status import LLMStatus

SETTINGS = web.AppKey("settings", Settings)
DATABASE_URL = web.AppKey("database_url", str)
DATABASE = web.AppKey("database", Database)
# The agents' ticket reads: a share of DATABASE's pool, so that however many lists agents run,
# intake, logins and the claimers keep connections of their own.
AGENT_READS = web.AppKey("agent_reads", Database)
# Where the newest tickets begin, for searches (re-read every 30 s).
RECENT_WINDOW = web.AppKey("recent_window", RecentWindow)
WAKEUP = web.AppKey("wakeup", Wakeup)
DELIVERY_WAKEUP = web.AppKey("delivery_wakeup", Wakeup)
DELIVERIES = web.AppKey("deliveries", DeliveryPool)
NOTIFIER = web.AppKey("notifier", Notifier)
BREAKER = web.AppKey("breaker", CircuitBreaker)
# The LLM hosts of TRIAGE_LLM_URLS behind one engine, shared by every claimer.
LLM_POOL = web.AppKey("llm_pool", LLMPool)
LLM_STATUS = web.AppKey("llm_status", LLMStatus)
CLAIMERS = web.AppKey("claimers", ClaimerPool)
ENGINES = web.AppKey("engines", EngineChoice)
METRICS = web.AppKey("metrics", Metrics)
SUPERVISOR = web.AppKey("supervisor", Supervisor)
EVENT_HUB = web.AppKey("event_hub", EventHub)
ACCESS_RULES = web.AppKey("access_rules", AccessRules)
ENDPOINTS: web.AppKey[list[Endpoint]] = web.AppKey("endpoints")
INTAKE = web.AppKey("intake", Intake)
# Bounds the argon2 hashes running at once (64 MiB and ~0.2 s of a core each).
PASSWORD_HASHING = web.AppKey("password_hashing", asyncio.Semaphore)

# Per-request values, each computed once.
CSP_NONCE = web.RequestKey("csp_nonce", str)
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_ADDRESS = web.RequestKey("client_address", str)
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
