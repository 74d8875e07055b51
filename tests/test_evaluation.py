"""The eval figures, on small hand-made inputs whose figures are worked out by hand below."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from triage_hub.evaluation import (
    evaluate,
    latency_summary,
    percentile,
    reliability,
    render_text,
)


@dataclass(frozen=True)
class T:
    category: str
    urgency: str
    sentiment: int
    confidence: Mapping[str, float] = field(default_factory=dict)


B, TE, F = "Billing", "Technical", "Feature Request"

# Four tickets; the fourth prediction is invalid (None).
EXPECTED = [
    T(B, "High", 2),
    T(B, "Low", 5),
    T(TE, "High", 4),
    T(F, "Medium", 8),
]
PREDICTED: list[T | None] = [
    T(B, "High", 3, {"category": 0.95, "urgency": 0.55, "sentiment": 0.8}),
    T(TE, "Low", 5, {"category": 0.65, "urgency": 0.92, "sentiment": 0.9}),
    T(TE, "Medium", 1, {"category": 0.91, "urgency": 0.4, "sentiment": 0.3}),
    None,
]


@pytest.fixture
def report() -> dict[str, object]:
    return evaluate(list(zip(EXPECTED, PREDICTED, strict=True)), [1.0, 2.0, 3.0, 4.0, 100.0])


def test_accuracy_counts_invalid_outputs_as_wrong(report: dict[str, object]) -> None:
    fields = report["fields"]
    assert isinstance(fields, dict)
    # category right: #1, #3 → 2 of 4; urgency right: #1, #2 → 2 of 4; sentiment exact: #2.
    assert fields["category"]["accuracy"] == pytest.approx(0.5)
    assert fields["urgency"]["accuracy"] == pytest.approx(0.5)
    assert fields["sentiment"]["accuracy"] == pytest.approx(0.25)
    assert report["valid"] == 3
    assert report["valid_rate"] == pytest.approx(0.75)


def test_macro_f1_by_hand(report: dict[str, object]) -> None:
    fields = report["fields"]
    assert isinstance(fields, dict)
    # category: Billing tp1 support2 chosen1 → 2/3; Technical tp1 s1 c2 → 2/3;
    # Feature Request tp0 s1 c0 → 0. Macro = (2/3 + 2/3 + 0) / 3 = 4/9.
    assert fields["category"]["macro_f1"] == pytest.approx(4 / 9)
    per = fields["category"]["per_label"]
    assert per["Billing"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert per["Feature Request"]["precision"] is None  # never predicted
    # urgency: High tp1 s2 c1 → 2/3; Medium tp0 s1 c1 → 0; Low tp1 s1 c1 → 1. Macro = 5/9.
    assert fields["urgency"]["macro_f1"] == pytest.approx(5 / 9)


def test_confusion_matrices_have_an_invalid_column(report: dict[str, object]) -> None:
    fields = report["fields"]
    assert isinstance(fields, dict)
    category = fields["category"]["confusion"]
    assert category["labels"] == ["Billing", "Technical", "Feature Request"]
    assert category["matrix"] == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    urgency = fields["urgency"]["confusion"]
    assert urgency["labels"] == ["High", "Medium", "Low"]
    assert urgency["matrix"] == [[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]


def test_high_recall_and_sentiment_mae(report: dict[str, object]) -> None:
    # High expected twice (#1, #3), found once. MAE over the 3 valid: |2-3|, |5-5|, |4-1| → 4/3.
    assert report["high_urgency_recall"] == pytest.approx(0.5)
    assert report["sentiment_mae"] == pytest.approx(4 / 3)
    fields = report["fields"]
    assert isinstance(fields, dict)
    assert fields["sentiment"]["within_one"] == pytest.approx(0.5)  # #1 and #2 of 4


def test_percentiles_interpolate_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    # rank = (n-1)·q/100: p50 → rank 2 → 3.0; p90 → rank 3.6 → 4 + 0.6·96 = 61.6;
    # p99 → rank 3.96 → 4 + 0.96·96 = 96.16.
    assert percentile(values, 50) == pytest.approx(3.0)
    assert percentile(values, 90) == pytest.approx(61.6)
    assert percentile(values, 99) == pytest.approx(96.16)
    assert percentile([7.0], 99) == 7.0
    summary = latency_summary(values)
    assert summary is not None
    assert summary["mean"] == pytest.approx(22.0)
    assert summary["max"] == 100.0
    assert latency_summary([]) is None
    with pytest.raises(ValueError):
        percentile([], 50)


def test_reliability_bins_and_ece() -> None:
    expected = [T(B, "Low", 5)] * 5
    predicted: list[T | None] = [
        T(B, "Low", 5, {"category": 0.95}),  # right, bin 0.9-1.0
        T(TE, "Low", 5, {"category": 0.92}),  # wrong, bin 0.9-1.0
        T(B, "Low", 5, {"category": 0.55}),  # right, bin 0.5-0.6
        T(B, "Low", 5, {"category": 0.40}),  # right, bin below 0.5
        None,  # invalid: not in the table
    ]
    table = reliability(expected, predicted, "category")
    bins = {(slot["low"], slot["high"]): slot for slot in table["bins"]}
    assert [slot["count"] for slot in table["bins"]] == [1, 1, 0, 0, 0, 2]
    top = bins[(0.9, 1.0)]
    assert top["mean_confidence"] == pytest.approx(0.935)
    assert top["accuracy"] == pytest.approx(0.5)
    assert bins[(0.6, 0.7)]["accuracy"] is None
    # ECE = 1/4·|1 − 0.40| + 1/4·|1 − 0.55| + 2/4·|0.5 − 0.935| = 0.15 + 0.1125 + 0.2175
    assert table["ece"] == pytest.approx(0.48)
    assert table["count"] == 4


def test_sentiment_reliability_means_within_one_point(report: dict[str, object]) -> None:
    tables = report["reliability"]
    assert isinstance(tables, dict)
    sentiment = tables["sentiment"]
    # #1: conf 0.8, |2-3| = 1 → right; #2: 0.9, exact → right; #3: 0.3, off by 3 → wrong.
    assert [slot["count"] for slot in sentiment["bins"]] == [1, 0, 0, 0, 1, 1]
    assert sentiment["bins"][4]["accuracy"] == 1.0
    assert sentiment["bins"][0]["accuracy"] == 0.0


def test_a_confidence_of_exactly_one_falls_in_the_last_bin() -> None:
    table = reliability([T(B, "Low", 5)], [T(B, "Low", 5, {"category": 1.0})], "category")
    assert table["bins"][-1]["count"] == 1
    assert table["ece"] == pytest.approx(0.0)


def test_report_is_json_and_renders_aligned_tables(report: dict[str, object]) -> None:
    assert json.loads(json.dumps(report)) == report
    text = render_text(report)
    assert "tickets 4, valid outputs 3 (75.0 %)" in text
    assert "High-urgency recall  50.0 %" in text
    assert "sentiment MAE        1.333" in text
    assert "p50 3.00" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("category confusion"))
    grid = lines[header + 1 : header + 5]
    # every row of the grid ends in the same column: right-aligned counts
    assert len({len(row) for row in grid}) == 1
    assert grid[1].split() == ["Billing", "1", "1", "0", "0"]


def test_empty_and_all_invalid_inputs_do_not_divide_by_zero() -> None:
    empty = evaluate([])
    assert empty["valid_rate"] is None
    assert empty["sentiment_mae"] is None
    assert empty["reliability"] == {}
    render_text(empty)
    invalid = evaluate([(T(B, "High", 5), None)])
    assert invalid["fields"]["category"]["accuracy"] == 0.0
    assert invalid["high_urgency_recall"] == 0.0
    assert invalid["sentiment_mae"] is None
    render_text(invalid)
