"""The reply to the customer by e-mail (aiosmtplib): a plain-text part, an HTML part rendered
from the reply's markdown by the preview's sanitiser, and headers that keep the thread."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from triage_hub.db.outbox import Delivery
from triage_hub.delivery.base import SendFailed
from triage_hub.errors import MarkdownTooComplex, RendererBusy
from triage_hub.logs import without_addresses
from triage_hub.markdown_pool import MarkdownRenderer
from triage_hub.subject import subject_line

SMTP_TIMEOUT = 30.0
PROBE_TIMEOUT = 10.0  # `triage-hub check` does not wait as long as a send does


@dataclass(frozen=True)
class SmtpServer:
    """TRIAGE_SMTP_URL: `smtp://user:pass@host:587` (STARTTLS — required when there are
    credentials, so a password never crosses in clear), `smtps://` (TLS from the first byte),
    `smtp://host:25` (a relay without credentials)."""

    host: str
    port: int
    implicit_tls: bool
    user: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse TRIAGE_SMTP_URL."""
        parts = urlsplit(url)
        implicit_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit_tls else 587),
            implicit_tls=implicit_tls,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def describe(self) -> str:
        """Where and how, without the password."""
        how = "TLS" if self.implicit_tls else "STARTTLS" if self.user else "plain"
        return f"{self.host}:{self.port} ({how}{', login' if self.user else ''})"

    def options(self) -> dict[str, Any]:
        """aiosmtplib's connection arguments."""
        return {
            "hostname": self.host,
            "port": self.port,
            "username": self.user,
            "password": self.password,
            "use_tls": self.implicit_tls,
            "start_tls": None if self.implicit_tls or self.user is None else True,
            "tls_context": ssl.create_default_context(),
            "timeout": SMTP_TIMEOUT,
        }

    async def probe(self) -> str:
        """Connect, greet, log in and quit — sending nothing; where it answered, or
        SendFailed."""
        smtp = aiosmtplib.SMTP(**(self.options() | {"timeout": PROBE_TIMEOUT}))
        try:
            await smtp.connect()
            await smtp.quit()
            return self.describe()
        except aiosmtplib.SMTPResponseException as error:
            raise SendFailed(
                without_addresses(f"the mail server answered {error.code} {error.message}")
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise SendFailed(
                without_addresses(f"the mail server could not be reached ({error})")[:300]
            ) from None
        finally:
            smtp.close()


class MailSender:
    """Sends replies through TRIAGE_SMTP_URL (see SmtpServer)."""

    kind = "email"

    def __init__(self, smtp_url: str, mail_from: str, renderer: MarkdownRenderer) -> None:
        self.server = SmtpServer.from_url(smtp_url)
        self._from = mail_from
        self._domain = mail_from.rpartition("@")[2] or "triage-hub.invalid"
        self._renderer = renderer

    def thread_id(self, ticket_id: str) -> str:
        """The Message-ID every mail about a ticket refers to: one thread per ticket."""
        return f"<ticket-{ticket_id}@{self._domain}>"

    async def message(self, delivery: Delivery) -> EmailMessage:
        """The e-mail for a resolved ticket's reply."""
        ticket = delivery.payload["ticket"]
        contact = ticket.get("contact") or {}
        reply = ticket.get("reply") or ""
        mail = EmailMessage()
        mail["From"] = self._from
        mail["To"] = formataddr((contact.get("name") or "", contact["email"]))
        mail["Subject"] = f"Re: {subject_line(ticket.get('message') or '') or 'your message'}"
        mail["Date"] = formatdate(localtime=False)
        # The same delivery sent again has the same id: a mail system that saw it drops it.
        mail["Message-ID"] = f"<{delivery.id}@{self._domain}>"
        mail["In-Reply-To"] = self.thread_id(ticket["id"])
        mail["References"] = self.thread_id(ticket["id"])
        mail.set_content(reply)
        try:
            html = await self._renderer.render(reply)
        except (MarkdownTooComplex, RendererBusy):
            html = None  # the plain text says it all
        if html is not None:
            mail.add_alternative(f"<!doctype html><html><body>{html}</body></html>", subtype="html")
        return mail

    async def send(self, delivery: Delivery) -> None:
        """Hand the mail to the server; a 4xx is tried again later, a 5xx is final."""
        mail = await self.message(delivery)
        try:
            await aiosmtplib.send(mail, **self.server.options())
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [response.code for response in error.recipients]
            raise SendFailed(
                f"the mail server refused the address ({codes[0] if codes else '?'})",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            permanent = error.code >= 500
            what = "refused the mail" if permanent else "could not take the mail now"
            # A server's answer may name the customer's address: never in last_error or the log.
            text = without_addresses(f"the mail server {what} ({error.code} {error.message})")
            raise SendFailed(text[:300], permanent=permanent) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise SendFailed(
                without_addresses(f"the mail server could not be reached ({error})")[:300]
            ) from None

    async def close(self) -> None:
        """A connection per mail: nothing held."""
