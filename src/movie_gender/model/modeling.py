"""BiLSTMNetwork: a GloVe-initialised bidirectional LSTM that saves and loads its files like a Hub model.

The class is the network (layers, forward pass, encoding and pooling; shared building blocks in
:mod:`movie_gender.model.layers`) and its model folder (:mod:`movie_gender.model.persistence`). Users load
:class:`movie_gender.BiLSTMClassifier`, which adds prediction
(:class:`movie_gender.inference.classifier.BiLSTMPredictor`) and the run record, card and Hub push
(:mod:`movie_gender.hub.classifier`).

A model folder holds config.json (plain JSON), model.safetensors (weights only) and tokenizer.json (the whole
tokenizer). ``from_pretrained`` loads strictly and from safetensors only; a pickle checkpoint is refused.
Dropout acts on the LSTM features and on the hidden layer, with a ReLU between fc1 and fc2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin
from tokenizers import Tokenizer
from torch import nn

from movie_gender.atomic import atomic_folder
from movie_gender.configuration import BiLSTMConfig
from movie_gender.model import precision
from movie_gender.model.batching import CONTEXT_PADDING, groups_of_rows
from movie_gender.model.character_model import CharacterHead
from movie_gender.model.context_view import ContextView
from movie_gender.model.layers import BagOfWords, bilstm, padded_lstm, valid_positions
from movie_gender.model.persistence import (
    HUB_ERRORS,
    MODEL_FOLDER_CONTENT,
    check_model_path,
    load_error,
    load_pretrained,
    save_model_folder,
)

Network = TypeVar("Network", bound="BiLSTMNetwork")


@dataclass
class ClassifierOutput:
    """``logits``: ``[batch]`` scores for the female class (sigmoid -> P(female)); ``loss`` when labels were given."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


class BiLSTMNetwork(nn.Module, PyTorchModelHubMixin):
    """Embedding (GloVe) -> BiLSTM -> pooled features -> dropout -> fc1 -> ReLU -> dropout -> fc2 -> one logit, plus,
    where ``config.bag_of_words`` (the default), the logit of a :class:`BagOfWords` over the line's word ids
    (``bag_of_words.*`` weights). ``config.word_dropout`` drops words at random in training.

    A context model (``config.context_encoder`` "shared" or "separate") also reads the lines of the other speakers
    around each line, joined into one sequence, with the same embedding and a BiLSTM of its own ("separate":
    ``context_lstm.*`` weights) or the line's ("shared"); the two pooled feature vectors are concatenated before fc1.

    Padding never changes a line's logit. ``tokenizer`` (a ``tokenizers.Tokenizer``) travels with the model in
    save_pretrained / from_pretrained and is what prediction encodes with.
    """

    def __init__(self, config: BiLSTMConfig) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = BiLSTMConfig.from_dict(config)
        self.config = config
        self.tokenizer: Tokenizer | None = None
        directions = 2 if config.bidirectional else 1
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embedding.weight.requires_grad = not config.freeze_embeddings
        self.lstm = bilstm(config)
        features = directions * config.hidden_size * (2 if config.pooling == "mean_max" else 1)
        if config.context_encoder == "separate":
            self.context_lstm = bilstm(config)
        if config.line_context:
            features *= 2
        self.warned_no_context = False  # a context model given no context says so once (inference.predictor)
        self.dropout = nn.Dropout(config.dropout)
        self.fc1 = nn.Linear(features, config.hidden_size)
        self.fc2 = nn.Linear(config.hidden_size, 1)
        if config.bag_of_words:
            self.bag_of_words = BagOfWords(config.vocab_size, config.bigram_buckets, config.pad_token_id)
            if config.line_context:  # what the other speakers say around the line: weights of their own
                self.context_bag_of_words = BagOfWords(config.vocab_size, config.bigram_buckets, config.pad_token_id)
        if config.is_character_model:  # attention over a character's lines and its bags of words (character_model)
            self.character_head = CharacterHead(config, features)
        if config.is_character_model and config.context_view:  # a line model beside it (model.context_view)
            self.context_view = self._context_view_network()

    # ----------------------------------------------------------------------------------------------- weights
    def attach_context_view(self, view: BiLSTMNetwork) -> None:
        """Keep the trained line model ``view``'s weights as this character model's context view
        (:mod:`movie_gender.model.context_view`; ``config.context_view`` says how it mixes in)."""
        if not self.config.context_view:
            raise ValueError("set config.context_view before attaching a context view")
        network = self._context_view_network()
        network.load_state_dict(view.state_dict(), strict=True)
        self.context_view = network.to(self.device).train(self.training)

    def _context_view_network(self) -> BiLSTMNetwork:
        """An untrained context view of the architecture ``config.context_view`` names."""
        return BiLSTMNetwork(ContextView.from_dict(self.config.context_view or {}).network_config())

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
            if bag_logits is not None and context_bag_logits is not None:  # both bags, or neither
                bag_logits = bag_logits + context_bag_logits
        elif context_ids is not None:
            raise ValueError("this is a single-line model (context_encoder='none'); it takes no context_ids")
        hidden_layer = torch.relu(self.fc1(self.dropout(features)))
        logits = self.fc2(self.dropout(hidden_layer)).squeeze(-1)
        if bag_logits is not None:
            logits = logits + bag_logits.to(logits.dtype)
        return features, logits

    def _context_features(
        self, batch: int, context_ids: torch.Tensor | None, context_lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pooled features of each line's context through :meth:`_encode`, padding-safe like the line's
        (an empty context reads one [PAD]); read in groups of contexts of about one length (:meth:`_read_grouped`)."""
        pad = self.config.pad_token_id
        if context_ids is None:
            context_ids = torch.full((batch, 1), pad, dtype=torch.long, device=self.device)
        if context_lengths is None:
            context_lengths = context_ids.ne(pad).sum(dim=1)
        context_lengths = context_lengths.clamp(min=1)
        lstm = self.context_lstm if self.config.context_encoder == "separate" else self.lstm
        return self._read_grouped(lstm, getattr(self, "context_bag_of_words", None), context_ids, context_lengths)

    def _read_grouped(
        self, lstm: nn.LSTM, bag: BagOfWords | None, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`_read` of the rows in groups of about one length (``CONTEXT_PADDING``), each cut to its longest:
        the same outputs in the rows' order, without running every row to the batch's longest (a batch of lines of
        one length still has contexts of every length)."""
        sizes = lengths.cpu().numpy()
        groups = groups_of_rows(sizes, CONTEXT_PADDING)
        if len(groups) == 1:
            return self._read(lstm, bag, ids, lengths)
        parts = []
        for rows in groups:
            index = torch.from_numpy(rows)
            width = int(sizes[rows].max())
            parts.append(self._read(lstm, bag, ids[index.to(ids.device), :width], lengths[index.to(lengths.device)]))
        order = torch.from_numpy(np.argsort(np.concatenate(groups))).to(ids.device)
        features = torch.cat([f for f, _ in parts])[order]
        bags = None if parts[0][1] is None else torch.cat([b for _, b in parts if b is not None])[order]
        return features, bags

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
        steps, last = padded_lstm(lstm, embedded, lengths, self.training)
        return self._pool(steps, last, lengths, pooling, padded=True)

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

    # ----------------------------------------------------------------------------------------------- running
    def require_tokenizer(self) -> Tokenizer:
        """The model's tokenizer; ``ValueError`` when it has none."""
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer; set model.tokenizer or load it with from_pretrained")
        return self.tokenizer

    def precision_for(self, training: bool = False) -> bool:
        """Whether ``auto`` precision runs this model in bf16 autocast on its device (decided once per process and
        shape, see :func:`movie_gender.model.precision.bf16_recommended`; on a native-bf16 CPU by timing both)."""
        return precision.precision_for(self, training)

    def precision_probe(self, training: bool) -> Callable[[], None]:
        """One small batch of this model, as the precision policy times it (:func:`~.precision.precision_probe`)."""
        return precision.precision_probe(self, training)

    # ----------------------------------------------------------------------------------------------- persistence
    def _save_pretrained(self, save_directory: Path) -> None:
        """Write model.safetensors, config.json and tokenizer.json (see :mod:`movie_gender.model.persistence`)."""
        save_model_folder(self, save_directory)

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

    @classmethod
    def from_pretrained(cls: type[Network], pretrained_model_name_or_path: str | Path, **kwargs: Any) -> Network:
        """Load a model folder or Hub repo id (``revision=``, ``cache_dir=``, ``token=`` ... as in huggingface_hub).

        Works offline (``HF_HUB_OFFLINE=1``) from the Hugging Face cache. Weights load strictly from safetensors;
        a missing file, a mismatch between config, weights and tokenizer, or a pickle-only checkpoint raises
        :class:`movie_gender.errors.ModelLoadError`.
        """
        name = str(pretrained_model_name_or_path)
        check_model_path(name)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except HUB_ERRORS as error:
            raise load_error(name, error) from None

    @classmethod
    def _from_pretrained(
        cls: type[Network],
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
    ) -> Network:
        hub_kwargs = dict(
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
        )
        model: Network = load_pretrained(cls, model_id, config, hub_kwargs, map_location)
        return model


__all__ = ["BiLSTMNetwork", "ClassifierOutput"]
