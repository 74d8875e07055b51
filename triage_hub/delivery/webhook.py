"""Events by webhook: a JSON POST signed as Stripe and GitHub sign theirs —
`X-Triage-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>` with
`X-Triage-Timestamp`, so a receiver can check who sent it and refuse replays."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

import aiohttp

from triage_hub.db.outbox import Delivery
from triage_hub.delivery.base import SendFailed

WEBHOOK_TIMEOUT = 10.0
PROBE_TIMEOUT = 5.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Triage-Signature value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookSender:
    """POSTs each event to TRIAGE_WEBHOOK_URL; a 2xx is delivered, 410 Gone is final, anything
    else is tried again later."""

    kind = "webhook"

    def __init__(self, url: str, secret: str) -> None:
        self._url = url
        self._secret = secret
        self._session: aiohttp.ClientSession | None = None

    async def send(self, delivery: Delivery) -> None:
        """Deliver one event."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)
            self._session = aiohttp.ClientSession(timeout=timeout)
        body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "triage-hub",
            "X-Triage-Event": delivery.event,
            "X-Triage-Delivery": str(delivery.id),
            "X-Triage-Timestamp": timestamp,
            "X-Triage-Signature": signature(self._secret, timestamp, body),
        }
        try:
            async with self._session.post(self._url, data=body, headers=headers) as response:
                if 200 <= response.status < 300:
                    return
                raise SendFailed(
                    f"the webhook answered {response.status} {response.reason or ''}".strip(),
                    permanent=response.status == 410,
                )
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SendFailed(f"the webhook could not be reached ({type(error).__name__})") from None

    async def probe(self) -> str:
        """Is the receiver there? A HEAD, signed nothing, sent nothing: any HTTP answer means
        it is (a receiver may well refuse HEAD); SendFailed when none comes."""
        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.head(self._url, allow_redirects=False) as response:
                    return f"{self.where()} answered {response.status} to a HEAD"
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SendFailed(
                f"{self.where()} could not be reached ({type(error).__name__})"
            ) from None

    def where(self) -> str:
        """The receiver's scheme, host and port (its path and query may carry a secret)."""
        parts = urlsplit(self._url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
