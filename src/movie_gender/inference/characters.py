"""One score per character, by one path: :func:`score_characters` of :class:`CharacterLines`.

Every use of a character score goes through it: the evaluation (``evaluate``, ``--cv``), ``predict --by character``,
``label-characters`` and :meth:`BiLSTMClassifier.predict_characters`. A line model's character score is the mean
log-odds of its lines (:func:`aggregate_logits`); a character model's is its own estimate
(:mod:`movie_gender.model.character_model`): its lines pooled, its bags, and its partner term over the
conversations of the lines given, unknown-gender speakers included.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from movie_gender.inference.logits import predict_logits
from movie_gender.labels import sigmoid
from movie_gender.model.character_model import CharacterData, base_logits, character_logits, reads_partners
from movie_gender.model.context_view import context_view_of
from movie_gender.model.partners import partner_matrix

if TYPE_CHECKING:
    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier
    from movie_gender.model.modeling import BiLSTMNetwork

logger = logging.getLogger(__name__)


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
        return sigmoid(self.mean_logit)


def aggregate_logits(character_ids: Sequence[str], logits: np.ndarray | Sequence[float]) -> CharacterScores:
    """Group the line log-odds ``logits`` by ``character_ids`` and average them."""
    ids = np.asarray(character_ids)
    names, first, inverse, counts = np.unique(ids, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    # Rounded so that equal line scores give exactly equal character scores (no float-summation order ties).
    sums = np.bincount(inverse, weights=np.asarray(logits, dtype=np.float64), minlength=len(names))
    mean = np.round(sums / counts, 9)
    return CharacterScores(names, first, inverse, counts, mean)


@dataclass
class CharacterLines:
    """The lines to score characters from: ``texts`` and their speakers ``character_ids`` (one per line, unique
    across movies), and where known each line's ``conversation_ids`` (a character model's partner term) and
    ``context`` (one list of strings per line: what the other speakers say around it)."""

    texts: Sequence[str]
    character_ids: Sequence[str]
    conversation_ids: Sequence[str] | None = None
    context: Sequence[Sequence[str]] | None = None

    def __post_init__(self) -> None:
        n = len(self.texts)
        for name in ("character_ids", "conversation_ids", "context"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"got {n} texts but {len(value)} {name.replace('_', ' ')}; give one per text")

    @classmethod
    def from_columns(cls, columns: Any) -> CharacterLines:
        """From a datasets.Dataset (or a mapping of columns): text, character_id, and conversation_id and context
        where it has them."""
        names = getattr(columns, "column_names", None) or list(columns)
        if hasattr(columns, "select_columns"):  # a Dataset: its columns in one read, not row by row
            wanted = ("text", "character_id", "conversation_id", "context")
            columns = columns.select_columns([c for c in wanted if c in names]).to_dict()
        return cls(
            list(columns["text"]),
            [str(c) for c in columns["character_id"]],
            [str(c) for c in columns["conversation_id"]] if "conversation_id" in names else None,
            list(columns["context"]) if "context" in names else None,
        )


def score_characters(
    model: BiLSTMClassifier, lines: CharacterLines, *, batch_size: int = 512, progress: bool = False
) -> CharacterScores:
    """The raw (uncalibrated) score of every character of ``lines``: a character model's own estimate from all its
    lines with its partner term, else the mean log-odds of its lines. A model that reads context or partners and is
    given none warns once (:func:`warn_missing`)."""
    warn_missing(model, lines)
    if not model.config.is_character_model:
        context = lines.context if model.config.uses_context else None
        return aggregate_logits(lines.character_ids, _line_logits(model, lines.texts, context, batch_size, progress))
    characters = aggregate_logits(lines.character_ids, np.zeros(len(lines.texts)))
    base = np.zeros(len(characters.ids), dtype=np.float64)
    for chunk in _chunks(characters):
        rows = np.flatnonzero(np.isin(characters.inverse, chunk)) if len(chunk) < len(characters.ids) else None
        data = _chunk_data(model, lines, rows)
        base[chunk] = base_logits(model, data, progress=progress)
    partners = None
    if lines.conversation_ids is not None:
        partners = partner_matrix(characters.inverse, lines.conversation_ids, len(characters.ids))
    characters.mean_logit = character_logits(model, base, partners)
    view = context_view_of(model)
    if view is not None:  # the context view's partnered mean log-odds, at the weight training chose
        settings, network = view
        view_mean = view_logits(network, lines, characters, batch_size, progress)
        characters.mean_logit = settings.mix(characters.mean_logit, view_mean, partners)
    return characters


def view_logits(
    network: BiLSTMNetwork, lines: CharacterLines, characters: CharacterScores, batch_size: int, progress: bool
) -> np.ndarray:
    """The mean log-odds of each character's lines (``characters``' order) under a context view ``network``. Each
    distinct (line, context) pair is scored once, and the network remembers the last :data:`MEMO_LINES` pairs it
    scored (an evaluation scores the same lines again for its characters cut to 1-10 lines)."""
    context = lines.context
    keys = [(t,) if context is None else (t, *context[i]) for i, t in enumerate(lines.texts)]
    memo: dict = network.__dict__.setdefault("line_memo", {})
    scores = {key: memo.get(key) for key in dict.fromkeys(keys)}  # each distinct pair once, in order
    todo = [key for key, value in scores.items() if value is None]
    if todo:
        network.warned_no_context = context is None  # the character model has warned about missing context
        texts = [key[0] for key in todo]
        around = None if context is None else [list(key[1:]) for key in todo]
        new = _line_logits(network, texts, around, batch_size, progress).tolist()
        scores.update(zip(todo, new, strict=True))
        if len(memo) + len(todo) > MEMO_LINES:
            memo.clear()
        if len(todo) <= MEMO_LINES:
            memo.update(zip(todo, new, strict=True))
    logits = np.fromiter((scores[key] for key in keys), dtype=np.float64, count=len(keys))
    sums = np.bincount(characters.inverse, weights=logits, minlength=len(characters.ids))
    return sums / characters.n_lines


MEMO_LINES = 200_000  # (line, context) pairs a context view remembers the log-odds of (a bounded memory)


def _line_logits(
    model: BiLSTMNetwork, texts: Sequence[str], context: Sequence | None, batch_size: int, progress: bool
) -> np.ndarray:
    """A line model's log-odds of each line, in chunks of :data:`CHUNK_LINES` under a progress bar."""
    out = np.zeros(len(texts), dtype=np.float64)
    with tqdm(total=len(texts), unit=" lines", unit_scale=True, desc="Scoring", disable=not progress) as bar:
        for start in range(0, len(texts), CHUNK_LINES):
            end = min(start + CHUNK_LINES, len(texts))
            part = None if context is None else list(context[start:end])
            out[start:end] = predict_logits(model, list(texts[start:end]), part, batch_size)
            bar.update(end - start)
    return out


CHUNK_LINES = 200_000  # lines tokenized at once when scoring characters (whole characters per chunk)


def _chunks(characters: CharacterScores) -> list[np.ndarray]:
    """The characters (indices, sorted like ``characters.ids``) in chunks of whole characters of about
    :data:`CHUNK_LINES` lines: memory follows the chunk, not the input."""
    bounds = np.cumsum(characters.n_lines) // CHUNK_LINES
    return [np.flatnonzero(bounds == b) for b in np.unique(bounds)]


def _chunk_data(model: BiLSTMClassifier, lines: CharacterLines, rows: np.ndarray | None) -> CharacterData:
    """The lines ``rows`` (all: None) tokenized and grouped by character (characters sorted by id)."""

    def take(values: Sequence) -> list:
        return list(values) if rows is None else [values[i] for i in rows]

    context = None if lines.context is None else take(lines.context)
    return CharacterData.build(model, take(lines.texts), take(lines.character_ids), context)


_WARNED = "_warned_character_inputs"  # the model attribute that says it has warned


def warn_missing(model: BiLSTMClassifier, lines: CharacterLines) -> None:
    """Warn once per model when it reads conversation partners or context and ``lines`` come without them. The
    character model's partner term is measured from its validation characters' mean partner score, so without
    conversation ids every character gets the average term: the score stays on the scale its calibration saw."""
    missing = []
    if reads_partners(model) and lines.conversation_ids is None:
        missing.append(
            "conversation ids: the partner term (who it talks to) is dropped, every character gets the average term"
        )
    if model.config.is_character_model and model.config.bag_of_words and lines.context is None:
        view = ", and its context view reads each line alone" if context_view_of(model) is not None else ""
        bags = "the heard-words bag is"
        if model.character_head.line_context_bag:
            bags = "the context bag and the heard-words bag are"
        missing.append(f"context: {bags} dropped (what is said around its lines){view}")
    if not missing or getattr(model, _WARNED, False):
        return
    mark_warned(model)
    logger.warning("Character scores without %s", "; without ".join(missing))


def mark_warned(model: BiLSTMClassifier) -> None:
    """Let ``model`` score characters without the warning of :func:`warn_missing` (it has warned, or its caller
    supplies what is missing another way)."""
    setattr(model, _WARNED, True)  # an nn.Module's setattr is typed for tensors and modules only


__all__ = [
    "CharacterLines",
    "CharacterScores",
    "aggregate_logits",
    "logit",
    "mark_warned",
    "score_characters",
    "warn_missing",
]
