"""One scoring path for characters: the evaluation and ``predict --by character`` give the same probabilities, the
unknown-gender speakers taking part as partners in both; and a registered baseline reaches metrics.json, the card
and the ROC plot."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from movie_gender.configuration import DataOptions, TrainOptions
from movie_gender.data.corpus import read_corpus
from movie_gender.evaluation.baselines import BASELINES, TfidfLogreg, register_baseline
from movie_gender.evaluation.protocol import model_decisions
from movie_gender.hub import model_folder
from movie_gender.inference.prediction import score_characters
from movie_gender.model.character_model import neural_parts_idle
from movie_gender.presets import PRESETS
from movie_gender.training import context_view, pipeline
from tests.factories import (
    FEMALE_WORDS,
    MALE_WORDS,
    SHARED_WORDS,
    synthetic_corpus,
    synthetic_dialogues,
    write_corpus_folder,
    write_glove,
)


def _glove(tmp_path: Path) -> Path:
    return write_glove(
        tmp_path / "glove.tiny.8d.txt.gz", ["line", ",", ".", "the"] + SHARED_WORDS + MALE_WORDS + FEMALE_WORDS
    )


def test_evaluation_and_predict_by_character_give_the_same_test_character_probabilities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_corpus_folder(tmp_path / "c", *synthetic_dialogues(n_movies=12, conversations_per_movie=20, seed=4))
    preset = PRESETS["character"]
    options = TrainOptions(
        output=str(tmp_path / "model"),
        data=replace(preset.data, corpus=str(corpus)),
        glove=str(_glove(tmp_path)),
        model=replace(preset.model, hidden_size=8),
        training=replace(preset.training, epochs=1, batch_size=4),
        min_lines=3,
        bootstrap=0,
    )
    dataset, _ = pipeline.load_data(options.data)
    monkeypatch.setattr(context_view, "MIX_GRID", (0.5,))  # the context view kept, as the preset's usually is
    fitted = pipeline.fit_model(options, dataset, progress=False)
    assert fitted.model.config.context_view is not None
    report, scores = pipeline.evaluate_fitted(options, fitted, dataset)
    model = fitted.model
    model.config = replace(model.config, **model_decisions(report))
    everyone, _ = read_corpus(replace(options.data.reading(), include_unknown=True))
    table = score_characters(model, everyone, progress=False).to_pydict()  # what predict --by character writes
    predicted = dict(zip(table["character_id"], table["p_female"], strict=True))
    assert any(label is None for label in table["corpus_label"])  # unknown-gender speakers are scored too
    test = dataset["test"].select_columns(["character_id"]).to_dict()["character_id"]
    ids, counts = np.unique(test, return_counts=True)
    evaluated = scores["character"]["model"]  # calibrated, per test character with min_lines lines, sorted by id
    assert len(evaluated) == (counts >= 3).sum() > 5
    np.testing.assert_allclose(evaluated, [predicted[c] for c in ids[counts >= 3]], atol=1e-6)
    # the unknown-gender speakers took part as partners: without them the test characters score otherwise
    report_alone, scores_alone = pipeline.evaluate_fitted(options, fitted, dataset, unknown={})
    assert not np.allclose(scores_alone["character"]["model"], evaluated, atol=1e-6) or (
        model.config.character_partner_weight == 0
    )
    assert report["character"]["partner_terms"] and report_alone["character"]["partner_terms"]


def test_a_registered_baseline_is_reported_in_metrics_the_card_and_the_roc_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(BASELINES, "unigram_logreg", None)  # restored (removed) after the test
    register_baseline(
        "unigram_logreg",
        lambda r: TfidfLogreg(r.seed),
        description="a registered test baseline: TF-IDF + logistic regression",
        display="test baseline",
        reported="always",
    )
    curves: dict = {}

    def capture(labels, named, path, title="ROC"):
        curves.update(named)
        Path(path).write_bytes(b"\x89PNG")
        return Path(path)

    monkeypatch.setattr(model_folder, "plot_roc", capture)
    corpus = write_corpus_folder(tmp_path / "c", *synthetic_corpus(n_movies=14, lines_per_character=25, seed=2))
    options = TrainOptions(
        output=str(tmp_path / "model"),
        data=DataOptions(corpus=str(corpus)),
        glove=str(_glove(tmp_path)),
        model=replace(PRESETS["default"].model, hidden_size=8),
        training=replace(PRESETS["default"].training, epochs=1),
        min_lines=3,
        bootstrap=20,
    )
    model_folder.train_model(options)
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert "unigram_logreg" in metrics["line"] and "unigram_logreg" in metrics["line"]["difference"]
    assert "unigram_logreg_partners" in metrics["character"]  # per character with its partner term too
    card = (tmp_path / "model" / "README.md").read_text()
    assert "a registered test baseline: TF-IDF + logistic regression" in card
    assert "test baseline" in curves and "always male" not in curves  # plotted by the registry's word


def test_the_character_preset_runs_no_lstm_on_its_bags_side_and_fits_a_context_view_beside_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The preset as shipped: no neural stage on the bags (in --cv 5 it scored below the convex parts with their
    # partner term); its network is the context view, trained on line labels and mixed in on validation.
    corpus = write_corpus_folder(tmp_path / "c", *synthetic_dialogues(n_movies=12, conversations_per_movie=20, seed=5))
    preset = PRESETS["character"]
    assert preset.training.epochs == 0
    options = TrainOptions(
        output=str(tmp_path / "model"),
        data=replace(preset.data, corpus=str(corpus)),
        glove=str(_glove(tmp_path)),
        model=replace(preset.model, hidden_size=8),
        training=preset.training,
        min_lines=3,
        bootstrap=0,
    )
    dataset, _ = pipeline.load_data(options.data)
    fitted = pipeline.fit_model(options, dataset, progress=False)
    assert fitted.result.best_epoch == 0 and fitted.result.steps == 0
    model = fitted.model
    assert neural_parts_idle(model)
    assert preset.training.context_view_epochs > 0 and "weight" in model.character_head.choices["context_view"]

    def no_lstm(*args: object, **kwargs: object) -> None:
        raise AssertionError("scoring ran the LSTM")

    monkeypatch.setattr(model.lstm, "forward", no_lstm)
    everyone, _ = read_corpus(replace(options.data.reading(), include_unknown=True))
    table = score_characters(model, everyone, progress=False).to_pydict()
    assert len(table["p_female"]) > 20 and all(0 < p < 1 for p in table["p_female"])
    # a line model has no convex stage to keep: --epochs 0 would train nothing, and says so
    line_options = replace(options, model=replace(PRESETS["default"].model, hidden_size=8))
    with pytest.raises(ValueError, match="--epochs 0 trains nothing"):
        pipeline.fit_model(line_options, dataset, progress=False)
