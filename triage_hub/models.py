"""Pydantic models at the edges: what the API accepts and answers, and rows as they leave the db."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    computed_field,
    field_validator,
)

from triage_hub.subject import subject_line

MESSAGE_MIN_CHARS = 10
MESSAGE_MAX_CHARS = 5000

# Timestamps always carry their offset ("+00:00"), never a bare "Z" or a naive time.
Timestamp = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]


class Status(StrEnum):
    """A ticket's state (see the README's state diagram)."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    RESOLVED = "RESOLVED"


def check_storable_text(value: str) -> str:
    """Reject text PostgreSQL cannot store or UTF-8 cannot encode (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain unpaired surrogate characters") from None
    return value


class StrictInput(BaseModel):
    """Request bodies: strict types, unknown members ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


class TicketIn(StrictInput):
    """POST /tickets."""

    message: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=MESSAGE_MIN_CHARS, max_length=MESSAGE_MAX_CHARS
        ),
    ]

    _storable = field_validator("message")(check_storable_text)


class ResolveIn(StrictInput):
    """PUT /tickets/{id}/resolve: the reply that was sent to the customer."""

    ai_draft: Annotated[str, StringConstraints(min_length=1, max_length=20000)]

    @field_validator("ai_draft")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return check_storable_text(value)


class TicketCreated(BaseModel):
    """The 201 answer to POST /tickets."""

    ticket_id: uuid.UUID
    status: Status
    created_at: Timestamp
    message: str = "Ticket created and queued for processing"


class TicketSummary(BaseModel):
    """A row of GET /tickets."""

    id: uuid.UUID
    user_message: str
    category: str | None
    sentiment: int | None
    urgency: str | None
    status: Status
    attempts: int
    created_at: Timestamp
    updated_at: Timestamp

    @computed_field(description="the message's first informative sentence, as plain text")  # type: ignore[prop-decorator]
    @property
    def subject(self) -> str:
        """What the list shows as the ticket's subject line."""
        return subject_line(self.user_message)


class Ticket(TicketSummary):
    """GET /tickets/{id}: everything the ticket knows."""

    ai_draft: str | None
    raw_ai_response: Any
    last_error: str | None
    model: str | None
    first_token_ms: int | None
    total_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    lease_expires_at: Timestamp | None
    resolved_at: Timestamp | None

    model_config = ConfigDict(protected_namespaces=())


class Pagination(BaseModel):
    """Where a page sits in the list; `total` is exact up to a cap, an estimate above it."""

    page: int
    limit: int
    total: int
    total_pages: int
    total_is_estimate: bool


class TicketPage(BaseModel):
    """One page of tickets, as the database reads it."""

    tickets: list[TicketSummary]
    pagination: Pagination


class Backlog(BaseModel):
    """The PENDING tickets of all replicas, as this process last counted them (≤ 1 s old)."""

    pending: int = Field(description="PENDING tickets, all replicas, counted at most 1 s ago")
    cap: int | None = Field(description="TRIAGE_MAX_BACKLOG; null when there is no cap")
    full: bool = Field(description="new tickets get 503 until some leave PENDING")


class TicketList(TicketPage):
    """GET /tickets: a page of tickets and the intake backlog."""

    backlog: Backlog


class TicketState(BaseModel):
    """The ticket part of the answers to resolve and retry."""

    id: uuid.UUID
    status: Status
    updated_at: Timestamp


class Resolved(BaseModel):
    """PUT /tickets/{id}/resolve."""

    message: str = "Ticket resolved successfully"
    ticket: TicketState


class Retried(BaseModel):
    """POST /tickets/{id}/retry."""

    message: str = "Ticket queued for another triage"
    ticket: TicketState


class PreviewIn(StrictInput):
    """POST /preview: markdown to render."""

    markdown: Annotated[str, StringConstraints(max_length=20000)]

    _storable = field_validator("markdown")(check_storable_text)


class Preview(BaseModel):
    """The sanitised HTML of a markdown preview."""

    html: str
