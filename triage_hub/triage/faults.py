"""Why an LLM call gave no answer, and whether the ticket itself may be the cause."""

from __future__ import annotations

import enum

_MESSAGE_MAX_CHARS = 200


class Cause(enum.Enum):
    """What went wrong with one call."""

    UNREACHABLE = "unreachable"  # nothing was sent: refused, DNS, connect timeout
    MODEL_MISSING = "model_missing"  # the server lacks the model: configuration
    UNAUTHORIZED = "unauthorized"  # the server refused our API key (401, 403): configuration
    BUSY = "busy"  # the server's queue is full (503, 429): load, not the ticket
    TIMEOUT = "timeout"  # no complete answer within TRIAGE_LLM_TIMEOUT
    STALLED = "stalled"  # the stream went quiet for TRIAGE_STALL_SECONDS
    BROKEN = "broken"  # the stream was cut, broke off with an error, or was not JSON lines
    SERVER_ERROR = "server_error"  # 5xx: the runner crashed on it
    REJECTED = "rejected"  # 4xx: the server refused this request (e.g. context length)

    @property
    def may_be_the_tickets(self) -> bool:
        """Whether this ticket could cause it (a long text, a model that never stops, a runner
        that crashes on this input): such failures are counted against the ticket."""
        return self not in (Cause.UNREACHABLE, Cause.MODEL_MISSING, Cause.UNAUTHORIZED, Cause.BUSY)


# What an agent reads on a ticket that was given up on, per cause; {tries} and {detail} filled in.
_GIVEN_UP = {
    Cause.TIMEOUT: "the model did not finish within {timeout:g} s on {tries} tries",
    Cause.STALLED: "the model stopped sending (silent for {stall:g} s) on {tries} tries",
    Cause.BROKEN: "the model's answer broke off before it was complete on {tries} tries",
    Cause.SERVER_ERROR: "the LLM server failed on this ticket {tries} times",
    Cause.REJECTED: "the LLM server refused this ticket {tries} times",
}


class LLMUnavailable(Exception):
    """The LLM gave no answer. Not an invalid answer: the call itself did not complete."""

    def __init__(self, message: str, cause: Cause, retry_after: float | None = None) -> None:
        message = message if len(message) <= _MESSAGE_MAX_CHARS else message[:199] + "…"
        super().__init__(message)
        self.message = message
        self.cause = cause
        # Seconds the server asked us to wait (its Retry-After), where it said.
        self.retry_after = retry_after

    @property
    def model_missing(self) -> bool:
        """The server does not have the configured model."""
        return self.cause is Cause.MODEL_MISSING

    def given_up(self, tries: int, timeout: float, stall: float) -> str:
        """`last_error` of a ticket given up on after `tries` such failures, for an agent."""
        summary = _GIVEN_UP.get(self.cause, "the LLM failed on this ticket {tries} times")
        text = summary.format(tries=tries, timeout=timeout, stall=stall)
        return f"{text} (last: {self.message})"[:_MESSAGE_MAX_CHARS]
