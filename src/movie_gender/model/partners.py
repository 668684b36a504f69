"""The conversation-partner term of any character scorer: a character's score minus a weight times how far the mean
score of the characters it talks to lies from a center.

Movie dialogue is often between a man and a woman, so the characters a character talks to are evidence about it.
For scores ``s`` (log-odds, one per character) and the partner matrix ``W`` (:func:`partner_matrix`: row ``c``
holds the share of each partner ``p`` in the lines of the conversations ``c`` and ``p`` share, summing to 1)::

    partnered(c) = s(c) - weight * (sum_p W[c, p] * s(p) - center)        (0 for a character with no partner)

The same function serves the character model and every character baseline; :func:`fit_partner_term` fits
``center`` (the mean partner score) and ``weight`` (the grid value with the best ROC-AUC) the same way for each, on
a run's validation characters only: never on the characters whose results are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.metrics import roc_auc_score

WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)  # candidate partner weights, chosen on validation characters


def partner_matrix(character: np.ndarray, conversation_ids: Sequence[str], n_characters: int) -> sparse.csr_matrix:
    """``[n_characters, n_characters]``, rows summing to 1 (0 for a character with no partner): how much each other
    character weighs among those ``c`` talks to. ``character[i]`` is the character of line i (0 ..
    n_characters-1), ``conversation_ids[i]`` its conversation; two characters of one conversation weigh there as
    many as the lines they say in it together."""
    character = np.asarray(character, dtype=np.int64).reshape(-1)
    if len(character) == 0:
        return sparse.csr_matrix((n_characters, n_characters))
    _, conversation = np.unique(np.asarray(conversation_ids, dtype=object).astype(str), return_inverse=True)
    counts = sparse.csr_matrix(
        (np.ones(len(character)), (conversation.reshape(-1), character)), shape=(conversation.max() + 1, n_characters)
    )
    counts.sum_duplicates()
    present = counts.copy()
    present.data[:] = 1.0
    weights = (counts.T @ present + present.T @ counts).tolil()
    weights.setdiag(0.0)
    weights = weights.tocsr()
    weights.eliminate_zeros()
    totals = np.asarray(weights.sum(axis=1)).reshape(-1)
    return (sparse.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ weights).tocsr()


def partner_means(scores: np.ndarray, partners: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """For each character, the mean score of its partners (``partners``: :func:`partner_matrix`) and whether it has
    any partner at all."""
    return partners @ np.asarray(scores, dtype=np.float64), np.diff(partners.indptr) > 0


def with_partners(
    scores: np.ndarray, partners: sparse.csr_matrix | None, weight: float, center: float = 0.0
) -> np.ndarray:
    """``scores`` (log-odds, one per character) minus ``weight`` times how far the mean score of each character's
    partners lies from ``center``; a character with no partner gets no term, and so do all without a partner
    matrix (``None``: no conversation ids) or with ``weight`` 0. The one partner formula of the package."""
    scores = np.asarray(scores, dtype=np.float64)
    if partners is None or weight == 0 or len(scores) == 0:
        return scores
    means, has_partner = partner_means(scores, partners)
    return scores - weight * np.where(has_partner, means - center, 0.0)


@dataclass
class PartnerTerm:
    """A fitted partner term: ``weight``, ``center`` and the validation ROC-AUC of each candidate weight."""

    weight: float
    center: float
    validation_auc: dict[float, float]

    def apply(self, scores: np.ndarray, partners: sparse.csr_matrix | None) -> np.ndarray:
        """:func:`with_partners` with this term."""
        return with_partners(scores, partners, self.weight, self.center)

    def to_dict(self) -> dict:
        """What a run records of it (cv.json, metrics.json)."""
        return {
            "weight": self.weight,
            "center": self.center,
            "validation_auc": {str(k): v for k, v in self.validation_auc.items()},
        }


def partner_center(scores: np.ndarray, partners: sparse.csr_matrix | None) -> float:
    """The mean partner score of the characters that have partners (0 without any)."""
    if partners is None:
        return 0.0
    means, has_partner = partner_means(scores, partners)
    return float(means[has_partner].mean()) if has_partner.any() else 0.0


def fit_partner_term(
    scores: np.ndarray, partners: sparse.csr_matrix | None, labels: np.ndarray, grid: Sequence[float] = WEIGHT_GRID
) -> PartnerTerm:
    """The partner term of a scorer, fitted on a run's own validation characters: ``scores`` (log-odds, one per
    character), their ``partners`` and ``labels`` (-1: unknown, scored as partners only). ``center``: the
    characters' mean partner score; ``weight``: the value of ``grid`` whose partnered scores rank the labelled
    characters best (ROC-AUC). Ties go to the smaller weight; without both classes, or without conversations, the
    weight is 0."""
    center = partner_center(scores, partners)
    labels = np.asarray(labels)
    labelled = labels >= 0
    if partners is None or len(np.unique(labels[labelled])) < 2:
        return PartnerTerm(0.0, center, {})
    results = {
        float(w): float(roc_auc_score(labels[labelled], with_partners(scores, partners, w, center)[labelled]))
        for w in grid
    }
    best = max(results, key=lambda w: (round(results[w], 12), -w))
    return PartnerTerm(best, center, results)


__all__ = [
    "WEIGHT_GRID",
    "PartnerTerm",
    "fit_partner_term",
    "partner_center",
    "partner_matrix",
    "partner_means",
    "with_partners",
]
