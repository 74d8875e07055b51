"""A ticket's `last_error` in words an agent understands (the raw text stays for whoever wants
it): what the code writes there is precise, but written for logs."""

from __future__ import annotations

import re

# The field named first in a validation summary ("urgency: Input should be …; draft: …").
_FIELD = re.compile(r"^(category|urgency|sentiment|draft): (.*)$")
_MISSING = "Field required"

_FIELD_WORDS = {
    "category": "the model answered a category we do not use",
    "urgency": "the model answered an urgency we do not use",
    "sentiment": "the model's sentiment was not a whole number from 1 to 10",
    "draft": "the model's draft reply was missing or too short",
}
# Prefixes of what the engine, the reaper and the shutdown write, and what they mean.
_PREFIXES = (
    ("no JSON object in the model output", "the model did not answer in the format we need"),
    ("the model returned no text", "the model gave an empty answer"),
    ("lease expired", "the server triaging it stopped (a restart or a crash) before it finished"),
    ("handed back at shutdown", "the server was restarting while it was being triaged"),
    ("internal error in the claimer", "an internal error stopped the triage (see the server log)"),
    ("Ollama unreachable", "the LLM server could not be reached"),
    ("Ollama busy", "the LLM server was too busy to answer"),
    ("model ", "the LLM server does not have the model; an administrator must pull it"),
    ("timeout: no complete answer", "the model did not finish in time"),
    ("timeout: stream stalled", "the model stopped sending before it finished"),
)


def explain_error(raw: str | None) -> str | None:
    """The sentence an agent reads for a ticket's last error (None when there is none)."""
    if not raw:
        return None
    first = raw.split("; ", 1)[0]
    field = _FIELD.match(first)
    if field is not None:
        name, message = field.groups()
        if message.startswith(_MISSING):
            return f"the model left out the {name}"
        return _FIELD_WORDS[name]
    for prefix, words in _PREFIXES:
        if first.startswith(prefix):
            return words
    # Hand-back summaries are already written for people: "… on 3 tries (last: …)".
    return raw.split(" (last: ", 1)[0]
