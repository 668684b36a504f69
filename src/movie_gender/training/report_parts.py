"""The typed parts of a run record (metrics.json): a level's evaluation report (each scorer's metrics and
intervals, the paired differences, the calibration), the data report with its corpus statistics, and the training
options and result.

Each part reads its JSON object with ``from_dict`` and writes it back with ``to_dict``: the same keys in the same
order with the same values, keys it does not know kept in ``extra``. A field that is ``None`` and was not in the
object read is left out, so older records (or runs that skipped a part) round-trip as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

Interval = list[float]


def plain(value: Any) -> Any:
    """``value`` as JSON holds it: parts as their objects, mappings copied with their parts written out."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    return value


def each(read: Callable[[Mapping], Any]) -> Callable[[Mapping], dict]:
    """A reader of a mapping of parts (name -> part) from one part's reader."""
    return lambda data: {key: read(value) if isinstance(value, Mapping) else value for key, value in data.items()}


@dataclass
class RecordPart:
    """A JSON object of a run record, with typed fields; ``extra`` holds the keys the part does not know and
    ``order`` the keys of the object it was read from, in their order."""

    extra: dict = field(default_factory=dict, kw_only=True)
    order: tuple[str, ...] = field(default=(), kw_only=True, repr=False, compare=False)

    # The readers of fields whose JSON value is an object (applied only to a mapping; anything else is kept as is).
    READERS: ClassVar[dict[str, Callable[[Mapping], Any]]] = {}

    def __post_init__(self) -> None:
        """Fields given as JSON objects (a report built from dicts) read into their types, as ``from_dict`` reads."""
        for key in self.READERS:
            setattr(self, key, self.read(key, getattr(self, key)))

    @classmethod
    def known(cls) -> list[str]:
        """The keys this part reads into fields, in metrics.json's order."""
        return [spec.name for spec in fields(cls) if spec.name not in ("extra", "order")]

    @classmethod
    def from_dict(cls, data: Mapping) -> Any:
        """A part from its JSON object."""
        known = cls.known()
        values = {key: cls.read(key, data[key]) for key in known if key in data}
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(**values, extra=extra, order=tuple(data))

    @classmethod
    def read(cls, key: str, value: Any) -> Any:
        """The field ``key`` from its JSON ``value``."""
        reader = cls.READERS.get(key)
        return reader(value) if reader is not None and isinstance(value, Mapping) else value

    def entries(self) -> dict:
        """The part's entries (key -> value): fields set or read, then the unknown keys."""
        values = {name: getattr(self, name) for name in self.known()}
        return {**{k: v for k, v in values.items() if v is not None or k in self.order}, **self.extra}

    def to_dict(self) -> dict:
        """The JSON object: the keys read in their order, then fields set since and unknown keys added since."""
        entries = self.entries()
        keys = [key for key in self.order if key in entries] + [key for key in entries if key not in self.order]
        return {key: plain(entries[key]) for key in keys}

    def __bool__(self) -> bool:
        return bool(self.entries())


@dataclass
class Intervals(RecordPart):
    """A scorer's 95% bootstrap intervals, one ``[low, high]`` per metric."""

    roc_auc: Interval | None = None
    average_precision: Interval | None = None
    balanced_accuracy: Interval | None = None
    macro_f1: Interval | None = None
    accuracy: Interval | None = None


@dataclass
class ScorerMetrics(RecordPart):
    """One scorer's metrics on a level: its threshold (chosen on validation) and what it scores at it."""

    n: int | None = None
    roc_auc: float | None = None
    average_precision: float | None = None
    threshold: float | None = None
    balanced_accuracy: float | None = None
    macro_f1: float | None = None
    accuracy: float | None = None
    per_class: dict | None = None
    confusion_matrix: list | None = None
    ci95: Intervals | None = None
    speaker_leak: bool | None = None

    READERS: ClassVar[dict[str, Callable[[Mapping], Any]]] = {"ci95": Intervals.from_dict}


@dataclass
class Difference(RecordPart):
    """This model minus a baseline, paired over the same bootstrap resamples."""

    roc_auc: float | None = None
    roc_auc_ci95: Interval | None = None
    balanced_accuracy: float | None = None
    balanced_accuracy_ci95: Interval | None = None


@dataclass
class CalibrationParameters(RecordPart):
    """The calibration map: Platt scaling of the log-odds, fitted on ``n`` validation examples."""

    method: str | None = None
    scale: float | None = None
    bias: float | None = None
    n: int | None = None


@dataclass
class ConfidentClass(RecordPart):
    """The predictions of one class made with P >= the cut: how many, and how many of them were right."""

    n: int | None = None
    precision: float | None = None


@dataclass
class Confident(RecordPart):
    """The confident predictions (calibrated P >= ``cut``) of each class."""

    cut: float | None = None
    female: ConfidentClass | None = None
    male: ConfidentClass | None = None

    READERS: ClassVar[dict[str, Callable[[Mapping], Any]]] = {
        "female": ConfidentClass.from_dict,
        "male": ConfidentClass.from_dict,
    }


@dataclass
class Calibration(RecordPart):
    """A level's calibration: the rule, the map, the expected calibration error before and after, the confident
    predictions and the reliability bins; for characters, the same by size (``by_size``: cut to 1-10 lines and
    whole, :mod:`movie_gender.evaluation.size_calibration`)."""

    rule: str | None = None
    parameters: CalibrationParameters | None = None
    binning: str | None = None
    bins: int | None = None
    ece_raw: float | None = None
    ece: float | None = None
    ece_noise_floor: float | None = None
    validation_ece_raw: float | None = None
    confident: Confident | None = None
    reliability: dict | None = None
    by_size: dict | None = None  # characters: {"1", "2", "3", "5", "10", "whole": ECE, log-loss, accuracy, bins}

    READERS: ClassVar[dict[str, Callable[[Mapping], Any]]] = {
        "parameters": CalibrationParameters.from_dict,
        "confident": Confident.from_dict,
    }


@dataclass
class LevelReport(RecordPart):
    """The evaluation of one level (lines or characters): each scorer's metrics (``scorers``, this model as
    ``model``), the paired ``difference`` per baseline, the ``calibration``; for characters, ``min_lines`` and
    ``speaker_leak``. A scorer is an entry holding ``roc_auc``, as :func:`movie_gender.evaluation.protocol.scorers`
    says."""

    scorers: dict[str, ScorerMetrics] = field(default_factory=dict)
    difference: dict[str, Difference] | None = None
    calibration: Calibration | None = None
    min_lines: int | None = None
    speaker_leak: bool | None = None

    READERS: ClassVar[dict[str, Callable[[Mapping], Any]]] = {
        "difference": each(Difference.from_dict),
        "calibration": Calibration.from_dict,
    }

    @classmethod
    def known(cls) -> list[str]:
        """The named keys of a level (the scorers' keys are their names)."""
        return [name for name in super().known() if name != "scorers"]

    @classmethod
    def from_dict(cls, data: Mapping) -> LevelReport:
        """A level from its JSON object."""
        level = super().from_dict(data)
        names = [key for key, value in level.extra.items() if isinstance(value, Mapping) and "roc_auc" in value]
        level.scorers = {name: ScorerMetrics.from_dict(level.extra.pop(name)) for name in names}
        return level

    def entries(self) -> dict:
        """The scorers, then the named keys and the unknown ones."""
        return {**self.scorers, **super().entries()}

    @property
    def model(self) -> ScorerMetrics | None:
        """This model's metrics (None when the level has none)."""
        return self.scorers.get("model")


@dataclass
class CorpusRecord(RecordPart):
    """What was read from the corpus: its source, the lines by gender, movies, characters, what was skipped, and
    how conversations (and the ``context`` column) were made."""

    source: str | None = None
    lines_read: int | None = None
    male: int | None = None
    female: int | None = None
    unknown_gender: int | None = None
    movies: int | None = None
    characters: int | None = None
    skipped_bad_lines: int | None = None
    skipped_examples: list | None = None
    blank_lines: int | None = None
    conversations_source: str | None = None
    conversations: int | None = None
    lines_outside_conversations: int | None = None
    context_size: int | None = None
    include_unknown: bool | None = None


@dataclass
class DatasetRecord(RecordPart):
    """How the DatasetDict was built: the split protocol, the corpus, what was dropped, and the class and movie
    counts per split."""

    split: str | None = None
    balance: str | None = None
    seed: int | None = None
    validation_size: float | None = None
    test_size: float | None = None
    test_per_class: int | None = None
    drop_overlap: bool | None = None
    corpus: CorpusRecord | None = None
    empty_lines_dropped: int | None = None
    overlap_dropped: dict | None = None
    train_before_balance: dict[str, int] | None = None
    class_counts: dict[str, dict[str, int]] | None = None
    movies: dict[str, int] | None = None

    READERS: ClassVar[dict[str, Callable[[Mapping], Any]]] = {"corpus": CorpusRecord.from_dict}


@dataclass
class TrainingRecord(RecordPart):
    """The training options and what training did: the history per epoch, the best epoch, steps, time, where."""

    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    max_steps: int | None = None
    patience: int | None = None
    grad_clip: float | None = None
    lr_schedule: str | None = None
    bucket_batches: int | None = None
    bf16: bool | None = None
    device: str | None = None
    seed: int | None = None
    eval_batch_size: int | None = None
    line_loss_weight: float | None = None
    character_lines: int | None = None
    checkpoint_every: int | None = None
    history: list[dict] | None = None
    best_epoch: int | None = None
    best_validation_auc: float | None = None
    steps: int | None = None
    seconds: float | None = None
    stopped_early: bool | None = None
    preset: str | None = None
    hardware: str | None = None
    total_seconds: float | None = None
    output: str | None = None
    checkpoint_dir: str | None = None
    logging_dir: str | None = None


def or_default(value: Any, default: Any) -> Any:
    """``value``, or ``default`` where it is None (a key absent from the record)."""
    return default if value is None else value


__all__ = [
    "Calibration",
    "CalibrationParameters",
    "Confident",
    "ConfidentClass",
    "CorpusRecord",
    "DatasetRecord",
    "Difference",
    "Intervals",
    "LevelReport",
    "RecordPart",
    "ScorerMetrics",
    "TrainingRecord",
    "or_default",
]
