"""The first step of both intake paths (POST /tickets and the form): the client's rate limit,
from which agents are exempt."""

from __future__ import annotations

from aiohttp import web

from triage_hub.errors import RateLimited
from triage_hub.intake import JunkCredentials, bucket_key, retry_after
from triage_hub.keys import INTAKE, METRICS
from triage_hub.web.auth import credential, principal
from triage_hub.web.clients import client_address


async def check_intake(request: web.Request) -> None:
    """The first step of both intake paths: the client's rate limit (RateLimited when spent).

    Agents (session or API token) are exempt and take nothing from the bucket of their address,
    so a script behind the customers' NAT leaves them their budget. Telling an agent needs a
    lookup, even with the bucket empty (or an agent would be refused): a post without
    credentials needs none, one with junk credentials one per JUNK_SECONDS.
    """
    limits = request.app[INTAKE]
    if limits.buckets is None or await _is_agent(request, limits.junk):
        return
    wait = limits.buckets.take(bucket_key(client_address(request)))
    if wait > 0:
        request.app[METRICS].intake_rejected.labels("rate_limited").inc()
        raise RateLimited(retry_after(wait))


async def _is_agent(request: web.Request, junk: JunkCredentials) -> bool:
    presented = credential(request)
    if presented is None or presented in junk:
        return False
    if await principal(request) is not None:
        return True
    junk.add(presented)
    return False
