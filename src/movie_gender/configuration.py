"""BiLSTMConfig: the architecture and labels of a model, saved as config.json (plain JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
POOLING = ("last", "max", "mean_max")
# How a model reads the conversation around a line: "none" (a single-line model), "shared" (the line's BiLSTM also
# reads the context) or "separate" (a second BiLSTM of the same size reads it).
CONTEXT_ENCODERS = ("none", "shared", "separate")


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
    context_encoder: str = "none"  # see CONTEXT_ENCODERS; "none" keeps the single-line model (no context weights)
    context_size: int = 0  # K: the context the model was trained with, up to K lines of other speakers before/after
    pad_token_id: int = 0
    unk_token_id: int = 1
    id2label: dict = field(default_factory=lambda: {"0": "male", "1": "female"})
    label2id: dict = field(default_factory=lambda: {"male": 0, "female": 1})
    model_type: str = "movie-gender-bilstm"

    def __post_init__(self) -> None:
        if self.pooling not in POOLING:
            raise ValueError(f"pooling must be one of {POOLING}, got {self.pooling!r}")
        if self.context_encoder not in CONTEXT_ENCODERS:
            raise ValueError(f"context_encoder must be one of {CONTEXT_ENCODERS}, got {self.context_encoder!r}")
        if self.context_size < 0:
            raise ValueError(f"context_size must be 0 or more, got {self.context_size}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        self.id2label = {str(k): v for k, v in self.id2label.items()}

    @property
    def uses_context(self) -> bool:
        """True for a context-aware model (it reads the lines of other speakers around each line)."""
        return self.context_encoder != "none"

    @classmethod
    def from_dict(cls, data: dict) -> BiLSTMConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)
