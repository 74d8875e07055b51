"""The figures of an evaluation, from (expected, predicted) pairs: for `triage-hub eval`, /stats.

Conventions (what each figure counts):
- A prediction that is None is an invalid output. Accuracy, macro-F1 and High-urgency recall
  count it as wrong (they are over every ticket); sentiment MAE is over the valid ones only.
- Macro-F1 is the unweighted mean of the per-label F1 over the labels that occur in the
  expected or the predicted values.
- Confusion matrices: rows are the expected label, columns the predicted one, plus a last
  column for invalid outputs.
- Reliability: per field, predictions are binned by their confidence (below 0.5, 0.5–0.6, …,
  0.9–1.0; a bin holds [low, high), the last one [0.9, 1.0]); "accuracy" is the share right in
  the bin (for sentiment "right" means within one point, which is what its confidence states).
  The expected calibration error is the count-weighted mean of |accuracy − mean confidence|.
- Latency percentiles interpolate linearly between the closest ranks (numpy's default).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from triage_hub.models import CATEGORIES, URGENCIES

SENTIMENT_LABELS: tuple[int, ...] = tuple(range(1, 11))
RELIABILITY_EDGES: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
PERCENTILES: tuple[int, ...] = (50, 90, 99)
_FIELDS = ("category", "urgency", "sentiment")


class Labels(Protocol):
    """Anything with the three triage fields (an Example, a Prediction, a stored ticket)."""

    @property
    def category(self) -> str: ...

    @property
    def urgency(self) -> str: ...

    @property
    def sentiment(self) -> int: ...


Pair = tuple[Labels, Labels | None]


def evaluate(pairs: Sequence[Pair], latencies_ms: Sequence[float] = ()) -> dict[str, Any]:
    """The whole report as a JSON-able dict. A predicted item's `confidence` attribute (a
    mapping field → probability), when it has one, feeds the reliability tables."""
    expected = [pair[0] for pair in pairs]
    predicted = [pair[1] for pair in pairs]
    valid = sum(item is not None for item in predicted)
    fields: dict[str, Any] = {}
    for name, labels in (("category", CATEGORIES), ("urgency", URGENCIES)):
        fields[name] = _label_figures(
            [getattr(item, name) for item in expected],
            [None if item is None else getattr(item, name) for item in predicted],
            labels,
        )
    sentiment_true = [item.sentiment for item in expected]
    sentiment_pred = [None if item is None else item.sentiment for item in predicted]
    fields["sentiment"] = _label_figures(sentiment_true, sentiment_pred, SENTIMENT_LABELS)
    fields["sentiment"].pop("confusion")
    fields["sentiment"]["mae"] = sentiment_mae(sentiment_true, sentiment_pred)
    fields["sentiment"]["within_one"] = _ratio(
        sum(
            p is not None and abs(p - t) <= 1
            for t, p in zip(sentiment_true, sentiment_pred, strict=True)
        ),
        len(pairs),
    )
    urgency_true = [item.urgency for item in expected]
    urgency_pred = [None if item is None else item.urgency for item in predicted]
    return {
        "tickets": len(pairs),
        "valid": valid,
        "valid_rate": _ratio(valid, len(pairs)),
        "fields": fields,
        "high_urgency_recall": recall_of(urgency_true, urgency_pred, "High"),
        "sentiment_mae": fields["sentiment"]["mae"],
        "latency_ms": latency_summary(latencies_ms),
        "reliability": {
            name: reliability(expected, predicted, name)
            for name in _FIELDS
            if any(_confidence(item, name) is not None for item in predicted)
        },
    }


def _label_figures(
    truth: Sequence[Any], guess: Sequence[Any | None], labels: Sequence[Any]
) -> dict[str, Any]:
    all_labels = list(labels) + sorted(
        {value for value in [*truth, *guess] if value is not None and value not in labels},
        key=str,
    )
    per_label: dict[str, dict[str, float | int | None]] = {}
    f1s = []
    for label in all_labels:
        tp = sum(t == label and g == label for t, g in zip(truth, guess, strict=True))
        support = sum(t == label for t in truth)
        chosen = sum(g == label for g in guess)
        if support == 0 and chosen == 0:
            continue
        precision = _ratio(tp, chosen)
        recall = _ratio(tp, support)
        f1 = 2 * tp / (support + chosen)
        f1s.append(f1)
        per_label[str(label)] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }
    correct = sum(t == g for t, g in zip(truth, guess, strict=True))
    return {
        "accuracy": _ratio(correct, len(truth)),
        "macro_f1": sum(f1s) / len(f1s) if f1s else None,
        "per_label": per_label,
        "confusion": confusion_matrix(truth, guess, all_labels),
    }


def confusion_matrix(
    truth: Sequence[Any], guess: Sequence[Any | None], labels: Sequence[Any]
) -> dict[str, Any]:
    """Counts with rows = expected, columns = predicted (then one column for invalid)."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * (len(labels) + 1) for _ in labels]
    for t, g in zip(truth, guess, strict=True):
        if t in index:
            matrix[index[t]][len(labels) if g is None else index[g]] += 1
    return {"labels": [str(label) for label in labels], "matrix": matrix}


def recall_of(truth: Sequence[str], guess: Sequence[str | None], label: str) -> float | None:
    """Share of the tickets expected as `label` that were predicted as it (None: none expected)."""
    support = sum(t == label for t in truth)
    hits = sum(t == label and g == label for t, g in zip(truth, guess, strict=True))
    return _ratio(hits, support)


def sentiment_mae(truth: Sequence[int], guess: Sequence[int | None]) -> float | None:
    """Mean absolute error over the valid predictions."""
    errors = [abs(t - g) for t, g in zip(truth, guess, strict=True) if g is not None]
    return sum(errors) / len(errors) if errors else None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), interpolating between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float] | None:
    """p50/p90/p99, mean and max of the latencies (None when there are none)."""
    if not latencies_ms:
        return None
    summary = {f"p{q}": percentile(latencies_ms, q) for q in PERCENTILES}
    summary["mean"] = sum(latencies_ms) / len(latencies_ms)
    summary["max"] = max(latencies_ms)
    summary["count"] = float(len(latencies_ms))
    return summary


def reliability(
    expected: Sequence[Labels], predicted: Sequence[Labels | None], name: str
) -> dict[str, Any]:
    """The reliability table and expected calibration error of one field's confidence."""
    bins = [
        {"low": low, "high": high, "count": 0, "confidence_sum": 0.0, "right": 0}
        for low, high in itertools.pairwise(RELIABILITY_EDGES)
    ]
    for truth, guess in zip(expected, predicted, strict=True):
        confidence = None if guess is None else _confidence(guess, name)
        if guess is None or confidence is None:
            continue
        slot = bins[_bin_index(confidence)]
        slot["count"] += 1
        slot["confidence_sum"] += confidence
        slot["right"] += _is_right(truth, guess, name)
    total = sum(int(slot["count"]) for slot in bins)
    table = []
    ece = 0.0
    for slot in bins:
        count = int(slot["count"])
        mean_confidence = slot["confidence_sum"] / count if count else None
        accuracy = slot["right"] / count if count else None
        if count and mean_confidence is not None and accuracy is not None:
            ece += count / total * abs(accuracy - mean_confidence)
        table.append(
            {
                "low": slot["low"],
                "high": slot["high"],
                "count": count,
                "mean_confidence": mean_confidence,
                "accuracy": accuracy,
            }
        )
    return {"bins": table, "ece": ece if total else None, "count": total}


def _bin_index(confidence: float) -> int:
    for index, high in enumerate(RELIABILITY_EDGES[1:-1]):
        if confidence < high:
            return index
    return len(RELIABILITY_EDGES) - 2


def _is_right(truth: Labels, guess: Labels, name: str) -> bool:
    if name == "sentiment":
        return abs(truth.sentiment - guess.sentiment) <= 1
    return bool(getattr(truth, name) == getattr(guess, name))


def _confidence(item: object, name: str) -> float | None:
    confidence = getattr(item, "confidence", None)
    if not isinstance(confidence, Mapping):
        return None
    value = confidence.get(name)
    return float(value) if isinstance(value, int | float) else None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def render_text(report: Mapping[str, Any]) -> str:
    """The report as aligned plain-text tables."""
    lines = [
        f"tickets {report['tickets']}, valid outputs {report['valid']} "
        f"({_pct(report['valid_rate'])})",
        "",
    ]
    fields = report["fields"]
    rows = [["field", "accuracy", "macro-F1"]]
    for name in _FIELDS:
        rows.append([name, _pct(fields[name]["accuracy"]), _num(fields[name]["macro_f1"])])
    lines += _table(rows)
    lines += [
        "",
        f"High-urgency recall  {_pct(report['high_urgency_recall'])}",
        f"sentiment MAE        {_num(report['sentiment_mae'])}   "
        f"(within one point: {_pct(fields['sentiment']['within_one'])})",
    ]
    latency = report.get("latency_ms")
    if latency:
        lines.append(
            "latency ms           "
            + "  ".join(f"p{q} {latency[f'p{q}']:.2f}" for q in PERCENTILES)
            + f"  max {latency['max']:.2f}  (n={int(latency['count'])})"
        )
    for name in ("category", "urgency"):
        confusion = fields[name]["confusion"]
        labels = confusion["labels"]
        lines += ["", f"{name} confusion (rows expected, columns predicted)"]
        grid = [["", *labels, "invalid"]]
        grid += [
            [label, *map(str, row)] for label, row in zip(labels, confusion["matrix"], strict=True)
        ]
        lines += _table(grid)
    for name, table in report.get("reliability", {}).items():
        lines += ["", f"{name} confidence reliability (ECE {_num(table['ece'])})"]
        grid = [["confidence", "count", "mean conf", "accuracy"]]
        for slot in table["bins"]:
            grid.append(
                [
                    f"{slot['low']:.1f}-{slot['high']:.1f}",
                    str(slot["count"]),
                    _num(slot["mean_confidence"]),
                    _pct(slot["accuracy"]),
                ]
            )
        lines += _table(grid)
    return "\n".join(lines) + "\n"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
