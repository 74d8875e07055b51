"""A real SMTP server in the test process (aiosmtpd) that keeps what arrives and refuses as
told: what the mail tests send to and read from."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.pg import free_port


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps what arrives; refuses as told (a reply per try, then 250)."""

    url: str = ""
    refusals: list[str] = field(default_factory=list)
    refuse_recipient: str | None = None
    received: list[EmailMessage] = field(default_factory=list)
    tries: int = 0
    sessions: int = 0
    held: threading.Event | None = None  # DATA waits for it: a slow mail server
    login: tuple[str, str] | None = None  # the user and password AUTH takes
    logins: int = 0

    def authenticate(
        self, server: object, session: object, envelope: object, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd's authenticator: only `login` passes."""
        ok = isinstance(data, LoginPassword) and self.login == (
            data.login.decode(),
            data.password.decode(),
        )
        self.logins += ok
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: object, session: object, envelope: Any, address: str, options: object
    ) -> str:
        if self.refuse_recipient:
            return self.refuse_recipient
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.tries += 1
        if self.held is not None:
            await asyncio.to_thread(self.held.wait)
        if self.refusals:
            return self.refusals.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        return "250 OK"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl): trust it with SSL_CERT_FILE."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def running_mailbox(
    login: tuple[str, str] | None = None, certificate: tuple[Path, Path] | None = None
) -> Iterator[Mailbox]:
    """A Mailbox listening on a free port of 127.0.0.1 (`.url` is its TRIAGE_SMTP_URL); with
    `login` and a `certificate`, one that takes only STARTTLS and then that user's AUTH."""
    port = free_port()
    box = Mailbox(url=f"smtp://127.0.0.1:{port}", login=login)
    options: dict[str, Any] = {}
    if login is not None:
        assert certificate is not None, "AUTH only after STARTTLS"
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*certificate)
        options = {"tls_context": tls, "require_starttls": True, "auth_required": True}
        options["authenticator"] = box.authenticate
        user, password = (quote(part, safe="") for part in login)
        box.url = f"smtp://{user}:{password}@127.0.0.1:{port}"
    controller = Controller(box, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield box
    finally:
        if box.held is not None:
            box.held.set()  # a failed test must not leave the server's thread waiting
        controller.stop()
