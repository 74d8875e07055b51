"""The triage the model must produce, and how it is dug out of what the model actually said."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage_hub.models import (
    CATEGORIES,
    SENTIMENT_MAX,
    SENTIMENT_MIN,
    URGENCIES,
    Category,
    Urgency,
    check_storable_text,
)
from triage_hub.triage import jsonstring

DRAFT_MIN_CHARS = 20

_MESSAGE_MAX_CHARS = 200
_PREVIEW_CHARS = 60
# Each "{" is a possible start of the object; a bound keeps pathological output cheap.
_MAX_BRACE_STARTS = 64
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n?(.*?)```", re.DOTALL)
_INTEGER = re.compile(r"[+-]?\d{1,4}")
_WORD_LITERALS = {
    "true": "true",
    "True": "true",
    "false": "false",
    "False": "false",
    "null": "null",
    "None": "null",
}
_NUMBER_CHARS = frozenset("0123456789+-.eE")

TRIAGE_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "sentiment": {"type": "integer", "minimum": SENTIMENT_MIN, "maximum": SENTIMENT_MAX},
        "urgency": {"type": "string", "enum": list(URGENCIES)},
        "draft": {"type": "string", "minLength": DRAFT_MIN_CHARS},
    },
    "required": ["category", "sentiment", "urgency", "draft"],
    "additionalProperties": False,
}


class InvalidOutput(Exception):
    """The model's answer holds no usable triage; the message is short enough for `last_error`."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        message = _clip(message, _MESSAGE_MAX_CHARS)
        super().__init__(message)
        self.message = message
        # For the log: the message without the model's words (they may quote the ticket).
        self.reason = reason or message


def _canonical_choice(value: object, choices: tuple[str, ...]) -> object:
    """Map a case/whitespace variant of a choice onto it; anything else is left to be rejected."""
    if isinstance(value, str):
        wanted = " ".join(value.split()).casefold()
        for choice in choices:
            if choice.casefold() == wanted:
                return choice
    return value


class TriageOutput(BaseModel):
    """A validated triage: the same rules as the database's CHECK constraints."""

    model_config = ConfigDict(extra="ignore")

    category: Category
    sentiment: Annotated[int, Field(strict=True, ge=SENTIMENT_MIN, le=SENTIMENT_MAX)]
    urgency: Urgency
    draft: Annotated[str, Field(strict=True, min_length=DRAFT_MIN_CHARS)]

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: object) -> object:
        return _canonical_choice(value, CATEGORIES)

    @field_validator("urgency", mode="before")
    @classmethod
    def _urgency(cls, value: object) -> object:
        return _canonical_choice(value, URGENCIES)

    @field_validator("sentiment", mode="before")
    @classmethod
    def _sentiment(cls, value: object) -> object:
        # bool is an int subclass, and pydantic's lax mode would take "1_0" or "7.0": be explicit.
        if isinstance(value, bool):
            raise ValueError("must be an integer, not a boolean")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            if not _INTEGER.fullmatch(value.strip()):
                raise ValueError("must be an integer")
            return int(value.strip())
        return value

    @field_validator("draft", mode="before")
    @classmethod
    def _draft(cls, value: object) -> object:
        if isinstance(value, str):
            return check_storable_text(value.strip())
        return value


def extract_json(text: str) -> dict[str, Any]:
    """Return the first JSON object found in the model's output, repairing common slips."""
    for found in _json_objects(text):
        return found
    raise _nothing_found(text)


def parse_triage(text: str) -> TriageOutput:
    """Extract and validate the triage; the first object that validates wins."""
    first_error: ValidationError | None = None
    for found in _json_objects(text):
        try:
            return TriageOutput.model_validate(found)
        except ValidationError as exc:
            first_error = first_error or exc
    if first_error is None:
        raise _nothing_found(text)
    raise InvalidOutput(summarise_errors(first_error))


def summarise_errors(error: ValidationError) -> str:
    """One compact line: "field: message; field: message"."""
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "output"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def _nothing_found(text: str) -> InvalidOutput:
    preview = _clip(" ".join(text.split()), _PREVIEW_CHARS)
    if not preview:
        return InvalidOutput("the model returned no text")
    return InvalidOutput(
        f"no JSON object in the model output: {preview!r}",
        reason=f"no JSON object in the model output ({len(text)} characters)",
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every distinct JSON object the text can be read as, most likely first."""
    seen: set[str] = set()
    for candidate in _candidates(text):
        if candidate in seen:
            continue
        seen.add(candidate)
        value = _loads_lenient(candidate)
        if isinstance(value, dict):
            yield value


def _candidates(text: str) -> Iterator[str]:
    """The whole text, then fenced blocks, then each balanced {...} span."""
    yield text.strip()
    for match in _FENCE.finditer(text):
        yield match.group(1).strip()
    starts = [index for index, char in enumerate(text) if char == "{"]
    for start in starts[:_MAX_BRACE_STARTS]:
        end = _matching_brace(text, start)
        if end is not None:
            yield text[start : end + 1]


def _matching_brace(text: str, start: int) -> int | None:
    """Index of the "}" closing the "{" at `start`, skipping braces inside quoted strings."""
    depth = 0
    quote: str | None = None
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _loads_lenient(candidate: str) -> object:
    """Parse JSON as is, else after repair; None when neither works (or it nests past
    Python's recursion limit: a hostile answer, not a triage)."""
    if not candidate:
        return None
    try:
        return jsonstring.loads(candidate)
    except RecursionError:
        return None
    except ValueError:
        pass
    try:
        return jsonstring.loads(_repair(candidate))
    except (ValueError, RecursionError):
        return None


def _repair(source: str) -> str:
    """Rewrite near-JSON (single quotes, bare keys, Python literals, trailing commas) as JSON."""
    out: list[str] = []
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char in "\"'":
            value, index = _read_string(source, index)
            out.append(json.dumps(value, ensure_ascii=False))
        elif char.isdigit() or char == "-":
            end = index + 1
            while end < length and source[end] in _NUMBER_CHARS:
                end += 1
            out.append(source[index:end])
            index = end
        elif char.isalpha() or char == "_":
            end = index
            while end < length and (source[end].isalnum() or source[end] == "_"):
                end += 1
            word = source[index:end]
            out.append(_WORD_LITERALS.get(word) or json.dumps(word))
            index = end
        elif char == "," and _next_significant(source, index + 1) in ("}", "]"):
            index += 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _read_string(source: str, start: int) -> tuple[str, int]:
    """Decode the quoted string at `start`; return it and the index after its closing quote."""
    try:
        return jsonstring.scan_string(source, start + 1, quote=source[start], lenient=True)
    except jsonstring.Incomplete:
        raise ValueError("unterminated string") from None


def _next_significant(source: str, index: int) -> str:
    while index < len(source) and source[index].isspace():
        index += 1
    return source[index] if index < len(source) else ""
