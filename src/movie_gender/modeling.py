"""BiLSTMConfig and BiLSTMClassifier: a GloVe-initialised bidirectional LSTM that saves and loads like a Hub model.

A model folder holds config.json (plain JSON), model.safetensors (weights only) and tokenizer.json (the whole
tokenizer). ``from_pretrained`` loads strictly and from safetensors only; a pickle checkpoint is refused.

Compared with the tutorial, two defects are fixed: the tutorial applied dropout to the output logits and had no
non-linearity between fc1 and fc2 (two stacked linear layers collapse into one). Here dropout acts on the LSTM
features and on the hidden layer, with a ReLU between fc1 and fc2.
"""

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError, LocalEntryNotFoundError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model
from tokenizers import Tokenizer
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .download import atomic_path
from .errors import ModelLoadError
from .tokenizer import PAD_TOKEN, UNK_TOKEN, encode

# Where the project lives; the Hub mixin records it in generated cards.
PROJECT_URL = "https://github.com/movie-gender/movie-gender"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
POOLING = ("last", "max", "mean_max")
# A batch with at most this many distinct line lengths runs one unpadded LSTM call per length (fast fused kernels);
# a batch with more (e.g. drawn at random) runs one packed call.
MAX_LENGTH_GROUPS = 8


def bf16_supported(device: torch.device) -> bool:
    """True on CUDA with bf16 and on CPUs with AMX or AVX-512 (where oneDNN runs bf16 LSTM/linear kernels)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.cpu.get_cpu_capability() in {"AVX512", "AMX"} and torch.backends.mkldnn.is_available()
    return False


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on ``device`` when ``enabled`` (a no-op context otherwise)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


# On CPUs, bf16 autocast pays off only when the LSTM's matrices are large enough for AMX to beat the casts
# (scripts/benchmark.py: 4 x 256 trains ~1.9x faster in bf16; 1 x 32 runs ~25% slower).
BF16_MIN_HIDDEN_ON_CPU = 128


def bf16_recommended(device: torch.device, config: "BiLSTMConfig") -> bool:
    """Whether bf16 autocast is supported *and* faster for this model on this device."""
    if not bf16_supported(device):
        return False
    return device.type == "cuda" or config.hidden_size >= BF16_MIN_HIDDEN_ON_CPU


def model_file(model_id: str, filename: str, **hub_kwargs: Any) -> str:
    """The local path of ``filename`` in a model folder, or in a Hub repo (downloaded or from the HF cache)."""
    if os.path.isdir(model_id):
        path = os.path.join(model_id, filename)
        if not os.path.isfile(path):
            raise ModelLoadError(f"{model_id}: the model folder has no {filename}")
        return path
    try:
        return hf_hub_download(repo_id=model_id, filename=filename, **hub_kwargs)
    except (EntryNotFoundError, LocalEntryNotFoundError) as error:
        raise ModelLoadError(f"{model_id}: could not get {filename} ({type(error).__name__}: "
                             f"{str(error).splitlines()[0]})") from None


@dataclass
class BiLSTMConfig:
    """Architecture and labels; the defaults are the tutorial's architecture (200d GloVe, 4 x 256 BiLSTM)."""

    vocab_size: int = 30_000
    embedding_dim: int = 200
    hidden_size: int = 256
    num_layers: int = 4
    bidirectional: bool = True
    dropout: float = 0.2
    pooling: str = "last"  # "last": final hidden states (tutorial); "max" / "mean_max": over time
    freeze_embeddings: bool = False
    pad_token_id: int = 0
    unk_token_id: int = 1
    id2label: dict = field(default_factory=lambda: {"0": "male", "1": "female"})
    label2id: dict = field(default_factory=lambda: {"male": 0, "female": 1})
    model_type: str = "movie-gender-bilstm"

    def __post_init__(self) -> None:
        if self.pooling not in POOLING:
            raise ValueError(f"pooling must be one of {POOLING}, got {self.pooling!r}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        self.id2label = {str(k): v for k, v in self.id2label.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "BiLSTMConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClassifierOutput:
    """``logits``: ``[batch]`` scores for the female class (sigmoid -> P(female)); ``loss`` when labels were given."""

    logits: torch.Tensor
    loss: Optional[torch.Tensor] = None


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
        self.tokenizer: Optional[Tokenizer] = None
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
    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.Tensor] = None, lengths: Optional[torch.Tensor] = None) -> ClassifierOutput:
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

    def predict_logits(self, texts: "list[str]", batch_size: int = 512, bf16: Optional[bool] = None) -> np.ndarray:
        """Logits (log-odds of female) for ``texts``; ``bf16`` (autocast) defaults to :func:`bf16_recommended`:
        on CUDA with bf16, and on AMX / AVX-512 CPUs for large enough layers."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        ids, lengths = encode(self._require_tokenizer(), texts)
        if bf16 is None:
            bf16 = bf16_recommended(self.device, self.config)
        return self.logits_from_ids(ids, lengths, batch_size=batch_size, bf16=bf16)

    def predict_proba(self, texts: "list[str]", batch_size: int = 512, bf16: Optional[bool] = None) -> np.ndarray:
        """P(female) for each line, as a numpy array in input order."""
        return 1.0 / (1.0 + np.exp(-self.predict_logits(texts, batch_size=batch_size, bf16=bf16)))

    def predict(self, texts: "list[str]", batch_size: int = 512, bf16: Optional[bool] = None) -> "list[dict[str, Any]]":
        """``[{"label": "male"|"female", "score": probability of that label}]`` for each line."""
        proba = self.predict_proba(texts, batch_size=batch_size, bf16=bf16)
        names = self.config.id2label
        return [{"label": names["1"], "score": float(p)} if p >= 0.5 else {"label": names["0"], "score": float(1 - p)}
                for p in proba]

    # ----------------------------------------------------------------------------------------------- persistence
    def _save_pretrained(self, save_directory: Path) -> None:
        """Write model.safetensors, config.json and tokenizer.json, each under a temporary name first."""
        tokenizer = self._require_tokenizer()
        with atomic_path(save_directory / WEIGHTS_NAME) as tmp:
            save_model(self, str(tmp), metadata={"format": "pt"})
        with atomic_path(save_directory / TOKENIZER_NAME) as tmp:
            tokenizer.save(str(tmp))
        with atomic_path(save_directory / CONFIG_NAME) as tmp:
            tmp.write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: "str | Path", **kwargs: Any) -> "BiLSTMClassifier":
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
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ModelLoadError(f"{name}: cannot load the model ({type(error).__name__}: {first})") from None

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: Optional[str], cache_dir: Any, force_download: bool,
                         local_files_only: bool, token: Any, map_location: str = "cpu", config: Any = None,
                         **model_kwargs: Any) -> "BiLSTMClassifier":
        if config is None:
            raise ModelLoadError(f"{model_id}: no {CONFIG_NAME}; is this a movie-gender model?")
        config = config if isinstance(config, BiLSTMConfig) else BiLSTMConfig.from_dict(config)
        hub_kwargs = dict(revision=revision, cache_dir=cache_dir, force_download=force_download,
                          local_files_only=local_files_only, token=token)
        try:
            weights_file = model_file(model_id, WEIGHTS_NAME, **hub_kwargs)
        except ModelLoadError:
            local = os.path.isdir(model_id)
            if local and any(os.path.exists(os.path.join(model_id, n)) for n in ("pytorch_model.bin", "model.pt", "model.pth")):
                raise ModelLoadError(f"{model_id}: only a pickle checkpoint is present; movie-gender loads weights from "
                                     f"{WEIGHTS_NAME} only and never unpickles files") from None
            raise
        tokenizer_file = model_file(model_id, TOKENIZER_NAME, **hub_kwargs)
        model = cls(config)
        try:
            state = load_file(weights_file, device=map_location)
        except (SafetensorError, OSError) as error:
            raise ModelLoadError(f"{weights_file}: not a readable safetensors file ({error})") from None
        missing = sorted(set(model.state_dict()) - set(state))
        unexpected = sorted(set(state) - set(model.state_dict()))
        if missing or unexpected:
            raise ModelLoadError(f"{weights_file}: weights do not match {CONFIG_NAME}: missing {missing or 'none'}, "
                                 f"unexpected {unexpected or 'none'}")
        for name, tensor in model.state_dict().items():
            if tuple(state[name].shape) != tuple(tensor.shape):
                raise ModelLoadError(f"{weights_file}: {name} has shape {tuple(state[name].shape)} but {CONFIG_NAME} "
                                     f"implies {tuple(tensor.shape)}")
        model.load_state_dict(state, strict=True)
        try:
            tokenizer = Tokenizer.from_file(tokenizer_file)
        except Exception as error:  # tokenizers raises a bare Exception on bad JSON
            raise ModelLoadError(f"{tokenizer_file}: not a readable tokenizer ({error})") from None
        if tokenizer.get_vocab_size() != config.vocab_size:
            raise ModelLoadError(f"{tokenizer_file}: vocabulary of {tokenizer.get_vocab_size()} tokens, but "
                                 f"{CONFIG_NAME} says vocab_size={config.vocab_size}")
        for token, expected in ((PAD_TOKEN, config.pad_token_id), (UNK_TOKEN, config.unk_token_id)):
            if tokenizer.token_to_id(token) != expected:
                raise ModelLoadError(f"{tokenizer_file}: {token} has id {tokenizer.token_to_id(token)}, but {CONFIG_NAME} "
                                     f"says {expected}")
        model.tokenizer = tokenizer
        model.to(map_location)
        model.eval()
        return model
