"""The record of a training run, as metrics.json holds it: the protocol, the evaluation report, the data, the model's
config, GloVe, training, tokenizer, versions and a few example lines.

:func:`movie_gender.training.pipeline.train_run` builds one :class:`RunRecord` and
:func:`movie_gender.hub.model_folder.train_model` writes it once; evaluation, the cards, publishing and the completed
corpus read it back with :meth:`RunRecord.load` / :meth:`RunRecord.from_json`.
A field that is ``None`` is absent from the file: older records, or records of a run that skipped a part, lack some.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from movie_gender import __version__
from movie_gender.data.columns import read_columns
from movie_gender.data.download import public_source
from movie_gender.training.report_parts import CorpusRecord, DatasetRecord, LevelReport, RecordPart, TrainingRecord

if TYPE_CHECKING:
    import datasets

RECORD_NAME = "metrics.json"
# The libraries whose versions a record keeps, after Python and movie-gender itself.
VERSIONED = ("python", "movie-gender", "torch", "datasets", "tokenizers", "huggingface_hub", "safetensors")


def _drop_none(values: dict) -> dict:
    return {key: value for key, value in values.items() if value is not None}


@dataclass
class BootstrapRecord:
    """How the intervals were drawn: ``n`` resamples of whole ``unit``\\ s (movie or line), seeded by ``seed``."""

    unit: str | None = None
    n: int = 0
    seed: int | None = None

    def to_dict(self) -> dict:
        """The JSON object (absent fields left out)."""
        return _drop_none({"unit": self.unit, "n": self.n, "seed": self.seed})

    @classmethod
    def from_value(cls, value: Any) -> BootstrapRecord | int | None:
        """A record's ``bootstrap`` entry: a mapping, or the bare number of resamples of older records."""
        if isinstance(value, Mapping):
            return cls(unit=value.get("unit"), n=value.get("n", 0), seed=value.get("seed"))
        return value


@dataclass
class GloveRecord:
    """The GloVe vectors a model started from: ``name`` is the file name without ``.txt`` / ``.txt.gz``
    (``glove.6B.50d``), ``source`` where they came from (a file name or URL), ``coverage`` of the vocabulary."""

    name: str | None = None
    source: str | None = None
    coverage: dict = field(default_factory=dict)

    @classmethod
    def of(cls, glove: str | os.PathLike, member: str | None, coverage: Mapping) -> GloveRecord:
        """The record of vectors read from ``glove`` (``member`` of it, for a zip)."""
        name = Path(str(member or glove)).name.replace(".txt.gz", "").replace(".txt", "")
        return cls(name=name, source=public_source(glove), coverage=dict(coverage))

    def member_in(self, source: str | os.PathLike) -> str | None:
        """The member to read from ``source`` when that is a zip of several vector files: ``NAME.txt``."""
        return f"{self.name}.txt" if str(source).endswith(".zip") and self.name else None

    def to_dict(self) -> dict:
        """The JSON object: name, source, then the coverage figures."""
        return {**_drop_none({"name": self.name, "source": self.source}), **self.coverage}

    @classmethod
    def from_dict(cls, data: Mapping) -> GloveRecord:
        """A record from its JSON object."""
        coverage = {k: v for k, v in data.items() if k not in ("name", "source")}
        return cls(name=data.get("name"), source=data.get("source"), coverage=coverage)


@dataclass
class RunRecord(RecordPart):
    """metrics.json: one training run, in the order the file lists it.

    ``thresholds`` ... ``character`` are the evaluation report of
    :func:`movie_gender.evaluation.protocol.evaluate` (per level: each scorer's metrics, the paired differences and
    the calibration); ``dataset`` the data report, ``model`` the config as saved (thresholds and calibration
    included), ``training`` the training options and result. Keys this class does not know are kept in ``extra``;
    it reads and writes its JSON object as every :class:`~movie_gender.training.report_parts.RecordPart` does.
    """

    eval_split: str | None = None
    split_seed: int | None = None
    seed: int | None = None
    bootstrap: BootstrapRecord | int | None = None
    thresholds: str | None = None
    baselines: dict | None = None
    speaker_leak: bool | None = None
    line: LevelReport | None = None
    character: LevelReport | None = None
    dataset: DatasetRecord | None = None
    model: dict | None = None
    glove: GloveRecord | None = None
    training: TrainingRecord | None = None
    tokenizer: dict | None = None
    versions: dict | None = None
    examples: list[dict] | None = None

    READERS: ClassVar[dict[str, Callable[[Mapping], Any]]] = {
        "bootstrap": BootstrapRecord.from_value,
        "line": LevelReport.from_dict,
        "character": LevelReport.from_dict,
        "dataset": DatasetRecord.from_dict,
        "glove": GloveRecord.from_dict,
        "training": TrainingRecord.from_dict,
    }

    # ------------------------------------------------------------------------------------------- reading
    def level(self, name: str) -> LevelReport:
        """The report of level ``name`` ("line" or "character"); empty when the run has none."""
        report = getattr(self, name, None)
        return report if isinstance(report, LevelReport) else LevelReport()

    @property
    def has_results(self) -> bool:
        """Whether the record holds the model's line-level test results."""
        return bool(self.level("line").model)

    @property
    def split_name(self) -> str:
        """The split the results are on ("test" unless recorded otherwise)."""
        return self.eval_split or "test"

    # ------------------------------------------------------------------------------------------- converting
    def to_json(self) -> str:
        """metrics.json's text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """A record from metrics.json's text (ValueError when it is not a JSON object)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a run record is a JSON object")
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunRecord:
        """The record in the file ``path`` (OSError, ValueError when unreadable)."""
        return cls.from_json(Path(path).read_text())

    def published(self) -> RunRecord:
        """The record as published: local file paths (corpus, GloVe, output folders) reduced to their file names."""
        out = RunRecord.from_dict(json.loads(json.dumps(self.to_dict())))
        corpus = out.dataset.corpus if isinstance(out.dataset, DatasetRecord) else None
        if isinstance(corpus, CorpusRecord) and isinstance(corpus.source, str):
            corpus.source = published_source(corpus.source)
        if out.glove is not None and isinstance(out.glove.source, str):
            out.glove.source = published_source(out.glove.source)
        if isinstance(out.training, TrainingRecord):
            for key in ("output", "checkpoint_dir", "logging_dir"):
                if isinstance(getattr(out.training, key), str):
                    setattr(out.training, key, published_source(getattr(out.training, key)))
        return out


def as_record(value: RunRecord | Mapping | None) -> RunRecord | None:
    """``value`` as a record: a record as it is, a metrics.json object read into one, None as None."""
    if value is None or isinstance(value, RunRecord):
        return value
    return RunRecord.from_dict(value)


def looks_like_repo_id(source: str) -> bool:
    """Whether ``source`` reads as a Hub repo id (``org/name``)."""
    return re.fullmatch(r"[\w.-]+/[\w.-]+", source) is not None and not source.startswith(".")


def published_source(source: str) -> str:
    """A URL or Hub id as it is; a local path as its file name (local paths are never published)."""
    if "://" in source or (looks_like_repo_id(source) and not os.path.exists(source)):
        return source
    return Path(source).name


def framework_versions() -> dict[str, str]:
    """The versions of Python and the libraries a model is trained and saved with."""
    found = {"python": platform.python_version(), "movie-gender": __version__}
    for name in VERSIONED[2:]:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def select_examples(
    split: datasets.Dataset, n: int = 6, seed: int = 42, min_words: int = 5, max_words: int = 25
) -> list[dict]:
    """A few real lines of a split (validation, never test), half of each label, for the card's widget and table.

    Lines of ``min_words`` to ``max_words`` words are drawn at random (seeded), so the examples are typical lines,
    not ones the model happens to get right. Where the split has a ``context`` column, each example keeps its
    context, so that a context model's card scores it as it was trained to.
    """
    import numpy as np

    columns = read_columns(split, ["text", "label"])
    texts, labels = columns["text"], columns["label"]
    names = split.features["label"].names if hasattr(split.features["label"], "names") else ["male", "female"]
    rng = np.random.default_rng(seed)
    rows = []
    for label in (1, 0):
        pool = [
            i
            for i, (t, y) in enumerate(zip(texts, labels, strict=False))
            if y == label and min_words <= len(t.split()) <= max_words
        ]
        take = min((n + 1 - label) // 2, len(pool))
        rows += [(int(i), label) for i in rng.choice(pool, take, replace=False)]
    chosen = [{"text": texts[i], "label": names[label]} for i, label in rows]
    if "context" in split.column_names:
        for example, (i, _) in zip(chosen, rows, strict=True):
            example["context"] = list(split[i]["context"])
    return chosen


__all__ = [
    "RECORD_NAME",
    "BootstrapRecord",
    "GloveRecord",
    "RunRecord",
    "as_record",
    "framework_versions",
    "published_source",
    "select_examples",
]
