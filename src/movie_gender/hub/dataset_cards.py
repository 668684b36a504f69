"""The dataset cards, each rendered from a template under ``movie_gender/templates``: the dataset's
(``dataset_card.md``: how the DatasetDict was built) and the completed corpus' (``completion_card.md``: which labels
are predicted, by which model, and how accurate such labels were on held-out movies, from the model's run record).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from movie_gender.data.conversations import SOURCE_ADJACENCY
from movie_gender.data.conversations import SOURCE_FILE as CONVERSATIONS_FILE
from movie_gender.data.convokit import SOURCE as CONVOKIT_SOURCE
from movie_gender.data.corpus import FULL_CORPUS
from movie_gender.data.screenplay import SOURCE as SCREENPLAY_SOURCE
from movie_gender.hub.cards import CITATION, PROJECT_URL, metric_text, split_protocol, template
from movie_gender.hub.size_tables import size_rows
from movie_gender.training.report_parts import (
    Calibration,
    Confident,
    ConfidentClass,
    CorpusRecord,
    DatasetRecord,
    Intervals,
    LevelReport,
    or_default,
)
from movie_gender.training.run_record import RunRecord, as_record

if TYPE_CHECKING:
    import datasets
    import numpy as np

    from movie_gender.data.splitting import DatasetReport
    from movie_gender.inference.completion import Completion

WARNING = (
    "Never use these labels, or the model behind them, to infer a real person's gender: the labels are binary "
    "character metadata of 2011 and the predictions guess how screenwriters wrote characters."
)


def _render_dataset_card(template_name: str, metadata: dict, **values: Any) -> str:
    """A dataset card from ``template_name``: ``metadata`` as its YAML header (in the order given), then the body."""
    header = yaml.safe_dump(metadata, sort_keys=False).rstrip()
    card = DatasetCard.from_template(
        DatasetCardData(), template_str=template(template_name), metadata=header, citation="\n".join(CITATION), **values
    )
    return str(card)


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def _dataset_info(dataset: datasets.DatasetDict) -> dict:
    """The card's ``dataset_info`` (features and split sizes) as ``datasets`` itself writes it into a card."""
    import datasets
    from datasets.info import DatasetInfosDict

    splits = datasets.SplitDict()
    for name, part in dataset.items():
        splits.add(datasets.SplitInfo(name, num_bytes=int(part.data.nbytes), num_examples=len(part)))
    info = datasets.DatasetInfo(features=next(iter(dataset.values())).features, splits=splits, config_name="default")
    card_data = DatasetCardData()
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    return card_data.to_dict()


# How each source's conversations were found (data.conversations, data.convokit, data.screenplay name them).
_CONVERSATION_SOURCES = {
    CONVERSATIONS_FILE: "the exchanges listed in the corpus' `movie_conversations.txt`",
    SOURCE_ADJACENCY: (
        "derived from line-id adjacency (the corpus has no `movie_conversations.txt`): lines of one movie with "
        "consecutive numeric ids form one exchange, so two exchanges that follow each other without a gap in "
        "the ids count as one"
    ),
    CONVOKIT_SOURCE: "the ConvoKit corpus' own conversations (`conversation_id`), ordered by `reply-to`",
    SCREENPLAY_SOURCE: "the screenplays' scenes: every scene heading starts a conversation",
}


def _conversation_lines(corpus: CorpusRecord) -> list[str]:
    """The card's lines on the conversation columns, from the corpus statistics (none for a Dataset given as is)."""
    source = corpus.conversations_source
    if not source:
        return []
    k = or_default(corpus.context_size, 0)
    how = _CONVERSATION_SOURCES.get(source, _CONVERSATION_SOURCES[SOURCE_ADJACENCY])
    if source == CONVERSATIONS_FILE and corpus.lines_outside_conversations:
        how += f" ({corpus.lines_outside_conversations:,} lines it does not list are conversations of their own)"
    lines = f"{k} line" if k == 1 else f"{k} lines"
    conversations = or_default(corpus.conversations, 0)
    return [
        f"- Conversations ({conversations:,}): {how}. `conversation_id` names the movie (or other group) and the "
        "conversation, `turn` the line's 0-based position in it.",
        f"- `context`: up to {lines} spoken by other characters just before the line, then up to {lines} just "
        "after it, within its conversation and in the order spoken; the speaker's own lines are skipped, and "
        "lines of characters of unknown gender count (they are dropped as examples, not as context). "
        "A model that reads `context` uses what other characters say, not only the speaker's words.",
    ]


def _report_values(report: DatasetReport) -> dict:
    """The dataset card's account of how the dataset was built, from its report."""
    corpus = CorpusRecord.from_dict(report.corpus)
    counted = ("lines_read", "male", "female", "unknown_gender")
    return {
        "corpus": {
            "source": or_default(corpus.source, ""),
            "skipped_bad_lines": or_default(corpus.skipped_bad_lines, 0),
            **{key: f"{or_default(getattr(corpus, key), 0):,}" for key in counted},
        },
        "full_corpus": {key: f"{FULL_CORPUS[key]:,}" for key in ("male", "female")},
        "conversation_lines": _conversation_lines(corpus),
        "protocol": split_protocol(report.split, report.test_per_class),
        "validation_size": f"{report.validation_size:.0%}",
        "test_size": f"{report.test_size:.0%}",
        "train_male": f"{report.train_before_balance.get('male', 0):,}",
        "train_female": f"{report.train_before_balance.get('female', 0):,}",
    }


def render_dataset_card(dataset: datasets.DatasetDict, report: DatasetReport | None = None) -> str:
    """The dataset card (README.md): YAML metadata the Hub and ``load_dataset`` read, then the protocol."""
    total = sum(len(d) for d in dataset.values())
    metadata = {
        "pretty_name": "Cornell Movie-Dialogs: speaker gender",
        "language": ["en"],
        "license": "other",
        "task_categories": ["text-classification"],
        "tags": ["movie-gender", "cornell-movie-dialogs", "gender"],
        "size_categories": [_size_category(total)],
        "configs": [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in dataset]}],
        **_dataset_info(dataset),
    }
    splits = []
    for name, part in dataset.items():
        counts = report.class_counts.get(name, {}) if report else {}
        movies = report.movies.get(name, "") if report else ""
        splits.append(
            {
                "name": name,
                "lines": f"{len(part):,}",
                "male": f"{counts.get('male', 0):,}",
                "female": f"{counts.get('female', 0):,}",
                "movies": movies,
            }
        )
    values = _report_values(report) if report is not None else {}
    return _render_dataset_card("dataset_card.md", metadata, splits=splits, report=report, **values)


def _held_out(record: RunRecord | None) -> dict | None:
    """How accurate the model's character labels were on held-out movies (its test metrics), for the completed
    corpus' card; None when its record has no character-level results."""
    character = record.level("character") if record else LevelReport()
    model = character.model
    if not model or record is None:
        return None
    ci = model.ci95 or Intervals()
    calibration = character.calibration or Calibration()
    confident = calibration.confident or Confident()
    female = confident.female or ConfidentClass()
    cut = or_default(confident.cut, 0.9)
    dataset = record.dataset if isinstance(record.dataset, DatasetRecord) else DatasetRecord()
    movies = (dataset.movies or {}).get(record.split_name)
    return {
        "split": record.split_name,
        "where": f"{movies} movie{'s' if movies != 1 else ''}, " if movies else "",
        "split_mode": or_default(dataset.split, "n/a"),
        "n": or_default(model.n, "n/a"),
        "min_lines": or_default(character.min_lines, "?"),
        "roc_auc": metric_text(model.roc_auc, ci.roc_auc),
        "threshold": metric_text(model.threshold),
        "accuracy": metric_text(model.accuracy),
        "balanced_accuracy": metric_text(model.balanced_accuracy, ci.balanced_accuracy),
        **{key: metric_text(getattr(calibration, key)) for key in ("ece", "ece_raw", "ece_noise_floor")},
        "cut": cut,
        "confident": f"{metric_text(female.precision)} ({or_default(female.n, 0)})"
        if female.precision is not None
        else f"none had P(female) >= {cut}",
        "speaker_leak": model.speaker_leak or character.speaker_leak,
        "sizes": size_rows(calibration),
    }


BANDS = {
    "1": (1, 1),
    "2": (2, 2),
    "3": (3, 4),
    "5": (5, 9),
    "10": (10, None),
}  # a size row -> the line counts it stands for


def _size_bands(held_out: dict | None, n_lines: np.ndarray, predicted: np.ndarray) -> list[dict]:
    """The held-out rows by size, each with how many predicted characters of the completed corpus have about that
    many lines (1, 2, 3-4, 5-9, 10 or more)."""
    rows = []
    for row in (held_out or {}).get("sizes", []):
        low, high = BANDS.get(row["lines"], (None, None))
        if low is None:
            rows.append({**row, "band": "", "predicted": ""})
            continue
        inside = predicted & (n_lines >= low) & (True if high is None else n_lines <= high)
        band = f"{low}+" if high is None else str(low) if low == high else f"{low}-{high}"
        rows.append({**row, "band": band, "predicted": f"{int(inside.sum()):,}"})
    return rows


def _completion_counts(label: np.ndarray, predicted: np.ndarray) -> list[dict]:
    """The card's table: characters, male and female, by where their label comes from."""
    import numpy as np

    rows = []
    for name, mask in (("corpus label", ~predicted), ("predicted label", predicted), ("all", np.ones_like(predicted))):
        rows.append(
            {
                "name": name,
                "characters": f"{int(mask.sum()):,}",
                "male": f"{int((mask & (label == 'male')).sum()):,}",
                "female": f"{int((mask & (label == 'female')).sum()):,}",
            }
        )
    return rows


def render_completion_card(
    completion: Completion, model_name: str, record: RunRecord | Mapping | None, corpus_source: str | None
) -> str:
    """The completed corpus' card (README.md): YAML metadata for the Hub and ``load_dataset``, then which labels are
    predicted, by which model, how accurate such labels were on held-out movies (``record``: the model's run
    record), and the intended-use warning."""
    import numpy as np

    record, table = as_record(record), completion.table
    predicted = np.asarray(table["label_source"].to_numpy(zero_copy_only=False)) == "predicted"
    label = np.asarray(table["label"].to_numpy(zero_copy_only=False))
    min_lines = record.level("character").min_lines if record else None
    few = (
        int((predicted & (np.asarray(table["n_lines"].to_numpy()) < min_lines)).sum())
        if isinstance(min_lines, int)
        else None
    )
    metadata = {
        "pretty_name": "Cornell Movie-Dialogs: character gender, completed",
        "language": ["en"],
        "license": "other",
        "task_categories": ["text-classification"],
        "tags": ["movie-gender", "cornell-movie-dialogs", "gender", "predicted-labels"],
        "size_categories": ["n<1K" if len(table) < 1_000 else "1K<n<10K" if len(table) < 10_000 else "10K<n<100K"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
    }
    silent, held_out = completion.silent, _held_out(record)
    sizes = _size_bands(held_out, np.asarray(table["n_lines"].to_numpy()), predicted)
    return _render_dataset_card(
        "completion_card.md",
        metadata,
        corpus_source=corpus_source,
        model_name=model_name,
        project_url=PROJECT_URL,
        counts=_completion_counts(label, predicted),
        silent={key: None if value is None else f"{value:,}" for key, value in silent.items()},
        held_out=held_out,
        sizes=sizes,
        few=f"{few:,}" if few else None,
        predicted=f"{int(predicted.sum()):,}",
        min_lines=min_lines,
        warning=WARNING,
    )


__all__ = ["WARNING", "render_completion_card", "render_dataset_card"]
