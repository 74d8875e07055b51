"""A real SMTP server in the test process (aiosmtpd) that keeps what arrives and refuses as
told: what the mail tests send to and read from."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

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


@contextmanager
def running_mailbox() -> Iterator[Mailbox]:
    """A Mailbox listening on a free port of 127.0.0.1 (`.url` is its TRIAGE_SMTP_URL)."""
    port = free_port()
    box = Mailbox(url=f"smtp://127.0.0.1:{port}")
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        if box.held is not None:
            box.held.set()  # a failed test must not leave the server's thread waiting
        controller.stop()
