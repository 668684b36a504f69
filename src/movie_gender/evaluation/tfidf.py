"""The TF-IDF baselines (:mod:`movie_gender.evaluation.baselines` registers them) and their features: word 1-2
grams with sublinear tf, from a vectorizer that remembers.

A fold's evaluation transforms the same splits with the same fitted vocabulary several times: the line TF-IDF of
``tfidf_logreg`` is the line half of ``tfidf_context_logreg``, one document per character is read by both character
baselines, and ``tfidf_stack`` reads its two parts again. :class:`RememberingTfidf` keeps the matrices of the last
few document lists it transformed (or was fitted on), so the baselines that share one transform each split once.
The matrices are those sklearn's ``TfidfVectorizer`` gives; what is kept is bounded by :data:`KEPT_MATRICES`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from movie_gender.inference.characters import aggregate_logits
from movie_gender.labels import sigmoid

Labels = np.ndarray | Sequence[int]  # a baseline's training labels: the array fit_baseline passes, or a list

KEPT_MATRICES = 8  # a fold's train, validation, test and partner lines, with room to spare


class RememberingTfidf:
    """A ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)`` that keeps its last :data:`KEPT_MATRICES`
    results by document list (the returned matrices are shared: never change them in place)."""

    def __init__(self) -> None:
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self.kept: OrderedDict[tuple[str, ...], sparse.csr_matrix] = OrderedDict()

    def fit_transform(self, documents: Sequence[str]) -> sparse.csr_matrix:
        """Learn the vocabulary and idf of ``documents`` (forgetting what was kept); their TF-IDF matrix."""
        self.kept.clear()
        return self._keep(tuple(documents), self.vectorizer.fit_transform(documents))

    def transform(self, documents: Sequence[str]) -> sparse.csr_matrix:
        """The TF-IDF matrix of ``documents`` in the fitted vocabulary (kept from before when it was computed)."""
        key = tuple(documents)
        if key in self.kept:
            self.kept.move_to_end(key)
            return self.kept[key]
        return self._keep(key, self.vectorizer.transform(documents))

    def _keep(self, key: tuple[str, ...], matrix: sparse.csr_matrix) -> sparse.csr_matrix:
        self.kept[key] = matrix
        while len(self.kept) > KEPT_MATRICES:
            self.kept.popitem(last=False)
        return matrix


class TfidfLogreg:
    """TF-IDF of word 1-2 grams (sublinear tf) + class-balanced logistic regression."""

    def __init__(self, seed: int = 0) -> None:
        self.vectorizer = RememberingTfidf()
        self.classifier = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)

    def features(self, texts: Sequence[str], fit: bool = False) -> sparse.csr_matrix:
        """The sparse TF-IDF matrix of ``texts`` (the vectorizer fitted on them when ``fit``)."""
        return self.vectorizer.fit_transform(texts) if fit else self.vectorizer.transform(texts)

    def fit(self, texts: Sequence[str], labels: Labels, **inputs: Sequence[Any]) -> TfidfLogreg:
        """Fit the vectorizer and the classifier on the training lines."""
        self.classifier.fit(self.features(texts, fit=True), np.asarray(labels))
        return self

    def score(self, texts: Sequence[str], **inputs: Sequence[Any]) -> np.ndarray:
        """P(female) for each line."""
        return self.classifier.predict_proba(self.features(texts))[:, 1]


class TfidfContextLogreg:
    """TF-IDF + logistic regression on the line plus its context: word 1-2 gram TF-IDF of the line and, in a
    vocabulary of its own, of the context (the other speakers' lines around it, joined), side by side, with
    class-balanced logistic regression. The context baseline beside a context model."""

    def __init__(self, seed: int = 0, fitted: Mapping[str, Any] | None = None) -> None:
        shared = (fitted or {}).get("tfidf_logreg")  # its vectorizer: the same lines, the same vocabulary
        self.line: RememberingTfidf = shared.vectorizer if shared is not None else RememberingTfidf()
        self.line_fitted = shared is not None
        self.context = RememberingTfidf()
        self.classifier = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)

    def features(self, texts: Sequence[str], context: Sequence[Sequence[str]], fit: bool = False) -> sparse.csr_matrix:
        """The line's TF-IDF beside its joined context's (``fit``: learn both vocabularies first)."""
        texts, context = list(texts), list(context)
        if len(context) != len(texts):
            raise ValueError(
                f"context must hold one list of strings per line: {len(texts)} lines, {len(context)} contexts"
            )
        joined = [" ".join(item) for item in context]
        if fit:
            line = self.line.transform(texts) if self.line_fitted else self.line.fit_transform(texts)
            return sparse.hstack([line, self.context.fit_transform(joined)]).tocsr()
        return sparse.hstack([self.line.transform(texts), self.context.transform(joined)]).tocsr()

    def fit(
        self, texts: Sequence[str], labels: Labels, *, context: Sequence[Sequence[str]], **inputs: Sequence[Any]
    ) -> TfidfContextLogreg:
        """Fit both vectorizers and the classifier on the lines and their contexts."""
        self.classifier.fit(self.features(texts, context, fit=True), np.asarray(labels))
        return self

    def score(self, texts: Sequence[str], *, context: Sequence[Sequence[str]], **inputs: Sequence[Any]) -> np.ndarray:
        """P(female) of each line given its context."""
        return self.classifier.predict_proba(self.features(texts, context))[:, 1]


def character_groups(character_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(inverse, first)``: each line's character index (characters sorted by id) and each character's first line."""
    _, first, inverse = np.unique(np.asarray(character_ids), return_index=True, return_inverse=True)
    return inverse.reshape(-1), first


class TfidfCharacterLogreg:
    """One document per character: TF-IDF of word 1-2 grams (sublinear tf) of all its lines joined and, with
    ``context``, in a vocabulary of its own, of everything said around them (their contexts joined); class-balanced
    logistic regression fitted on one row per train character. ``score`` gives each line its character's
    P(female), so the character-level aggregation returns exactly the character's score."""

    def __init__(self, seed: int = 0, context: bool = False, fitted: Mapping[str, Any] | None = None) -> None:
        shared = (fitted or {}).get("tfidf_character_logreg") if context else None  # the same documents
        self.own: RememberingTfidf = shared.own if shared is not None else RememberingTfidf()
        self.own_fitted = shared is not None
        self.heard = RememberingTfidf() if context else None
        self.classifier = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)

    def features(
        self, texts: Sequence[str], inverse: np.ndarray, context: Sequence[Sequence[str]] | None, fit: bool = False
    ) -> sparse.csr_matrix:
        """One row per character (index ``inverse`` of each line): its lines' TF-IDF, and its context's."""
        n = int(inverse.max()) + 1 if len(inverse) else 0
        if self.heard is not None and (context is None or len(context) != len(texts)):
            raise ValueError("this baseline needs one context (a list of strings) per line")
        own: list[list[str]] = [[] for _ in range(n)]
        for i, text in enumerate(texts):
            own[inverse[i]].append(text)
        parts = [(self.own, [" ".join(doc) for doc in own])]
        if self.heard is not None and context is not None:
            heard: list[list[str]] = [[] for _ in range(n)]
            for i, item in enumerate(context):
                heard[inverse[i]].append(" ".join(item))
            parts.append((self.heard, [" ".join(doc) for doc in heard]))
        refit = [fit and not self.own_fitted, fit][: len(parts)]  # a shared ``own`` is fitted on them already
        matrices = [v.fit_transform(d) if again else v.transform(d) for (v, d), again in zip(parts, refit, strict=True)]
        return sparse.hstack(matrices).tocsr()

    def fit(
        self,
        texts: Sequence[str],
        labels: Labels,
        *,
        character_id: Sequence[str],
        context: Sequence[Sequence[str]] | None = None,
        **inputs: Sequence[Any],
    ) -> TfidfCharacterLogreg:
        """Fit the vectorizer(s) and the classifier on the train characters (a character's label: its lines')."""
        inverse, first = character_groups(character_id)
        self.classifier.fit(self.features(list(texts), inverse, context, fit=True), np.asarray(labels)[first])
        return self

    def score(
        self,
        texts: Sequence[str],
        *,
        character_id: Sequence[str],
        context: Sequence[Sequence[str]] | None = None,
        **inputs: Sequence[Any],
    ) -> np.ndarray:
        """Each line's character's P(female)."""
        if len(texts) == 0:
            return np.zeros(0)
        inverse, _ = character_groups(character_id)
        return self.classifier.predict_proba(self.features(list(texts), inverse, context))[:, 1][inverse]


class TfidfStack:
    """The two TF-IDF scorers of a character's inputs, summed: the mean log-odds of its lines by
    :class:`TfidfContextLogreg` (line + context; with ``context=False``, :class:`TfidfLogreg`, the line alone) plus
    the log-odds of its one document by :class:`TfidfCharacterLogreg`, each fitted as on its own. ``score`` gives each
    line its character's P(female)."""

    def __init__(self, seed: int = 0, fitted: Mapping[str, Any] | None = None, context: bool = True) -> None:
        fitted = fitted or {}
        lines = "tfidf_context_logreg" if context else "tfidf_logreg"
        self.lines: TfidfContextLogreg | TfidfLogreg = fitted.get(lines) or (
            TfidfContextLogreg(seed) if context else TfidfLogreg(seed)
        )
        self.characters: TfidfCharacterLogreg = fitted.get("tfidf_character_logreg") or TfidfCharacterLogreg(seed)
        self.reused = {"lines": lines in fitted, "characters": "tfidf_character_logreg" in fitted}

    def fit(
        self,
        texts: Sequence[str],
        labels: Labels,
        *,
        character_id: Sequence[str],
        context: Sequence[Sequence[str]] | None = None,
        **inputs: Sequence[Any],
    ) -> TfidfStack:
        """Fit both scorers on the training lines (the character scorer on one row per train character); a scorer
        given already fitted on them (``fitted``) is kept as it is."""
        if not self.reused["lines"]:
            self.lines.fit(texts, labels, context=self._context(context))
        if not self.reused["characters"]:
            self.characters.fit(texts, labels, character_id=character_id)
        return self

    def score(
        self,
        texts: Sequence[str],
        *,
        character_id: Sequence[str],
        context: Sequence[Sequence[str]] | None = None,
        **inputs: Sequence[Any],
    ) -> np.ndarray:
        """Each line's character's P(female): the sigmoid of the two scorers' character log-odds summed."""
        if len(texts) == 0:
            return np.zeros(0)
        if isinstance(self.lines, TfidfContextLogreg):
            features = self.lines.features(texts, self._context(context))
        else:
            features = self.lines.features(texts)
        lines = aggregate_logits(character_id, self.lines.classifier.decision_function(features))
        document = self.characters.features(list(texts), lines.inverse, None)
        return sigmoid(lines.mean_logit + self.characters.classifier.decision_function(document))[lines.inverse]

    def _context(self, context: Sequence[Sequence[str]] | None) -> Sequence[Sequence[str]]:
        """The lines' contexts, which the stack with ``context`` needs (an empty list without it: not read)."""
        if context is None and isinstance(self.lines, TfidfContextLogreg):
            raise ValueError("this stack reads each line's context: pass context (one list of strings per line)")
        return context if context is not None else []


__all__ = [
    "KEPT_MATRICES",
    "Labels",
    "RememberingTfidf",
    "TfidfCharacterLogreg",
    "TfidfContextLogreg",
    "TfidfLogreg",
    "TfidfStack",
    "character_groups",
]
