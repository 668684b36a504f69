"""Training data as the loop reads it: each split tokenized once (:class:`EncodedSplit`) and the length-bucketed
batches of an epoch (:func:`batch_order`), deterministic in the seed and the epoch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from movie_gender.data.tokenizer import encode

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tokenizers import Tokenizer


@dataclass
class EncodedSplit:
    """A split tokenized once: ids ``[n, longest]``, lengths ``[n]`` and labels ``[n]`` as numpy arrays; for a
    context model also each line's context (its strings joined) as ``context_ids`` / ``context_lengths``."""

    ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    context_ids: np.ndarray | None = None
    context_lengths: np.ndarray | None = None

    @classmethod
    def from_texts(
        cls,
        tokenizer: Tokenizer,
        texts: Sequence[str],
        labels: Sequence[int],
        context: Sequence[Sequence[str]] | None = None,
    ) -> EncodedSplit:
        """Tokenize ``texts`` once and pair them with ``labels``; when given, also ``context`` (one list of strings
        per line)."""
        ids, lengths = encode(tokenizer, texts)
        context_ids = context_lengths = None
        if context is not None:
            context_ids, context_lengths = encode(tokenizer, [" ".join(item) for item in context])
        return cls(ids, lengths, np.asarray(labels, dtype=np.int64), context_ids, context_lengths)

    def context_batch(self, index: np.ndarray, device: torch.device) -> dict:
        """The model's context arguments for the lines at ``index`` (empty for a split without context)."""
        if self.context_ids is None or self.context_lengths is None:
            return {}
        width = max(1, int(self.context_lengths[index].max()))
        return {
            "context_ids": torch.from_numpy(self.context_ids[index, :width]).to(device, non_blocking=True),
            "context_lengths": torch.from_numpy(self.context_lengths[index]),
        }

    def arrays(self) -> list[np.ndarray]:
        """The arrays that define the split: ids, lengths, labels, and the context ids and lengths when present."""
        arrays = (self.ids, self.lengths, self.labels, self.context_ids, self.context_lengths)
        return [a for a in arrays if a is not None]

    def __len__(self) -> int:
        return len(self.labels)


def batch_order(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucket_batches: int) -> list[np.ndarray]:
    """The batches of one epoch, deterministic in (seed, epoch): length-bucketed unless ``bucket_batches == 1``."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if bucket_batches > 1:
        chunk = batch_size * bucket_batches
        order = np.concatenate(
            [
                part[np.argsort(lengths[part], kind="stable")]
                for part in np.split(order, range(chunk, len(order), chunk))
            ]
        )
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


__all__ = ["EncodedSplit", "batch_order"]
