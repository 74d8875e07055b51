"""Pydantic models at the edges: what the API accepts and answers, and rows as they leave the db."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, get_args

import email_validator
from pydantic import (
    BaseModel,
    BeforeValidator,
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
REPLY_MAX_CHARS = 20000

Category = Literal["Billing", "Technical", "Feature Request"]
Urgency = Literal["High", "Medium", "Low"]
CATEGORIES: tuple[str, ...] = get_args(Category)
URGENCIES: tuple[str, ...] = get_args(Urgency)
SENTIMENT_MIN = 1
SENTIMENT_MAX = 10


def _integral(value: object) -> object:
    """JSON's 7.0 is the integer 7 (JSON Schema agrees); 7.5 stays a float, to be refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Sentiment = Annotated[int, Field(ge=SENTIMENT_MIN, le=SENTIMENT_MAX), BeforeValidator(_integral)]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# OFFSET paging reads every skipped row: beyond 100,000 rows a page would cost tens of ms. One
# bound for every `limit` (not one per limit), so that the API description can state it.
MAX_PAGE = 100_000 // MAX_LIMIT
MAX_SEARCH_CHARS = 200

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


# The texts as the server checks them, which min/maxLength alone cannot say (for the API
# description): a message is trimmed first (by Python's str.strip: what `\s` matches when Python
# reads the pattern), and no text may hold NUL, which PostgreSQL cannot store.
def _message_schema(schema: dict[str, Any]) -> None:
    """The length is of the trimmed text: the pattern says it; min/maxLength would count the
    whitespace around it."""
    schema.pop("minLength", None)
    schema.pop("maxLength", None)
    schema["pattern"] = (
        rf"^\s*[^\s\x00][^\x00]{{{MESSAGE_MIN_CHARS - 2},{MESSAGE_MAX_CHARS - 2}}}[^\s\x00]\s*$"
    )
    schema["description"] = (
        f"{MESSAGE_MIN_CHARS}-{MESSAGE_MAX_CHARS} characters once trimmed, no NUL"
    )


_REPLY_SCHEMA = {"pattern": r"^[^\x00]*[^\s\x00][^\x00]*$", "description": "not blank, no NUL"}
_NO_NUL_SCHEMA = {"pattern": r"^[^\x00]*$", "description": "no NUL"}


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
        Field(json_schema_extra=_message_schema),
    ]

    email: Annotated[
        str | None,
        Field(
            max_length=254,
            description="where the reply goes (optional; stored lower-cased)",
            json_schema_extra={"format": "email"},
        ),
    ] = None
    name: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, max_length=200),
        Field(description="who wrote (optional)", json_schema_extra=_NO_NUL_SCHEMA),
    ] = None

    _storable = field_validator("message")(check_storable_text)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            checked = email_validator.validate_email(value.strip(), check_deliverability=False)
        except email_validator.EmailNotValidError as error:
            raise ValueError(f"is not an e-mail address: {error}") from None
        return checked.normalized.lower()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return check_storable_text(value) if value else None


class TriageFields(StrictInput):
    """An agent's values for the triage fields; each optional (absent: unchanged)."""

    category: Category | None = None
    urgency: Urgency | None = None
    sentiment: Sentiment | None = None

    def given(self) -> dict[str, object]:
        """The fields the agent set."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


class ResolveIn(TriageFields):
    """PUT /tickets/{id}/resolve: the reply that was sent, and the agent's last corrections."""

    ai_draft: Annotated[
        str,
        StringConstraints(min_length=1, max_length=REPLY_MAX_CHARS),
        Field(json_schema_extra=_REPLY_SCHEMA),
    ]

    @field_validator("ai_draft")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return check_storable_text(value)

    def given(self) -> dict[str, object]:
        """The triage fields the agent set (not the reply)."""
        return {k: v for k, v in super().given().items() if k != "ai_draft"}


class CorrectionIn(TriageFields):
    """PATCH /tickets/{id}: correct the triage of a ticket without resolving it (fields left
    out or null stay as they are)."""


class DraftIn(StrictInput):
    """PUT /tickets/{id}/draft: the reply being written (empty: discard it)."""

    draft: Annotated[
        str,
        StringConstraints(max_length=REPLY_MAX_CHARS),
        Field(json_schema_extra=_NO_NUL_SCHEMA),
    ]

    _storable = field_validator("draft")(check_storable_text)


class PresenceIn(StrictInput):
    """POST /tickets/{id}/presence: this page has the ticket open, is typing, or has left."""

    state: Literal["viewing", "typing", "left"]


def _any_case(word: str) -> str:
    return "".join(f"[{letter}{letter.lower()}]" for letter in word)


def _whole_number(value: object) -> object:
    """Query integers as people type them: digits only (not "1_0", " 7" or "+3")."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,9}", value):
        raise ValueError("not a whole number")
    return value


# `status=`: empty (every status), or statuses in any case, comma-separated, spaces or tabs
# around (ASCII only: "ſ".upper() is "S").
_ONE_STATUS = "(?:" + "|".join(_any_case(status.value) for status in Status) + ")"
STATUSES_PATTERN = rf"^[ \t]*(?:{_ONE_STATUS}(?:[ \t]*,[ \t]*{_ONE_STATUS})*)?[ \t]*$"
_DIGITS_ONLY = BeforeValidator(_whole_number)


class ListQuery(BaseModel):
    """GET /tickets: the query string, as parsed and as documented."""

    model_config = ConfigDict(extra="ignore")
    # What a person reads when a parameter is refused (400 invalid_parameter).
    problems: ClassVar[dict[str, str]] = {
        "page": f"`page` must be a whole number from 1 to {MAX_PAGE}.",
        "limit": f"`limit` must be a whole number from 1 to {MAX_LIMIT}.",
        "status": "`status` must be one or more of "
        + ", ".join(status.value for status in Status)
        + ", comma-separated.",
        "sort": "`sort` must be `newest`, `urgent` or `confidence`.",
        "q": f"`q` must be at most {MAX_SEARCH_CHARS} characters, without NUL.",
    }

    page: Annotated[
        int, Field(ge=1, le=MAX_PAGE, description="pages past the last are empty"), _DIGITS_ONLY
    ] = 1
    limit: Annotated[
        int,
        Field(ge=1, le=MAX_LIMIT, description=f"tickets per page (default {DEFAULT_LIMIT})"),
        _DIGITS_ONLY,
    ] = DEFAULT_LIMIT
    status: Annotated[
        str,
        Field(
            pattern=STATUSES_PATTERN,
            description="one status or several, comma-separated, any case "
            "(`PENDING,PROCESSING,COMPLETED,FAILED`: all but RESOLVED); empty: every status",
        ),
    ] = ""
    sort: Annotated[
        Literal["newest", "urgent", "confidence"],
        Field(
            description="`newest` (default); `urgent`: High, then FAILED (needs a human), "
            "Medium, Low, untriaged, oldest first within each; `confidence`: the tickets "
            "awaiting a reply (COMPLETED) whose triage the engine was least sure of first"
        ),
    ] = "newest"
    q: Annotated[
        str,
        Field(
            max_length=MAX_SEARCH_CHARS,
            pattern=r"^[^\x00]*$",
            description='search: words of the message (web search syntax: "a phrase", '
            "-not, or), or a ticket id or its first 8+ hex digits",
        ),
    ] = ""

    def statuses(self) -> list[Status]:
        """The statuses asked for, each once (empty: every status)."""
        parts = [part.strip(" \t").upper() for part in self.status.split(",")]
        return list(dict.fromkeys(Status(part) for part in parts if part))

    def search(self) -> str | None:
        """The search, trimmed; None when there is none."""
        return self.q.strip() or None


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
    engine: str | None = Field(None, description="what triaged it: ollama, builtin, …")
    email: str | None = Field(None, description="the requester's address, when given")
    name: str | None = Field(None, description="the requester's name, when given")
    confidence: dict[str, float] | None = Field(
        None, description="the probability of each chosen value, where the engine can tell one"
    )

    @computed_field(description="the message's first informative sentence, as plain text")  # type: ignore[prop-decorator]
    @property
    def subject(self) -> str:
        """What the list shows as the ticket's subject line."""
        return subject_line(self.user_message)


class Change(BaseModel):
    """One field an agent changed on a ticket."""

    revision: int
    actor: str
    field: str
    old_value: str | None
    new_value: str | None
    changed_at: Timestamp


class SavedDraft(BaseModel):
    """The reply the reader was writing, as last saved."""

    body: str
    saved_at: Timestamp


class OtherDraft(BaseModel):
    """Someone else has a reply to this ticket saved."""

    author: str
    saved_at: Timestamp


class Presence(BaseModel):
    """Someone has this ticket open now."""

    viewer: str
    state: Literal["viewing", "typing"]
    seen_at: Timestamp


class DeliveryState(BaseModel):
    """What became of one delivery of a ticket (the reply's e-mail, an event's webhook)."""

    id: uuid.UUID
    kind: Literal["email", "webhook"]
    event: str
    status: Literal["PENDING", "SENDING", "SENT", "FAILED"]
    attempts: int
    last_error: str | None
    created_at: Timestamp
    sent_at: Timestamp | None


class Ticket(TicketSummary):
    """GET /tickets/{id}: everything the ticket knows."""

    ai_category: str | None = None
    ai_urgency: str | None = None
    ai_sentiment: int | None = None
    prompt_version: str | None = None
    language: str | None = None
    revision: int = 1
    resolved_by: str | None = None
    last_error_explained: str | None = None
    changes: list[Change] = []
    draft: SavedDraft | None = None
    other_drafts: list[OtherDraft] = []
    presence: list[Presence] = []
    deliveries: list[DeliveryState] = []

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
    """The ticket part of the answers to resolve, correct and retry."""

    id: uuid.UUID
    status: Status
    revision: int
    updated_at: Timestamp


class Corrected(BaseModel):
    """PATCH /tickets/{id}."""

    message: str = "Ticket updated"
    ticket: TicketState
    changes: list[Change]


class DraftSaved(BaseModel):
    """PUT /tickets/{id}/draft."""

    saved_at: Timestamp


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

    markdown: Annotated[
        str, StringConstraints(max_length=REPLY_MAX_CHARS), Field(json_schema_extra=_NO_NUL_SCHEMA)
    ]

    _storable = field_validator("markdown")(check_storable_text)


class Preview(BaseModel):
    """The sanitised HTML of a markdown preview."""

    html: str
