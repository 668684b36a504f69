"""Scoring many lines with a model: a table per line or per character, with a progress bar, and writing it out.

The tables carry the corpus' own label beside the prediction (``corpus_label``, null for characters whose gender
the corpus marks unknown), so the same output serves checking a model and labelling the characters it never saw.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import datasets
import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from movie_gender.atomic import atomic_path
from movie_gender.atomic import check_output as check_output_path
from movie_gender.data.columns import read_column, read_columns
from movie_gender.inference import characters as character_scoring
from movie_gender.inference.predictor import predict_logits
from movie_gender.labels import calibrated_probability, is_female, label_names

if TYPE_CHECKING:
    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier


logger = logging.getLogger(__name__)

LINE_COLUMNS = ("line_id", "movie_id", "character_id", "text", "p_female", "predicted_label", "corpus_label")
CHARACTER_COLUMNS = (
    "movie_id",
    "character_id",
    "character_name",
    "n_lines",
    "p_female",
    "predicted_label",
    "corpus_label",
)
OUTPUT_FORMATS = (".parquet", ".csv", ".jsonl")
CHUNK = 8192  # lines per progress step


def context_size(model: BiLSTMClassifier) -> int:
    """How many context lines on each side a model reads (0: a single-line model)."""
    return int(getattr(model.config, "context_size", 0) or 0)


def line_logits(
    model: BiLSTMClassifier,
    texts: list[str],
    context: list[list[str]] | None = None,
    *,
    batch_size: int = 512,
    progress: bool = True,
) -> np.ndarray:
    """The model's log-odds of female for each line, chunk by chunk under a progress bar; ``context`` (one list of
    strings per line) only for a context model."""
    out = np.zeros(len(texts), dtype=np.float32)
    with tqdm(total=len(texts), unit=" lines", unit_scale=True, desc="Scoring", disable=not progress) as bar:
        for start in range(0, len(texts), CHUNK):
            end = min(start + CHUNK, len(texts))
            chunk_context = None if context is None else context[start:end]
            out[start:end] = predict_logits(model, texts[start:end], context=chunk_context, batch_size=batch_size)
            bar.update(end - start)
    return out


def _corpus_labels(model: BiLSTMClassifier, labels: np.ndarray) -> pa.Array:
    """The corpus' label names of 0/1 ``labels`` (null where -1: gender unknown)."""
    names = model.config.id2label
    return pa.array([names[str(int(v))] if v >= 0 else None for v in labels], pa.string())


def predicted_labels(model: BiLSTMClassifier, p: np.ndarray, level: str = "line") -> pa.Array:
    """The model's label of each calibrated P(female) ``p`` at its threshold for ``level``
    (:func:`movie_gender.labels.is_female`)."""
    return pa.array(label_names(model.config, is_female(model.config, level, p)), pa.string())


def p_female(model: BiLSTMClassifier, logits: np.ndarray, level: str = "line") -> np.ndarray:
    """P(female) (float64) as users get it: the model's log-odds of female through its calibration for ``level``
    (:func:`movie_gender.labels.calibrated_probability`)."""
    return np.asarray(calibrated_probability(model.config, level, logits), dtype=np.float64)


def line_labels(model: BiLSTMClassifier, p: np.ndarray) -> pa.Array:
    """The label of each line: ``id2label["1"]`` where P(female) >= ``config.threshold``, else ``id2label["0"]``
    (:func:`movie_gender.labels.is_female`)."""
    return predicted_labels(model, p, "line")


def _dataset_context(model: BiLSTMClassifier, dataset: datasets.Dataset) -> list[list[str]] | None:
    if not context_size(model):
        return None
    if "context" not in dataset.column_names:
        logger.warning("The model reads context but the data has no 'context' column: scoring each line alone")
        return None
    return read_column(dataset, "context")


def score_lines(
    model: BiLSTMClassifier, dataset: datasets.Dataset, *, batch_size: int = 512, progress: bool = True
) -> pa.Table:
    """One row per line of ``dataset``: :data:`LINE_COLUMNS` (columns the data lacks are left out)."""
    texts = read_column(dataset, "text")
    logits = line_logits(model, texts, _dataset_context(model, dataset), batch_size=batch_size, progress=progress)
    p = p_female(model, logits)
    names = [name for name in ("line_id", "movie_id", "character_id") if name in dataset.column_names]
    columns: dict = read_columns(dataset, names)
    columns.update(
        text=texts,
        p_female=pa.array(p, pa.float64()),
        predicted_label=line_labels(model, p),
    )
    if "label" in dataset.column_names:
        columns["corpus_label"] = _corpus_labels(model, np.asarray(read_column(dataset, "label"), dtype=np.int64))
    return pa.table(columns)


def score_characters(
    model: BiLSTMClassifier, dataset: datasets.Dataset, *, batch_size: int = 512, progress: bool = True
) -> pa.Table:
    """One row per character of ``dataset`` (needs ``character_id``): :data:`CHARACTER_COLUMNS`, in order of the
    characters' first lines; P(female) from the mean log-odds of the character's lines, or a character model's own
    estimate from all of them (as :meth:`BiLSTMClassifier.predict_characters`), calibrated, labelled at
    ``config.character_threshold``."""
    if "character_id" not in dataset.column_names:
        raise ValueError(
            "the data has no 'character_id' column, so lines cannot be grouped by character; use --by line"
        )
    conversations = read_column(dataset, "conversation_id") if "conversation_id" in dataset.column_names else None
    lines = character_scoring.CharacterLines(
        read_column(dataset, "text"),
        [str(c) for c in read_column(dataset, "character_id")],
        None if conversations is None else [str(c) for c in conversations],
        _dataset_context(model, dataset),
    )
    characters = character_scoring.score_characters(model, lines, batch_size=batch_size, progress=progress)
    order = np.argsort(characters.first_line, kind="stable")
    first = characters.first_line[order]
    p = calibrated_probability(model.config, "character", characters.mean_logit[order], characters.n_lines[order])
    columns = {}
    for name in ("movie_id", "character_id", "character_name"):
        if name in dataset.column_names:
            columns[name] = pa.array(dataset[name]).take(pa.array(first))
    columns["n_lines"] = pa.array(characters.n_lines[order], pa.int64())
    columns["p_female"] = pa.array(p, pa.float64())
    columns["predicted_label"] = predicted_labels(model, p, "character")
    if "label" in dataset.column_names:
        columns["corpus_label"] = _corpus_labels(model, np.asarray(dataset["label"], dtype=np.int64)[first])
    return pa.table(columns)


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """The output path, if its format is one :func:`write_table` writes, its folder exists and it is none of
    ``inputs`` nor inside a folder or glob read as input (:func:`movie_gender.atomic.check_output`)."""
    return check_output_path(path, inputs, formats=OUTPUT_FORMATS)


def write_table(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write ``table`` as Parquet, CSV or JSON lines (by the extension), atomically."""
    path = check_output(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        elif suffix == ".csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, tmp)
        else:
            with open(tmp, "w", encoding="utf-8") as stream:
                for row in table.to_pylist():
                    stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


__all__ = [
    "LINE_COLUMNS",
    "CHARACTER_COLUMNS",
    "OUTPUT_FORMATS",
    "context_size",
    "line_logits",
    "p_female",
    "line_labels",
    "predicted_labels",
    "score_lines",
    "score_characters",
    "check_output",
    "write_table",
]
