"""Line logits of a :class:`~movie_gender.model.modeling.BiLSTMClassifier`: texts -> token ids -> batches of about
one length -> logits (in the precision chosen for the run). :mod:`movie_gender.inference.predictor` turns them into
probabilities and labels, :mod:`movie_gender.inference.characters` into character scores.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from movie_gender.data.tokenizer import encode
from movie_gender.model.batching import MAX_PADDING, length_groups, padded_rows, take_rows
from movie_gender.model.precision import autocast, precision_probe, resolve_bf16

if TYPE_CHECKING:
    from movie_gender.model.modeling import BiLSTMNetwork as BiLSTMClassifier

logger = logging.getLogger(__name__)


@torch.inference_mode()
def logits_from_ids(
    model: BiLSTMClassifier,
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
    if context_ids is not None and context_lengths is None:
        raise ValueError("context_ids were given without context_lengths; give both, one row per line")
    out = np.zeros(len(lengths), dtype=np.float32)
    was_training = model.training
    model.eval()
    max_padding = MAX_PADDING[bool(bf16)] if max_padding is None else max_padding
    device = model.device
    try:
        # One autocast region for all batches: bf16 copies of the weights are made once, not per batch.
        with autocast(device, bf16):
            for batch in length_groups(lengths, np.arange(len(lengths)), batch_size, max_padding):
                batch_lengths = np.maximum(lengths[batch], 1)
                extra = {}
                if context_ids is not None and context_lengths is not None:  # both or neither (checked above)
                    width = max(1, int(context_lengths[batch].max()))
                    extra = {
                        "context_ids": take_rows(context_ids, batch, width, device),
                        "context_lengths": torch.from_numpy(context_lengths[batch]),
                    }
                input_ids = take_rows(ids, batch, int(batch_lengths[0]), device)
                logits = model(input_ids, lengths=torch.from_numpy(batch_lengths), **extra).logits
                out[batch] = logits.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


@torch.inference_mode()
def padded_logits(model: BiLSTMClassifier, rows: Sequence[Sequence[int]]) -> np.ndarray:
    """fp32 logits of already-tokenized lines ``rows`` (token id lists), in one batch padded to the longest (padding
    does not change a line's logit). Leaves the model in eval mode."""
    ids, lengths = padded_rows(rows, model.config.pad_token_id)
    model.eval()
    return model(ids.to(model.device), lengths=lengths).logits.float().cpu().numpy()


def _check_context(context: Sequence[Sequence[str]], n: int) -> list:
    """``context`` as a list, after checking it holds one list of strings per line (``n`` lines)."""
    context = list(context)
    if len(context) != n:
        raise ValueError(f"context must hold one list of strings per line: {n} lines but {len(context)} contexts")
    for i, item in enumerate(context):
        if isinstance(item, str) or not all(isinstance(part, str) for part in item):
            raise ValueError(f"context[{i}] must be a list of strings (the lines around line {i}), got {item!r:.80}")
    return context


def encode_context(
    model: BiLSTMClassifier, context: Sequence[Sequence[str]] | None, n: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Check and encode ``context`` (one list of strings per line) for ``model``: ``(ids, lengths)``.

    A single-line model refuses a context; a context model given none reads every line with an empty context
    (and logs that once per model)."""
    if not model.config.uses_context:
        if context is not None:
            raise ValueError(
                "this model reads single lines (context_encoder='none' in its config.json) and "
                "takes no context; call it without context=, or use a model trained with "
                "--preset context"
            )
        return None
    if context is None:
        if not model.warned_no_context:
            logger.warning(
                "No context given to a context model: each line is scored alone, with an empty "
                "context (it was trained with up to %d lines of other speakers before and after)",
                model.config.context_size,
            )
            model.warned_no_context = True
        context = [[] for _ in range(n)]
    context = _check_context(context, n)
    return encode(model.require_tokenizer(), [" ".join(item) for item in context])


def predict_logits(
    model: BiLSTMClassifier,
    texts: str | Sequence[str],
    context: Sequence[Sequence[str]] | None = None,
    batch_size: int = 512,
    bf16: bool | None = None,
) -> np.ndarray:
    """Logits (log-odds of female) of ``texts``; ``bf16`` ``None``: the precision policy's choice for ``model``
    (:func:`movie_gender.model.precision.resolve_bf16`). ``context``: one list of strings per line (context models)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    # A character model's line scores read the line alone: what is said around it counts per character.
    line_context = model.config.line_context or not model.config.is_character_model
    encoded_context = encode_context(model, context, len(texts)) if line_context else None
    ids, lengths = encode(model.require_tokenizer(), texts)
    bf16 = resolve_bf16(bf16, model.device, model.config, probe=precision_probe(model, False))
    context_ids, context_lengths = encoded_context if encoded_context is not None else (None, None)
    return logits_from_ids(
        model, ids, lengths, batch_size=batch_size, bf16=bf16, context_ids=context_ids, context_lengths=context_lengths
    )


__all__ = ["encode_context", "logits_from_ids", "padded_logits", "predict_logits"]
