"""The built-in triage model: three linear models over one TF-IDF, trained in seconds."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from threadpoolctl import threadpool_limits

from triage_hub.engines.builtin.cues import urgency_overrides
from triage_hub.engines.builtin.drafts import render_draft
from triage_hub.engines.builtin.features import MAX_FEATURE_CHARS, Featurizer, Matrix
from triage_hub.engines.builtin.language import detect_language
from triage_hub.engines.builtin.types import Example, Prediction
from triage_hub.models import CATEGORIES, URGENCIES

RANDOM_STATE = 0
# Inverse regularisation strengths, chosen by 5-fold cross-validation on the development part
# (evals/dev.jsonl + evals/train2.jsonl; BENCHMARKS.md, "The built-in engine"): with 720 tickets
# C = 100 gained a little for category; for sentiment C = 30 kept most of the MAE gain of 100
# (0.761 -> 0.742 on dev folds, 100: 0.725) without its worse calibration (ECE 0.087, 100: 0.118).
CATEGORY_C = 100.0
URGENCY_C = 30.0
SENTIMENT_C = 30.0
# High is decided when P(High) reaches a threshold set at training time: the highest one at which
# cross-validated predictions on the training data still find this share of the High tickets.
# 0.92 rather than 0.90: the same dev-fold recall, +1.4 points on train2 folds, for 1-2 points of
# urgency accuracy (held-out recall ran 5 points below CV with the first data set).
HIGH_RECALL_TARGET = 0.92
DEFAULT_HIGH_THRESHOLD = 0.33
HIGH_THRESHOLD_BOUNDS = (0.15, 0.5)
_THRESHOLD_FOLDS = 5
# The threshold is tuned on at most this many examples (a stratified sample): five extra fits
# on 10,000 tickets would double the training time for a figure that is stable long before.
_THRESHOLD_SAMPLE = 1500
_MAX_ITER = 2000


class TrainingDataError(ValueError):
    """The examples cannot train a model (a category or urgency has no example)."""


@dataclass(frozen=True)
class TrainingReport:
    """What a training run saw and decided, for the log."""

    examples: int
    vocabulary: int
    high_threshold: float
    override_precision: float
    seconds: float


class BuiltinTriage:
    """A trained model; immutable, so one instance can serve many threads."""

    def __init__(
        self,
        featurizer: Featurizer,
        category_model: LogisticRegression,
        urgency_model: LogisticRegression,
        sentiment_model: LogisticRegression,
        report: TrainingReport,
    ) -> None:
        self._featurizer = featurizer
        self._category = category_model
        self._urgency = urgency_model
        self._sentiment = sentiment_model
        self.report = report
        self._high = int(np.flatnonzero(urgency_model.classes_ == "High")[0])

    @classmethod
    def train(
        cls,
        examples: Sequence[Example],
        *,
        high_recall_target: float | None = HIGH_RECALL_TARGET,
    ) -> BuiltinTriage:
        """Fit the three models on the examples (CPU-bound: call it in a thread). With no
        `high_recall_target` the High threshold is the default, not tuned: five fits fewer (a
        third of the time), for a model meant to live only seconds."""
        started = time.perf_counter()
        _check_labels(examples)
        # One BLAS thread: on a small box more threads only fight the event loop (and each
        # other): a fit took 0.27 s with one thread and 1.9 s with two on a busy machine.
        with threadpool_limits(limits=1):
            return cls._fit(examples, high_recall_target, started)

    @classmethod
    def _fit(
        cls, examples: Sequence[Example], high_recall_target: float | None, started: float
    ) -> BuiltinTriage:
        featurizer = Featurizer()
        features = featurizer.fit([example.message for example in examples])
        categories = np.array([example.category for example in examples])
        urgencies = np.array([example.urgency for example in examples])
        sentiments = np.array([example.sentiment for example in examples])
        category_model = _logistic(CATEGORY_C).fit(features.matrix(features.category()), categories)
        urgency_matrix = features.matrix(features.urgency())
        urgency_model = _logistic(URGENCY_C).fit(urgency_matrix, urgencies)
        sentiment_model = _logistic(SENTIMENT_C).fit(
            features.matrix(features.sentiment()), sentiments
        )
        high_threshold = (
            DEFAULT_HIGH_THRESHOLD
            if high_recall_target is None
            else _tune_high_threshold(urgency_matrix, urgencies, high_recall_target)
        )
        report = TrainingReport(
            examples=len(examples),
            vocabulary=featurizer.vocabulary_size,
            high_threshold=high_threshold,
            override_precision=_override_precision(examples),
            seconds=time.perf_counter() - started,
        )
        return cls(featurizer, category_model, urgency_model, sentiment_model, report)

    def predict(self, message: str) -> Prediction:
        """Triage one message."""
        return self.predict_many([message])[0]

    def predict_many(self, messages: Sequence[str]) -> list[Prediction]:
        """Triage several messages with one pass through the vectorizer."""
        if not messages:
            return []
        features = self._featurizer.transform(messages)
        category_p = _probabilities(self._category, features.tfidf, features.category())
        urgency_p = _probabilities(self._urgency, features.tfidf, features.urgency())
        sentiment_p = _probabilities(self._sentiment, features.tfidf, features.sentiment())
        return [
            self._prediction(message, category_p[i], urgency_p[i], sentiment_p[i])
            for i, message in enumerate(messages)
        ]

    def agreement(
        self, message: str, category: str, urgency: str, sentiment: int
    ) -> dict[str, float]:
        """How likely this model finds another engine's triage of `message`: the probability of
        its category and urgency, and that the sentiment is within one point (the confidence of
        an LLM that gives no log-probabilities)."""
        features = self._featurizer.transform([message])
        category_p = _probabilities(self._category, features.tfidf, features.category())[0]
        urgency_p = _probabilities(self._urgency, features.tfidf, features.urgency())[0]
        sentiment_p = _probabilities(self._sentiment, features.tfidf, features.sentiment())[0]
        classes = [int(value) for value in self._sentiment.classes_]
        return {
            "category": float(category_p[list(self._category.classes_).index(category)]),
            "urgency": float(urgency_p[list(self._urgency.classes_).index(urgency)]),
            "sentiment": float(
                sum(
                    p
                    for value, p in zip(classes, sentiment_p, strict=True)
                    if abs(value - sentiment) <= 1
                )
            ),
        }

    def _prediction(
        self,
        message: str,
        category_p: NDArray[np.float64],
        urgency_p: NDArray[np.float64],
        sentiment_p: NDArray[np.float64],
    ) -> Prediction:
        best = int(np.argmax(category_p))
        category = str(self._category.classes_[best])
        urgency, urgency_confidence = self._urgency_of(message, urgency_p)
        sentiment, sentiment_confidence = _median_score(self._sentiment.classes_, sentiment_p)
        language = detect_language(message)
        return Prediction(
            category=category,
            urgency=urgency,
            sentiment=sentiment,
            draft=render_draft(message, category, urgency, language),
            confidence={
                "category": float(category_p[best]),
                "urgency": urgency_confidence,
                "sentiment": sentiment_confidence,
            },
            language=language,
        )

    def _urgency_of(self, message: str, probabilities: NDArray[np.float64]) -> tuple[str, float]:
        """High past the tuned threshold or on an override; else the likelier of the others."""
        p_high = float(probabilities[self._high])
        if urgency_overrides(message[:MAX_FEATURE_CHARS]):
            return "High", max(p_high, self.report.override_precision)
        if p_high >= self.report.high_threshold:
            return "High", p_high
        others = probabilities.copy()
        others[self._high] = -1.0
        best = int(np.argmax(others))
        return str(self._urgency.classes_[best]), float(probabilities[best])


def _logistic(c: float) -> LogisticRegression:
    # newton-cg reached the same optimum as lbfgs in 5-8 iterations instead of 23-66 (3-7x
    # faster here); the objective is convex, so the solution does not depend on the solver.
    return LogisticRegression(
        C=c, solver="newton-cg", max_iter=_MAX_ITER, random_state=RANDOM_STATE
    )


def _probabilities(
    model: LogisticRegression, tfidf: Matrix, columns: NDArray[np.float32]
) -> NDArray[np.float64]:
    """`model.predict_proba` of the TF-IDF block with `columns` on its right, for a multinomial
    model, without building that matrix or sklearn's input checks (for one ticket they cost
    more than the product itself)."""
    width = tfidf.shape[1]
    coef = model.coef_
    scores = np.asarray(tfidf @ coef[:, :width].T, dtype=np.float64)
    scores += columns.astype(np.float64) @ coef[:, width:].T + model.intercept_
    scores -= scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    result: NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return result


def _check_labels(examples: Sequence[Example]) -> None:
    for name, values in (("category", CATEGORIES), ("urgency", URGENCIES)):
        seen = {getattr(example, name) for example in examples}
        missing = [value for value in values if value not in seen]
        if missing:
            raise TrainingDataError(f"no training example has {name} {', '.join(missing)}")


def _median_score(
    classes: NDArray[np.int64], probabilities: NDArray[np.float64]
) -> tuple[int, float]:
    """The median of the predicted distribution (it minimises the expected absolute error),
    and the probability that the true score is within one point of it."""
    cumulative = np.cumsum(probabilities)
    index = min(int(np.searchsorted(cumulative, 0.5)), len(classes) - 1)
    score = int(classes[index])
    near = np.abs(classes - score) <= 1
    return score, float(min(1.0, probabilities[near].sum()))


def _tune_high_threshold(matrix: Matrix, urgencies: NDArray[np.str_], target: float) -> float:
    """The highest P(High) cut that still recalls `target` of the High tickets, from
    cross-validated probabilities on the training data (bounded; a default when too few)."""
    counts = [int(np.sum(urgencies == value)) for value in URGENCIES]
    if min(counts) < 2 * _THRESHOLD_FOLDS:
        return DEFAULT_HIGH_THRESHOLD
    if len(urgencies) > _THRESHOLD_SAMPLE:
        sample, _ = train_test_split(
            np.arange(len(urgencies)),
            train_size=_THRESHOLD_SAMPLE,
            stratify=urgencies,
            random_state=RANDOM_STATE,
        )
        matrix, urgencies = matrix[np.sort(sample)], urgencies[np.sort(sample)]
    folds = StratifiedKFold(_THRESHOLD_FOLDS, shuffle=True, random_state=RANDOM_STATE)
    oof = cross_val_predict(
        _logistic(URGENCY_C), matrix, urgencies, cv=folds, method="predict_proba"
    )
    high_column = sorted(URGENCIES).index("High")  # predict_proba's columns are sorted labels
    p_high = np.sort(oof[urgencies == "High", high_column])
    keep = int(np.floor((1.0 - target) * len(p_high)))
    low, high = HIGH_THRESHOLD_BOUNDS
    return float(np.clip(p_high[keep], low, high))


def _override_precision(examples: Sequence[Example]) -> float:
    """How often an override's High was right on the training data (Laplace-smoothed)."""
    hits = [
        example.urgency == "High"
        for example in examples
        if urgency_overrides(example.message[:MAX_FEATURE_CHARS])
    ]
    return (sum(hits) + 1) / (len(hits) + 2)
