"""The main jobs, end to end: corpus -> DatasetDict -> tokenizer -> GloVe -> BiLSTM -> test metrics and the run
record (:func:`train_run`), and a saved model scored again (:func:`evaluate_model`).

The model folder a run writes (files, record, plots, card) is :mod:`movie_gender.hub.model_folder`, whose
:func:`~movie_gender.hub.model_folder.train_model` is ``movie-gender train``.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import datasets
import numpy as np
import torch
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from tokenizers import Tokenizer

from movie_gender.configuration import DataOptions, TrainOptions
from movie_gender.data.columns import read_column, read_columns
from movie_gender.data.dataset import load_hub_dataset
from movie_gender.data.download import is_url, public_source
from movie_gender.data.glove import GloveCoverage, load_glove
from movie_gender.data.local_sources import recall_source
from movie_gender.data.splitting import DatasetReport, prepare_dataset
from movie_gender.data.tokenizer import encodings_kept, train_tokenizer
from movie_gender.errors import ModelLoadError
from movie_gender.evaluation.baselines import BaselineResources
from movie_gender.evaluation.partnered import unknown_lines, with_unknown
from movie_gender.evaluation.protocol import (
    evaluate,
    format_report,
    model_decisions,
    model_resources,
)
from movie_gender.inference.classifier import BiLSTMPredictor
from movie_gender.model.persistence import model_file
from movie_gender.model.precision import cpu_class
from movie_gender.training.character_training import train_characters
from movie_gender.training.context_view import add_context_view, view_options
from movie_gender.training.loop import EncodedSplit, TrainResult, train
from movie_gender.training.report_parts import CorpusRecord, DatasetRecord, TrainingRecord
from movie_gender.training.run_record import (
    RECORD_NAME,
    BootstrapRecord,
    GloveRecord,
    RunRecord,
    framework_versions,
    select_examples,
)
from movie_gender.training.tracking import Tracker, make_tracker

logger = logging.getLogger(__name__)


SPLIT_OPTIONS = ("split", "balance", "seed", "validation_size", "test_size", "test_per_class", "drop_overlap")


def training_record(model_id: str, revision: str | None = None) -> RunRecord:
    """The record (metrics.json) that training wrote beside a model (folder or Hub repo); an empty record when there
    is none."""
    try:
        return RunRecord.load(model_file(model_id, RECORD_NAME, revision=revision))
    except (ModelLoadError, HfHubHTTPError, HFValidationError, OSError, ValueError):
        return RunRecord()


def training_protocol(model_id: str, revision: str | None = None) -> dict:
    """How a model's training data was split, from the record that training wrote beside it (model folder or
    Hub repo); empty when there is none."""
    dataset = training_record(model_id, revision).dataset
    if not isinstance(dataset, DatasetRecord):
        return {}
    report = dataset.to_dict()
    protocol = {key: report[key] for key in SPLIT_OPTIONS + ("corpus",) if key in report}
    corpus = recall_source(model_id, "corpus")
    if corpus:  # metrics.json publishes the corpus by name only; the local path is kept beside it
        protocol["corpus"] = {**protocol.get("corpus", {}), "source": corpus}
    return protocol


def load_data(options: DataOptions) -> tuple[datasets.DatasetDict, DatasetRecord]:
    """Build the DatasetDict from the corpus, or load a prepared one (folder or Hub repo id); with the data report
    as the run record holds it."""
    if options.dataset:
        dataset = load_hub_dataset(options.dataset)
        missing = {"train", "validation", "test"} - set(dataset)
        if missing:
            raise ValueError(f"{options.dataset}: the dataset has no {', '.join(sorted(missing))} split")
        counts = {s: {"male": d["label"].count(0), "female": d["label"].count(1)} for s, d in dataset.items()}
        prepared = DatasetRecord(
            split="prepared", balance="as prepared", corpus=CorpusRecord(source=options.dataset), class_counts=counts
        )
        return dataset, prepared
    dataset, report = build_data(options)
    return dataset, DatasetRecord.from_dict(report.to_dict())  # the build's report as metrics.json holds it


def build_data(options: DataOptions) -> tuple[datasets.DatasetDict, DatasetReport]:
    """Build the DatasetDict from ``options.corpus`` as ``options`` say
    (:func:`movie_gender.data.splitting.prepare_dataset`)."""
    return prepare_dataset(options.corpus, options)


def context_column(split: datasets.Dataset, uses_context: bool) -> list[list[str]] | None:
    """The ``context`` column of ``split`` for a context model (None for a single-line model)."""
    if not uses_context:
        return None
    if "context" not in split.column_names:
        raise ValueError(
            "a context model needs the dataset's context column (lines of other speakers around each "
            f"line); this dataset has only {', '.join(split.column_names)}"
        )
    return read_column(split, "context")


def check_writable(folder: Path) -> None:
    """Fail now, not after hours of training, if ``folder`` cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"0" * 1024)
        probe.unlink()
    except OSError as error:
        raise PermissionError(f"{folder}: the output folder is not writable ({error.strerror or error})") from None


def hardware() -> str:
    """A short description of where this runs: the GPU, or the CPU with its class (the same code trains to other
    weights on another class: docs/character-model.md) and the threads."""
    if torch.cuda.is_available():
        return f"CUDA {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.processor() or platform.machine()} ({cpu_class()} class), {torch.get_num_threads()} threads"


def _local(source: str) -> str:
    """A path as an absolute path (for this machine only); URLs and Hub ids as they are."""
    return source if is_url(source) or not os.path.exists(source) else os.path.abspath(source)


def run_settings(options: TrainOptions) -> dict:
    """The settings of a run, beyond architecture and optimisation, that a checkpoint must match to be resumed: every
    data option (the corpus by name, the split protocol and its seeds, context, ...) and the vocabulary and GloVe
    options, named as the options are. New options join by being fields of DataOptions / TrainOptions."""
    data = {k: v for k, v in asdict(options.data).items() if k not in ("sha256", "skip_bad_lines")}
    data["corpus"] = public_source(options.data.corpus)
    data["split_seed"] = data.pop("seed")  # "seed" names the training seed (initialisation and batch order)
    vocabulary = {
        key: getattr(options, key)
        for key in ("glove_member", "unknown_init", "min_frequency", "max_vocab_size", "max_length")
    }
    return {**data, **vocabulary, "glove": public_source(options.glove)}


@dataclass
class FittedModel:
    """A trained model with what it was built from: the tokenizer, the GloVe matrix it started from and coverage."""

    model: BiLSTMPredictor
    matrix: np.ndarray
    coverage: GloveCoverage
    result: TrainResult


def initial_model(options: TrainOptions, tokenizer: Tokenizer, matrix: np.ndarray) -> BiLSTMPredictor:
    """The untrained model of ``options``: sized to ``tokenizer`` and the GloVe ``matrix`` it starts from, seeded by
    the training seed."""
    uses_context = options.model.uses_context
    config = replace(
        options.model,
        vocab_size=tokenizer.get_vocab_size(),
        embedding_dim=int(matrix.shape[1]),
        context_size=options.data.context_size if uses_context else 0,
    )
    torch.manual_seed(options.training.seed)
    model = BiLSTMPredictor(config)
    model.load_embeddings(matrix)
    model.tokenizer = tokenizer
    logger.info(
        "Model: %s (%s trainable parameters)",
        config,
        f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,}",
    )
    return model


def _with_unknown_partners(
    options: TrainOptions, dataset: datasets.DatasetDict, unknown: dict[str, datasets.Dataset] | None
) -> datasets.Dataset:
    """The validation split with the lines of its movies' unknown-gender speakers after its own: partners there too,
    as in evaluation and prediction (``unknown``: :func:`movie_gender.evaluation.partnered.unknown_lines`)."""
    if unknown is None:
        unknown = unknown_lines(options.data, dataset)
    return with_unknown({"validation": dataset["validation"]}, unknown)["validation"]


def _fit_characters(
    options: TrainOptions,
    model: BiLSTMPredictor,
    dataset: datasets.DatasetDict,
    progress: bool,
    tracker: Tracker | None,
    unknown: dict[str, datasets.Dataset] | None,
) -> TrainResult:
    """Train a character model's stages (:func:`train_characters`) and, with ``--context-view-epochs``, its context
    view (:mod:`movie_gender.training.context_view`), with the validation movies' unknown-gender speakers as
    partners."""
    if options.resume:
        raise ValueError("a character model trains in minutes and writes no checkpoints: --resume is not supported")
    validation_split = _with_unknown_partners(options, dataset, unknown)
    result = train_characters(
        model, dataset["train"], validation_split, options.training, progress=progress, tracker=tracker
    )
    if options.training.context_view_epochs > 0:
        logger.info("Training the context view (%d epochs)", options.training.context_view_epochs)
        view = fit_model(view_options(options), dataset, progress=progress, unknown=unknown)
        add_context_view(model, view.model, validation_split, line_auc=view.result.best_validation_auc)
    return result


def fit_model(
    options: TrainOptions,
    dataset: datasets.DatasetDict,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
    tracker: Tracker | None = None,
    unknown: dict[str, datasets.Dataset] | None = None,
) -> FittedModel:
    """Tokenizer on train, GloVe aligned to it, a BiLSTM trained with early stopping on validation (never test);
    ``tracker`` (from :func:`movie_gender.training.tracking.make_tracker`) receives the training metrics. A character
    model also scores ``unknown["validation"]`` (the unknown-gender speakers of the validation movies,
    :func:`movie_gender.evaluation.partnered.unknown_lines`; read from the corpus when not given) as partners."""
    train_split, validation_split = dataset["train"], dataset["validation"]
    if options.training.epochs == 0 and not options.model.is_character_model:  # a character model: its bags alone
        raise ValueError("--epochs 0 trains nothing: only a character model (--character-pooling attention) takes 0")
    train_columns = read_columns(train_split, ["text", "label"])
    tokenizer = train_tokenizer(
        train_columns["text"],
        min_frequency=options.min_frequency,
        max_vocab_size=options.max_vocab_size,
        max_length=options.max_length,
    )
    line_context = context_column(train_split, options.model.line_context)
    train_data = EncodedSplit.from_texts(tokenizer, train_columns["text"], train_columns["label"], line_context)
    matrix, coverage = load_glove(
        options.glove,
        tokenizer,
        member=options.glove_member,
        sha256=options.glove_sha256,
        unknown_init=options.unknown_init,
        seed=options.training.seed,
        encoded=(train_data.ids, train_data.lengths),
    )
    model = initial_model(options, tokenizer, matrix)
    config = model.config
    validation = read_columns(validation_split, ["text", "label"])
    validation_context = context_column(validation_split, options.model.uses_context)
    validation_data = EncodedSplit.from_texts(tokenizer, validation["text"], validation["label"], validation_context)
    if config.is_character_model:
        result = _fit_characters(options, model, dataset, progress, tracker, unknown)
        model.to("cpu")
        return FittedModel(model, matrix, coverage, result)
    result = train(
        model,
        train_data,
        validation_data,
        options.training,
        checkpoint_dir=checkpoint_dir,
        resume=options.resume,
        tracker=tracker,
        progress=progress,
        fingerprint=run_settings(options),
    )
    model.to("cpu")
    return FittedModel(model, matrix, coverage, result)


def evaluate_fitted(
    options: TrainOptions,
    fitted: FittedModel,
    dataset: datasets.DatasetDict,
    *,
    bootstrap: int | None = None,
    unknown: dict[str, datasets.Dataset] | None = None,
) -> tuple[dict, dict]:
    """Evaluate on test by the protocol of :mod:`~movie_gender.evaluation.protocol`: (report, scores), the
    unknown-gender speakers of each split's movies (:func:`unknown_lines`) scored as conversation partners. The
    model is left as it is; the calibration and thresholds the report chose are
    :func:`~movie_gender.evaluation.protocol.model_decisions` of it."""
    if unknown is None:
        unknown = unknown_lines(options.data, dataset)
    resources = BaselineResources(
        seed=options.training.seed, tokenizer=fitted.model.tokenizer, embeddings=fitted.matrix
    )
    report, scores = evaluate(
        fitted.model,
        dataset["train"],
        dataset["validation"],
        dataset["test"],
        min_lines=options.min_lines,
        bootstrap=options.bootstrap if bootstrap is None else bootstrap,
        unit=options.bootstrap_unit,
        seed=options.data.seed,
        resources=resources,
        unknown=unknown,
    )
    return report, scores


def run_record(
    options: TrainOptions,
    fitted: FittedModel,
    report: dict,
    data_report: DatasetRecord,
    examples: list[dict],
    started: float,
) -> RunRecord:
    """The record of a run (metrics.json): its protocol, the evaluation ``report``, the data, the model's config as
    saved, GloVe, training, tokenizer and versions; ``started`` is the run's ``time.perf_counter()`` at its start."""
    return RunRecord(
        eval_split="test",
        split_seed=options.data.seed,
        seed=options.training.seed,
        bootstrap=BootstrapRecord(unit=options.bootstrap_unit, n=options.bootstrap, seed=options.data.seed),
        **report,
        dataset=data_report,
        model=fitted.model.config.to_dict(),
        glove=GloveRecord.of(options.glove, options.glove_member, fitted.coverage.to_dict()),
        training=TrainingRecord.from_dict(
            {
                **asdict(options.training),
                **fitted.result.to_dict(),
                "preset": options.preset,
                "hardware": hardware(),
                "total_seconds": time.perf_counter() - started,
            }
        ),
        tokenizer={
            "min_frequency": options.min_frequency,
            "max_vocab_size": options.max_vocab_size,
            "max_length": options.max_length,
        },
        versions=framework_versions(),
        examples=examples,
    )


COMPLETE_FOLDER = ("config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json")


@dataclass
class TrainedRun:
    """A trained and evaluated model: its run record (metrics.json), the test scores its plots draw, and where this
    machine keeps the corpus and GloVe files it was trained on (for ``evaluate``)."""

    model: BiLSTMPredictor
    record: RunRecord
    scores: dict
    local_sources: dict[str, str]


def train_run(options: TrainOptions) -> TrainedRun | None:
    """Train and evaluate as ``options`` say: the model with its run record, the model's thresholds and calibration
    chosen on validation set in its config. None when ``options.output`` already holds this very run (a resumed run
    whose training had finished). Writing the model folder is :func:`movie_gender.hub.model_folder.write_outputs`."""
    started = time.perf_counter()
    output = Path(options.output)
    check_writable(output)
    checkpoint_dir = (
        Path(options.checkpoint_dir) if options.checkpoint_dir else output.with_name(output.name + ".checkpoints")
    )
    check_writable(checkpoint_dir)

    dataset, data_report = load_data(options.data)
    tracker = make_tracker(options.report_to, options.logging_dir or output.with_name(output.name + ".logs"))
    with encodings_kept():  # training and evaluation encode each split once
        try:
            fitted = fit_model(options, dataset, checkpoint_dir, tracker=tracker)
        finally:
            if tracker is not None:
                tracker.close()
        if fitted.result.already_complete and all((output / name).is_file() for name in COMPLETE_FOLDER):
            return None
        report, scores = evaluate_fitted(options, fitted, dataset)
    logger.info("Test split:\n%s", format_report(report))
    model = fitted.model
    model.config = replace(model.config, **model_decisions(report))  # saved with the model: its config.json
    examples = select_examples(dataset["validation"], seed=options.training.seed)
    record = run_record(options, fitted, report, data_report, examples, started)
    local = {
        "glove": _local(options.glove),
        **({} if options.data.dataset else {"corpus": _local(options.data.corpus)}),
    }
    return TrainedRun(model, record, scores, local)


def baseline_resources(
    model: BiLSTMPredictor, model_id: str, seed: int, revision: str | None = None
) -> BaselineResources:
    """The baselines' tokenizer and GloVe matrix for a saved model: its own embedding when it kept GloVe frozen;
    when it fine-tuned the vectors, the GloVe file it was trained with, re-read where this machine has it (the model
    folder's local sources), else none, and the mean-GloVe baseline is left out (a bag of fine-tuned vectors is not
    that baseline)."""
    if model.config.freeze_embeddings:
        return model_resources(model, seed)
    source = recall_source(model_id, "glove")
    if not source or not os.path.exists(source):
        logger.info(
            "Mean-GloVe baseline left out: this model fine-tuned its word vectors, and the GloVe file it started "
            "from is not on this machine"
        )
        return model_resources(model, seed)
    glove = training_record(model_id, revision).glove or GloveRecord()
    matrix, _ = load_glove(source, model.require_tokenizer(), member=glove.member_in(source))
    return BaselineResources(seed, model.tokenizer, matrix)


def evaluate_model(
    model_id: str,
    data: DataOptions,
    *,
    split: str = "test",
    by: tuple[str, ...] = ("line", "character"),
    min_lines: int = 5,
    bootstrap: int = 1000,
    unit: str = "movie",
    revision: str | None = None,
) -> tuple[dict, dict]:
    """Load a model folder or Hub repo and score it and the baselines on a split of the data, by the same protocol
    as training: thresholds chosen on the validation split, baselines fitted on the natural train split (the mean
    GloVe baseline with the GloVe matrix the model started from, :func:`baseline_resources`), paired bootstrap by
    movie seeded by the split seed."""
    model = BiLSTMPredictor.from_pretrained(model_id, revision=revision)
    if model.config.uses_context and data.context_size != model.config.context_size:
        logger.info(
            "The model was trained with context of up to %d lines before and after each line: building the "
            "context column with that (not %d)",
            model.config.context_size,
            data.context_size,
        )
        data = replace(data, context_size=model.config.context_size)
    dataset, data_report = load_data(data)
    if split not in dataset:
        raise ValueError(f"no split {split!r}; the dataset has {', '.join(dataset)}")
    report, scores = evaluate(
        model,
        dataset["train"],
        dataset["validation"],
        dataset[split],
        by=by,
        min_lines=min_lines,
        bootstrap=bootstrap,
        unit=unit,
        seed=data.seed,
        resources=baseline_resources(model, model_id, data.seed, revision=revision),
        unknown=unknown_lines(data, dataset, evaluated=split) if "character" in by else None,
    )
    stored = {"line": model.config.threshold, "character": model.config.character_threshold}
    for level, threshold in stored.items():
        if level in report:
            report[level]["stored_threshold"] = threshold
    return {
        "model": model_id,
        "eval_split": split,
        "split_seed": data.seed,
        "bootstrap": {"unit": unit, "n": bootstrap, "seed": data.seed},
        **report,
        "dataset": data_report.to_dict(),
    }, scores


__all__ = [
    "DataOptions",
    "TrainOptions",
    "FittedModel",
    "fit_model",
    "evaluate_fitted",
    "TrainedRun",
    "train_run",
    "evaluate_model",
    "baseline_resources",
    "load_data",
    "build_data",
    "training_protocol",
    "training_record",
    "run_record",
]
