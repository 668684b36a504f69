"""The completed corpus: every speaking character of a corpus with a gender label, the corpus' own where it has one
and the model's calibrated prediction where it has none, as a dataset folder (parquet + card) for the Hub.

The predictions come from :func:`movie_gender.inference.prediction.score_characters` (the model's character
score, calibrated on validation), so a model with a character estimate of its own is used as it is. Its card
(:func:`movie_gender.hub.dataset_cards.render_completion_card`) says which labels are predicted, by which model, and
how accurate such labels were on held-out movies (the model's test metrics).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movie_gender.atomic import atomic_folder
from movie_gender.data.convokit import CONVERSATIONS, CORPUS_META, SPEAKERS, UTTERANCES, entry_meta, is_convokit
from movie_gender.data.convokit import read_json_object as read_object
from movie_gender.data.convokit_writer import cornell_records, utterances_index, write_convokit
from movie_gender.inference.prediction import score_characters

if TYPE_CHECKING:
    import datasets

    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier

logger = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        ("movie_id", pa.string()),
        ("movie_title", pa.string()),
        ("character_id", pa.string()),
        ("character_name", pa.string()),
        ("n_lines", pa.int64()),
        ("corpus_label", pa.string()),
        ("p_female", pa.float64()),
        ("predicted_label", pa.string()),
        ("label", pa.string()),
        ("label_source", pa.string()),
    ]
)
DATA_FILE = "data/train-00000-of-00001.parquet"


@dataclass
class Completion:
    """The completed table and what the card reports about it."""

    table: pa.Table
    silent: dict  # characters of the metadata, in the corpus' movies, who speak no line: {"total", "labelled"}


def silent_characters(characters: pa.Table | None, table: pa.Table) -> dict:
    """The characters of ``characters`` (the metadata) in the movies of ``table`` that speak no line there:
    ``{"total", "labelled"}`` (labelled: the corpus gives their gender); None counts without metadata."""
    if characters is None:
        return {"total": None, "labelled": None}
    in_movies = pc.is_in(characters["movie_id"], value_set=pc.unique(table["movie_id"]))
    silent = pc.and_(in_movies, pc.invert(pc.is_in(characters["character_id"], value_set=table["character_id"])))
    labels = np.asarray(characters["label"].to_numpy())[np.asarray(silent.to_numpy(zero_copy_only=False))]
    return {"total": int(len(labels)), "labelled": int((labels >= 0).sum())}


def complete_characters(
    model: BiLSTMClassifier,
    corpus: datasets.Dataset,
    characters: pa.Table | None = None,
    *,
    batch_size: int = 512,
    progress: bool = True,
) -> Completion:
    """Score every character of ``corpus`` (lines of every character, unknown gender included:
    ``read_corpus(..., include_unknown=True)``) and complete the labels: :data:`SCHEMA`, in order of the characters'
    first lines. ``characters`` (:func:`movie_gender.data.corpus.read_characters`) gives the movie titles and the count
    of characters who speak no line."""
    scored = score_characters(model, corpus, batch_size=batch_size, progress=progress)
    corpus_label = pa.nulls(len(scored), pa.string())
    if "corpus_label" in scored.column_names:
        corpus_label = scored["corpus_label"]
    known = pc.is_valid(corpus_label)
    titles = pa.nulls(len(scored), pa.string())
    if characters is not None:
        index = pc.index_in(scored["character_id"], value_set=characters["character_id"])
        titles = pc.take(characters["movie_title"], index)
    table = pa.table(
        {
            "movie_id": scored["movie_id"],
            "movie_title": titles,
            "character_id": scored["character_id"],
            "character_name": scored["character_name"],
            "n_lines": scored["n_lines"],
            "corpus_label": corpus_label,
            "p_female": scored["p_female"],
            "predicted_label": scored["predicted_label"],
            "label": pc.if_else(known, corpus_label, scored["predicted_label"]),
            "label_source": pc.if_else(known, "corpus", "predicted"),
        },
        schema=SCHEMA,
    )
    completion = Completion(table, silent_characters(characters, table))
    logger.info(
        "%s characters speak in the corpus: %s with a corpus label, %s labelled by the model; %s characters of these "
        "movies speak no line, so get no prediction",
        f"{len(table):,}",
        f"{int(pc.sum(known).as_py() or 0):,}",
        f"{len(table) - int(pc.sum(known).as_py() or 0):,}",
        "an unknown number of" if completion.silent["total"] is None else f"{completion.silent['total']:,}",
    )
    return completion


def save_completion(table: pa.Table, card: str, output: str | os.PathLike) -> Path:
    """Write ``data/train-00000-of-00001.parquet`` and README.md into ``output``, replaced whole and in one step
    (as :func:`movie_gender.save_dataset`); ``load_dataset(output)`` reads it."""
    import pyarrow.parquet as pq

    output = Path(output)
    with atomic_folder(output, replaces=("README.md", "data")) as tmp:
        (tmp / "data").mkdir()
        pq.write_table(table, tmp / DATA_FILE)
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return output


# What the speakers of a ConvoKit completion carry in their metadata, from the completed table.
CONVOKIT_FIELDS = ("p_female", "predicted_label", "label", "label_source")


def _speaker_fields(table: pa.Table) -> dict[str, dict]:
    """Each character's :data:`CONVOKIT_FIELDS`, by character id."""
    columns = {name: table[name].to_pylist() for name in CONVOKIT_FIELDS}
    return {
        character: {name: columns[name][i] for name in CONVOKIT_FIELDS}
        for i, character in enumerate(table["character_id"].to_pylist())
    }


def save_convokit_completion(
    table: pa.Table, corpus: datasets.Dataset, output: str | os.PathLike, source: str | os.PathLike | None = None
) -> Path:
    """Write the completion as a ConvoKit corpus folder (replaced whole and in one step): every speaker's metadata
    gains ``p_female``, ``predicted_label``, ``label`` and ``label_source``. From a ConvoKit corpus ``source`` its
    utterances.jsonl and conversations.json are copied byte for byte, and its speakers' and corpus' metadata (and
    the speakers' vector names) are kept; from
    any other source (``corpus``: its lines, unknown-gender speakers included) the utterances and conversations are
    made from the lines, each replying to the one before it in its conversation."""
    fields = _speaker_fields(table)
    if source is not None and is_convokit(source):
        folder = Path(source)

        def entries(name: str) -> dict[str, Any]:
            return read_object(folder / name) if (folder / name).is_file() else {}

        raw = entries(SPEAKERS)
        speakers = {key: dict(entry_meta(entry)) for key, entry in raw.items()}
        for speaker, values in fields.items():
            speakers.setdefault(speaker, {}).update(values)
        vectors = {
            k: e["vectors"] for k, e in raw.items() if isinstance(e, dict) and isinstance(e.get("vectors"), list)
        }
        has_conversations = (folder / CONVERSATIONS).is_file()
        return write_convokit(
            output,
            speakers=speakers,
            conversations={key: entry_meta(entry) for key, entry in entries(CONVERSATIONS).items()},
            meta=entries(CORPUS_META),
            utterances_file=folder / UTTERANCES,
            utterances_index=utterances_index(folder / UTTERANCES),
            speaker_vectors=vectors,
            conversations_file=folder / CONVERSATIONS if has_conversations else None,
        )
    lines = corpus.select_columns(
        ["line_id", "movie_id", "character_id", "character_name", "text", "label", "conversation_id", "turn"]
    )
    utterances, speakers, conversations = cornell_records(lines.with_format("arrow")[:])
    for speaker, values in fields.items():
        speakers.setdefault(speaker, {}).update(values)
    meta = {"name": Path(str(source)).name if source is not None else "movie-gender completion"}
    return write_convokit(output, utterances=utterances, speakers=speakers, conversations=conversations, meta=meta)


__all__ = [
    "CONVOKIT_FIELDS",
    "SCHEMA",
    "Completion",
    "complete_characters",
    "save_completion",
    "save_convokit_completion",
    "silent_characters",
]
