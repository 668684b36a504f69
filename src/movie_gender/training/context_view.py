"""Fitting a character model's context view (:mod:`movie_gender.model.context_view`) on the run's own data.

With ``--context-view-epochs N`` (the character preset: 3) the run also trains the ``context`` preset's network (a
BiLSTM over each line and a second one over the lines of the other speakers around it, on line labels, early
stopping on validation lines) on the same train split and tokenizer. On the validation characters, with the
unknown-gender speakers of their movies as partners, it then fits the view's own partner term
(:func:`movie_gender.model.partners.fit_partner_term`) and the mix: ``a * character / sd + (1 - a) * view / sd``
over :data:`MIX_GRID`, the ``a`` of the best validation ROC-AUC (ties: the larger ``a``, the less view). The view is
kept at weight ``(1 - a) / a * sd(character) / sd(view)``; where ``a`` is 1 it is not kept (no zero-weighted part).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import roc_auc_score

from movie_gender.configuration import TrainOptions
from movie_gender.data.columns import read_column
from movie_gender.inference.characters import CharacterLines, score_characters, view_logits
from movie_gender.model.context_view import ContextView
from movie_gender.model.partners import fit_partner_term, partner_matrix
from movie_gender.presets import PRESETS

if TYPE_CHECKING:
    import datasets

    from movie_gender.inference.classifier import BiLSTMPredictor

logger = logging.getLogger(__name__)

MIX_GRID = tuple(round(a, 1) for a in np.linspace(0.1, 1.0, 10))  # the character score's share, chosen on validation
# The view's Adam learning rate: the context preset's 3e-3 left its two epochs undertrained. 6e-3, then 1.2e-2, were
# kept by the view's validation line ROC-AUC over the five --cv folds of split seed 42, by rules set before the runs
# (docs/character-model.md).
LEARNING_RATE = 1.2e-2


def view_options(options: TrainOptions) -> TrainOptions:
    """The context view's training run: the ``context`` preset's network and optimisation (at the view's own
    :data:`LEARNING_RATE`) for ``context_view_epochs`` epochs, with the character run's data, vocabulary, GloVe, seed
    and device."""
    context = PRESETS["context"]
    training = replace(
        context.training,
        learning_rate=LEARNING_RATE,
        epochs=options.training.context_view_epochs,
        seed=options.training.seed,
        device=options.training.device,
        bf16=options.training.bf16,
        max_steps=options.training.max_steps,
    )
    return replace(
        options,
        model=context.model,
        training=training,
        preset="context",
        checkpoint_dir=None,
        resume=False,
        report_to="none",
    )


def add_context_view(
    model: BiLSTMPredictor, view: BiLSTMPredictor, validation: datasets.Dataset, line_auc: float | None = None
) -> dict:
    """Fit how the character ``model`` mixes in the trained line model ``view`` on the ``validation`` split (its
    labelled characters, with unknown-gender partners, label -1) and keep the view in ``model`` where its weight is
    above 0. Returns what was chosen (also in ``model.character_head.choices["context_view"]``), with ``line_auc``
    (the view's validation line ROC-AUC at the epoch its training kept) as ``line_validation_auc`` when given."""
    if view.require_tokenizer().to_str() != model.require_tokenizer().to_str():
        raise ValueError("the context view was trained with another tokenizer than the character model")
    lines = CharacterLines.from_columns(validation)
    characters = score_characters(model, lines)
    labels = np.full(len(characters.ids), -1, dtype=np.int64)
    labels[characters.inverse] = np.asarray(read_column(validation, "label"))
    partners = None
    if lines.conversation_ids is not None:
        partners = partner_matrix(characters.inverse, lines.conversation_ids, len(characters.ids))
    view_mean = view_logits(view, lines, characters, batch_size=512, progress=False)
    term = fit_partner_term(view_mean, partners, labels)
    known = labels >= 0
    own, other = characters.mean_logit[known], term.apply(view_mean, partners)[known]
    spread = (float(np.std(own)) or 1.0, float(np.std(other)) or 1.0)
    auc = {a: float(roc_auc_score(labels[known], a * own / spread[0] + (1 - a) * other / spread[1])) for a in MIX_GRID}
    share = max(auc, key=lambda a: (round(auc[a], 12), a))
    weight = (1 - share) / share * spread[0] / spread[1]
    alone = float(roc_auc_score(labels[known], own))
    chosen = {
        "share": share,
        "weight": weight,
        "partner": term.to_dict(),
        "validation_auc": {str(a): v for a, v in auc.items()},
        "validation_auc_without": alone,
        **({"line_validation_auc": line_auc} if line_auc is not None else {}),
    }
    model.character_head.choices["context_view"] = chosen
    if weight <= 0:
        logger.info("Context view: not kept (validation ROC-AUC %.4f without it is the best)", alone)
        return chosen
    settings = ContextView(weight, term.weight, term.center, _line_config(view))
    model.config.context_view = settings.to_dict()
    model.attach_context_view(view)
    logger.info(
        "Context view: kept at weight %.3f (share %.1f of the standardised sum, partner weight %.2f): validation "
        "ROC-AUC %.4f, without it %.4f",
        weight,
        share,
        term.weight,
        auc[share],
        alone,
    )
    return chosen


def _line_config(view: BiLSTMPredictor) -> dict:
    """The view network's config as config.json keeps it: no thresholds or calibration of its own (the character
    model is calibrated as a whole)."""
    config = replace(view.config, calibration=None, threshold=0.5, character_threshold=0.5)
    return config.to_dict()


__all__ = ["MIX_GRID", "LEARNING_RATE", "add_context_view", "view_options"]
