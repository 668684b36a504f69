"""BiLSTMConfig and BiLSTMClassifier: a GloVe-initialised bidirectional LSTM that saves and loads like a Hub model.

A model folder holds config.json (plain JSON), model.safetensors (weights only) and tokenizer.json (the whole
tokenizer). ``from_pretrained`` loads strictly and from safetensors only; a pickle checkpoint is refused.

Compared with the tutorial, two defects are fixed: the tutorial applied dropout to the output logits and had no
non-linearity between fc1 and fc2 (two stacked linear layers collapse into one). Here dropout acts on the LSTM
features and on the hidden layer, with a ReLU between fc1 and fc2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError
from tokenizers import Tokenizer
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .configuration import POOLING, BiLSTMConfig
from .errors import ModelLoadError, first_line
from .atomic import atomic_folder
from .persistence import MODEL_FOLDER_CONTENT, load_model_folder, model_file, save_model_folder
from .precision import BF16_MIN_HIDDEN_ON_CPU, autocast, bf16_recommended, bf16_supported
from .tokenizer import encode

# Where the project lives; the Hub mixin records it in generated cards.
PROJECT_URL = "https://github.com/movie-gender/movie-gender"

# A batch with at most this many distinct line lengths runs one unpadded LSTM call per length (fast fused kernels);
# a batch with more (e.g. drawn at random) runs one packed call.
MAX_LENGTH_GROUPS = 8


@dataclass
class ClassifierOutput:
    """``logits``: ``[batch]`` scores for the female class (sigmoid -> P(female)); ``loss`` when labels were given."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


class BiLSTMClassifier(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="movie-gender",
    tags=["text-classification", "gender", "movie-dialogue", "glove", "bilstm", "movie-gender"],
    license="mit",
    pipeline_tag="text-classification",
    repo_url=PROJECT_URL,
):
    """Embedding (GloVe) -> BiLSTM -> pooled features -> dropout -> fc1 -> ReLU -> dropout -> fc2 -> one logit.

    Sequences are packed, so padding never changes a line's logit. ``tokenizer`` (a ``tokenizers.Tokenizer``) travels
    with the model in save_pretrained / from_pretrained and is what ``predict`` uses.
    """

    def __init__(self, config: BiLSTMConfig) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = BiLSTMConfig.from_dict(config)
        self.config = config
        self._hub_mixin_config = config
        self.tokenizer: Tokenizer | None = None
        directions = 2 if config.bidirectional else 1
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.embedding.weight.requires_grad = not config.freeze_embeddings
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, num_layers=config.num_layers,
                            bidirectional=config.bidirectional, batch_first=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        features = directions * config.hidden_size * (2 if config.pooling == "mean_max" else 1)
        self.dropout = nn.Dropout(config.dropout)
        self.fc1 = nn.Linear(features, config.hidden_size)
        self.fc2 = nn.Linear(config.hidden_size, 1)

    # ----------------------------------------------------------------------------------------------- weights
    def load_embeddings(self, matrix: "np.ndarray | torch.Tensor") -> None:
        """Copy a ``[vocab_size, embedding_dim]`` matrix (e.g. from :func:`movie_gender.load_glove`) into the embedding."""
        matrix = torch.as_tensor(matrix, dtype=self.embedding.weight.dtype)
        if tuple(matrix.shape) != tuple(self.embedding.weight.shape):
            raise ValueError(f"embedding matrix has shape {tuple(matrix.shape)}, the model expects "
                             f"{tuple(self.embedding.weight.shape)} (vocab_size, embedding_dim)")
        with torch.no_grad():
            self.embedding.weight.copy_(matrix)

    @property
    def device(self) -> torch.device:
        return self.fc2.weight.device

    # ----------------------------------------------------------------------------------------------- forward
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, lengths: torch.Tensor | None = None) -> ClassifierOutput:
        """Logits for ``input_ids`` ``[batch, time]``; lengths come from ``lengths``, ``attention_mask`` or non-pad ids."""
        if lengths is None:
            mask = attention_mask if attention_mask is not None else input_ids.ne(self.config.pad_token_id)
            lengths = mask.sum(dim=1)
        lengths = lengths.clamp(min=1)  # an empty line reads one [PAD]
        embedded = self.embedding(input_ids)
        groups = torch.unique(lengths)
        if len(groups) <= MAX_LENGTH_GROUPS:
            features = self._features_by_length(embedded, lengths, groups)
        else:
            features = self._features_packed(embedded, lengths)
        hidden_layer = torch.relu(self.fc1(self.dropout(features)))
        logits = self.fc2(self.dropout(hidden_layer)).squeeze(-1)
        loss = None
        if labels is not None:
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return ClassifierOutput(logits=logits, loss=loss)

    def _pool(self, steps, hidden: torch.Tensor) -> torch.Tensor:
        """Features: the final hidden states ("last"), or max / mean+max over the time steps of unpadded sequences."""
        if self.config.pooling == "last":
            return torch.cat([hidden[-2], hidden[-1]], dim=1) if self.config.bidirectional else hidden[-1]
        maxed = steps.amax(dim=1)
        return maxed if self.config.pooling == "max" else torch.cat([steps.mean(dim=1), maxed], dim=1)

    def _features_by_length(self, embedded: torch.Tensor, lengths: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        """Run each group of equal-length lines without padding: oneDNN's fused LSTM kernels need equal lengths."""
        parts, rows = [], []
        for length in groups.tolist():
            index = torch.nonzero(lengths == length).squeeze(1).to(embedded.device)
            steps, (hidden, _) = self.lstm(embedded[index, :length])
            parts.append(self._pool(steps, hidden))
            rows.append(index)
        features = torch.cat(parts)
        return features[torch.argsort(torch.cat(rows))]

    def _features_packed(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Many different lengths: one packed LSTM call; padded steps are masked out of the pooling."""
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, (hidden, _) = self.lstm(packed)
        if self.config.pooling == "last":
            return self._pool(output, hidden)  # the final hidden states need no unpacking
        steps, _ = pad_packed_sequence(output, batch_first=True)
        valid = (torch.arange(steps.shape[1], device=steps.device)[None, :] < lengths.to(steps.device)[:, None]).unsqueeze(-1)
        maxed = steps.masked_fill(~valid, float("-inf")).amax(dim=1)
        if self.config.pooling == "max":
            return maxed
        mean = (steps * valid).sum(dim=1) / lengths.to(steps.device)[:, None].to(steps.dtype)
        return torch.cat([mean, maxed], dim=1)

    # ----------------------------------------------------------------------------------------------- predict
    def _require_tokenizer(self) -> Tokenizer:
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer; set model.tokenizer or load it with from_pretrained")
        return self.tokenizer

    @torch.inference_mode()
    def logits_from_ids(self, ids: np.ndarray, lengths: np.ndarray, batch_size: int = 512, bf16: bool = False,
                        max_lengths_per_batch: int = 1) -> np.ndarray:
        """Logits for pre-encoded lines: sorted by length, cut into batches of at most ``max_lengths_per_batch``
        distinct lengths (1: every batch is unpadded, one fused LSTM call), then restored to the input order."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.zeros(len(lengths), dtype=np.float32)
        was_training = self.training
        self.eval()
        order = np.argsort(-lengths, kind="stable")
        sorted_lengths = np.maximum(lengths[order], 1)
        device = self.device
        try:
            start = 0
            while start < len(order):
                end = min(start + batch_size, len(order))
                _, firsts = np.unique(-sorted_lengths[start:end], return_index=True)
                if len(firsts) > max_lengths_per_batch:
                    end = start + int(np.sort(firsts)[max_lengths_per_batch])
                batch = order[start:end]
                width = int(sorted_lengths[start])
                input_ids = torch.from_numpy(np.ascontiguousarray(ids[batch, :width])).to(device, non_blocking=True)
                with autocast(device, bf16):
                    logits = self(input_ids, lengths=torch.from_numpy(lengths[batch])).logits
                out[batch] = logits.float().cpu().numpy()
                start = end
        finally:
            self.train(was_training)
        return out

    def predict_logits(self, texts: "list[str]", batch_size: int = 512, bf16: bool | None = None) -> np.ndarray:
        """Logits (log-odds of female) for ``texts``; ``bf16`` (autocast) defaults to :func:`bf16_recommended`:
        on CUDA with bf16, and on AMX / AVX-512 CPUs for large enough layers."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        ids, lengths = encode(self._require_tokenizer(), texts)
        if bf16 is None:
            bf16 = bf16_recommended(self.device, self.config)
        return self.logits_from_ids(ids, lengths, batch_size=batch_size, bf16=bf16)

    def predict_proba(self, texts: "list[str]", batch_size: int = 512, bf16: bool | None = None) -> np.ndarray:
        """P(female) for each line, as a numpy array in input order."""
        return 1.0 / (1.0 + np.exp(-self.predict_logits(texts, batch_size=batch_size, bf16=bf16)))

    def predict(self, texts: "list[str]", batch_size: int = 512, bf16: bool | None = None) -> "list[dict[str, Any]]":
        """``[{"label": "male"|"female", "score": probability of that label}]`` for each line."""
        proba = self.predict_proba(texts, batch_size=batch_size, bf16=bf16)
        names = self.config.id2label
        return [{"label": names["1"], "score": float(p)} if p >= 0.5 else {"label": names["0"], "score": float(1 - p)}
                for p in proba]
    # ----------------------------------------------------------------------------------------------- persistence
    def save_pretrained(self, save_directory: str | Path, *, config: Any = None, repo_id: str | None = None,
                        push_to_hub: bool = False, model_card_kwargs: dict | None = None, **push_to_hub_kwargs: Any):
        """As huggingface_hub's, but the folder is replaced whole and in one step: written as a temporary sibling,
        flushed to disk, swapped into place. A reader (or a process killed midway) never finds two models mixed.
        The card, metrics and plots of the model that was there go with it; other files stay."""
        with atomic_folder(save_directory, replaces=MODEL_FOLDER_CONTENT) as tmp:
            super().save_pretrained(tmp, config=config, model_card_kwargs=model_card_kwargs)
        if push_to_hub:
            return self.push_to_hub(repo_id=repo_id or Path(save_directory).name, config=config,
                                    model_card_kwargs=model_card_kwargs, **push_to_hub_kwargs)
        return None

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write model.safetensors, config.json and tokenizer.json (see :mod:`movie_gender.persistence`)."""
        save_model_folder(self, save_directory)

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
            raise ModelLoadError(f"{name}: cannot load the model{where} ({type(error).__name__}: "
                                 f"{first_line(error)})") from None

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: Any, force_download: bool,
                         local_files_only: bool, token: Any, map_location: str = "cpu", config: Any = None,
                         **model_kwargs: Any) -> BiLSTMClassifier:
        hub_kwargs = dict(revision=revision, cache_dir=cache_dir, force_download=force_download,
                          local_files_only=local_files_only, token=token)
        return load_model_folder(cls, model_id, config, hub_kwargs, map_location)


__all__ = ["BiLSTMConfig", "BiLSTMClassifier", "ClassifierOutput", "POOLING", "PROJECT_URL", "model_file",
           "autocast", "bf16_supported", "bf16_recommended", "BF16_MIN_HIDDEN_ON_CPU"]
