"""Domain errors. Each carries the HTTP status and the stable code the web layer answers with."""

from __future__ import annotations

from typing import Any, ClassVar


class TriageHubError(Exception):
    """Base of every error that reaches a user as a JSON error object."""

    status: ClassVar[int] = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.details = details


class BadRequest(TriageHubError):
    """The request cannot be understood (bad JSON, bad query parameter, ...)."""

    status = 400
    code = "bad_request"


class ValidationFailed(TriageHubError):
    """The request is well-formed but its fields are not acceptable."""

    status = 400
    code = "validation_error"


class NotFound(TriageHubError):
    """No such ticket (or route)."""

    status = 404
    code = "not_found"


class InvalidState(TriageHubError):
    """The ticket is not in a state that allows the action."""

    status = 409
    code = "invalid_state"


class PreconditionFailed(TriageHubError):
    """The ticket changed since the client read it (If-Match): nothing was written."""

    status = 412
    code = "precondition_failed"


class DatabaseUnavailable(TriageHubError):
    """PostgreSQL cannot be reached right now; the client should retry."""

    status = 503
    code = "database_unavailable"
    retry_after: ClassVar[int] = 2


class DatabaseBusy(DatabaseUnavailable):
    """The database is up but every connection we may use stayed busy: the client should retry.

    A DatabaseUnavailable for whoever only needs "not now" (claimers, forms, health), with a
    code, log line and Retry-After of its own.
    """

    code = "busy"
    retry_after: ClassVar[int] = 1


class UnsupportedMediaType(TriageHubError):
    """The body is not declared as JSON."""

    status = 415
    code = "unsupported_media_type"


class RequestTimeout(TriageHubError):
    """The body did not arrive in time (a client trickling bytes holds a connection)."""

    status = 408
    code = "request_timeout"


class TryLater(TriageHubError):
    """A refusal that passes once time has passed; the answer carries `Retry-After`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class RateLimited(TryLater):
    """This client sent too many new tickets too quickly."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        message = f"Too many new tickets from this address; try again in {retry_after} seconds."
        super().__init__(message, retry_after)


class BacklogFull(TryLater):
    """The queue of PENDING tickets is at its configured cap."""

    status = 503
    code = "backlog_full"

    def __init__(self, retry_after: int) -> None:
        message = f"The queue of new tickets is full; try again in {retry_after} seconds."
        super().__init__(message, retry_after)


class MarkdownTooComplex(TriageHubError):
    """Rendering this markdown took longer than its bound: a text, not a moment, problem."""

    status = 422
    code = "markdown_too_complex"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"This text takes too long to render as markdown (over {seconds:g} s): it has too "
            "many unclosed brackets, emphasis marks or nested blocks. The text itself can still "
            "be saved and sent."
        )


class RendererBusy(TryLater):
    """Every markdown renderer is busy (or cannot start); a preview shortly after will do."""

    status = 503
    code = "renderer_busy"

    def __init__(self, retry_after: int = 1) -> None:
        message = f"The markdown renderer is busy; try again in {retry_after} seconds."
        super().__init__(message, retry_after)
