"""The model card with its example lines scored by the model: :func:`scored_card` (what
:meth:`movie_gender.BiLSTMClassifier.generate_model_card` and a training run's folder render), and the card of a model
folder on disk from its files (:func:`folder_card`, :func:`write_model_card`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from huggingface_hub import CardData

from movie_gender.atomic import atomic_path
from movie_gender.hub.cards import PLOTS, card_examples, model_card_data, render_model_card
from movie_gender.inference.classifier import BiLSTMPredictor
from movie_gender.training.run_record import RECORD_NAME, RunRecord


def scored_card(
    model: BiLSTMPredictor | None,
    config: dict,
    record: RunRecord | None,
    *,
    card_data: CardData | None = None,
    **card: Any,
) -> str:
    """The model card of ``config`` and its run ``record`` (:func:`~movie_gender.hub.cards.render_model_card`, which
    takes the rest of ``card``: ``repo_id``, ``dataset_repo``, ``plots``), the record's example lines scored by
    ``model`` (a context model scores each with the context it was stored with); without a model, or one without a
    tokenizer, they show no score."""
    examples = (record.examples if record else None) or []
    scores = None
    if examples and model is not None and model.tokenizer is not None:
        context = [list(e.get("context", [])) for e in examples] if model.config.uses_context else None
        scores = model.predict_proba([e["text"] for e in examples], context=context)
    data = card_data if card_data is not None else model_card_data()
    return render_model_card(data, config, record, examples=card_examples(examples, scores), **card)


def folder_card(
    folder: str | os.PathLike,
    model: BiLSTMPredictor | None = None,
    *,
    repo_id: str | None = None,
    dataset_repo: str | None = None,
    score_examples: bool = True,
) -> str:
    """The card of a model folder, from its files: config.json, its run record (metrics.json, if any) and the plots
    beside them. The example lines are scored by ``model`` (default: the folder's, loaded); with
    ``score_examples=False`` and no model they show no score (no weights are read)."""
    folder = Path(folder)
    plots = tuple(name for name, _ in PLOTS if (folder / name).is_file())
    record = RunRecord.load(folder / RECORD_NAME) if (folder / RECORD_NAME).is_file() else None
    if model is None and score_examples:
        model = BiLSTMPredictor.from_pretrained(folder)
    if model is not None:
        return scored_card(
            model,
            model.config.to_dict(),
            record or getattr(model, "metrics", None),
            repo_id=repo_id,
            dataset_repo=dataset_repo,
            plots=plots,
        )
    config = json.loads((folder / "config.json").read_text())
    return scored_card(None, config, record, repo_id=repo_id, dataset_repo=dataset_repo, plots=plots)


def write_model_card(
    folder: str | os.PathLike,
    model: BiLSTMPredictor | None = None,
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


__all__ = ["folder_card", "scored_card", "write_model_card"]
