"""Character scorers with the conversation-partner term, and the character model's ablation.

Every character scorer (a character baseline, or a line baseline averaged per character) is also reported with the
partner term of :mod:`movie_gender.model.partners`, under its name plus ``_partners``: its character log-odds minus
``weight`` times how far the mean log-odds of the characters it talks to lie from ``center``. The term is fitted
the same way as the character model's, inside the run, on the validation characters: ``center`` their mean partner
score, ``weight`` the best validation ROC-AUC of :data:`movie_gender.model.partners.WEIGHT_GRID`. Every
character of a split takes part as a partner; metrics are computed on the labelled ones.

Beside a character model two more scorers make its ablation: ``convex`` (the model's convex parts alone: the bags,
with the BiLSTM's output and the attention at 0, no partner term, no context view) and ``convex_partners`` (the
same with a partner term fitted as above), so that the full model shows what its networks add.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from movie_gender.data.corpus import read_corpus
from movie_gender.evaluation.baselines import BASELINES
from movie_gender.inference.characters import CharacterLines, aggregate_logits, logit, mark_warned, score_characters
from movie_gender.model.partners import PartnerTerm, fit_partner_term, partner_matrix

if TYPE_CHECKING:
    import datasets

    from movie_gender.configuration import DataOptions
    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier

SUFFIX = "_partners"
CONVEX = "convex"


def convex_part(model: BiLSTMClassifier) -> BiLSTMClassifier:
    """A copy of a character model with its neural parts at 0 (the BiLSTM head's output layer, the attention's last
    layer: uniform), no partner term and no context view: the convex stages of its training alone."""
    convex = copy.deepcopy(model)
    last = convex.character_head.attention[-1]
    if not isinstance(last, torch.nn.Linear):
        raise TypeError(f"the character model's attention must end in a Linear layer, not {type(last).__name__}")
    with torch.no_grad():
        convex.fc2.weight.zero_()
        last.weight.zero_()
        last.bias.zero_()
    convex.config.character_partner_weight = 0.0
    if convex.config.context_view:  # nor its context view (model.context_view)
        del convex.context_view
        convex.config.context_view = None
    # The splits' conversations are read by the partnered scorer: no warning about missing character inputs.
    mark_warned(convex)
    return convex


def model_character_scores(model: BiLSTMClassifier, split: datasets.Dataset, batch_size: int = 512) -> np.ndarray:
    """Each line of ``split`` with its character's raw P(female) from the character model's own estimate
    (:func:`movie_gender.inference.characters.score_characters`, all the split's characters as partners), so that
    the character-level aggregation of these line scores returns exactly the character's estimate."""
    scores = score_characters(model, CharacterLines.from_columns(split), batch_size=batch_size)
    return 1.0 / (1.0 + np.exp(-scores.mean_logit[scores.inverse]))


def add_character_scorers(
    model: BiLSTMClassifier,
    character: dict[str, dict[str, np.ndarray]],
    scored: Mapping[str, datasets.Dataset],
    batch_size: int = 512,
) -> dict[str, PartnerTerm]:
    """Complete the character scorers of each split (``character``: ``{"validation"|"evaluated": {scorer:
    P(female) per line of scored[key]}}``, in place): a character model's own estimate (``model``) and its convex
    parts (``convex``), then every scorer's partnered twin (:func:`add_partnered`). Returns the fitted partner
    terms."""
    if getattr(getattr(model, "config", None), "is_character_model", False):
        convex = convex_part(model)
        for key, split in scored.items():  # the character model's own pooled estimate, not its averaged lines
            character[key]["model"] = model_character_scores(model, split, batch_size)
            character[key][CONVEX] = model_character_scores(convex, split, batch_size)
    return add_partnered(character, scored)


def with_unknown(
    splits: Mapping[str, datasets.Dataset], unknown: Mapping[str, datasets.Dataset] | None
) -> dict[str, datasets.Dataset]:
    """Each split with the lines of ``unknown[key]`` (unknown-gender speakers, label -1) after its own lines, in the
    columns both have; a split without unknown lines as it is."""
    import datasets

    out = dict(splits)
    for key, extra in (unknown or {}).items():
        if key not in splits or extra is None or len(extra) == 0:
            continue
        split = splits[key]
        columns = [c for c in split.column_names if c in extra.column_names]
        own = split.select_columns(columns)
        out[key] = datasets.concatenate_datasets([own, extra.select_columns(columns).cast(own.features)])
    return out


def unknown_lines(
    data: DataOptions, dataset: datasets.DatasetDict, corpus: datasets.Dataset | None = None, evaluated: str = "test"
) -> dict[str, datasets.Dataset] | None:
    """The lines of the unknown-gender speakers of each split's movies (``validation``, ``evaluated``):
    the conversation partners the labelled characters also have in ``predict --by character``. ``corpus``: the
    corpus read with ``include_unknown`` (read here when not given); ``evaluated``: the split evaluated. None for a
    prepared dataset or a split that is not by movie."""
    if data.dataset or data.split != "movie":
        return None
    if corpus is None:
        corpus, _ = read_corpus(replace(data.reading(), include_unknown=True))
    columns = corpus.select_columns(["label", "movie_id"]).to_dict()  # one read of the columns, not one per row
    movies = np.asarray(columns["movie_id"])
    unknown = np.asarray(columns["label"]) < 0
    keys = {"validation": "validation", "evaluated": evaluated}
    out = {}
    for key, name in keys.items():
        split_movies = np.unique(dataset[name].select_columns(["movie_id"]).to_dict()["movie_id"])
        out[key] = corpus.select(np.flatnonzero(unknown & np.isin(movies, split_movies)))
    return out


def partnered_names(names: list[str]) -> list[str]:
    """The scorers that get a partnered twin: every scorer but the model itself and those registered without one."""
    return [n for n in names if n != "model" and (n == CONVEX or BASELINES[n].partnered)]


def add_partnered(
    level_scores: Mapping[str, dict[str, np.ndarray]], splits: Mapping[str, datasets.Dataset]
) -> dict[str, PartnerTerm]:
    """Add ``NAME_partners`` beside each character scorer of ``level_scores`` (``{"validation"|"evaluated": {scorer:
    P(female) per line}}``, the character level of each split in ``splits``), in place, its term fitted on the
    validation characters; returns the fitted terms. Nothing is added where the splits have no
    ``conversation_id``."""
    if any("conversation_id" not in split.column_names for split in splits.values()):
        return {}
    grouped = {key: _characters(split) for key, split in splits.items()}
    terms = {}
    for name in partnered_names(list(level_scores["evaluated"])):
        means = {key: _character_means(grouped[key], level_scores[key][name]) for key in splits}
        validation = grouped["validation"]
        term = fit_partner_term(means["validation"], validation["partners"], validation["labels"])
        terms[name + SUFFIX] = term
        for key in ("validation", "evaluated"):
            partnered = term.apply(means[key], grouped[key]["partners"])
            level_scores[key][name + SUFFIX] = 1.0 / (1.0 + np.exp(-partnered[grouped[key]["inverse"]]))
    return terms


def _characters(split: datasets.Dataset) -> dict:
    """A split's characters: each line's character (``inverse``), their labels and their partner matrix."""
    columns = split.select_columns(["character_id", "conversation_id", "label"]).to_dict()
    grouped = aggregate_logits([str(c) for c in columns["character_id"]], np.zeros(len(columns["label"])))
    labels = np.full(len(grouped.ids), -1, dtype=np.int64)
    labels[grouped.inverse] = np.asarray(columns["label"], dtype=np.int64)
    partners = partner_matrix(grouped.inverse, columns["conversation_id"], len(grouped.ids))
    return {"inverse": grouped.inverse, "labels": labels, "partners": partners}


def _character_means(grouped: dict, scores: np.ndarray) -> np.ndarray:
    """Each character's mean log-odds of its lines' P(female) ``scores``."""
    inverse = grouped["inverse"]
    sums = np.bincount(inverse, weights=logit(scores), minlength=len(grouped["labels"]))
    return sums / np.maximum(np.bincount(inverse, minlength=len(grouped["labels"])), 1)


__all__ = [
    "CONVEX",
    "SUFFIX",
    "add_character_scorers",
    "add_partnered",
    "with_unknown",
    "convex_part",
    "model_character_scores",
    "partnered_names",
]
