"""The labeled set shipped inside the package (symlinks to evals/ in a checkout)."""

from __future__ import annotations

import json
from importlib import resources

from triage_hub.engines.builtin.types import Example

DEV_FILE = "dev.jsonl"
HELDOUT_FILE = "heldout.jsonl"


def _read(name: str) -> list[Example]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    examples = []
    for line in text.splitlines():
        if line.strip():
            record = json.loads(line)
            examples.append(
                Example(
                    message=record["message"],
                    category=record["category"],
                    urgency=record["urgency"],
                    sentiment=record["sentiment"],
                )
            )
    return examples


def dev_examples() -> list[Example]:
    """The development part: the only part evaluation trains or tunes on."""
    return _read(DEV_FILE)


def heldout_examples() -> list[Example]:
    """The held-out part: for reporting figures only."""
    return _read(HELDOUT_FILE)


def shipped_examples() -> list[Example]:
    """Every shipped label (dev + held-out): what production trains on at start."""
    return dev_examples() + heldout_examples()
