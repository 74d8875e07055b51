"""What every request must pass before any handler runs: a Host this server answers to
(TRIAGE_ALLOWED_HOSTS) and a declared body that is not over the limit."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from triage_hub.errors import BadRequest
from triage_hub.keys import SETTINGS
from triage_hub.settings import is_ip_address
from triage_hub.web.responses import MAX_BODY_BYTES

# Load balancers and Kubernetes probe /health by the instance's address. A browser sends an IP
# as Host only when it was pointed at that IP itself, which DNS rebinding cannot do.
PROBE_PATH = "/health"


def host_name(header: str) -> str:
    """The Host header's name without its port, as TRIAGE_ALLOWED_HOSTS spells names."""
    text = header.strip().lower()
    if text.startswith("["):  # [v6] or [v6]:port
        return text[1:].partition("]")[0]
    return text.partition(":")[0].rstrip(".")


def host_allowed(name: str, allowed: tuple[str, ...]) -> bool:
    """`name` is listed, or is below a listed `*.domain`."""
    return any(
        name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:]))
        for pattern in allowed
    )


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a Host we do not answer to (400 invalid_host) and a Content-Length over the
    limit (413, before a byte of the body is read)."""
    allowed = request.app[SETTINGS].allowed_hosts
    if allowed:
        name = host_name(request.headers.get("Host", ""))
        probe = request.path == PROBE_PATH and (is_ip_address(name) or name == "localhost")
        if not probe and not host_allowed(name, allowed):
            raise BadRequest(
                "This server does not answer to this host name (see TRIAGE_ALLOWED_HOSTS).",
                code="invalid_host",
            )
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=length)
    return await handler(request)
