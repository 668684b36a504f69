"""The documented Python API: what `movie_gender` exports, and the README's recipe for scoring a Dataset."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import tomllib
import torch

import movie_gender
from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_exports_the_documented_api() -> None:
    documented = {
        "train_model",
        "TrainOptions",
        "DataOptions",
        "TrainingConfig",
        "evaluate_model",
        "build_dataset",
        "save_dataset",
        "load_cornell",
        "train_tokenizer",
        "load_glove",
        "BiLSTMClassifier",
        "BiLSTMConfig",
        "push_model",
        "push_dataset",
        "load_hub_dataset",
        "write_model_card",
    }
    assert documented <= set(movie_gender.__all__)
    for name in movie_gender.__all__:
        assert getattr(movie_gender, name) is not None
        if callable(getattr(movie_gender, name)):
            assert getattr(movie_gender, name).__doc__, f"{name} has no docstring"
    readme = (ROOT / "README.md").read_text()
    assert [name for name in sorted(documented) if name not in readme] == []
    assert movie_gender.__version__ == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_scoring_a_dataset_with_batched_map_as_the_readme_shows() -> None:
    lines = ["I'll be in the car, darling.", "Get the gun, buddy!", "What?", "Honey, you look lovely."] * 5
    tokenizer = train_tokenizer(lines)
    torch.manual_seed(0)
    model = BiLSTMClassifier(
        BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6, num_layers=1, pooling="max")
    )
    model.tokenizer = tokenizer
    test = datasets.Dataset.from_dict({"text": lines, "label": [1, 0, 0, 1] * 5})
    scored = test.map(
        lambda batch: {"p_female": model.predict_proba(batch["text"]).tolist()}, batched=True, batch_size=3
    )
    np.testing.assert_allclose(scored["p_female"], model.predict_proba(lines), rtol=1e-5)
    assert scored.column_names == ["text", "label", "p_female"]


def test_the_public_model_class_is_the_network_that_predicts_and_publishes(tmp_path: Path) -> None:
    from movie_gender.inference.classifier import BiLSTMPredictor
    from movie_gender.model.modeling import BiLSTMNetwork

    assert issubclass(BiLSTMClassifier, BiLSTMPredictor) and issubclass(BiLSTMPredictor, BiLSTMNetwork)
    assert movie_gender.train_model.__annotations__["return"] == "RunRecord"
    lines = ["I'll be in the car, darling.", "Get the gun, buddy!", "What?", "Honey, you look lovely."]
    tokenizer = train_tokenizer(lines)
    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6))
    model.tokenizer = tokenizer
    model.save_pretrained(tmp_path / "m")
    loaded = BiLSTMClassifier.from_pretrained(tmp_path / "m")
    assert type(loaded) is BiLSTMClassifier and loaded.metrics is None  # no record saved: none read back
    np.testing.assert_allclose(loaded.predict_proba(lines), model.predict_proba(lines), rtol=1e-6)
    assert [p["label"] for p in loaded.predict(lines)] == [p["label"] for p in model.predict(lines)]
    assert type(BiLSTMPredictor.from_pretrained(tmp_path / "m")) is BiLSTMPredictor


def test_saving_scores_the_card_examples_once(tmp_path: Path, monkeypatch) -> None:
    from movie_gender.inference.classifier import BiLSTMPredictor
    from movie_gender.training.run_record import RunRecord

    lines = ["I'll be in the car, darling.", "Get the gun, buddy!", "What?", "Honey, you look lovely."]
    tokenizer = train_tokenizer(lines)
    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6))
    model.tokenizer = tokenizer
    model.metrics = RunRecord(examples=[{"text": lines[0], "label": "female"}])
    calls = []
    real = BiLSTMPredictor.predict_proba
    monkeypatch.setattr(BiLSTMPredictor, "predict_proba", lambda self, *a, **k: calls.append(a) or real(self, *a, **k))
    model.save_pretrained(tmp_path / "m")
    assert len(calls) == 1  # the card is rendered once, its example scored once
    assert f"{float(real(model, [lines[0]])[0]):.2f}" in (tmp_path / "m" / "README.md").read_text()
