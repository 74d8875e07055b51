"""The labeled set shipped inside the package (symlinks to evals/ in a checkout)."""

from __future__ import annotations

import json
from importlib import resources

from triage_hub.engines.builtin.types import Example

DEV_FILE = "dev.jsonl"
HELDOUT_FILE = "heldout.jsonl"
# More development tickets, written after the split (all on the development side).
TRAIN2_FILE = "train2.jsonl"


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
    """The development part (dev + train2): the only part evaluation trains or tunes on."""
    first, second = dev_parts()
    return first + second


def dev_parts() -> tuple[list[Example], list[Example]]:
    """The development part as its two files: dev.jsonl (written with held-out, split from it
    by rule) and train2.jsonl (written later). Cross-validation can score on dev.jsonl folds
    alone, with train2 always training: the closest thing to held-out that tuning may see."""
    return _read(DEV_FILE), _read(TRAIN2_FILE)


def heldout_examples() -> list[Example]:
    """The held-out part: for reporting figures only."""
    return _read(HELDOUT_FILE)


def shipped_examples() -> list[Example]:
    """Every shipped label (dev + train2 + held-out): what production trains on at start."""
    return dev_examples() + heldout_examples()
