"""Inference with a :class:`~movie_gender.model.modeling.BiLSTMClassifier`, in one place: texts -> token ids ->
batches of about one length -> logits (in the precision chosen for the run) -> calibrated P(female) -> labels, per
line or per character.

``BiLSTMClassifier.predict`` / ``predict_proba`` / ``predict_logits`` / ``predict_characters`` / ``logits_from_ids`` /
``encode_context`` are one-line calls of the functions here, and the prediction tables
(:mod:`movie_gender.inference.prediction`) and the demo Space use them too. Probabilities and labels come from the
labelling rule of :mod:`movie_gender.labels`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from movie_gender.inference.characters import CharacterLines, CharacterScores, score_characters
from movie_gender.inference.logits import encode_context, logits_from_ids, padded_logits, predict_logits
from movie_gender.labels import calibrated_probability, is_female

if TYPE_CHECKING:
    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------- lines
def predict_proba(
    model: BiLSTMClassifier,
    texts: Sequence[str],
    context: Sequence[Sequence[str]] | None = None,
    batch_size: int = 512,
    bf16: bool | None = None,
) -> np.ndarray:
    """Calibrated P(female) of each line (``config.calibration["line"]``), in input order."""
    logits = predict_logits(model, texts, context=context, batch_size=batch_size, bf16=bf16)
    return calibrated_probability(model.config, "line", logits)


def line_predictions(config: Any, proba: np.ndarray) -> list[dict[str, Any]]:
    """``[{"label", "score"}]`` of lines with calibrated P(female) ``proba``: the label at the model's line
    threshold, the score the probability of that label."""
    names = config.id2label
    return [
        {"label": names["1"], "score": float(p)} if female else {"label": names["0"], "score": float(1 - p)}
        for p, female in zip(proba, is_female(config, "line", proba), strict=True)
    ]


def predict(
    model: BiLSTMClassifier,
    texts: Sequence[str],
    context: Sequence[Sequence[str]] | None = None,
    batch_size: int = 512,
    bf16: bool | None = None,
) -> list[dict[str, Any]]:
    """``[{"label": "male"|"female", "score": probability of that label}]`` for each line."""
    proba = predict_proba(model, texts, context=context, batch_size=batch_size, bf16=bf16)
    return line_predictions(model.config, proba)


# ----------------------------------------------------------------------------------------------------- characters
def character_predictions(config: Any, characters: CharacterScores) -> list[dict[str, Any]]:
    """``[{"character_id", "n_lines", "p_female", "label", "score"}]`` in order of first appearance: the character
    score calibrated (``config.calibration["character"]``) and labelled at the model's character threshold."""
    p_female = calibrated_probability(config, "character", characters.mean_logit, characters.n_lines)  # by size
    names, female_at = config.id2label, is_female(config, "character", p_female)
    out = []
    for entry in np.argsort(characters.first_line, kind="stable"):
        p, female = float(p_female[entry]), bool(female_at[entry])
        out.append(
            {
                "character_id": str(characters.ids[entry]),
                "n_lines": int(characters.n_lines[entry]),
                "p_female": p,
                "label": names["1" if female else "0"],
                "score": p if female else 1 - p,
            }
        )
    return out


def predict_characters(
    model: BiLSTMClassifier,
    texts: str | Sequence[str],
    character_ids: str | Sequence[str],
    context: Sequence[Sequence[str]] | None = None,
    batch_size: int = 512,
    conversation_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One prediction per character (see :meth:`BiLSTMClassifier.predict_characters`): the characters' raw scores
    from :func:`movie_gender.inference.characters.score_characters`, calibrated and labelled by
    :func:`character_predictions`."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    character_ids = [character_ids] if isinstance(character_ids, str) else list(character_ids)
    if len(character_ids) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(character_ids)} character ids; give one per text")
    if not texts:
        return []
    if context is not None and not model.config.uses_context:
        raise ValueError("this model reads single lines and takes no context; call without context")
    lines = CharacterLines(
        texts,
        character_ids,
        conversation_ids=None if conversation_ids is None else list(conversation_ids),
        context=None if context is None else list(context),
    )
    return character_predictions(model.config, score_characters(model, lines, batch_size=batch_size))


__all__ = [
    "character_predictions",
    "encode_context",
    "line_predictions",
    "logits_from_ids",
    "padded_logits",
    "predict",
    "predict_characters",
    "predict_logits",
    "predict_proba",
]
