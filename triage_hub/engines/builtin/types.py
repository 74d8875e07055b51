"""The built-in engine's inputs and outputs: labeled examples and predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from triage_hub.models import CATEGORIES, SENTIMENT_MAX, SENTIMENT_MIN, URGENCIES

CONFIDENCE_FIELDS = ("category", "urgency", "sentiment")


@dataclass(frozen=True, slots=True)
class Example:
    """One labeled ticket: the shipped set, or a ticket an agent resolved."""

    message: str
    category: str
    urgency: str
    sentiment: int

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")
        if self.urgency not in URGENCIES:
            raise ValueError(f"unknown urgency {self.urgency!r}")
        if isinstance(self.sentiment, bool) or not SENTIMENT_MIN <= self.sentiment <= SENTIMENT_MAX:
            raise ValueError(f"sentiment must be an integer 1-10, not {self.sentiment!r}")


@dataclass(frozen=True, slots=True)
class Prediction:
    """The engine's triage of one message.

    `confidence` holds, per field, the calibrated probability of the chosen value; for
    sentiment, the probability that the true score is within one point of the chosen one.
    `language` is the ISO 639-1 code detected in the message (the draft is in it when a
    template exists, else in English).
    """

    category: str
    urgency: str
    sentiment: int
    draft: str
    confidence: Mapping[str, float] = field(default_factory=dict)
    language: str = "en"
