"""The retraining guard: a new model replaces the old one only if it is no worse."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from triage_hub.engines.builtin.types import Example, Prediction

# "No worse": over the slice, the new model may get at most this many more fields wrong
# (category and urgency, each ticket counts up to 2) than the old one.
ALLOWED_EXTRA_ERRORS = 1


class Predictor(Protocol):
    """What the guard needs of a model (a BuiltinTriage)."""

    def predict_many(self, messages: Sequence[str]) -> list[Prediction]: ...


def no_worse(
    old: Predictor, new: Predictor, recent: Sequence[Example]
) -> tuple[bool, dict[str, float]]:
    """Keep `new` only if, on `recent` (corrections neither model trained on), its category and
    urgency errors together exceed the old model's by at most one; returns the figures to log."""
    figures: dict[str, float] = {"examples": float(len(recent))}
    errors: dict[str, int] = {}
    for name, model in (("old", old), ("new", new)):
        predictions = model.predict_many([example.message for example in recent])
        category_right = sum(
            p.category == e.category for p, e in zip(predictions, recent, strict=True)
        )
        urgency_right = sum(
            p.urgency == e.urgency for p, e in zip(predictions, recent, strict=True)
        )
        total = max(len(recent), 1)
        figures[f"{name}_category_accuracy"] = category_right / total
        figures[f"{name}_urgency_accuracy"] = urgency_right / total
        figures[f"{name}_score"] = (category_right + urgency_right) / (2 * total)
        errors[name] = 2 * len(recent) - category_right - urgency_right
    figures["extra_errors"] = float(errors["new"] - errors["old"])
    return errors["new"] <= errors["old"] + ALLOWED_EXTRA_ERRORS, figures
