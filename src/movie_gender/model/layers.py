"""The building blocks of the network that the line model and the character model share: the BiLSTM of a config's
shape, the in-model bag of words, training-mode dropout, the mask of valid (non-padded) positions and a BiLSTM run
over right-padded lines of mixed lengths."""

from __future__ import annotations

import torch
from torch import nn

from movie_gender.configuration import BiLSTMConfig


def bilstm(config: BiLSTMConfig) -> nn.LSTM:
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


def padded_lstm(
    lstm: nn.LSTM, embedded: torch.Tensor, lengths: torch.Tensor, training: bool
) -> tuple[torch.Tensor, torch.Tensor]:
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
            source = x if not suffix else x.reshape(batch * width, -1).index_select(0, reverse).view(batch, width, -1)
            out = torch.lstm(source, (zeros, zeros), weights, lstm.bias, 1, 0.0, training, False, True)[0]
            flat = out.reshape(batch * width, -1)
            finals.append(flat.index_select(0, last_step))
            outputs.append(out if not suffix else flat.index_select(0, reverse).view(batch, width, -1))
        x = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
        if lstm.dropout and training and layer + 1 < lstm.num_layers:
            x = dropout(x, lstm.dropout)
    return x, torch.cat(finals, dim=1) if len(finals) > 1 else finals[0]


__all__ = ["BagOfWords", "bilstm", "dropout", "padded_lstm", "valid_positions"]
