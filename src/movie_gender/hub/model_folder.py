"""The model folder a training run writes, ready to publish: the model files (config.json, model.safetensors,
tokenizer.json), the run record (metrics.json), the plots and the card, swapped into place as one folder; and
:func:`train_model`, which trains (:func:`movie_gender.training.pipeline.train_run`) and writes it."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from movie_gender.atomic import atomic_folder, atomic_path
from movie_gender.configuration import TrainOptions
from movie_gender.data.local_sources import remember_sources
from movie_gender.evaluation.baselines import BASELINES, scorer_label
from movie_gender.evaluation.calibration import write_reliability_plots
from movie_gender.evaluation.plots import plot_confusion, plot_roc, plot_training
from movie_gender.hub.folder_cards import write_model_card
from movie_gender.inference.classifier import BiLSTMPredictor
from movie_gender.model.persistence import MODEL_FOLDER_CONTENT, save_model_folder
from movie_gender.training.pipeline import train_run
from movie_gender.training.run_record import RECORD_NAME, RunRecord

logger = logging.getLogger(__name__)


def train_model(options: TrainOptions) -> RunRecord:
    """Train and evaluate as ``options`` say; write the model folder ``options.output``. Returns the run record
    written to its metrics.json (with local file paths; the file holds their public names)."""
    started = time.perf_counter()
    output = Path(options.output)
    run = train_run(options)
    if run is None:
        logger.info("%s already holds this run's outputs: nothing to write", output)
        return RunRecord.load(output / RECORD_NAME)
    write_outputs(output, run.model, run.record, run.scores, local_sources=run.local_sources)
    logger.info("Wrote %s in %.1f min", output, (time.perf_counter() - started) / 60)
    return run.record


def write_outputs(
    output: Path,
    model: BiLSTMPredictor,
    record: RunRecord,
    scores: dict,
    local_sources: dict[str, str] | None = None,
) -> None:
    """Model files, the record (metrics.json), the plots and the card, swapped into place as one folder; the model
    files, record, card and plots of a model already there go with it, other files stay."""
    with atomic_folder(output, replaces=MODEL_FOLDER_CONTENT) as folder:
        _write_outputs(folder, Path(output).name, model, record, scores)
    if local_sources:  # for `evaluate` on this machine: kept in the cache, never inside the folder
        remember_sources(output, local_sources)


def _write_outputs(folder: Path, name: str, model: BiLSTMPredictor, record: RunRecord, scores: dict) -> None:
    """What :func:`write_outputs` writes, into ``folder`` (a temporary folder; ``name`` is the real one's): the model
    files, the record without local file paths, the plots, then the card, once, showing them."""
    save_model_folder(model, folder)
    with atomic_path(folder / RECORD_NAME) as tmp:
        tmp.write_text(record.published().to_json())
    if record.training is not None and record.training.history:
        plot_training(record.training.history, folder / "training_curves.png")
    line = record.level("line").scorers["model"]
    plot_confusion(
        line.confusion_matrix or [],
        folder / "confusion_matrix.png",
        f"Lines, {record.eval_split} split (threshold {line.threshold:.3f})",
    )
    curves = scores["line"]  # this model and the baselines the registry plots, by their display names
    plotted = [k for k in curves if k == "model" or (k in BASELINES and BASELINES[k].plotted)]
    plot_roc(
        curves["labels"],
        {scorer_label(k): curves[k] for k in plotted},
        folder / "roc_curve.png",
        f"ROC, lines, {record.eval_split} split",
    )
    write_reliability_plots(record.to_dict(), folder)
    write_model_card(folder, model, repo_id=name)


__all__ = ["train_model", "write_outputs"]
