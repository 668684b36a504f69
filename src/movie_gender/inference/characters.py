"""From line scores to one score per character: the mean log-odds of the character's lines.

One function for the evaluation (character-level metrics) and for :meth:`BiLSTMClassifier.predict_characters`, so
both turn line scores into character scores the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p clipped to [1e-6, 1 - 1e-6]."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


@dataclass
class CharacterScores:
    """One entry per character, sorted by character id: its id, the position of its first line, its number of lines,
    the mean log-odds of its lines and P(female) from it; ``inverse`` maps each line to its character's entry."""

    ids: np.ndarray
    first_line: np.ndarray
    inverse: np.ndarray
    n_lines: np.ndarray
    mean_logit: np.ndarray

    @property
    def p_female(self) -> np.ndarray:
        """P(female) of each character: the sigmoid of its mean log-odds."""
        return 1 / (1 + np.exp(-self.mean_logit))


def aggregate_logits(character_ids: Sequence[str], logits: Sequence[float]) -> CharacterScores:
    """Group the line log-odds ``logits`` by ``character_ids`` and average them."""
    ids = np.asarray(character_ids)
    names, first, inverse, counts = np.unique(ids, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    # Rounded so that equal line scores give exactly equal character scores (no float-summation order ties).
    sums = np.bincount(inverse, weights=np.asarray(logits, dtype=np.float64), minlength=len(names))
    mean = np.round(sums / counts, 9)
    return CharacterScores(names, first, inverse, counts, mean)


__all__ = ["CharacterScores", "aggregate_logits", "logit"]
