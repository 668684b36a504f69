"""BiLSTMPredictor: the network with the prediction methods users call, one line each over
:mod:`movie_gender.inference.predictor` (texts -> ids -> batches -> logits -> calibrated probabilities -> labels).

:class:`movie_gender.BiLSTMClassifier` (:mod:`movie_gender.hub.classifier`) is this class plus its run record and
card; training and evaluation work with this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from movie_gender.inference import predictor
from movie_gender.model.modeling import BiLSTMNetwork


class BiLSTMPredictor(BiLSTMNetwork):
    """A :class:`~movie_gender.model.modeling.BiLSTMNetwork` that predicts: logits, P(female) and labels per line,
    and one prediction per character."""

    def logits_from_ids(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        batch_size: int = 512,
        bf16: bool = False,
        max_padding: float | None = None,
        context_ids: np.ndarray | None = None,
        context_lengths: np.ndarray | None = None,
    ) -> np.ndarray:
        """Logits for pre-encoded lines, in input order, in batches of about one length
        (:func:`movie_gender.inference.logits.logits_from_ids`)."""
        return predictor.logits_from_ids(
            self, ids, lengths, batch_size, bf16, max_padding, context_ids=context_ids, context_lengths=context_lengths
        )

    def encode_context(self, context: list[list[str]] | None, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Check and encode ``context`` (one list of strings per line) for this model: ``(ids, lengths)``.

        A single-line model refuses a context; a context model given none reads every line with an empty context
        (and logs that once)."""
        return predictor.encode_context(self, context, n)

    def predict_logits(
        self,
        texts: str | Sequence[str],
        context: Sequence[Sequence[str]] | None = None,
        batch_size: int = 512,
        bf16: bool | None = None,
    ) -> np.ndarray:
        """Logits (log-odds of female) for ``texts``; ``bf16`` (autocast) ``None``: the precision policy's choice
        (:meth:`~movie_gender.model.modeling.BiLSTMNetwork.precision_for`: bf16 on CUDA, and on CPUs with native
        bf16 where it is faster for this model). ``context``: see :meth:`predict_proba`."""
        return predictor.predict_logits(self, texts, context=context, batch_size=batch_size, bf16=bf16)

    def predict_proba(
        self,
        texts: list[str],
        context: list[list[str]] | None = None,
        batch_size: int = 512,
        bf16: bool | None = None,
    ) -> np.ndarray:
        """P(female) for each line, as a numpy array in input order.

        ``context`` (context models only): one list of strings per line, the lines of the other speakers just before
        and after it in its conversation (the dataset's ``context`` column). A context model called without it scores
        each line alone; a single-line model given a context raises ``ValueError``.

        The probability is calibrated (``config.calibration["line"]``, Platt scaling fitted on validation at training
        time; :func:`~movie_gender.labels.calibrated_probability`); ``predict_logits``: raw log-odds."""
        return predictor.predict_proba(self, texts, context=context, batch_size=batch_size, bf16=bf16)

    def predict(
        self,
        texts: list[str],
        context: list[list[str]] | None = None,
        batch_size: int = 512,
        bf16: bool | None = None,
    ) -> list[dict[str, Any]]:
        """``[{"label": "male"|"female", "score": probability of that label}]`` for each line (``context``: see
        :meth:`predict_proba`).

        A line is labelled female when its calibrated P(female) reaches ``config.threshold``
        (:func:`movie_gender.labels.is_female`): the threshold chosen on the validation split when the
        model was trained (maximum balanced accuracy, on the calibrated scale; 0.5 for an untrained config). The
        score stays the model's calibrated probability of the label given, whatever the threshold.
        """
        return predictor.predict(self, texts, context=context, batch_size=batch_size, bf16=bf16)

    def predict_characters(
        self,
        texts: list[str],
        character_ids: list[str],
        context: list[list[str]] | None = None,
        batch_size: int = 512,
        conversation_ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """One prediction per character: P(female) from the mean log-odds of its lines (a character model: its own
        estimate from all of them with its partner term), calibrated for the number of lines it rests on
        (``config.calibration["character"]``), labelled female at ``config.character_threshold`` or above.

        ``character_ids[i]`` names the speaker of ``texts[i]``; ``context`` (one list of strings per line) is for
        models that read context; ``conversation_ids`` (one per line) give a character model its conversation
        partners. A model that reads them and is given none warns once, saying what is dropped.
        Returns ``[{"character_id", "n_lines", "p_female", "label", "score"}]`` (``score``: the probability of
        ``label``), one per character in order of first appearance.
        """
        return predictor.predict_characters(
            self, texts, character_ids, context=context, batch_size=batch_size, conversation_ids=conversation_ids
        )


__all__ = ["BiLSTMPredictor"]
