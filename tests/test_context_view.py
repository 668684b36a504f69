"""The character model's context view: a context model trained on line labels beside the character model, its
characters' mean log-odds (with a partner term of their own) added at a weight chosen on validation; saved and loaded
with the character model, dropped by the ablation's convex parts, and never kept at weight 0."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import datasets
import numpy as np
import pytest
from safetensors import safe_open

from movie_gender import BiLSTMClassifier
from movie_gender.configuration import TrainOptions
from movie_gender.data.corpus import read_corpus
from movie_gender.errors import ModelLoadError
from movie_gender.evaluation.partnered import convex_part
from movie_gender.inference import characters
from movie_gender.inference.characters import CharacterLines, aggregate_logits, score_characters
from movie_gender.inference.logits import predict_logits
from movie_gender.model.partners import partner_matrix, with_partners
from movie_gender.presets import PRESETS
from movie_gender.training import context_view, pipeline
from tests.factories import (
    FEMALE_WORDS,
    MALE_WORDS,
    SHARED_WORDS,
    synthetic_dialogues,
    write_corpus_folder,
    write_glove,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """A character preset model (tiny) with a context view kept at the one share the grid is given (0.5), and the
    corpus's lines, unknown-gender speakers included."""
    tmp_path = tmp_path_factory.mktemp("view")
    corpus = write_corpus_folder(tmp_path / "c", *synthetic_dialogues(n_movies=12, conversations_per_movie=20, seed=6))
    glove = write_glove(tmp_path / "g.8d.txt.gz", ["line", ",", ".", "the"] + SHARED_WORDS + MALE_WORDS + FEMALE_WORDS)
    preset = PRESETS["character"]
    assert preset.training.context_view_epochs > 0  # the preset ships a context view
    options = TrainOptions(
        output=str(tmp_path / "model"),
        data=replace(preset.data, corpus=str(corpus)),
        glove=str(glove),
        model=replace(preset.model, hidden_size=8),
        training=replace(preset.training, context_view_epochs=1),
        min_lines=3,
        bootstrap=0,
    )
    dataset, _ = pipeline.load_data(options.data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(context_view, "MIX_GRID", (0.5,))  # kept whatever validation says: its weight is above 0
        model = pipeline.fit_model(options, dataset, progress=False).model
    everyone, _ = read_corpus(replace(options.data.reading(), include_unknown=True))
    return model, CharacterLines.from_columns(everyone), tmp_path


def test_the_character_score_is_the_character_models_plus_the_weighted_partnered_view(trained: tuple) -> None:
    model, lines, _ = trained
    settings = model.config.context_view
    chosen = model.character_head.choices["context_view"]
    assert settings["weight"] > 0 and chosen["share"] == 0.5 and set(chosen["validation_auc"]) == {"0.5"}
    # the line-level parts' own measure, on the validation lines: the view's at the epoch kept, and the line bags'
    assert (
        0 <= chosen["line_validation_auc"] <= 1 and 0 <= model.character_head.choices["line_bags_validation_auc"] <= 1
    )
    assert settings["config"]["context_encoder"] == "separate" and settings["config"]["character_pooling"] == "none"
    full = score_characters(model, lines)
    alone = copy.deepcopy(model)
    del alone.context_view
    alone.config.context_view = None
    own = score_characters(alone, lines).mean_logit
    view = model.context_view
    view.tokenizer = model.tokenizer
    view_mean = aggregate_logits(lines.character_ids, predict_logits(view, lines.texts, lines.context)).mean_logit
    partners = partner_matrix(full.inverse, lines.conversation_ids, len(full.ids))
    partnered = with_partners(view_mean, partners, settings["partner_weight"], settings["partner_center"])
    np.testing.assert_allclose(full.mean_logit, own + settings["weight"] * partnered, atol=1e-6)
    assert not np.allclose(full.mean_logit, own)  # the view moves the scores


def test_the_view_is_saved_and_loaded_with_the_character_model(trained: tuple) -> None:
    model, lines, tmp_path = trained
    model.save_pretrained(tmp_path / "saved")
    with safe_open(str(tmp_path / "saved" / "model.safetensors"), "pt") as weights:
        assert "context_view.context_lstm.weight_ih_l0" in set(weights.keys())
    loaded = BiLSTMClassifier.from_pretrained(tmp_path / "saved")
    np.testing.assert_allclose(
        score_characters(loaded, lines).mean_logit, score_characters(model, lines).mean_logit, atol=1e-9
    )
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    config["context_view"]["weight"] = -1.0
    (tmp_path / "saved" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"config.json is not a valid movie-gender config: context_view: weight"):
        BiLSTMClassifier.from_pretrained(tmp_path / "saved")


def test_the_ablations_convex_parts_have_no_view(trained: tuple) -> None:
    model, lines, _ = trained
    convex = convex_part(model)
    assert convex.config.context_view is None and not hasattr(convex, "context_view")
    assert model.config.context_view is not None and hasattr(model, "context_view")  # the model itself keeps it
    assert np.isfinite(score_characters(convex, lines).mean_logit).all()


def test_a_view_whose_best_weight_is_zero_is_not_kept(trained: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    model, lines, _ = trained
    bare = copy.deepcopy(model)
    view = bare.context_view
    view.tokenizer = bare.tokenizer
    del bare.context_view
    bare.config.context_view = None
    monkeypatch.setattr(context_view, "MIX_GRID", (1.0,))  # the character score alone
    validation = {"text": lines.texts, "character_id": lines.character_ids, "label": [1, 0] * (len(lines.texts) // 2)}
    validation["label"] += [0] * (len(lines.texts) - len(validation["label"]))
    validation |= {"conversation_id": lines.conversation_ids, "context": lines.context}
    chosen = context_view.add_context_view(bare, view, datasets.Dataset.from_dict(validation))
    assert chosen["weight"] == 0 and bare.config.context_view is None and not hasattr(bare, "context_view")


def test_remembered_line_scores_change_nothing_even_when_the_memory_overflows(
    trained: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, lines, _ = trained
    remembered = score_characters(model, lines).mean_logit  # the fixture's runs have filled the memory
    model.context_view.__dict__.pop("line_memo", None)
    monkeypatch.setattr(characters, "MEMO_LINES", 7)  # fewer than the distinct lines: cleared on the way
    cold = score_characters(model, lines).mean_logit
    again = score_characters(model, lines).mean_logit
    np.testing.assert_allclose(cold, remembered, atol=1e-6)
    np.testing.assert_array_equal(again, cold)
    assert len(model.context_view.line_memo) <= 7


def test_the_view_trains_the_context_presets_network_at_its_own_learning_rate() -> None:
    preset = PRESETS["character"]
    options = TrainOptions(output="out", data=preset.data, model=preset.model, training=preset.training)
    view = context_view.view_options(options)
    context = PRESETS["context"]
    assert view.model == context.model and view.preset == "context"
    assert view.training.epochs == preset.training.context_view_epochs
    assert view.training.learning_rate == context_view.LEARNING_RATE != context.training.learning_rate
    same = ("batch_size", "lr_schedule", "patience", "grad_clip", "weight_decay")
    assert all(getattr(view.training, name) == getattr(context.training, name) for name in same)
