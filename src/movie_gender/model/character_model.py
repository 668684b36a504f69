"""The character model's pooling: a character's lines, weighed by attention, plus bags of its words and of the
words said around it, as one logit per character.

A character model is a :class:`movie_gender.BiLSTMClassifier` whose config says ``character_pooling="attention"``
(the ``character`` preset). Its line encoder is the usual one (GloVe -> BiLSTM -> head: one logit per line); the
:class:`CharacterHead` adds, per character ``c`` with lines ``i``:

    logit(c) = sum_i softmax_i(attention(features_i)) * line_logit_i + own_bag(c) + heard_bag(c)

- each line's logit is the line encoder's (BiLSTM head plus the bag of the line's words) plus, where the config's
  ``line_context_bag`` is on (not in the character preset), a bag of the words said around that line
  (``context_bag``), so the line-level auxiliary loss trains both on every line;
- the attention (a small MLP over each line's pooled features) decides which lines weigh more; the softmax runs over
  the character's lines only (a segment softmax over a flat list of lines: no padding at the character level, and
  the order of the lines does not matter);
- ``own_bag``: a linear model over all the words (and hashed pairs of adjacent words) the character says, each
  weighed ``1 + log(count)`` and the vector scaled to unit length, as sublinear TF-IDF does; ``heard_bag``: the same
  over the words the other speakers say around its lines (its conversation context).

A character with a single short line still gets a score: that line's logit plus the bags of its few words.

The conversation partners (``character_partner_weight`` > 0, where the lines come with their ``conversation_id``):
movie dialogue is often between a man and a woman, so the characters a character talks to are evidence too. Its
final logit (:func:`character_logits`, the one place the score is put together) subtracts
``character_partner_weight`` times how far the mean of its partners' logits above (each partner weighed by the
lines of the conversations they share, :mod:`movie_gender.model.partners`) lies from ``partner_center``, computed
from the same model's scores of the partners' own lines: no label and no name is read. Training fits both on the
validation characters (the center a buffer saved with the weights), so a character with no partner, or lines given
without conversation ids, get the average term and stay on the scale the calibration was fitted on.

Where training keeps the state before its neural stage, the BiLSTM's output layer and the attention's last layer
are exactly 0 (:func:`neural_parts_idle`): scoring then runs no LSTM, only the bags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import sparse
from torch import nn
from tqdm.auto import tqdm

from movie_gender.configuration import BiLSTMConfig
from movie_gender.data.tokenizer import encode
from movie_gender.model.batching import MAX_PADDING, length_groups
from movie_gender.model.layers import BagOfWords
from movie_gender.model.partners import partner_matrix, with_partners

if TYPE_CHECKING:
    from movie_gender.model.modeling import BiLSTMNetwork as BiLSTMClassifier

HASH_MULTIPLIER = 1_000_003  # as the line bag of words: (first * M + second) % buckets
CHUNK_LINES = 8192  # scoring: characters are scored in chunks of about this many lines (whole characters)


class CharacterHead(nn.Module):
    """Attention over a character's line features and the two bags of words (``own_bag``, ``heard_bag``: a weight
    per word id and per hashed pair of adjacent words, stored divided by ``SCALE`` as in
    :class:`movie_gender.model.layers.BagOfWords`)."""

    SCALE = 10.0

    def __init__(self, config: BiLSTMConfig, features: int) -> None:
        super().__init__()
        last = nn.Linear(config.hidden_size, 1)
        self.attention = nn.Sequential(nn.Linear(features, config.hidden_size), nn.Tanh(), last)
        nn.init.zeros_(last.weight)  # uniform at the start: the mean of the line logits
        self.bag_of_words = config.bag_of_words
        self.line_context_bag = config.bag_of_words and config.line_context_bag
        if self.line_context_bag:
            # per line, the words said around it (the line's own words have the model's bag_of_words)
            self.context_bag = BagOfWords(config.vocab_size, config.bigram_buckets, config.pad_token_id)
        self.character_bags = config.bag_of_words and config.character_bags
        if self.character_bags:
            rows = config.vocab_size + config.bigram_buckets
            self.own_bag = nn.EmbeddingBag(rows, 1, mode="sum")
            self.heard_bag = nn.EmbeddingBag(rows, 1, mode="sum")
            nn.init.zeros_(self.own_bag.weight)
            nn.init.zeros_(self.heard_bag.weight)
        # the validation characters' mean partner logit (set by training; see the module docstring)
        self.register_buffer("partner_center", torch.zeros((), dtype=torch.float64))
        self.choices: dict = {}  # what training chose on validation (the bags' C, the partner term), not saved

    def attention_output(self) -> nn.Linear:
        """The attention's last layer (one score per line; all 0: uniform attention)."""
        last = self.attention[-1]
        if not isinstance(last, nn.Linear):
            raise TypeError(f"the attention's last layer is a {type(last).__name__}, not a Linear")
        return last

    def forward(
        self,
        features: torch.Tensor,
        line_logits: torch.Tensor,
        segment: torch.Tensor,
        n_characters: int,
        bags: tuple[BagBatch, BagBatch] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(character logits [n_characters], attention weights [lines])`` for lines of ``features`` ``[lines,
        f]`` and ``line_logits`` ``[lines]`` belonging to characters ``segment`` ``[lines]`` (0 .. n_characters-1);
        ``bags``: the characters' own and heard bags (:class:`BagBatch`), when the model has bags of words."""
        scores = self.attention(features.float()).squeeze(-1)
        weights = segment_softmax(scores, segment, n_characters)
        pooled = torch.zeros(n_characters, dtype=torch.float32, device=features.device)
        pooled = pooled.index_add(0, segment, weights * line_logits.float())
        if self.character_bags and bags is not None:
            for bag, batch in zip((self.own_bag, self.heard_bag), bags, strict=True):
                pooled = pooled + self.SCALE * batch.apply(bag, n_characters)
        return pooled, weights


def segment_softmax(scores: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax of ``scores`` within each segment (``segment[i]``: the segment of entry i)."""
    top = torch.full((n_segments,), float("-inf"), dtype=scores.dtype, device=scores.device)
    top = top.scatter_reduce(0, segment, scores, reduce="amax", include_self=True)
    exp = torch.exp(scores - top[segment])
    total = torch.zeros(n_segments, dtype=scores.dtype, device=scores.device).index_add(0, segment, exp)
    return exp / total[segment]


@dataclass
class BagBatch:
    """Bags of words of some characters, in ``nn.EmbeddingBag`` form: ``indices``, ``offsets`` (one per
    character) and ``weights``."""

    indices: torch.Tensor
    offsets: torch.Tensor
    weights: torch.Tensor

    @classmethod
    def from_rows(cls, matrix: sparse.csr_matrix, rows: np.ndarray, device: torch.device) -> BagBatch:
        """The rows ``rows`` of a CSR bag matrix (:func:`bag_matrix`)."""
        part = matrix[rows]
        return cls(
            torch.from_numpy(part.indices.astype(np.int64)).to(device),
            torch.from_numpy(part.indptr[:-1].astype(np.int64)).to(device),
            torch.from_numpy(part.data.astype(np.float32)).to(device),
        )

    def apply(self, bag: nn.EmbeddingBag, n: int, drop: float = 0.0) -> torch.Tensor:
        """``[n]``: each character's bag through ``bag``'s weights; ``drop``: drop entries at random (training)."""
        weights = self.weights
        if drop > 0:
            weights = weights * (torch.rand_like(weights) >= drop)
        if len(self.indices) == 0:
            return torch.zeros(n, device=weights.device)
        return bag(self.indices, self.offsets, per_sample_weights=weights).squeeze(-1)


def bag_matrix(
    ids: np.ndarray, lengths: np.ndarray, row_of_line: np.ndarray, n_rows: int, vocab_size: int, buckets: int
) -> sparse.csr_matrix:
    """``[n_rows, vocab_size + buckets]``: per row (a character), ``1 + log(count)`` of each word id and hashed pair
    of adjacent ids in its lines (``ids`` ``[lines, width]`` right-padded, ``lengths``), scaled to unit length."""
    valid = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    row_parts: list[np.ndarray] = [np.broadcast_to(row_of_line[:, None], ids.shape)[valid]]
    col_parts: list[np.ndarray] = [ids[valid]]
    if buckets and ids.shape[1] > 1:
        both = valid[:, 1:] & valid[:, :-1]
        pairs = (ids[:, :-1] * HASH_MULTIPLIER + ids[:, 1:]) % buckets + vocab_size
        row_parts.append(np.broadcast_to(row_of_line[:, None], pairs.shape)[both])
        col_parts.append(pairs[both])
    rows, cols = np.concatenate(row_parts), np.concatenate(col_parts)
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n_rows, vocab_size + buckets)
    )
    matrix.sum_duplicates()
    matrix.data = 1.0 + np.log(matrix.data)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).reshape(-1))
    matrix = sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix
    return matrix.tocsr().astype(np.float32)


def line_bag_matrix(ids: np.ndarray, lengths: np.ndarray, vocab_size: int, buckets: int) -> sparse.csr_matrix:
    """``[lines, vocab_size + buckets]``: the features :class:`movie_gender.model.layers.BagOfWords` reads (without word
    dropout): per line, the count of each word id and hashed pair of adjacent ids, divided by the square root of its
    length. A logistic regression on these rows (training weighs their columns by idf and stores its coefficients
    times those weights) gives the bag's weights (times ``BagOfWords.SCALE``)."""
    valid = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    line = np.broadcast_to(np.arange(len(ids))[:, None], ids.shape)
    row_parts: list[np.ndarray] = [line[valid]]
    col_parts: list[np.ndarray] = [ids[valid]]
    if buckets and ids.shape[1] > 1:
        both = valid[:, 1:] & valid[:, :-1]
        pairs = (ids[:, :-1].astype(np.int64) * HASH_MULTIPLIER + ids[:, 1:]) % buckets + vocab_size
        row_parts.append(line[:, 1:][both])
        col_parts.append(pairs[both])
    rows, cols = np.concatenate(row_parts), np.concatenate(col_parts)
    scale = 1.0 / np.sqrt(np.maximum(lengths, 1).astype(np.float64))
    matrix = sparse.csr_matrix((scale[rows], (rows, cols)), shape=(len(ids), vocab_size + buckets))
    matrix.sum_duplicates()
    return matrix


def partner_term(model: BiLSTMClassifier) -> tuple[float, float]:
    """The model's partner term: ``(weight, center)`` for :func:`movie_gender.model.partners.with_partners` (the
    weight and the center are fitted by training on the run's own train and validation characters)."""
    head = getattr(model, "character_head", None)
    center = float(head.partner_center) if head is not None and hasattr(head, "partner_center") else 0.0
    return model.config.character_partner_weight, center


def reads_partners(model: BiLSTMClassifier) -> bool:
    """Whether ``model`` has a partner term (a character model with a partner weight above 0)."""
    return model.config.is_character_model and model.config.character_partner_weight > 0


@dataclass
class CharacterData:
    """Lines grouped by character, tokenized once: line ids / lengths, each line's character (``character`` ``[lines]``
    indexes ``names``), the characters' labels (-1: unknown) and their own and heard bags of words."""

    ids: np.ndarray
    lengths: np.ndarray
    context_ids: np.ndarray
    context_lengths: np.ndarray
    character: np.ndarray
    names: np.ndarray
    labels: np.ndarray
    line_labels: np.ndarray
    own: sparse.csr_matrix | None
    heard: sparse.csr_matrix | None
    conversation_ids: list[str] | None = None

    @classmethod
    def build(
        cls,
        model: BiLSTMClassifier,
        texts: Sequence[str],
        character_ids: Sequence[str],
        context: Sequence[Sequence[str]] | None = None,
        labels: Sequence[int] | None = None,
        conversation_ids: Sequence[str] | None = None,
    ) -> CharacterData:
        """Tokenize ``texts`` (and their ``context``: one list of strings per line) with the model's tokenizer and
        group them by ``character_ids``; ``labels`` (per line) give each character the label of its lines;
        ``conversation_ids`` (per line) are kept for the partner term."""
        config = model.config
        tokenizer = model.require_tokenizer()
        ids, lengths = encode(tokenizer, list(texts))
        names, character = np.unique(np.asarray(character_ids), return_inverse=True)
        character = character.reshape(-1)
        line_labels = np.full(len(texts), -1, dtype=np.int64) if labels is None else np.asarray(labels, np.int64)
        character_labels = np.full(len(names), -1, dtype=np.int64)
        character_labels[character] = line_labels
        contexts = [" ".join(item) for item in context] if context is not None else [""] * len(texts)
        context_ids, context_lengths = encode(tokenizer, contexts)
        own = heard = None
        if config.bag_of_words:
            args = (len(names), config.vocab_size, config.bigram_buckets)
            own = bag_matrix(ids, lengths, character, *args)
            heard = bag_matrix(context_ids, context_lengths, character, *args)
        conversations = None if conversation_ids is None else [str(c) for c in conversation_ids]
        return cls(
            ids,
            lengths,
            context_ids,
            context_lengths,
            character,
            names,
            character_labels,
            line_labels,
            own,
            heard,
            conversations,
        )

    @property
    def partners(self) -> sparse.csr_matrix | None:
        """The characters' partner matrix (:func:`movie_gender.model.partners.partner_matrix`), None without
        conversation ids."""
        if self.conversation_ids is None:
            return None
        return partner_matrix(self.character, self.conversation_ids, len(self.names))

    def lines_of(self) -> list[np.ndarray]:
        """The line indices of each character, in line order."""
        order = np.argsort(self.character, kind="stable")
        bounds = np.cumsum(np.bincount(self.character, minlength=len(self.names)))[:-1]
        return np.split(order, bounds)


def character_outputs(
    model: BiLSTMClassifier,
    data: CharacterData,
    characters: np.ndarray,
    lines: np.ndarray,
    *,
    bag_dropout: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``(character logits [len(characters)], line logits [len(lines)], lines)`` for the characters ``characters``
    (indices into ``data.names``) from their lines ``lines`` (indices into data's lines; every line must belong to
    one of ``characters``). The lines run through the encoder in groups of about one length (no padded steps);
    the result depends only on each character's own lines, never on the others in the batch or their order."""
    device = model.device
    idle = not model.training and neural_parts_idle(model)
    local = np.full(len(data.names), -1, dtype=np.int64)
    local[characters] = np.arange(len(characters))
    features: list[torch.Tensor] = []  # empty when idle: uniform attention reads no features
    logits: list[torch.Tensor] = []
    groups: list[np.ndarray] = []
    # groups of about one length, as in training a line model; bf16's wider margin: fewer, fuller LSTM calls
    for group in length_groups(data.lengths, lines, max(1, len(lines)), MAX_PADDING[True]):
        group_lengths = np.maximum(data.lengths[group], 1)
        width = int(group_lengths.max())
        ids = torch.from_numpy(np.ascontiguousarray(data.ids[group, :width])).to(device)
        if idle:  # the LSTM's output would be multiplied by 0: the bags alone
            group_features, group_logits = None, _bag_logits(model, ids, torch.from_numpy(group_lengths))
        else:
            group_features, group_logits = model.line_outputs(ids, torch.from_numpy(group_lengths))
        if data.own is not None and model.character_head.line_context_bag:  # the words said around each line
            group_logits = group_logits + _context_bag(model, data, group, device)
        if group_features is not None:
            features.append(group_features)
        logits.append(group_logits)
        groups.append(group)
    order = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    segment = torch.from_numpy(local[data.character[order]]).to(device)
    bags = None
    if data.own is not None and model.character_head.character_bags:
        bags = tuple(BagBatch.from_rows(m, characters, device) for m in (data.own, data.heard))
        if bag_dropout > 0:
            bags = tuple(
                BagBatch(b.indices, b.offsets, b.weights * (torch.rand_like(b.weights) >= bag_dropout)) for b in bags
            )
    line_logits = torch.cat(logits) if logits else torch.zeros(0, device=device)
    if idle or not features:  # uniform attention reads no features
        feature_tensor = torch.zeros((len(line_logits), model.fc1.in_features), device=device)
    else:
        feature_tensor = torch.cat(features)
    character_logits, _ = model.character_head(feature_tensor, line_logits, segment, len(characters), bags)
    return character_logits, line_logits, order


def _bag_logits(model: BiLSTMClassifier, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``[lines]``: a line's logit when the BiLSTM's output layer is 0: the head's bias plus the line's bag of
    words (what :meth:`BiLSTMClassifier.line_outputs` gives then, without running the LSTM)."""
    logits = model.fc2.bias.float().expand(len(ids))
    bag = getattr(model, "bag_of_words", None)
    if bag is None:
        return logits.clone()
    valid = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
    return logits + bag(ids, valid).float()


def _context_bag(model: BiLSTMClassifier, data: CharacterData, lines: np.ndarray, device: torch.device) -> torch.Tensor:
    """``[len(lines)]``: the character head's bag of words over each line's context (word dropout in training)."""
    context_lengths = data.context_lengths[lines]
    ids = torch.from_numpy(np.ascontiguousarray(data.context_ids[lines, : max(1, int(context_lengths.max()))]))
    valid = torch.arange(ids.shape[1])[None, :] < torch.from_numpy(context_lengths)[:, None]
    keep = None
    if model.training and model.config.word_dropout > 0:
        keep = torch.rand(ids.shape) >= model.config.word_dropout
    return model.character_head.context_bag(ids.to(device), valid.to(device), None if keep is None else keep.to(device))


def character_chunks(lines_of: list[np.ndarray], chunk_lines: int = CHUNK_LINES) -> list[np.ndarray]:
    """Characters (indices) cut into chunks of whole characters with about ``chunk_lines`` lines each."""
    chunks: list[np.ndarray] = []
    current: list[int] = []
    size = 0
    for index, lines in enumerate(lines_of):
        if current and size + len(lines) > chunk_lines:
            chunks.append(np.asarray(current))
            current, size = [], 0
        current.append(index)
        size += len(lines)
    if current:
        chunks.append(np.asarray(current))
    return chunks


def base_logits(model: BiLSTMClassifier, data: CharacterData, *, progress: bool = False) -> np.ndarray:
    """``base(c)`` of every character of ``data`` from all its lines: the pooled line logits plus the character bags,
    before the partner term; in chunks of whole characters of about :data:`CHUNK_LINES` lines (eval mode)."""
    lines_of = data.lines_of()
    out = np.zeros(len(data.names), dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        with (
            torch.no_grad(),
            tqdm(total=len(data.lengths), unit=" lines", desc="Characters", disable=not progress) as bar,
        ):
            for chunk in character_chunks(lines_of):
                rows = np.concatenate([lines_of[c] for c in chunk])
                logits, _, _ = character_outputs(model, data, chunk, rows)
                out[chunk] = logits.float().cpu().numpy()
                bar.update(len(rows))
    finally:
        model.train(was_training)
    return out


def character_logits(model: BiLSTMClassifier, base: np.ndarray, partners: sparse.csr_matrix | None) -> np.ndarray:
    """The character model's logit, ``base(c)`` (:func:`base_logits`) minus its partner term over ``partners``
    (:func:`movie_gender.model.partners.partner_matrix`; ``None``: no conversations, no term). The one place the
    character score is put together: training, evaluation and prediction all call it."""
    return with_partners(base, partners, *partner_term(model))


def neural_parts_idle(model: BiLSTMClassifier) -> bool:
    """Whether the BiLSTM's output layer and the attention's last layer are exactly 0: the line logit is then the
    bags' alone and the attention uniform, so scoring needs no LSTM pass (the state training keeps when its neural
    stage does not improve the validation characters)."""
    head = model.character_head
    return bool((model.fc2.weight == 0).all() and (head.attention_output().weight == 0).all())


__all__ = [
    "CharacterHead",
    "CharacterData",
    "BagBatch",
    "bag_matrix",
    "line_bag_matrix",
    "partner_term",
    "reads_partners",
    "base_logits",
    "neural_parts_idle",
    "segment_softmax",
    "character_outputs",
    "character_logits",
    "character_chunks",
]
