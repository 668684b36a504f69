"""The completed corpus: every speaking character of a corpus with a gender label, the corpus' own where it has one
and the model's calibrated prediction where it has none, as a dataset folder (parquet + card) for the Hub.

The predictions come from :func:`movie_gender.inference.prediction.score_characters` (the model's character
score, calibrated on validation), so a model with a character estimate of its own is used as it is. The card says
which labels are predicted, by which model, and how accurate such labels were on held-out movies (the model's test
metrics).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from movie_gender.atomic import atomic_folder
from movie_gender.data.dataset import CITATION
from movie_gender.inference.prediction import score_characters

if TYPE_CHECKING:
    import datasets

    from movie_gender.model.modeling import BiLSTMClassifier

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
WARNING = (
    "Never use these labels, or the model behind them, to infer a real person's gender: the labels are binary "
    "character metadata of 2011 and the predictions guess how screenwriters wrote characters."
)


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


def _fmt(value: Any, ci: Any = None) -> str:
    if value is None or value != value:
        return "n/a"
    interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
    return f"{value:.3f}{interval}"


def held_out_lines(metrics: Mapping | None) -> list[str]:
    """The card's account of how accurate the model's character labels were on held-out movies (its test metrics,
    from the metrics.json written when it was trained)."""
    character = (metrics or {}).get("character") or {}
    model = character.get("model") or {}
    if not model:
        return [
            "**No held-out evaluation is recorded for this model** (it has no `metrics.json` with character-level "
            "results), so nothing here says how accurate its labels are. Treat them as unverified."
        ]
    ci = model.get("ci95", {})
    calibration = character.get("calibration") or {}
    confident = (calibration.get("confident") or {}).get("female") or {}
    cut = (calibration.get("confident") or {}).get("cut", 0.9)
    dataset = metrics.get("dataset") or {}
    movies = (dataset.get("movies") or {}).get(metrics.get("eval_split", "test"))
    where = f"{movies} movie{'s' if movies != 1 else ''}, " if movies else ""
    rows = [
        f"On its **{metrics.get('eval_split', 'test')}** split ({where}never seen in training; split "
        f"`{dataset.get('split', 'n/a')}`), the model labelled the {model.get('n', 'n/a')} characters of known gender "
        f"with at least {character.get('min_lines', '?')} lines like this:",
        "",
        "| measure (held-out characters) | value |",
        "|---|---:|",
        f"| ROC-AUC [95% CI, bootstrap over movies] | {_fmt(model.get('roc_auc'), ci.get('roc_auc'))} |",
        f"| accuracy at the threshold ({_fmt(model.get('threshold'))}) | {_fmt(model.get('accuracy'))} |",
        f"| balanced accuracy [95% CI] | {_fmt(model.get('balanced_accuracy'), ci.get('balanced_accuracy'))} |",
        f"| expected calibration error of P(female), calibrated (raw; from sampling noise alone) | "
        f"{_fmt(calibration.get('ece'))} ({_fmt(calibration.get('ece_raw'))}; "
        f"{_fmt(calibration.get('ece_noise_floor'))}) |",
        f"| P(female) >= {cut}: fraction female (characters) | "
        + (
            f"{_fmt(confident.get('precision'))} ({confident.get('n', 0)})"
            if confident.get("precision") is not None
            else f"none had P(female) >= {cut}"
        )
        + " |",
    ]
    if model.get("speaker_leak") or character.get("speaker_leak"):
        rows += ["", "These figures come from a split by line (speakers in train and test): they overstate."]
    return rows


def render_card(completion: Completion, model_name: str, metrics: Mapping | None, corpus_source: str) -> str:
    """The dataset card (README.md): YAML metadata for the Hub and ``load_dataset``, then which labels are predicted,
    by which model, how accurate such labels were on held-out movies, and the intended-use warning."""
    table = completion.table
    source = np.asarray(table["label_source"].to_numpy(zero_copy_only=False))
    label = np.asarray(table["label"].to_numpy(zero_copy_only=False))
    n_lines = np.asarray(table["n_lines"].to_numpy())
    predicted = source == "predicted"
    min_lines = ((metrics or {}).get("character") or {}).get("min_lines")
    few = int((predicted & (n_lines < min_lines)).sum()) if isinstance(min_lines, int) else None
    metadata = {
        "pretty_name": "Cornell Movie-Dialogs: character gender, completed",
        "language": ["en"],
        "license": "other",
        "task_categories": ["text-classification"],
        "tags": ["movie-gender", "cornell-movie-dialogs", "gender", "predicted-labels"],
        "size_categories": ["n<1K" if len(table) < 1_000 else "1K<n<10K" if len(table) < 10_000 else "10K<n<100K"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
    }
    silent = completion.silent
    silent_line = (
        "The corpus has no character metadata file here, so characters who speak no line are not counted."
        if silent["total"] is None
        else f"{silent['total']:,} characters of these movies speak no line in `movie_lines.txt` "
        f"({silent['labelled']:,} of them with a corpus label): they get no prediction and are not in the table."
    )
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).rstrip(),
        "---",
        "",
        "# Cornell Movie-Dialogs: character gender, completed",
        "",
        "One row per speaking character of the [Cornell Movie-Dialogs Corpus]"
        "(https://www.cs.cornell.edu/~cristian/Cornell_Movie-Dialogs_Corpus.html) "
        f"(`{corpus_source}`) with a gender label for every one of them:",
        "",
        "- `label_source: corpus`: the label is the corpus' own (`m`/`f` in `movie_characters_metadata.txt`);",
        "- `label_source: predicted`: the corpus marks the gender unknown (`?`): **the label is predicted by the "
        f"model `{model_name}`**, not observed. Filter on `label_source` to keep the observed labels only.",
        "",
        "| | characters | male | female |",
        "|---|---:|---:|---:|",
    ]
    for name, mask in (("corpus label", ~predicted), ("predicted label", predicted), ("all", np.ones_like(predicted))):
        lines.append(
            f"| {name} | {int(mask.sum()):,} | {int((mask & (label == 'male')).sum()):,} | "
            f"{int((mask & (label == 'female')).sum()):,} |"
        )
    lines += [
        "",
        silent_line,
        "",
        "## Columns",
        "",
        "| column | type | meaning |",
        "|---|---|---|",
        "| movie_id, movie_title | string | the movie (title from the metadata; null without it) |",
        "| character_id, character_name | string | the character |",
        "| n_lines | int64 | its lines in the corpus, all scored |",
        "| corpus_label | string | `male` / `female` from the corpus; null where the corpus says unknown |",
        "| p_female | float64 | the model's calibrated P(female) for the character, also where the corpus has a "
        "label (to compare) |",
        "| predicted_label | string | the model's label: female at P(female) >= the threshold chosen on validation |",
        "| label | string | corpus_label where it exists, else predicted_label |",
        "| label_source | string | `corpus` or `predicted` |",
        "",
        "## How accurate are the predicted labels?",
        "",
        f"Predicted by `{model_name}`, a [movie-gender](https://github.com/movie-gender/movie-gender) model: a "
        "character's score comes from all its lines (today's line models: the mean log-odds of its lines), turned "
        "into a probability by Platt scaling fitted on the model's validation movies, so that P(female) is meant to "
        "be a frequency: of characters with P(female) near 0.9, about 90% should be female.",
        "",
        *held_out_lines(metrics),
        "",
        "These figures are for characters of known gender in held-out movies; characters the corpus marks unknown "
        "may differ from them (often minor characters with few lines), so read them as an estimate."
        + (
            f" {few:,} of the {int(predicted.sum()):,} predicted characters have fewer than {min_lines} lines, "
            "the fewest the held-out figures count: their labels are less reliable than the table says."
            if few
            else ""
        ),
        "",
        "## Intended use",
        "",
        "Aggregate research on film dialogue where a gender label for every character is needed (e.g. who speaks to "
        "whom). Report results with and without the predicted labels.",
        "",
        f"**{WARNING}**",
        "",
        "## Licence and citation",
        "",
        "The corpus is distributed by Cornell for research; check its terms before redistribution.",
        "",
        *CITATION,
        "",
    ]
    return "\n".join(lines)


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


__all__ = [
    "SCHEMA",
    "Completion",
    "complete_characters",
    "held_out_lines",
    "render_card",
    "save_completion",
    "silent_characters",
]
