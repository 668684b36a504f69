"""The plain reference implementations the benchmark compares with: what a careful user would write without this
package's speed-ups. A training loop and a prediction loop in fp32 over random batches, tokenizing each batch in
Python and packing the padded batch (``pack_padded_sequence`` through the model's LSTM); and the tutorial's
preprocessing in pandas.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
import torch

from movie_gender.hub.classifier import BiLSTMClassifier
from movie_gender.model.layers import valid_positions

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd


def reference_train_steps(
    model: BiLSTMClassifier, texts: list[str], labels: np.ndarray, subset: np.ndarray, batch_size: int, seed: int
) -> tuple[int, int]:
    """The obvious training loop over ``subset``: random batches, tokenize each batch in Python, pad, pack, fp32.

    Returns (lines, tokens) seen."""
    order = list(subset)
    random.Random(seed).shuffle(order)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    lines = tokens = 0
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        loss, n_tokens = _reference_loss(model, [texts[i] for i in index], torch.as_tensor(labels[index]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lines += len(index)
        tokens += n_tokens
    return lines, tokens


def _reference_logits(model: BiLSTMClassifier, texts: list[str]) -> tuple[torch.Tensor, int]:
    """The plain forward pass: per-line tokenization, pad_sequence, pack_padded_sequence through the model's LSTM."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

    encoded = [torch.tensor(model.tokenizer.encode(t, add_special_tokens=False).ids or [0]) for t in texts]
    lengths = torch.tensor([len(e) for e in encoded])
    padded = pad_sequence(encoded, batch_first=True)
    embedded = model.embedding(padded)
    packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
    output, (hidden, _) = model.lstm(packed)
    if model.config.pooling == "last":
        features = torch.cat([hidden[-2], hidden[-1]], dim=1) if model.config.bidirectional else hidden[-1]
    else:
        steps, _ = pad_packed_sequence(output, batch_first=True)
        features = model._pool(steps, None, lengths, model.config.pooling, padded=True)
    hidden_layer = torch.relu(model.fc1(model.dropout(features)))
    logits = model.fc2(model.dropout(hidden_layer)).squeeze(-1)
    if model.config.bag_of_words:
        logits = logits + model.bag_of_words(padded, valid_positions(lengths, padded.shape[1]))
    return logits, int(lengths.sum())


def _reference_loss(model: BiLSTMClassifier, texts: list[str], labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    logits, tokens = _reference_logits(model, texts)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float()), tokens


def reference_predict(model: BiLSTMClassifier, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The obvious prediction loop: input order, tokenize each batch in Python, pad, pack, fp32."""
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            logits, _ = _reference_logits(model, texts[start : start + batch_size])
            out.append(torch.sigmoid(logits).numpy())
    return np.concatenate(out)


def pandas_reference(
    folder: Path, seed: int = 42, test_per_class: int = 10_000
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.DataFrame]:
    """The tutorial's preprocessing written the straightforward pandas way (read, merge, filter, split, oversample).

    Returns (train texts, train labels, validation frame, test frame)."""
    import pandas as pd
    from imblearn.over_sampling import RandomOverSampler
    from sklearn.model_selection import train_test_split

    base = folder / "cornell movie-dialogs corpus"
    read = {
        "sep": r" \+\+\+\$\+\+\+ ",
        "engine": "python",
        "header": None,
        "encoding": "latin-1",
        "quoting": 3,
        "dtype": str,
        "keep_default_na": False,
    }
    lines = pd.read_csv(base / "movie_lines.txt", names=["line_id", "character_id", "movie_id", "name", "text"], **read)
    characters = pd.read_csv(
        base / "movie_characters_metadata.txt",
        names=["character_id", "cname", "movie_id", "title", "gender", "position"],
        **read,
    )
    df = lines.merge(characters[["character_id", "gender"]], on="character_id")
    df["gender"] = df["gender"].apply(lambda g: g.lower())
    df = df[df["gender"].isin(["m", "f"])].copy()
    df["label"] = df["gender"].apply(lambda g: 1 if g == "f" else 0)
    df = df[df["text"].apply(lambda t: len(t.strip()) > 0)]
    test = pd.concat([df[df.label == 0].head(test_per_class), df[df.label == 1].head(test_per_class)])
    rest = df.drop(test.index)
    train_frame, valid = train_test_split(rest, test_size=0.1, stratify=rest["label"], random_state=seed)
    x, y = RandomOverSampler(random_state=seed).fit_resample(
        train_frame[["line_id", "movie_id", "text"]], train_frame["label"]
    )
    return x, y, valid, test


__all__ = ["reference_train_steps", "reference_predict", "pandas_reference"]
