"""Baselines the model is compared with, in a small registry.

A baseline is fitted on the natural train lines (never the oversampled copies) with class-balanced weights, then
scores P(female) for other lines. :func:`fit_baseline` builds one by name; a new baseline is one
:func:`register_baseline` call: a factory taking :class:`BaselineResources` (seed, tokenizer, embedding matrix)
and returning an object with ``fit(texts, labels, **inputs)`` and ``score(texts, **inputs)``, where ``inputs`` are
the extra dataset columns the baseline declares (e.g. ``context``).

- ``always_male``: P(female) = 0 for every line.
- ``tfidf_logreg``: TF-IDF of word 1-2 grams + logistic regression.
- ``glove_mean_logreg``: the mean of the line's word vectors (the same matrix the model starts from) + logistic
  regression: what a bag of GloVe vectors gets without the LSTM.
- ``tfidf_context_logreg``: TF-IDF of the line and, in a vocabulary of its own, of its context (the lines of other
  speakers around it) + logistic regression: the baseline beside a context model; at the character level (the mean
  log-odds of a character's line scores) it is also in the defaults (:data:`CHARACTER_BASELINES`).
- ``tfidf_character_logreg``: one document per character (all its lines joined), TF-IDF + logistic regression
  fitted on the train characters: a character-level baseline only (``levels=("character",)``); each line is
  scored with its character's P(female).
- ``tfidf_character_context_logreg``: as ``tfidf_character_logreg`` plus, in a vocabulary of its own, everything
  said around the character's lines (their contexts joined): the character baseline with the inputs of a
  character model.
- ``tfidf_stack``: the two TF-IDF character scorers summed (the mean log-odds of ``tfidf_context_logreg`` plus the
  log-odds of ``tfidf_character_logreg``): with the partner term (``tfidf_stack_partners``) the strongest stack of
  TF-IDF scorers measured before the character model's context view, the bar it has to clear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from movie_gender.data.columns import read_columns
from movie_gender.data.tokenizer import encode
from movie_gender.evaluation.tfidf import (
    Labels,
    TfidfCharacterLogreg,
    TfidfContextLogreg,
    TfidfLogreg,
    TfidfStack,
    character_groups,
)


class Baseline(Protocol):
    """A fitted-then-scoring baseline. The registry calls ``fit(texts, labels, **inputs)`` and
    ``score(texts, **inputs)`` with ``inputs`` the extra columns named in the baseline's entry, as keywords; each
    baseline declares the ones it reads (``context``, ``character_id``), so the signature here is left open
    (``*args: Any, **inputs: Any``) beyond the texts and the labels."""

    def fit(self, texts: Sequence[str], labels: Labels, /, *args: Any, **inputs: Any) -> Baseline:
        """Fit on the training lines and their labels; return the fitted baseline."""

    def score(self, texts: Sequence[str], /, *args: Any, **inputs: Any) -> np.ndarray:
        """P(female) for each line."""


@dataclass
class BaselineResources:
    """What a baseline may need besides the lines: a seed, and the model's tokenizer and embedding matrix."""

    seed: int = 0
    tokenizer: Any = None  # a tokenizers.Tokenizer
    embeddings: np.ndarray | None = None  # [vocab_size, dim], rows aligned with the tokenizer's ids
    # Baselines already fitted on the same train lines, by name: a stack of baselines reuses them (baseline_scores)
    fitted: dict[str, Any] = field(default_factory=dict)


@dataclass
class BaselineSpec:
    """A registry entry: how to build the baseline, which extra columns it reads, which resources it needs."""

    name: str
    factory: Callable[[BaselineResources], Baseline]
    inputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    description: str = ""
    levels: tuple[str, ...] = ("line", "character")
    display: str = ""  # the short name of tables and plots (default: the description)
    plotted: bool = True  # drawn in the line ROC plot (a line-level baseline only)
    partnered: bool = True  # also reported per character with the partner term (evaluation.partnered)
    reported: str = ""  # "always": beside every model; "characters": wherever characters are evaluated; "": on request

    @property
    def label(self) -> str:
        """The name tables and plots show."""
        return self.display or self.description or self.name


BASELINES: dict[str, BaselineSpec] = {}


def register_baseline(
    name: str,
    factory: Callable[[BaselineResources], Baseline],
    *,
    inputs: tuple[str, ...] = (),
    needs: tuple[str, ...] = (),
    description: str = "",
    levels: tuple[str, ...] = ("line", "character"),
    display: str = "",
    plotted: bool = True,
    partnered: bool = True,
    reported: str = "",
) -> BaselineSpec:
    """Add (or replace) a baseline in the registry; ``needs`` names BaselineResources fields it cannot do without,
    ``levels`` where it is reported (a character baseline scores each line with its character's P(female), which is
    no line-level score); ``display`` its short name in tables and plots, ``plotted`` whether the line ROC plot
    draws it, ``partnered`` whether it is also reported per character with the partner term, ``reported`` when
    the evaluation reports it unasked (``"always"``, ``"characters"``: where characters are evaluated)."""
    if reported not in ("", "always", "characters"):
        raise ValueError(f"reported must be '', 'always' or 'characters', got {reported!r}")
    spec = BaselineSpec(
        name, factory, tuple(inputs), tuple(needs), description, tuple(levels), display, plotted, partnered, reported
    )
    BASELINES[name] = spec
    return spec


def reported_baselines(characters: bool = True) -> tuple[str, ...]:
    """The baselines the evaluation reports unasked, in registry order: those registered ``reported="always"``, and
    with ``characters`` those registered ``reported="characters"``."""
    kinds = ("always", "characters") if characters else ("always",)
    return tuple(name for name, spec in BASELINES.items() if spec.reported in kinds)


def available_baselines(names: Sequence[str], resources: BaselineResources, columns: Sequence[str]) -> list[str]:
    """The baselines of ``names`` whose resources are present and whose extra columns the data has."""
    missing = [n for n in names if n not in BASELINES]
    if missing:
        raise ValueError(f"unknown baseline(s) {', '.join(missing)}; known: {', '.join(BASELINES)}")
    return [
        n
        for n in names
        if all(getattr(resources, r) is not None for r in BASELINES[n].needs)
        and all(c in columns for c in BASELINES[n].inputs)
    ]


def fit_baseline(name: str, train: Any, resources: BaselineResources | None = None) -> Baseline:
    """Fit baseline ``name`` on ``train`` (a datasets.Dataset or a mapping of columns: text, label, + its inputs)."""
    spec = BASELINES[name]
    baseline = spec.factory(resources or BaselineResources())
    columns = read_columns(train, ["text", "label", *spec.inputs])
    texts, labels = columns.pop("text"), np.asarray(columns.pop("label"))
    return baseline.fit(texts, labels, **columns)


def score_baseline(name: str, baseline: Baseline, split: Any) -> np.ndarray:
    """P(female) of every line of ``split`` (a datasets.Dataset or a mapping of columns)."""
    columns = read_columns(split, ["text", *BASELINES[name].inputs])
    return np.asarray(baseline.score(columns.pop("text"), **columns), dtype=np.float64)


def baseline_scores(
    names: Sequence[str], train: Any, splits: Mapping[str, Any], resources: BaselineResources | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Fit each baseline once on ``train``; ``{split name: {baseline: P(female) per line}}`` for each of ``splits``."""
    out: dict[str, dict[str, np.ndarray]] = {key: {} for key in splits}
    resources = replace(resources or BaselineResources(), fitted={})
    inputs = list(dict.fromkeys(["text", *(c for name in names for c in BASELINES[name].inputs)]))
    train_columns = read_columns(train, [*inputs, "label"])  # each split's columns read once for all baselines
    split_columns = {key: read_columns(split, inputs) for key, split in splits.items()}
    for name in names:
        baseline = fit_baseline(name, train_columns, resources)
        resources.fitted[name] = baseline
        for key, columns in split_columns.items():
            out[key][name] = score_baseline(name, baseline, columns)
    return out


def _needed(value: np.ndarray | None, name: str) -> np.ndarray:
    """``value``, a resource the baseline cannot do without (available_baselines leaves it out where it is None)."""
    if value is None:
        raise ValueError(f"this baseline needs BaselineResources.{name}")
    return value


# ------------------------------------------------------------------------------------------------- the baselines
class AlwaysMale:
    """P(female) = 0: the majority class, the floor every scorer must clear."""

    def fit(self, texts: Sequence[str], labels: Labels, **inputs: Sequence[Any]) -> AlwaysMale:
        """Nothing to learn: return the baseline unchanged."""
        return self

    def score(self, texts: Sequence[str], **inputs: Sequence[Any]) -> np.ndarray:
        """Zeros: P(female) = 0 for every line."""
        return np.zeros(len(texts))


def mean_vectors(tokenizer: Any, embeddings: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """``[n, dim]``: the mean of each line's token vectors (tokens as the model's tokenizer cuts them; an empty
    line gets zeros). Computed as a sparse count matrix times the embedding matrix, never ``[n, time, dim]``."""
    ids, lengths = encode(tokenizer, texts)
    n = len(lengths)
    if n == 0:
        return np.zeros((0, embeddings.shape[1]), dtype=np.float64)
    mask = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    rows = np.repeat(np.arange(n), lengths)
    counts = sparse.csr_matrix((np.ones(len(rows)), (rows, ids[mask])), shape=(n, embeddings.shape[0]))
    return np.asarray(counts @ embeddings.astype(np.float64)) / np.maximum(lengths, 1)[:, None]


class GloveMeanLogreg:
    """Mean GloVe vector of the line (standardised) + class-balanced logistic regression."""

    def __init__(self, tokenizer: Any, embeddings: np.ndarray, seed: int = 0) -> None:
        self.tokenizer, self.embeddings = tokenizer, np.asarray(embeddings)
        self.scaler = StandardScaler()
        self.classifier = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)

    def fit(self, texts: Sequence[str], labels: Labels, **inputs: Sequence[Any]) -> GloveMeanLogreg:
        """Fit the scaler and the classifier on the mean vectors of the training lines."""
        features = self.scaler.fit_transform(mean_vectors(self.tokenizer, self.embeddings, texts))
        self.classifier.fit(features, np.asarray(labels))
        return self

    def score(self, texts: Sequence[str], **inputs: Sequence[Any]) -> np.ndarray:
        """P(female) for each line."""
        features = self.scaler.transform(mean_vectors(self.tokenizer, self.embeddings, texts))
        return self.classifier.predict_proba(features)[:, 1]


register_baseline(
    "always_male",
    lambda r: AlwaysMale(),
    reported="always",
    description="always male",
    display="always male",
    plotted=False,
    partnered=False,
)
register_baseline(
    "tfidf_logreg",
    lambda r: TfidfLogreg(r.seed),
    reported="always",
    description="TF-IDF (1-2 grams) + logistic regression",
    display="TF-IDF + LR",
)
register_baseline(
    "glove_mean_logreg",
    lambda r: GloveMeanLogreg(r.tokenizer, _needed(r.embeddings, "embeddings"), r.seed),
    needs=("tokenizer", "embeddings"),
    reported="always",
    description="mean GloVe vector + logistic regression",
    display="mean GloVe + LR",
)
# Not a default: evaluate() adds it for context models (the lines of other speakers are not the line's own).
register_baseline(
    "tfidf_context_logreg",
    lambda r: TfidfContextLogreg(r.seed, r.fitted),
    inputs=("context",),
    description="TF-IDF (1-2 grams) of the line and, separately, of its context + logistic regression",
    display="TF-IDF (line + context) + LR",
    reported="characters",
)
register_baseline(
    "tfidf_character_logreg",
    lambda r: TfidfCharacterLogreg(r.seed),
    inputs=("character_id",),
    levels=("character",),
    description="TF-IDF (1-2 grams) of one document per character (its lines joined) + logistic regression",
    display="TF-IDF, one document per character + LR",
    reported="characters",
)
register_baseline(
    "tfidf_character_context_logreg",
    lambda r: TfidfCharacterLogreg(r.seed, context=True, fitted=r.fitted),
    inputs=("character_id", "context"),
    levels=("character",),
    description="TF-IDF (1-2 grams) of one document per character and, separately, of what is said around its "
    "lines + logistic regression",
    display="TF-IDF, document per character + its context, + LR",
    reported="characters",
)

register_baseline(
    "tfidf_stack",
    lambda r: TfidfStack(r.seed, r.fitted),
    inputs=("character_id", "context"),
    levels=("character",),
    description="the mean log-odds of TF-IDF (line + context) + LR plus the log-odds of TF-IDF, one document per "
    "character, + LR: the two TF-IDF character scorers summed",
    display="TF-IDF stack (line + context, and document per character)",
    reported="characters",
)
register_baseline(
    "tfidf_line_stack",
    lambda r: TfidfStack(r.seed, r.fitted, context=False),
    inputs=("character_id",),
    levels=("character",),
    description="the mean log-odds of TF-IDF (the line alone) + LR plus the log-odds of TF-IDF, one document per "
    "character, + LR: the stack without what is said around the lines",
    display="TF-IDF stack (line, and document per character)",
    reported="characters",
)


def scorer_label(name: str, long: bool = False) -> str:
    """The name tables and plots show for scorer ``name`` (``long``: the registry's description, as the model card
    prints it): this model, a registered baseline, a baseline with the partner term (``NAME_partners``) or the
    character model's convex parts (``convex``, ``convex_partners``); an unknown name as it is."""
    base, partners = (name[: -len("_partners")], True) if name.endswith("_partners") else (name, False)
    labels = {"model": "this model", "convex": "this model's convex parts (its bags of words)"}
    if base in labels:
        label = labels[base]
    elif base in BASELINES:
        label = BASELINES[base].description if long and BASELINES[base].description else BASELINES[base].label
    else:
        label = base
    return f"{label}, with the partner term" if partners else label


# The registry's defaults, derived from it: reported beside every model, and (where the data has their columns)
# beside every model at the character level too.
DEFAULT_BASELINES = reported_baselines(characters=False)
CHARACTER_BASELINES = tuple(name for name in reported_baselines() if name not in DEFAULT_BASELINES)


__all__ = [
    "Baseline",
    "BaselineResources",
    "BaselineSpec",
    "BASELINES",
    "DEFAULT_BASELINES",
    "CHARACTER_BASELINES",
    "character_groups",
    "TfidfCharacterLogreg",
    "register_baseline",
    "reported_baselines",
    "scorer_label",
    "available_baselines",
    "fit_baseline",
    "score_baseline",
    "baseline_scores",
    "mean_vectors",
    "AlwaysMale",
    "TfidfLogreg",
    "GloveMeanLogreg",
    "TfidfContextLogreg",
    "TfidfStack",
]
