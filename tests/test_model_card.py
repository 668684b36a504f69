"""The model card: one template (the root model_card.md), rendered by BiLSTMClassifier.generate_model_card whatever
the entry point (save_pretrained, push_to_hub through the mixin, hub.push_model, train)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import tomllib
import torch
import yaml
from huggingface_hub import HfApi, PyTorchModelHubMixin

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.hub.cards import PROJECT_URL, card_template, model_card_data
from movie_gender.hub.folder_cards import write_model_card
from movie_gender.training.run_record import RunRecord
from tests.model_card_pattern import MODEL_CARD_PATTERN

ROOT = Path(__file__).resolve().parents[1]
LINES = ["I'll be in the car, darling.", "Get the gun, buddy!", "What?", "Honey, the dress | is lovely."]


def tiny_model() -> BiLSTMClassifier:
    torch.manual_seed(0)
    tokenizer = train_tokenizer(LINES)
    model = BiLSTMClassifier(
        BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6, num_layers=2, pooling="max")
    )
    model.tokenizer = tokenizer
    return model


def _scorer(roc_auc: float, n: int = 400) -> dict:
    return {
        "n": n,
        "threshold": 0.4812,
        "roc_auc": roc_auc,
        "average_precision": roc_auc - 0.2,
        "balanced_accuracy": roc_auc - 0.05,
        "macro_f1": roc_auc - 0.07,
        "accuracy": roc_auc - 0.02,
        "per_class": {},
        "confusion_matrix": [[150, 50], [90, 110]],
        "ci95": {
            "roc_auc": [roc_auc - 0.03, roc_auc + 0.03],
            "average_precision": [roc_auc - 0.24, roc_auc - 0.16],
            "balanced_accuracy": [roc_auc - 0.08, roc_auc - 0.02],
        },
    }


def _difference(delta: float) -> dict:
    return {
        "roc_auc": delta,
        "roc_auc_ci95": [delta - 0.02, delta + 0.02],
        "balanced_accuracy": delta / 2,
        "balanced_accuracy_ci95": [delta / 2 - 0.03, delta / 2 + 0.03],
    }


def _calibration(ece_raw: float, ece: float, floor: float, n: int, female: int, precision: float | None) -> dict:
    return {
        "parameters": {"method": "platt", "scale": 0.812, "bias": -1.234, "n": n},
        "binning": "equal-mass",
        "bins": 10,
        "ece_raw": ece_raw,
        "ece": ece,
        "ece_noise_floor": floor,
        "confident": {"cut": 0.9, "female": {"n": female, "precision": precision}, "male": {"n": 0, "precision": None}},
    }


def full_metrics() -> dict:
    """A metrics.json as train writes it (the eval helper's format: thresholds, AP, paired differences)."""
    line = {
        "model": _scorer(0.6412),
        "always_male": _scorer(0.5),
        "tfidf_logreg": _scorer(0.6123),
        "glove_mean_logreg": _scorer(0.5934),
        "difference": {
            "always_male": _difference(0.1412),
            "tfidf_logreg": _difference(0.0289),
            "glove_mean_logreg": _difference(0.0478),
        },
        "calibration": _calibration(0.2011, 0.0123, 0.0112, 4000, 0, None),
    }
    character = {
        "min_lines": 5,
        "model": _scorer(0.7312, 120),
        "always_male": _scorer(0.5, 120),
        "tfidf_logreg": _scorer(0.7011, 120),
        "glove_mean_logreg": _scorer(0.6634, 120),
        "difference": {"tfidf_logreg": _difference(0.0301)},
        "calibration": _calibration(0.1801, 0.0412, 0.1271, 60, 9, 0.8889),
    }
    return {
        "eval_split": "test",
        "bootstrap": {"unit": "movie", "n": 1000},
        "split_seed": 42,
        "seed": 42,
        "line": line,
        "character": character,
        "dataset": {
            "split": "movie",
            "balance": "oversample",
            "corpus": {
                "source": "/home/someone/data/cornell_movie_dialogs_corpus.zip",
                "male": 170768,
                "female": 71255,
            },
            "class_counts": {
                "train": {"male": 100, "female": 100},
                "validation": {"male": 30, "female": 10},
                "test": {"male": 30, "female": 10},
            },
        },
        "model": {},
        "glove": {
            "name": "glove.6B.50d",
            "source": "/home/someone/glove.6B.50d.txt.gz",
            "type_coverage": 0.95,
            "token_coverage": 0.997,
        },
        "training": {
            "learning_rate": 0.002,
            "lr_schedule": "linear",
            "batch_size": 64,
            "epochs": 4,
            "patience": 2,
            "grad_clip": 1.0,
            "seed": 42,
            "history": [{"epoch": 1}, {"epoch": 2}],
            "best_epoch": 2,
            "best_validation_auc": 0.6321,
            "hardware": "CPU x86_64, 2 threads",
            "bf16": False,
            "seconds": 312.0,
            "total_seconds": 401.0,
            "preset": "default",
        },
        "versions": {
            "python": "3.11.9",
            "movie-gender": "0.1.0",
            "torch": "2.13.0",
            "datasets": "4.0.0",
            "tokenizers": "0.22.0",
            "huggingface_hub": "1.0.0",
            "safetensors": "0.6.0",
        },
        "examples": [
            {"text": "I'll be in the car, darling.", "label": "female"},
            {"text": "Honey, the dress | is lovely.", "label": "female"},
            {"text": "Get the gun, buddy!", "label": "male"},
        ],
    }


def _header(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


def test_the_template_is_the_root_model_card_shipped_through_a_link() -> None:
    shipped = ROOT / "src" / "movie_gender" / "templates" / "model_card.md"
    assert shipped.is_symlink() and shipped.resolve() == (ROOT / "model_card.md").resolve()  # no hand-kept copy
    assert card_template() == (ROOT / "model_card.md").read_text(encoding="utf-8")


def test_full_card_matches_the_pattern() -> None:
    model = tiny_model()
    model.metrics = full_metrics()
    card = str(model.generate_model_card(repo_id="org/movie-gender-bilstm", dataset_repo="org/cornell-movie-gender"))
    assert MODEL_CARD_PATTERN.fullmatch(card), card
    assert not MODEL_CARD_PATTERN.fullmatch(card.replace("| **this model** |", "| this model |"))


def test_full_card_metadata_works_on_the_hub() -> None:
    model = tiny_model()
    model.metrics = full_metrics()
    card = str(model.generate_model_card(repo_id="org/movie-gender-bilstm", dataset_repo="org/cornell-movie-gender"))
    header = _header(card)
    assert header["datasets"] == ["org/cornell-movie-gender"] and header["library_name"] == "movie-gender"
    assert [w["text"] for w in header["widget"]] == [e["text"] for e in full_metrics()["examples"]]
    results = {m["type"]: m["value"] for r in header["model-index"][0]["results"] for m in r["metrics"]}
    assert results == {"roc_auc": 0.6412, "average_precision": 0.4412, "balanced_accuracy": 0.5912, "macro_f1": 0.5712}
    # the mixin's metadata is the card's: the same tags, licence and pipeline tag
    mixin = PyTorchModelHubMixin.generate_model_card(model).data
    assert header["tags"] == mixin.tags and "model_hub_mixin" in header["tags"]
    assert (header["license"], header["pipeline_tag"]) == (mixin.license, mixin.pipeline_tag)
    assert "/home/someone" not in card  # local paths are never published


def test_project_urls_and_install_line_are_in_the_card() -> None:
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Repository"] == urls["Homepage"] == PROJECT_URL
    card = str(tiny_model().generate_model_card())
    assert "pip install movie-gender" in card and f"]({PROJECT_URL})" in card


def test_a_model_without_metrics_gets_an_honest_short_card(tmp_path: Path) -> None:
    tiny_model().save_pretrained(tmp_path / "my-model")
    card = (tmp_path / "my-model" / "README.md").read_text()
    assert "[More Information Needed]" not in card
    assert "no evaluation results recorded" in card and "## Results" not in card and "model-index" not in card
    assert 'from_pretrained("my-model")' in card and "Saved with (no training record):" in card
    assert "Never use it to infer a real person's gender" in card


def test_old_metrics_without_the_new_fields_still_render() -> None:
    model = tiny_model()
    metrics = full_metrics()
    metrics["bootstrap"] = 100
    for level in ("line", "character"):
        metrics[level].pop("difference")
        for scorer in metrics[level].values():
            if isinstance(scorer, dict):
                scorer.pop("threshold", None), scorer.pop("average_precision", None)
    del metrics["versions"], metrics["examples"]
    card = _render(model, metrics)
    assert "100 resamples" in card and "paired bootstrap" not in card and "| n/a |" in card


def _render(model: BiLSTMClassifier, metrics: dict) -> str:
    model.metrics = metrics
    return str(model.generate_model_card(repo_id="org/m"))


class _HubRecorder:
    """HfApi intercepted at the calls the mixin's push_to_hub makes (create_repo, upload_folder): the folder it would
    upload is read and recorded instead of sent."""

    def __init__(self, monkeypatch) -> None:
        self.commits: list[dict] = []
        recorder = self

        def create_repo(self, repo_id, **kwargs):
            return SimpleNamespace(repo_id=repo_id)

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            files = {
                str(p.relative_to(folder_path)): p.read_bytes() for p in Path(folder_path).rglob("*") if p.is_file()
            }
            recorder.commits.append({"repo_id": repo_id, "files": files, **kwargs})
            return f"https://huggingface.co/{repo_id}/commit/abc"

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)


def test_push_to_hub_through_the_mixin_uploads_the_real_card(monkeypatch) -> None:
    hub = _HubRecorder(monkeypatch)
    model = tiny_model()
    model.metrics = full_metrics()
    model.push_to_hub("org/movie-gender-bilstm", model_card_kwargs={"dataset_repo": "org/cornell-movie-gender"})
    (commit,) = hub.commits
    assert set(commit["files"]) == {"config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json"}
    card = commit["files"]["README.md"].decode()
    assert card == str(
        model.generate_model_card(repo_id="org/movie-gender-bilstm", dataset_repo="org/cornell-movie-gender")
    )
    assert 'from_pretrained("org/movie-gender-bilstm")' in card and "[More Information Needed]" not in card
    assert MODEL_CARD_PATTERN.fullmatch(card), card
    published = json.loads(commit["files"]["metrics.json"])
    assert published == RunRecord.from_dict(full_metrics()).published().to_dict()
    assert "/home/someone" not in commit["files"]["metrics.json"].decode()


def test_a_loaded_model_pushes_its_saved_metrics(tmp_path: Path, monkeypatch) -> None:
    model = tiny_model()
    model.metrics = full_metrics()
    model.save_pretrained(tmp_path / "out")
    loaded = BiLSTMClassifier.from_pretrained(tmp_path / "out")
    assert loaded.metrics == RunRecord.from_dict(full_metrics()).published()
    hub = _HubRecorder(monkeypatch)
    loaded.push_to_hub("org/again")
    card = hub.commits[0]["files"]["README.md"].decode()
    assert "## Results" in card and "0.641 [0.611, 0.671]" in card and 'from_pretrained("org/again")' in card


def test_write_model_card_replaces_a_stale_card_and_shows_the_plots(tmp_path: Path) -> None:
    model = tiny_model()
    model.save_pretrained(tmp_path / "m")  # a short card: no metrics yet
    (tmp_path / "m" / "metrics.json").write_text(json.dumps(full_metrics()))
    (tmp_path / "m" / "roc_curve.png").write_bytes(b"\x89PNG")
    card = write_model_card(tmp_path / "m").read_text()
    assert "## Results" in card and "![ROC](roc_curve.png)" in card and "training_curves.png" not in card


def test_save_pretrained_with_push_to_hub_names_the_repo_not_the_folder(tmp_path: Path, monkeypatch) -> None:
    hub = _HubRecorder(monkeypatch)
    tiny_model().save_pretrained(tmp_path / "local-name", push_to_hub=True, repo_id="org/hub-name")
    assert 'from_pretrained("local-name")' in (tmp_path / "local-name" / "README.md").read_text()
    assert 'from_pretrained("org/hub-name")' in hub.commits[0]["files"]["README.md"].decode()


def test_a_folder_card_scores_its_examples_with_the_folders_model_unless_told_not_to(tmp_path: Path) -> None:
    model = tiny_model()
    model.metrics = full_metrics()
    model.save_pretrained(tmp_path / "m")
    assert model_card_data().to_dict() == PyTorchModelHubMixin.generate_model_card(model).data.to_dict()
    with_model = write_model_card(tmp_path / "m", BiLSTMClassifier.from_pretrained(tmp_path / "m")).read_text()
    assert write_model_card(tmp_path / "m").read_text() == with_model  # the folder's model, loaded
    without = write_model_card(tmp_path / "m", score_examples=False).read_text()
    assert _header(without) == _header(with_model)
    row = "| I'll be in the car, darling. | female |"
    assert f"{row} n/a |" in without and f"{row} n/a |" not in with_model and row in with_model


def test_a_character_model_without_a_neural_stage_is_described_as_what_it_is() -> None:
    metrics = full_metrics()
    metrics["model"] = {"character_pooling": "attention", "hidden_size": 6, "num_layers": 2, "bag_of_words": True}
    metrics["training"]["best_epoch"] = 0  # the state before the neural stage: what the character preset ships
    tokenizer = train_tokenizer(LINES)
    config = BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6)
    model = BiLSTMClassifier(replace(config, character_pooling="attention"))
    model.tokenizer = tokenizer
    card = _render(model, metrics)
    assert "a character model without a neural stage" in card and "scoring never runs" in card
    assert "attention over a character's lines" not in card and "(no neural stage)" in card
    view = {"weight": 0.8, "partner_weight": 0.5, "partner_center": 0.0, "config": {"num_layers": 1, "hidden_size": 6}}
    model.config = replace(model.config, context_view=view)  # the preset's context view, kept on validation
    metrics["model"]["context_view"] = view
    card = _render(model, metrics)
    assert "a character model: logistic-regression bags" in card and "without a neural stage" not in card
    assert "plus 0.80 x the mean log-odds of its lines under a context model (a 1 x 6 BiLSTM" in card
    assert "(no neural stage)" not in card
    assert "logistic regressions fitted to convergence" in card and "the context view: Adam on line labels" in card
    assert "up to 4 epochs" not in card
    model.config = replace(model.config, context_view=None)
    metrics["model"]["context_view"] = None
    metrics["training"]["best_epoch"] = 2  # --epochs N and early stopping kept the neural stage
    card = _render(model, metrics)
    assert "attention over a character's lines" in card and "without a neural stage" not in card
