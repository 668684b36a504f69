"""`movie-gender label-characters`: the completed corpus (every speaking character, the corpus label where it exists
and the model's calibrated prediction where it does not) as a dataset folder with its card, and its push to the Hub
as one commit with no local path in it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from movie_gender import load_cornell
from movie_gender.cli import main as cli_main
from movie_gender.hub.dataset_cards import WARNING
from movie_gender.inference.completion import SCHEMA
from movie_gender.inference.prediction import score_characters
from tests.factories import SEP, synthetic_dialogues, train_small_model, write_corpus_folder
from tests.test_hub import _Recorder

COLUMNS = [
    ("movie_id", pa.string()),
    ("movie_title", pa.string()),
    ("character_id", pa.string()),
    ("character_name", pa.string()),
    ("n_lines", pa.int64()),
    ("corpus_label", pa.string()),
    ("p_female", pa.float64()),
    ("predicted_label", pa.string()),
    ("label", pa.string()),
    ("label_source", pa.string()),
]
# What the model's metrics.json says about held-out test characters (as train writes it), for the card.
METRICS = {
    "eval_split": "test",
    "dataset": {"split": "movie", "movies": {"train": 4, "validation": 1, "test": 1}},
    "character": {
        "min_lines": 5,
        "speaker_leak": False,
        "model": {
            "n": 58,
            "roc_auc": 0.812,
            "accuracy": 0.741,
            "balanced_accuracy": 0.733,
            "threshold": 0.287,
            "ci95": {"roc_auc": [0.701, 0.915], "balanced_accuracy": [0.64, 0.83]},
        },
        "calibration": {
            "ece": 0.043,
            "ece_raw": 0.191,
            "ece_noise_floor": 0.127,
            "confident": {"cut": 0.9, "female": {"n": 7, "precision": 0.857}, "male": {"n": 3, "precision": 1.0}},
        },
    },
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Synthetic dialogues (each movie has a character of unknown gender), plus two characters of movie m0 who
    speak no line (one labelled, one not) and one of a movie without lines."""
    lines, characters, conversations = synthetic_dialogues()
    characters += [
        SEP.join(["u900", "EXTRA", "m0", "movie number 0", "f", "?"]),
        SEP.join(["u901", "GUARD", "m0", "movie number 0", "?", "?"]),
        SEP.join(["u902", "ELSEWHERE", "m99", "another movie", "m", "?"]),
    ]
    return write_corpus_folder(tmp_path_factory.mktemp("corpus"), lines, characters, conversations)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, corpus: Path) -> Path:
    """A small trained model with a calibration and the held-out metrics a trained model carries."""
    data = load_cornell(corpus, include_unknown=True)
    model = train_small_model(data["text"], [max(v, 0) for v in data["label"]], steps=10)
    model.config.calibration = {
        "line": {"method": "platt", "scale": 0.8, "bias": -0.9, "n": 50},
        "character": {"method": "platt", "scale": 1.3, "bias": -0.6, "n": 12},
    }
    model.config.character_threshold = 0.35
    folder = tmp_path_factory.mktemp("models") / "movie-gender-small"
    model.save_pretrained(folder)
    (folder / "metrics.json").write_text(json.dumps(METRICS))
    return folder


def _run(*args) -> int:
    try:
        cli_main(["label-characters", *map(str, args)])
    except SystemExit as exit_info:
        return exit_info.code
    return 0


def test_the_completed_corpus_has_the_schema_and_predicts_only_where_the_corpus_has_no_label(
    corpus: Path, model_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "completed"
    assert _run(model_folder, "--corpus", corpus, "--output", out) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md",
        "data/train-00000-of-00001.parquet",
    ]
    table = pq.read_table(out / "data" / "train-00000-of-00001.parquet")
    assert [(f.name, f.type) for f in table.schema] == COLUMNS and table.schema.equals(SCHEMA)
    rows = table.to_pylist()

    from movie_gender import BiLSTMClassifier

    data = load_cornell(corpus, include_unknown=True)
    scored = score_characters(BiLSTMClassifier.from_pretrained(model_folder), data, progress=False).to_pylist()
    assert [r["character_id"] for r in rows] == [r["character_id"] for r in scored]  # every speaking character
    assert {"u900", "u901", "u902"}.isdisjoint(r["character_id"] for r in rows)  # no line: no row
    unknown = {cid for cid, label in zip(data["character_id"], data["label"], strict=True) if label == -1}
    assert unknown and {r["character_id"] for r in rows if r["corpus_label"] is None} == unknown
    for row, expected in zip(rows, scored, strict=True):
        assert row["p_female"] == pytest.approx(expected["p_female"]) and row["n_lines"] == expected["n_lines"]
        assert row["predicted_label"] == ("female" if row["p_female"] >= 0.35 else "male")
        if row["corpus_label"] is None:
            assert row["label_source"] == "predicted" and row["label"] == row["predicted_label"]
        else:
            assert row["label_source"] == "corpus" and row["label"] == row["corpus_label"]
        assert row["movie_title"] == f"movie number {row['movie_id'][1:]}"
    loaded = datasets.load_dataset(str(out))
    assert list(loaded) == ["train"] and len(loaded["train"]) == len(rows)


def test_the_card_says_which_labels_are_predicted_by_which_model_and_how_accurate(
    corpus: Path, model_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "completed"
    assert _run(model_folder, "--corpus", corpus, "--output", out) == 0
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    table = pq.read_table(out / "data" / "train-00000-of-00001.parquet").to_pylist()
    predicted = [r for r in table if r["label_source"] == "predicted"]
    patterns = [
        r"\*\*the label is predicted by the model `movie-gender-small`\*\*",
        rf"\| predicted label \| {len(predicted)} \| "
        rf"{sum(r['label'] == 'male' for r in predicted)} \| {sum(r['label'] == 'female' for r in predicted)} \|",
        r"On its \*\*test\*\* split \(1 movie, never seen in training; .* the 58 characters of known gender\s+with at "
        r"least 5 lines",
        r"\| ROC-AUC \[95% CI, bootstrap over movies\] \| 0\.812 \[0\.701, 0\.915\] \|",
        r"\| accuracy at the threshold \(0\.287\) \| 0\.741 \|",
        r"\| balanced accuracy \[95% CI\] \| 0\.733 \[0\.640, 0\.830\] \|",
        r"expected calibration error of P\(female\), calibrated \(raw; from sampling noise alone\) \| "
        r"0\.043 \(0\.191; 0\.127\) \|",
        r"\| P\(female\) >= 0\.9: fraction female \(characters\) \| 0\.857 \(7\) \|",
        r"2 characters of these movies speak no line in `movie_lines.txt` \(1 of them with a corpus label\)",
        re.escape(f"**{WARNING}**"),
    ]
    for pattern in patterns:
        assert re.search(pattern, card, flags=re.S), pattern
    assert str(tmp_path) not in card and str(model_folder.parent) not in card and str(corpus) not in card


def test_a_model_without_metrics_gets_a_card_that_says_its_accuracy_is_unknown(corpus: Path, tmp_path: Path) -> None:
    data = load_cornell(corpus, include_unknown=True)
    folder = tmp_path / "bare"
    train_small_model(data["text"], [max(v, 0) for v in data["label"]], steps=2).save_pretrained(folder)
    assert _run(folder, "--corpus", corpus, "--output", tmp_path / "out") == 0
    assert "**No held-out evaluation is recorded for this model**" in (tmp_path / "out" / "README.md").read_text()


def test_push_is_one_commit_of_exactly_the_dataset_files_with_no_local_path(
    corpus: Path, model_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    recorder = _Recorder()
    recorder.install(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert _run(model_folder, "--corpus", corpus, "--push", "org/cornell-characters", "--private") == 0
    assert [name for name, _ in recorder.calls] == ["create_repo", "create_commit"]
    assert recorder.calls[0][1] == {
        "repo_id": "org/cornell-characters",
        "repo_type": "dataset",
        "private": True,
        "exist_ok": True,
    }
    files = recorder.calls[1][1]["files"]
    assert set(files) == {"README.md", "data/train-00000-of-00001.parquet"}
    table = pq.read_table(pa.BufferReader(files["data/train-00000-of-00001.parquet"]))
    assert table.schema.equals(SCHEMA) and table.num_rows > 0
    for name, data in files.items():
        for local in (str(tmp_path), str(model_folder.parent), str(corpus), "/tmp/"):
            assert local.encode() not in data, f"{name} holds the local path {local}"


def test_nowhere_to_write_is_a_usage_error(model_folder: Path, capsys) -> None:
    assert _run(model_folder) == 2
    assert "give --output DIR and/or --push REPO_ID" in capsys.readouterr().err
