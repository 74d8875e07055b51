"""The labeled set shipped inside the package (symlinks to evals/ in a checkout)."""

from __future__ import annotations

import json
from importlib import resources

from triage_hub.engines.builtin.types import Example

DEV_FILE = "dev.jsonl"
HELDOUT_FILE = "heldout.jsonl"
# More development tickets, written after the split (all on the development side): train2 by
# one more hand, train3 by six more, each in its own style (the record's "hand").
TRAIN2_FILE = "train2.jsonl"
TRAIN3_FILE = "train3.jsonl"
DEVELOPMENT_FILES = (DEV_FILE, TRAIN2_FILE, TRAIN3_FILE)


def _records(name: str) -> list[dict[str, object]]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _example(record: dict[str, object]) -> Example:
    return Example(
        message=str(record["message"]),
        category=str(record["category"]),
        urgency=str(record["urgency"]),
        sentiment=int(str(record["sentiment"])),
    )


def _read(name: str) -> list[Example]:
    return [_example(record) for record in _records(name)]


def dev_examples() -> list[Example]:
    """The development part (dev + train2 + train3): the only part evaluation trains or tunes
    on."""
    return [example for name in DEVELOPMENT_FILES for example in _read(name)]


def dev_groups() -> dict[str, list[Example]]:
    """The development part by the hand that wrote it: dev.jsonl (written with held-out, split
    from it by rule), train2.jsonl, and each hand of train3.jsonl. Scoring each group with a
    model trained on the others measures the engine on writing it has never seen: the closest
    thing to held-out (and to a customer's own tickets) that tuning may look at."""
    groups = {"dev": _read(DEV_FILE), "train2": _read(TRAIN2_FILE)}
    for record in _records(TRAIN3_FILE):
        groups.setdefault(f"train3:{record['hand']}", []).append(_example(record))
    return groups


def heldout_examples() -> list[Example]:
    """The held-out part: for reporting figures only."""
    return _read(HELDOUT_FILE)


def shipped_examples() -> list[Example]:
    """Every shipped label (the development part + held-out): what production trains on at
    start."""
    return dev_examples() + heldout_examples()
