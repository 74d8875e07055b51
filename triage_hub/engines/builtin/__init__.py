"""The built-in engine: triage in the process, in milliseconds, learned from labeled tickets."""

from __future__ import annotations

from triage_hub.engines.builtin.data import dev_examples, heldout_examples, shipped_examples
from triage_hub.engines.builtin.guard import no_worse
from triage_hub.engines.builtin.model import BuiltinTriage, TrainingDataError, TrainingReport
from triage_hub.engines.builtin.types import Example, Prediction

__all__ = [
    "BuiltinTriage",
    "Example",
    "Prediction",
    "TrainingDataError",
    "TrainingReport",
    "dev_examples",
    "heldout_examples",
    "no_worse",
    "shipped_examples",
]
