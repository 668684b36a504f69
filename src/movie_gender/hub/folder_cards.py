"""The card of a model folder on disk: its config.json, run record (metrics.json) and plots, with the example lines
scored by the folder's own model (loaded from the folder when not given). It sits above both the cards
(:mod:`movie_gender.hub.cards`) and the model, which renders its card through them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from movie_gender.atomic import atomic_path
from movie_gender.hub.cards import PLOTS, card_examples, model_card_data, render_model_card
from movie_gender.model.modeling import BiLSTMClassifier
from movie_gender.training.record import RECORD_NAME, RunRecord


def folder_card(
    folder: str | os.PathLike,
    model: BiLSTMClassifier | None = None,
    *,
    repo_id: str | None = None,
    dataset_repo: str | None = None,
    score_examples: bool = True,
) -> str:
    """The card of a model folder, from its files: config.json, its run record (metrics.json, if any) and the plots
    beside them. The example lines are scored by ``model`` (default: the folder's, loaded), through its own
    ``generate_model_card``; with ``score_examples=False`` and no model they show no score (no weights are read)."""
    folder = Path(folder)
    plots = tuple(name for name, _ in PLOTS if (folder / name).is_file())
    record = RunRecord.load(folder / RECORD_NAME) if (folder / RECORD_NAME).is_file() else None
    if model is None and score_examples:
        model = BiLSTMClassifier.from_pretrained(folder)
    if model is not None:
        if record is not None:
            model.metrics = record
        return str(model.generate_model_card(plots=plots, repo_id=repo_id, dataset_repo=dataset_repo))
    config = json.loads((folder / "config.json").read_text())
    examples = card_examples(record.examples if record else None)
    return render_model_card(
        model_card_data(), config, record, repo_id=repo_id, dataset_repo=dataset_repo, examples=examples, plots=plots
    )


def write_model_card(
    folder: str | os.PathLike,
    model: BiLSTMClassifier | None = None,
    *,
    repo_id: str | None = None,
    dataset_repo: str | None = None,
    score_examples: bool = True,
) -> Path:
    """(Re)write folder/README.md with the folder's card (:func:`folder_card`), replacing any card already there;
    the plots in ``folder`` are shown."""
    folder = Path(folder)
    card = folder_card(
        folder, model, repo_id=repo_id or folder.name, dataset_repo=dataset_repo, score_examples=score_examples
    )
    with atomic_path(folder / "README.md") as tmp:
        tmp.write_text(card, encoding="utf-8")
    return folder / "README.md"


__all__ = ["folder_card", "write_model_card"]
