"""Batches of encoded lines: lines of about one length grouped together (no padded LSTM steps where lengths allow),
and the rows of a batch as a tensor. Used by prediction, by a training step and by the character model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

# How much longer than its shortest line a batch's longest may be, by precision (bf16 or not): in fp32 the LSTM's
# cost is its arithmetic, so padding costs; in bf16 it is the work per time step, so fuller batches win over less
# padding (measured on the tutorial model, for prediction and training, scripts/benchmark.py).
MAX_PADDING = {False: 0.125, True: 0.5}
# A context model also reads each line's context, on the sample three times as long as the line and most of the cost.
# Batches of lines of about one length still hold contexts of every length, so the model reads the contexts in groups
# whose longest is at most CONTEXT_PADDING longer than their shortest (model.modeling). Coarse groups: each group is
# one more LSTM call, whose time steps cost more than the padding finer groups would save. One training epoch of the
# character preset's context view on the sample, the same batches: 26.9 s -> 14.0 s (fp32, AVX2, 1 thread).
CONTEXT_PADDING = 1.0


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


def groups_of_rows(lengths: np.ndarray, max_padding: float) -> list[np.ndarray]:
    """All rows of ``lengths`` in :func:`length_groups` of any size (``max_padding`` alone cuts them)."""
    return length_groups(lengths, np.arange(len(lengths)), max(1, len(lengths)), max_padding)


def take_rows(ids: np.ndarray, rows: np.ndarray, width: int, device: torch.device) -> torch.Tensor:
    """``ids[rows, :width]`` as a contiguous tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(ids[rows, :width])).to(device, non_blocking=True)


def padded_rows(rows: Sequence[Sequence[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids [len(rows), width], lengths [len(rows)])``: token id lists right-padded with ``pad_token_id`` to the
    longest (at least one column)."""
    width = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), width), pad_token_id, dtype=torch.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return ids, torch.tensor([len(r) for r in rows], dtype=torch.int64)


__all__ = [
    "CONTEXT_PADDING",
    "MAX_PADDING",
    "groups_of_rows",
    "length_groups",
    "padded_rows",
    "take_rows",
]
