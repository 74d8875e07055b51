"""Who is asking, and over what: the client's address and scheme, through trusted proxies only.

`X-Forwarded-For` and `X-Forwarded-Proto` are honoured only when the peer is one of
TRIAGE_TRUSTED_PROXIES; from anyone else they are a string the client chose.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from triage_hub.keys import CLIENT_ADDRESS, SETTINGS

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(value: str | None) -> IPAddress | None:
    """An address as peers and proxies write it: `a.b.c.d[:port]`, `v6[%zone]`, `[v6]:port`."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they are IPv4 clients.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(request: web.Request, address: IPAddress | None) -> bool:
    if address is None:
        return False
    return any(address in network for network in request.app[SETTINGS].trusted_proxies)


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or the nearest untrusted hop of X-Forwarded-For."""
    if CLIENT_ADDRESS in request:
        return request[CLIENT_ADDRESS]
    peer = _parse(request.remote)
    address = peer
    if _trusted(request, peer):
        # Walk from the nearest hop back: each trusted proxy vouches for the one before it.
        headers = request.headers.getall("X-Forwarded-For", [])
        hops = [hop for header in headers for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            parsed = _parse(hop)
            if parsed is None:
                break
            address = parsed
            if not _trusted(request, parsed):
                break
    result = str(address) if address is not None else (request.remote or "unknown")
    request[CLIENT_ADDRESS] = result
    return result


def is_https(request: web.Request) -> bool:
    """Served over TLS here, or by a trusted proxy that says it terminated TLS."""
    if request.secure:
        return True
    if not request.app[SETTINGS].trusted_proxies or not _trusted(request, _parse(request.remote)):
        return False
    # The right-most value is the one our proxy set; anything before it the client could send.
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return proto == "https"
