"""What the built-in models read: one TF-IDF of the text, plus a few dense columns per field."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from triage_hub.engines.builtin.cues import category_cue_counts, severity_cue_counts

# Weights of the dense columns next to the TF-IDF block (each TF-IDF row has unit length);
# chosen on the development part (BENCHMARKS.md, "The built-in engine"). The category cues'
# weight by scoring each hand of it with a model trained on the others: with 1,530 tickets
# the text carries more and the cues less (category 0.899 at 0.3, 0.901 at 0.2, 0.914 at 0.1
# and 0.05, 0.910 with none; 0.3 was the best for 306 tickets, by cross-validation).
CATEGORY_CUE_WEIGHT = 0.1
LENGTH_WEIGHT = 0.5
SEVERITY_CUE_WEIGHT = 0.2
# Every feature reads at most the opening of a ticket: it says what the ticket is about, and the
# cost per ticket stays bounded (n-grams and cues scale with length: a 2,000-character ticket
# took ~19 ms here, a 5,000-character one ~30). 20 of the 1,530 development tickets are longer;
# scored hand by hand, category was 0.914 reading 2,000 characters and 0.916 reading 1,000.
MAX_FEATURE_CHARS = 1000
# VADER reads English only and is slow on long texts; the opening is what sets the tone.
_VADER_MAX_CHARS = MAX_FEATURE_CHARS
# Bounds on the vocabulary keep a model trained on many corrections small (memory, latency).
_MAX_WORD_FEATURES = 50_000
_MAX_CHAR_FEATURES = 150_000

# A scipy.sparse CSR matrix (scipy ships no type information).
Matrix: TypeAlias = Any


def make_vectorizers() -> tuple[TfidfVectorizer, TfidfVectorizer]:
    """Word 1-2-grams and in-word character 3-5-grams (the latter carry typos and languages)."""
    words = TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        min_df=2,
        max_features=_MAX_WORD_FEATURES,
        dtype=np.float32,
    )
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        sublinear_tf=True,
        min_df=2,
        max_features=_MAX_CHAR_FEATURES,
        dtype=np.float32,
    )
    return words, chars


class Featurizer:
    """A fitted vectorizer and the per-field columns; `fit` once, `transform` per ticket."""

    def __init__(self) -> None:
        self._vectorizers = make_vectorizers()
        self._vader = SentimentIntensityAnalyzer()
        self._fitted: list[_FittedBlock] = []

    def fit(self, texts: Sequence[str]) -> TextFeatures:
        """Learn the vocabulary from the training texts and return their features."""
        texts = [text[:MAX_FEATURE_CHARS] for text in texts]
        blocks = [vectorizer.fit_transform(texts) for vectorizer in self._vectorizers]
        self._fitted = [_FittedBlock.of(vectorizer) for vectorizer in self._vectorizers]
        return TextFeatures(self, sparse.hstack(blocks, format="csr"), texts)

    def transform(self, texts: Sequence[str]) -> TextFeatures:
        """Features of new texts, with the vocabulary learned by `fit`: the same numbers as the
        vectorizers' own `transform` (tests/test_builtin_engine.py checks it), computed from
        their public fitted state (analyzer, vocabulary_, idf_) without sklearn's per-call input
        validation, which was a third of the time for one ticket."""
        texts = [text[:MAX_FEATURE_CHARS] for text in texts]
        columns: list[NDArray[np.int64]] = []
        values: list[NDArray[np.float32]] = []
        indptr = [0]
        for text in texts:
            offset, nonzero = 0, 0
            for block in self._fitted:
                index, value = block.row(text)
                columns.append(index + offset)
                values.append(value)
                offset += block.width
                nonzero += len(value)
            indptr.append(indptr[-1] + nonzero)
        width = sum(block.width for block in self._fitted)
        matrix = sparse.csr_matrix(
            (
                np.concatenate(values) if values else np.zeros(0, np.float32),
                np.concatenate(columns) if columns else np.zeros(0, np.int64),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(texts), width),
            dtype=np.float32,
        )
        return TextFeatures(self, matrix, texts)

    def reference_transform(self, texts: Sequence[str]) -> Matrix:
        """The TF-IDF block by the vectorizers' own `transform` (what `transform` must equal)."""
        texts = [text[:MAX_FEATURE_CHARS] for text in texts]
        blocks = [vectorizer.transform(texts) for vectorizer in self._vectorizers]
        return sparse.hstack(blocks, format="csr")

    def vader_compound(self, text: str) -> float:
        """VADER's compound score in [-1, 1] (≈ 0 for text it cannot read)."""
        return float(self._vader.polarity_scores(text[:_VADER_MAX_CHARS])["compound"])

    @property
    def vocabulary_size(self) -> int:
        """Number of TF-IDF columns."""
        return sum(len(vectorizer.vocabulary_) for vectorizer in self._vectorizers)


class _FittedBlock:
    """One fitted vectorizer's public state, for transforming a text without sklearn's checks:
    sublinear term frequency (1 + log count) times idf, L2-normalised per block, as
    TfidfVectorizer(sublinear_tf=True, norm="l2") computes it."""

    def __init__(
        self, analyzer: Callable[[str], list[str]], vocabulary: dict[str, int], idf: Any
    ) -> None:
        self._analyzer = analyzer
        # Python ints, not the numpy ints sklearn stores: sorting and packing numpy scalars one
        # by one was a fifth of the TF-IDF time of a long ticket.
        self._vocabulary = {term: int(column) for term, column in vocabulary.items()}
        self._idf = np.asarray(idf, dtype=np.float64)
        self.width = len(vocabulary)

    @classmethod
    def of(cls, vectorizer: TfidfVectorizer) -> _FittedBlock:
        return cls(vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_)

    def row(self, text: str) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """The non-zero columns of the text's row, sorted, and their values."""
        lookup = self._vocabulary.get
        # Count the n-grams first (in C), then look up each distinct one once.
        found = [
            (j, count)
            for gram, count in Counter(self._analyzer(text)).items()
            if (j := lookup(gram)) is not None
        ]
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        found.sort()
        index = np.fromiter((j for j, _ in found), dtype=np.int64, count=len(found))
        value = np.fromiter((count for _, count in found), dtype=np.float32, count=len(found))
        np.log(value, out=value)
        value += 1.0
        value *= self._idf[index]
        norm = np.sqrt(np.dot(value.astype(np.float64), value.astype(np.float64)))
        if norm > 0:
            value /= norm
        return index, value


class TextFeatures:
    """The TF-IDF block of some texts, and each field's matrix built from it."""

    def __init__(self, owner: Featurizer, tfidf: Matrix, texts: Sequence[str]) -> None:
        self._owner = owner
        self.tfidf = tfidf
        self.texts = list(texts)

    def category(self) -> NDArray[np.float32]:
        """How many cues of each category fire (log-scaled), one column per category."""
        counts = [category_cue_counts(text) for text in self.texts]
        columns = [[math.log1p(count) for _, count in sorted(row.items())] for row in counts]
        return np.asarray(columns, dtype=np.float32).reshape(len(self.texts), -1) * (
            CATEGORY_CUE_WEIGHT
        )

    def urgency(self) -> NDArray[np.float32]:
        """The message's log length, and its High and Low cue counts (log-scaled)."""
        rows = []
        for text in self.texts:
            counts = severity_cue_counts(text)
            rows.append(
                [
                    LENGTH_WEIGHT * math.log1p(len(text)),
                    SEVERITY_CUE_WEIGHT * math.log1p(counts["High"]),
                    SEVERITY_CUE_WEIGHT * math.log1p(counts["Low"]),
                ]
            )
        return np.asarray(rows, dtype=np.float32).reshape(len(self.texts), 3)

    def sentiment(self) -> NDArray[np.float32]:
        """VADER's compound score."""
        rows = [[self._owner.vader_compound(text)] for text in self.texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(self.texts), 1)

    def matrix(self, columns: NDArray[np.float32]) -> Matrix:
        """The TF-IDF block with a field's columns on its right: what that field's model reads."""
        return sparse.hstack([self.tfidf, sparse.csr_matrix(columns)], format="csr")
