"""BiLSTMConfig and BiLSTMClassifier: a GloVe-initialised bidirectional LSTM that saves and loads like a Hub model.

A model folder holds config.json (plain JSON), model.safetensors (weights only) and tokenizer.json (the whole
tokenizer). ``from_pretrained`` loads strictly and from safetensors only; a pickle checkpoint is refused.

Compared with the tutorial, two defects are fixed: the tutorial applied dropout to the output logits and had no
non-linearity between fc1 and fc2 (two stacked linear layers collapse into one). Here dropout acts on the LSTM
features and on the hidden layer, with a ReLU between fc1 and fc2.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError
from tokenizers import Tokenizer
from torch import nn

from movie_gender.atomic import atomic_folder
from movie_gender.configuration import CONFIG_NAME, CONTEXT_ENCODERS, POOLING, BiLSTMConfig
from movie_gender.data.download import atomic_path
from movie_gender.data.tokenizer import encode
from movie_gender.errors import ModelLoadError, first_line
from movie_gender.evaluation.calibration import calibrated_probability, is_female
from movie_gender.hub.cards import PROJECT_URL, TAGS, card_examples, render_model_card
from movie_gender.inference.characters import aggregate_logits
from movie_gender.model.persistence import MODEL_FOLDER_CONTENT, load_model_folder, model_file, save_model_folder
from movie_gender.model.precision import (
    BF16_MIN_HIDDEN_ON_CPU,
    autocast,
    bf16_recommended,
    bf16_supported,
    resolve_bf16,
)
from movie_gender.training.record import RECORD_NAME, RunRecord, as_record

logger = logging.getLogger(__name__)


def _lstm(config: BiLSTMConfig) -> nn.LSTM:
    """The BiLSTM of the config's shape (the line encoder, and the context encoder where it is a separate one)."""
    return nn.LSTM(
        config.embedding_dim,
        config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        batch_first=True,
        dropout=config.dropout if config.num_layers > 1 else 0.0,
    )


class BagOfWords(nn.Module):
    """A logistic regression on a line's words and pairs of adjacent words, inside the model: ``[batch]`` logits.

    A weight per word id (``words``) and per pair of adjacent ids hashed into ``buckets`` rows (``pairs``; none when
    ``buckets`` is 0), summed over the valid positions of the line and divided by the square root of its length
    (the norm of its count vector, as TF-IDF normalises). The weights start at 0 and are stored divided by
    ``SCALE``: Adam moves every parameter by about the learning rate per step, and a linear model over words needs
    weights of a few units where the LSTM's are of order 0.1, so the bag of words learns ``SCALE`` times as fast.
    """

    SCALE = 10.0
    HASH_MULTIPLIER = 1_000_003  # a prime above any vocabulary size: (first * M + second) % buckets

    def __init__(self, vocab_size: int, buckets: int, pad_token_id: int) -> None:
        super().__init__()
        self.buckets = buckets
        self.words = nn.Embedding(vocab_size, 1, padding_idx=pad_token_id)
        nn.init.zeros_(self.words.weight)
        if buckets:
            self.pairs = nn.Embedding(buckets, 1)
            nn.init.zeros_(self.pairs.weight)

    def forward(self, input_ids: torch.Tensor, valid: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of lines ``input_ids`` ``[batch, time]``; ``valid`` marks their words (``[batch, time]`` bool),
        ``keep`` the words that word dropout kept (training only)."""
        used = valid if keep is None else valid & keep
        total = (self.words(input_ids).squeeze(-1).float() * used).sum(dim=1)
        if self.buckets:
            pairs = self.pairs(self.pair_ids(input_ids)).squeeze(-1).float()
            total = total + (pairs * (used[:, 1:] & used[:, :-1])).sum(dim=1)
        return self.SCALE * total / valid.sum(dim=1).clamp(min=1).to(total.dtype).sqrt()

    def pair_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``[batch, time - 1]`` rows of ``pairs`` for each two adjacent ids: ``(first * M + second) % buckets``."""
        return (input_ids[:, :-1] * self.HASH_MULTIPLIER + input_ids[:, 1:]) % self.buckets


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout, as ``nn.functional.dropout``; on a CPU the mask comes from ``torch.rand`` (~2.5x faster
    there than the ``bernoulli_`` behind ``nn.functional.dropout``: 3% of a tutorial training step)."""
    if x.device.type != "cpu":
        return nn.functional.dropout(x, p, training=True)
    return x * torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))


def valid_positions(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``[batch, width]`` bool, True where right-padded lines of ``lengths`` (``[batch]``) hold a word."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


# How much longer than its shortest line a batch's longest may be, by precision (bf16 or not): in fp32 the LSTM's
# cost is its arithmetic, so padding costs; in bf16 it is the work per time step, so fuller batches win over less
# padding (measured on the tutorial model, for prediction and training, scripts/benchmark.py).
MAX_PADDING = {False: 0.125, True: 0.5}


def length_groups(lengths: np.ndarray, index: np.ndarray, batch_size: int, max_padding: float) -> list[np.ndarray]:
    """The lines ``index`` sorted by decreasing length (ties in input order) and cut into groups of up to
    ``batch_size`` whose longest line is at most ``max_padding`` longer than their shortest (always at least one
    line): the batches of ``predict`` and the length groups of a training step."""
    order = index[np.argsort(-lengths[index], kind="stable")]
    sorted_lengths = np.maximum(lengths[order], 1)
    groups, start = [], 0
    while start < len(order):
        end = min(start + batch_size, len(order))
        shortest_allowed = int(sorted_lengths[start]) / (1 + max_padding)
        # the lengths are non-increasing: the first line too short for this group ends it
        end = max(start + 1, start + int(np.searchsorted(-sorted_lengths[start:end], -shortest_allowed, side="right")))
        groups.append(order[start:end])
        start = end
    return groups


def _rows(ids: np.ndarray, rows: np.ndarray, width: int, device: torch.device) -> torch.Tensor:
    """``ids[rows, :width]`` as a contiguous tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(ids[rows, :width])).to(device, non_blocking=True)


@dataclass
class ClassifierOutput:
    """``logits``: ``[batch]`` scores for the female class (sigmoid -> P(female)); ``loss`` when labels were given."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


class BiLSTMClassifier(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="movie-gender",
    tags=list(TAGS),
    license="mit",
    pipeline_tag="text-classification",
    repo_url=PROJECT_URL,
):
    """Embedding (GloVe) -> BiLSTM -> pooled features -> dropout -> fc1 -> ReLU -> dropout -> fc2 -> one logit, plus,
    where ``config.bag_of_words`` (the default), the logit of a :class:`BagOfWords` over the line's word ids
    (``bag_of_words.*`` weights). ``config.word_dropout`` drops words at random in training.

    A context model (``config.context_encoder`` "shared" or "separate") also reads the lines of the other speakers
    around each line, joined into one sequence, with the same embedding and a BiLSTM of its own ("separate":
    ``context_lstm.*`` weights) or the line's ("shared"); the two pooled feature vectors are concatenated before fc1.

    Padding never changes a line's logit. ``tokenizer`` (a ``tokenizers.Tokenizer``) travels
    with the model in save_pretrained / from_pretrained and is what ``predict`` uses. ``metrics`` (the metrics.json of
    its training run, set by :func:`movie_gender.train_model` and restored by ``from_pretrained``) is what the model
    card reports; without it ``save_pretrained`` / ``push_to_hub`` write a short card that says no results exist.
    """

    def __init__(self, config: BiLSTMConfig) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = BiLSTMConfig.from_dict(config)
        self.config = config
        self.tokenizer: Tokenizer | None = None
        self.metrics: dict | None = None
        directions = 2 if config.bidirectional else 1
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embedding.weight.requires_grad = not config.freeze_embeddings
        self.lstm = _lstm(config)
        features = directions * config.hidden_size * (2 if config.pooling == "mean_max" else 1)
        if config.context_encoder == "separate":
            self.context_lstm = _lstm(config)
        if config.line_context:
            features *= 2
        self._warned_no_context = False
        self.dropout = nn.Dropout(config.dropout)
        self.fc1 = nn.Linear(features, config.hidden_size)
        self.fc2 = nn.Linear(config.hidden_size, 1)
        if config.bag_of_words:
            self.bag_of_words = BagOfWords(config.vocab_size, config.bigram_buckets, config.pad_token_id)
            if config.line_context:  # what the other speakers say around the line: weights of their own
                self.context_bag_of_words = BagOfWords(config.vocab_size, config.bigram_buckets, config.pad_token_id)
        if config.is_character_model:  # attention over a character's lines and its bags of words (character_model)
            from movie_gender.model.character_model import CharacterHead

            self.character_head = CharacterHead(config, features)

    # ----------------------------------------------------------------------------------------------- weights
    def load_embeddings(self, matrix: np.ndarray | torch.Tensor) -> None:
        """Copy a ``[vocab_size, embedding_dim]`` matrix (e.g. from :func:`movie_gender.load_glove`) into the
        embedding."""
        matrix = torch.as_tensor(matrix, dtype=self.embedding.weight.dtype)
        if tuple(matrix.shape) != tuple(self.embedding.weight.shape):
            raise ValueError(
                f"embedding matrix has shape {tuple(matrix.shape)}, the model expects "
                f"{tuple(self.embedding.weight.shape)} (vocab_size, embedding_dim)"
            )
        with torch.no_grad():
            self.embedding.weight.copy_(matrix)

    @property
    def device(self) -> torch.device:
        """The device the model's parameters are on."""
        return self.fc2.weight.device

    # ----------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        context_ids: torch.Tensor | None = None,
        context_lengths: torch.Tensor | None = None,
    ) -> ClassifierOutput:
        """Logits for ``input_ids`` ``[batch, time]``; lengths come from ``lengths``, ``attention_mask`` or non-pad
        ids.

        A context model also takes ``context_ids`` ``[batch, time]`` (the context of each line as one sequence; lengths
        from ``context_lengths`` or non-pad ids); without them every line is read with an empty context."""
        if lengths is None:
            mask = attention_mask if attention_mask is not None else input_ids.ne(self.config.pad_token_id)
            lengths = mask.sum(dim=1)
        _, logits = self.line_outputs(input_ids, lengths, context_ids, context_lengths)
        loss = None
        if labels is not None:
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return ClassifierOutput(logits=logits, loss=loss)

    def line_outputs(
        self,
        input_ids: torch.Tensor,
        lengths: torch.Tensor,
        context_ids: torch.Tensor | None = None,
        context_lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, logits)`` of right-padded lines: the pooled features the head reads (line and, for a context
        model, context), and each line's logit (head plus bags of words)."""
        lengths = lengths.clamp(min=1)  # an empty line reads one [PAD]
        features, bag_logits = self._read(self.lstm, getattr(self, "bag_of_words", None), input_ids, lengths)
        if self.config.line_context:
            context_features, context_bag_logits = self._context_features(
                input_ids.shape[0], context_ids, context_lengths
            )
            features = torch.cat([features, context_features], dim=1)
            bag_logits = None if bag_logits is None else bag_logits + context_bag_logits
        elif context_ids is not None:
            raise ValueError("this is a single-line model (context_encoder='none'); it takes no context_ids")
        hidden_layer = torch.relu(self.fc1(self.dropout(features)))
        logits = self.fc2(self.dropout(hidden_layer)).squeeze(-1)
        if bag_logits is not None:
            logits = logits + bag_logits.to(logits.dtype)
        return features, logits

    def _context_features(
        self, batch: int, context_ids: torch.Tensor | None, context_lengths: torch.Tensor | None
    ) -> torch.Tensor:
        """Pooled features of each line's context through :meth:`_encode`, padding-safe like the line's
        (an empty context reads one [PAD])."""
        pad = self.config.pad_token_id
        if context_ids is None:
            context_ids = torch.full((batch, 1), pad, dtype=torch.long, device=self.device)
        if context_lengths is None:
            context_lengths = context_ids.ne(pad).sum(dim=1)
        context_lengths = context_lengths.clamp(min=1)
        lstm = self.context_lstm if self.config.context_encoder == "separate" else self.lstm
        return self._read(lstm, getattr(self, "context_bag_of_words", None), context_ids, context_lengths)

    def _read(
        self, lstm: nn.LSTM, bag: BagOfWords | None, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pooled features of right-padded lines ``ids`` through ``lstm`` (:meth:`_encode`), and their logits from
        ``bag`` (None without one). In training, word dropout drops each word: a zero vector, no bag-of-words weight."""
        embedded = self.embedding(ids)
        keep = None
        if self.training and self.config.word_dropout > 0:
            keep = torch.rand(ids.shape, device=ids.device) >= self.config.word_dropout
            embedded = embedded * keep.unsqueeze(-1).to(embedded.dtype)
        features = self._encode(lstm, embedded, lengths)
        if bag is None:
            return features, None
        return features, bag(ids, valid_positions(lengths.to(ids.device), ids.shape[1]), keep)

    def _encode(
        self, lstm: nn.LSTM, embedded: torch.Tensor, lengths: torch.Tensor, pooling: str | None = None
    ) -> torch.Tensor:
        """Pooled features ``[batch, features]`` of right-padded lines ``embedded`` ``[batch, time, dim]`` through
        ``lstm`` (this model's, or another encoder with the same layout); padding never enters a valid state.

        Lines of one length (``predict`` cuts its batches so) run in one fused call of the whole LSTM (except in
        training with dropout between layers, which is :func:`dropout` here). A mix of
        lengths runs one call per layer and direction over the whole batch: the forward direction reads the padded
        lines as they are (padding comes after every valid step), the backward direction reads each line reversed
        within its own length, so it too starts on a valid token. Fused kernels, no per-step path, no packing.
        """
        pooling = pooling or self.config.pooling
        lengths = lengths.to(embedded.device)
        width = embedded.shape[1]
        # In training, dropout between layers is this module's (:func:`dropout`), so the fused call is for inference.
        if int(lengths.min()) == width and not (self.training and lstm.dropout):
            steps, (hidden, _) = lstm(embedded)
            last = torch.cat([hidden[-2], hidden[-1]], dim=1) if lstm.bidirectional else hidden[-1]
            return self._pool(steps, last, lengths, pooling, padded=False)
        steps, last = self._run_padded(lstm, embedded, lengths)
        return self._pool(steps, last, lengths, pooling, padded=True)

    def _run_padded(self, lstm: nn.LSTM, embedded: torch.Tensor, lengths: torch.Tensor):
        """Outputs ``[batch, time, directions * hidden]`` (junk at padded steps) and the final hidden states of the
        last layer ``[batch, directions * hidden]``, one unidirectional LSTM call per layer and direction."""
        batch, width, _ = embedded.shape
        positions = torch.arange(width, device=embedded.device)[None, :]
        ends = lengths[:, None]
        # Row of the flattened [batch * time] input that each step reads in the backward pass: reversed within
        # the line's length, padding left in place. Reversing twice restores the order.
        reverse = torch.where(positions < ends, ends - 1 - positions, positions)
        reverse = (reverse + torch.arange(batch, device=embedded.device)[:, None] * width).reshape(-1)
        last_step = lengths - 1 + torch.arange(batch, device=embedded.device) * width
        zeros = embedded.new_zeros(1, batch, lstm.hidden_size)
        x = embedded
        for layer in range(lstm.num_layers):
            outputs, finals = [], []
            for suffix in ("", "_reverse") if lstm.bidirectional else ("",):
                weights = [
                    getattr(lstm, f"{name}_l{layer}{suffix}")
                    for name in (
                        ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if lstm.bias else ("weight_ih", "weight_hh")
                    )
                ]
                source = (
                    x if not suffix else x.reshape(batch * width, -1).index_select(0, reverse).view(batch, width, -1)
                )
                out = torch.lstm(source, (zeros, zeros), weights, lstm.bias, 1, 0.0, self.training, False, True)[0]
                flat = out.reshape(batch * width, -1)
                finals.append(flat.index_select(0, last_step))
                outputs.append(out if not suffix else flat.index_select(0, reverse).view(batch, width, -1))
            x = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
            if lstm.dropout and self.training and layer + 1 < lstm.num_layers:
                x = dropout(x, lstm.dropout)
        return x, torch.cat(finals, dim=1) if len(finals) > 1 else finals[0]

    @staticmethod
    def _pool(
        steps: torch.Tensor, last: torch.Tensor, lengths: torch.Tensor, pooling: str, padded: bool
    ) -> torch.Tensor:
        """Features: the final hidden states ("last"), or max / mean+max over the valid time steps."""
        if pooling == "last":
            return last
        if padded:
            valid = valid_positions(lengths, steps.shape[1]).unsqueeze(-1)
            maxed = steps.masked_fill(~valid, float("-inf")).amax(dim=1)
            if pooling == "max":
                return maxed
            mean = (steps * valid).sum(dim=1) / lengths[:, None].to(steps.dtype)
            return torch.cat([mean, maxed], dim=1)
        maxed = steps.amax(dim=1)
        return maxed if pooling == "max" else torch.cat([steps.mean(dim=1), maxed], dim=1)

    # ----------------------------------------------------------------------------------------------- predict
    def _require_tokenizer(self) -> Tokenizer:
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer; set model.tokenizer or load it with from_pretrained")
        return self.tokenizer

    def precision_for(self, training: bool = False) -> bool:
        """Whether ``auto`` precision runs this model in bf16 autocast on its device (decided once per process and
        shape, see :func:`movie_gender.model.precision.bf16_recommended`; on a native-bf16 CPU by timing both)."""
        return bf16_recommended(self.device, self.config, training=training, probe=self._precision_probe(training))

    def _precision_probe(self, training: bool):
        """A callable running one small batch of this model (forward; and backward when ``training``) without
        touching its weights, gradients, mode or the global RNG: what the precision policy times both ways."""
        generator = torch.Generator().manual_seed(0)
        batch, width = 64, 12
        ids = torch.randint(0, self.config.vocab_size, (batch, width), generator=generator).to(self.device)
        # Training batches mix a few lengths (the padded path); predict batches have one (the fused path).
        lengths = torch.full((batch,), width) - (torch.arange(batch) % 3 if training else 0)
        # A context model reads a context too (here the same ids), through its own encoder or the line's.
        context = {"context_ids": ids, "context_lengths": lengths} if self.config.line_context else {}
        encoders = [self.lstm] + ([self.context_lstm] if self.config.context_encoder == "separate" else [])
        parameters = [p for encoder in encoders for p in encoder.parameters() if p.requires_grad]

        def run() -> None:
            was_training = self.training
            self.eval()  # no dropout: the probe must not draw from the global RNG
            try:
                if training and parameters:
                    with torch.enable_grad():
                        logits = self(ids, lengths=lengths, **context).logits
                        torch.autograd.grad(logits.float().sum(), parameters)
                else:
                    with torch.inference_mode():
                        self(ids, lengths=lengths, **context)
            finally:
                self.train(was_training)

        return run

    @torch.inference_mode()
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
        """Logits for pre-encoded lines, in input order.

        Lines are sorted by length and cut into batches of up to ``batch_size``; a batch spans several lengths only
        while its longest line is at most ``max_padding`` longer than its shortest (``0``: one length per batch,
        no padding at all), so batches stay full where few lines share a length, with little padding. ``None``:
        ``MAX_PADDING[bf16]`` (12.5% in fp32, 50% in bf16).
        A context model also takes the encoded contexts (``context_ids``, ``context_lengths``), one row per line.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.zeros(len(lengths), dtype=np.float32)
        was_training = self.training
        self.eval()
        max_padding = MAX_PADDING[bool(bf16)] if max_padding is None else max_padding
        device = self.device
        try:
            # One autocast region for all batches: bf16 copies of the weights are made once, not per batch.
            with autocast(device, bf16):
                for batch in length_groups(lengths, np.arange(len(lengths)), batch_size, max_padding):
                    batch_lengths = np.maximum(lengths[batch], 1)
                    extra = {}
                    if context_ids is not None:
                        width = max(1, int(context_lengths[batch].max()))
                        extra = {
                            "context_ids": _rows(context_ids, batch, width, device),
                            "context_lengths": torch.from_numpy(context_lengths[batch]),
                        }
                    input_ids = _rows(ids, batch, int(batch_lengths[0]), device)
                    logits = self(input_ids, lengths=torch.from_numpy(batch_lengths), **extra).logits
                    out[batch] = logits.float().cpu().numpy()
        finally:
            self.train(was_training)
        return out

    def encode_context(self, context: list[list[str]] | None, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Check and encode ``context`` (one list of strings per line) for this model: ``(ids, lengths)``.

        A single-line model refuses a context; a context model given none reads every line with an empty context
        (and logs that once)."""
        if not self.config.uses_context:
            if context is not None:
                raise ValueError(
                    "this model reads single lines (context_encoder='none' in its config.json) and "
                    "takes no context; call it without context=, or use a model trained with "
                    "--preset context"
                )
            return None
        if context is None:
            if not self._warned_no_context:
                logger.warning(
                    "No context given to a context model: each line is scored alone, with an empty "
                    "context (it was trained with up to %d lines of other speakers before and after)",
                    self.config.context_size,
                )
                self._warned_no_context = True
            context = [[] for _ in range(n)]
        context = list(context)
        if len(context) != n:
            raise ValueError(f"context must hold one list of strings per line: {n} lines but {len(context)} contexts")
        for i, item in enumerate(context):
            if isinstance(item, str) or not all(isinstance(part, str) for part in item):
                raise ValueError(
                    f"context[{i}] must be a list of strings (the lines around line {i}), got {item!r:.80}"
                )
        return encode(self._require_tokenizer(), [" ".join(item) for item in context])

    def predict_logits(
        self,
        texts: str | Sequence[str],
        context: Sequence[Sequence[str]] | None = None,
        batch_size: int = 512,
        bf16: bool | None = None,
    ) -> np.ndarray:
        """Logits (log-odds of female) for ``texts``; ``bf16`` (autocast) ``None``: the precision policy's choice
        (:meth:`precision_for`: bf16 on CUDA, and on CPUs with native bf16 where it is faster for this model).
        ``context``: see :meth:`predict_proba`."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        # A character model's line scores read the line alone: what is said around it counts per character.
        line_context = self.config.line_context or not self.config.is_character_model
        encoded_context = self.encode_context(context, len(texts)) if line_context else None
        ids, lengths = encode(self._require_tokenizer(), texts)
        bf16 = resolve_bf16(bf16, self.device, self.config, probe=self._precision_probe(False))
        context_ids, context_lengths = encoded_context if encoded_context is not None else (None, None)
        return self.logits_from_ids(
            ids, lengths, batch_size=batch_size, bf16=bf16, context_ids=context_ids, context_lengths=context_lengths
        )

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
        time; :func:`~movie_gender.evaluation.calibration.calibrated_probability`); ``predict_logits``: raw log-odds."""
        logits = self.predict_logits(texts, context=context, batch_size=batch_size, bf16=bf16)
        return calibrated_probability(self.config, "line", logits)

    def predict(
        self,
        texts: list[str],
        context: list[list[str]] | None = None,
        batch_size: int = 512,
        bf16: bool | None = None,
    ) -> list[dict[str, Any]]:
        """``[{"label": "male"|"female", "score": probability of that label}]`` for each line (``context``: see
        :meth:`predict_proba`).

        A line is labelled female when P(female) >= ``config.threshold``: the threshold chosen on the validation
        split when the model was trained (maximum balanced accuracy, on the calibrated scale; 0.5 for an untrained
        config). The score stays the model's calibrated probability of the label given, whatever the threshold.
        """
        proba = self.predict_proba(texts, context=context, batch_size=batch_size, bf16=bf16)
        names = self.config.id2label
        return [
            {"label": names["1"], "score": float(p)} if female else {"label": names["0"], "score": float(1 - p)}
            for p, female in zip(proba, is_female(self.config, "line", proba), strict=True)
        ]

    def predict_characters(
        self,
        texts: list[str],
        character_ids: list[str],
        context: list[list[str]] | None = None,
        batch_size: int = 512,
    ) -> list[dict[str, Any]]:
        """One prediction per character: P(female) from the mean log-odds of its lines (a character model: its own
        estimate from all of them, attention-pooled), calibrated (``config.calibration["character"]``), labelled
        female at ``config.character_threshold`` or above.

        ``character_ids[i]`` names the speaker of ``texts[i]``; ``context`` (one list of strings per line) is for
        context models only. Returns ``[{"character_id", "n_lines", "p_female", "label", "score"}]`` (``score``: the
        probability of ``label``), one per character in order of first appearance.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        character_ids = [character_ids] if isinstance(character_ids, str) else list(character_ids)
        if len(character_ids) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(character_ids)} character ids; give one per text")
        if not texts:
            return []
        if context is not None and not self.config.uses_context:
            raise ValueError("this model reads single lines and takes no context; call without context")
        if self.config.is_character_model:  # its own estimate, pooled over all of a character's lines
            from movie_gender.model.character_model import character_logits

            names, pooled = character_logits(self, texts, character_ids, context)
            characters = aggregate_logits(character_ids, np.zeros(len(texts)))
            characters.mean_logit = pooled[np.searchsorted(names, characters.ids.astype(str))]
        else:
            characters = aggregate_logits(
                character_ids, self.predict_logits(texts, context=context, batch_size=batch_size)
            )
        p_female = calibrated_probability(self.config, "character", characters.mean_logit)
        names, female_at = self.config.id2label, is_female(self.config, "character", p_female)
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

    # ----------------------------------------------------------------------------------------------- persistence
    def _save_pretrained(self, save_directory: Path) -> None:
        """Write model.safetensors, config.json and tokenizer.json (see :mod:`movie_gender.model.persistence`), and
        metrics.json without local file paths when the model carries its training metrics."""
        save_model_folder(self, save_directory)
        if self.metrics:
            with atomic_path(save_directory / RECORD_NAME) as tmp:
                tmp.write_text(as_record(self.metrics).published().to_json())

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        config: Any = None,
        repo_id: str | None = None,
        push_to_hub: bool = False,
        model_card_kwargs: dict[str, Any] | None = None,
        **push_to_hub_kwargs: Any,
    ) -> str | None:
        """As huggingface_hub's, but the folder is replaced whole and in one step: written as a temporary sibling,
        flushed to disk, swapped into place, so a reader (or a process killed midway) never finds two models mixed.
        The card, metrics and plots of the model that was there go with it; other files stay. The card names the
        folder in its usage snippet unless ``model_card_kwargs`` gives ``repo_id``."""
        card = {"repo_id": Path(save_directory).name, **(model_card_kwargs or {})}
        with atomic_folder(save_directory, replaces=MODEL_FOLDER_CONTENT) as tmp:
            super().save_pretrained(tmp, config=config, model_card_kwargs=card)
        if push_to_hub:
            return self.push_to_hub(
                repo_id=repo_id or Path(save_directory).name,
                config=config,
                model_card_kwargs=model_card_kwargs,
                **push_to_hub_kwargs,
            )
        return None

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """huggingface_hub's ``push_to_hub`` (one commit of weights, config, tokenizer, metrics.json and this model's
        card, whose usage snippet names ``repo_id``); ``model_card_kwargs`` may add ``dataset_repo``."""
        return super().push_to_hub(
            repo_id, model_card_kwargs={**(model_card_kwargs or {}), "repo_id": repo_id}, **kwargs
        )

    def generate_model_card(
        self,
        *args: Any,
        repo_id: str | None = None,
        dataset_repo: str | None = None,
        plots: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> ModelCard:
        """The movie-gender card (root ``model_card.md``): results, baselines, data, training, versions and limits
        from ``self.metrics``, or a short card saying no results are recorded. The mixin's metadata (library,
        licence, tags, pipeline tag) is the card's metadata."""
        record = as_record(self.metrics)
        examples = (record.examples if record else None) or []
        scores = None
        if examples and self.tokenizer is not None:
            # A context model scores each example with the context it was stored with (none: an empty context).
            context = [list(e.get("context", [])) for e in examples] if self.config.uses_context else None
            scores = self.predict_proba([e["text"] for e in examples], context=context)
        card = render_model_card(
            super().generate_model_card().data,
            self.config.to_dict(),
            record,
            repo_id=repo_id,
            dataset_repo=dataset_repo,
            examples=card_examples(examples, scores),
            plots=plots,
            **kwargs,
        )
        return ModelCard(card)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> BiLSTMClassifier:
        """Load a model folder or Hub repo id (``revision=``, ``cache_dir=``, ``token=`` ... as in huggingface_hub).

        Works offline (``HF_HUB_OFFLINE=1``) from the Hugging Face cache. Weights load strictly from safetensors;
        a missing file, a mismatch between config, weights and tokenizer, or a pickle-only checkpoint raises
        :class:`movie_gender.errors.ModelLoadError`.
        """
        name = str(pretrained_model_name_or_path)
        looks_like_path = os.path.isabs(name) or name.startswith(".") or name.count("/") > 1 or os.path.exists(name)
        if looks_like_path and not os.path.isdir(name):
            raise ModelLoadError(f"{name}: no such model folder")
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except (HfHubHTTPError, LocalEntryNotFoundError, HFValidationError) as error:
            where = "" if os.path.isdir(name) else ": no such model folder, and no reachable Hub repo of that name"
            raise ModelLoadError(
                f"{name}: cannot load the model{where} ({type(error).__name__}: {first_line(error)})"
            ) from None

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: Any,
        force_download: bool,
        local_files_only: bool,
        token: Any,
        map_location: str = "cpu",
        config: Any = None,
        **model_kwargs: Any,
    ) -> BiLSTMClassifier:
        hub_kwargs = dict(
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
        )
        if config is None and not os.path.isdir(model_id):
            # huggingface_hub < 1.0 swallows a failed config.json download: ask again, so that the Hub's own error
            # (offline and not cached, no such repo or revision) reaches from_pretrained's one-line message.
            hf_hub_download(model_id, CONFIG_NAME, **hub_kwargs)
        model = load_model_folder(cls, model_id, config, hub_kwargs, map_location)
        model.metrics = _saved_metrics(model_id, hub_kwargs)
        return model


def _saved_metrics(model_id: str, hub_kwargs: dict) -> RunRecord | None:
    """The run record (metrics.json) beside a model (folder or Hub repo), for its card; None when absent or
    unreadable."""
    try:
        return RunRecord.load(model_file(model_id, RECORD_NAME, **hub_kwargs))
    except (ModelLoadError, HfHubHTTPError, OSError, ValueError):
        return None


__all__ = [
    "BiLSTMConfig",
    "BiLSTMClassifier",
    "ClassifierOutput",
    "CONTEXT_ENCODERS",
    "POOLING",
    "PROJECT_URL",
    "model_file",
    "autocast",
    "bf16_supported",
    "bf16_recommended",
    "BF16_MIN_HIDDEN_ON_CPU",
]
