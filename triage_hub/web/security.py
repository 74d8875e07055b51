"""Security headers on every response (errors, static files and event streams included), and
HTML pages rendered with a per-request nonce that lets their own scripts run under the CSP."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from triage_hub.keys import CSP_NONCE
from triage_hub.web.clients import is_https

HSTS = "max-age=31536000; includeSubDomains"


def csp_nonce(request: web.Request) -> str:
    """This request's nonce, made on first use."""
    if CSP_NONCE not in request:
        request[CSP_NONCE] = secrets.token_urlsafe(16)
    return request[CSP_NONCE]


def content_security_policy(nonce: str | None) -> str:
    """Only our own nonced scripts, our stylesheet and images; no inline code, no eval, no
    plugins, no framing, no <base>, forms and fetches to this origin only. A response that is
    not a page of ours (JSON, files, the event stream, aiohttp's own errors) runs no script."""
    scripts = f"'nonce-{nonce}'" if nonce else "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


# Most responses are API answers: their policy is made once.
NO_SCRIPT_POLICY = content_security_policy(None)
FIXED_HEADERS = {
    # Instead of aiohttp's "Python/3.11 aiohttp/3.x.y": no versions to match against advisories.
    "Server": "triage-hub",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    "Cross-Origin-Opener-Policy": "same-origin",
}


def render_page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """An HTML page (never cached: pages show live data), its <script> tags carrying the nonce."""
    context = {**context, "csp_nonce": csp_nonce(request)}
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the headers every response carries; a rendered page's policy
    names the nonce its <script> tags carry."""
    headers = response.headers
    nonce = request.get(CSP_NONCE)
    headers["Content-Security-Policy"] = (
        content_security_policy(nonce) if nonce else NO_SCRIPT_POLICY
    )
    headers.update(FIXED_HEADERS)
    if is_https(request):
        headers["Strict-Transport-Security"] = HSTS
