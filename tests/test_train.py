"""scripts/train.py and scripts/evaluate.py end to end on a tiny synthetic corpus and a tiny GloVe file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from movie_gender import BiLSTMClassifier
from tests.factories import synthetic_corpus, write_corpus_folder, zip_folder

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--epochs", "3", "--hidden-size", "16", "--batch-size", "32", "--bootstrap", "50", "--min-lines", "3"]


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_cache(module_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One cache for this module, as one machine has: the model trained once here is evaluated by later tests, which
    find its local sources where training recorded them."""
    monkeypatch.setenv("MOVIE_GENDER_CACHE", str(module_cache))
    return module_cache


@pytest.fixture(scope="module")
def trained(tmp_path_factory, module_cache: Path) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("train")
    # A module fixture is set up before the autouse one above: the training run gets the module's cache explicitly.
    mp = pytest.MonkeyPatch()
    mp.setenv("MOVIE_GENDER_CACHE", str(module_cache))
    try:
        return _train(tmp)
    finally:
        mp.undo()


def _train(tmp: Path) -> tuple[Path, Path, Path]:
    corpus = zip_folder(
        write_corpus_folder(tmp / "c", *synthetic_corpus(n_movies=20, lines_per_character=40, seed=5)),
        tmp / "corpus.zip",
    )
    from tests.factories import FEMALE_WORDS, MALE_WORDS, SHARED_WORDS, write_glove

    glove = write_glove(
        tmp / "glove.tiny.8d.txt.gz", ["the", ".", "!", "?", "..."] + SHARED_WORDS[1:] + MALE_WORDS + FEMALE_WORDS
    )
    out = tmp / "model"
    result = run_script("train.py", "--corpus", corpus, "--glove", glove, "--output", out, *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    return corpus, glove, out


def test_train_writes_a_complete_model_folder(trained) -> None:
    _, _, out = trained
    names = {p.name for p in out.iterdir()}
    assert names == {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "README.md",
        "metrics.json",
        "training_curves.png",
        "confusion_matrix.png",
        "roc_curve.png",
        "reliability_line.png",
        "reliability_character.png",
        # the character calibration by size: a diagram per size band (characters cut to 1-10 lines)
        *(f"reliability_character_{k}_lines.png" for k in (1, 2, 3, 5, 10)),
    }
    pngs = ("training_curves.png", "confusion_matrix.png", "roc_curve.png", "reliability_line.png")
    for png in (*pngs, "reliability_character.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out.parent / "model.checkpoints" / "checkpoint.pt").exists()  # checkpoints live outside the folder


def test_no_local_path_is_published(trained) -> None:
    corpus, glove, out = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"]["corpus"]["source"] == "corpus.zip" and metrics["glove"]["source"] == glove.name
    for published in ("metrics.json", "README.md"):
        assert str(corpus.parent) not in (out / published).read_text(), published


def test_resuming_a_finished_run_trains_nothing_and_writes_missing_outputs(trained, tmp_path: Path) -> None:
    corpus, glove, out = trained
    again = tmp_path / "again"
    result = run_script(
        "train.py",
        "--corpus",
        corpus,
        "--glove",
        glove,
        "--output",
        again,
        "--checkpoint-dir",
        out.parent / "model.checkpoints",
        "--resume",
        *QUICK,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "is complete" in result.stderr and "epoch 1:" not in result.stderr  # nothing trained
    assert (again / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    metrics = [json.loads((folder / "metrics.json").read_text()) for folder in (out, again)]
    assert metrics[0]["line"]["model"]["roc_auc"] == metrics[1]["line"]["model"]["roc_auc"]
    assert metrics[0]["training"]["history"] == metrics[1]["training"]["history"]


def test_resuming_with_other_settings_is_refused_in_one_line(trained, tmp_path: Path) -> None:
    corpus, glove, out = trained
    checkpoints = out.parent / "model.checkpoints"
    result = run_script(
        "train.py",
        "--corpus",
        corpus,
        "--glove",
        glove,
        "--output",
        tmp_path / "other",
        "--checkpoint-dir",
        checkpoints,
        "--resume",
        *QUICK,
        "--hidden-size",
        "12",
        "--seed",
        "7",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {checkpoints / 'checkpoint.pt'}: belongs to another run (")
    assert "hidden_size 16 -> 12" in line and "seed 42 -> 7" in line


def test_metrics_have_model_and_baselines_at_both_levels(trained) -> None:
    metrics = json.loads((trained[2] / "metrics.json").read_text())
    for level in ("line", "character"):
        assert set(metrics[level]) >= {"model", "always_male", "tfidf_logreg"}
        for scorer in ("model", "always_male", "tfidf_logreg"):
            m = metrics[level][scorer]
            assert {"accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "per_class", "confusion_matrix"} <= set(m)
    assert metrics["line"]["always_male"]["balanced_accuracy"] == 0.5
    assert (
        metrics["line"]["model"]["ci95"]["roc_auc"][0]
        <= metrics["line"]["model"]["roc_auc"]
        <= metrics["line"]["model"]["ci95"]["roc_auc"][1]
    )
    # The synthetic characters use gendered words: the model must learn them.
    assert metrics["line"]["model"]["roc_auc"] > 0.8
    assert metrics["training"]["best_epoch"] >= 1 and len(metrics["training"]["history"]) == 3
    assert metrics["dataset"]["split"] == "movie"


def test_the_run_record_reads_back_as_its_type_and_writes_the_same_bytes(trained) -> None:
    from movie_gender.training.run_record import RunRecord

    out = trained[2]
    text = (out / "metrics.json").read_text()
    record = RunRecord.from_json(text)
    assert record.to_json() == text and record.published().to_json() == text  # nothing local to strip
    assert record.glove.name == "glove.tiny.8d" and record.glove.member_in("vectors.zip") == "glove.tiny.8d.txt"
    assert record.glove.member_in("glove.tiny.8d.txt.gz") is None
    assert record.bootstrap.n == 50 and record.has_results and not record.extra
    written = json.loads(text)
    assert record.level("line").model.roc_auc == written["line"]["model"]["roc_auc"]
    assert record.level("character").calibration.ece == written["character"]["calibration"]["ece"]
    assert record.dataset.corpus.male == written["dataset"]["corpus"]["male"] and record.training.history
    assert BiLSTMClassifier.from_pretrained(out).metrics == record


def test_metrics_record_the_protocol_thresholds_and_paired_differences(trained) -> None:
    out = trained[2]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bootstrap"] == {"unit": "movie", "n": 50, "seed": 42}
    assert (metrics["split_seed"], metrics["seed"]) == (42, 42)
    assert "validation" in metrics["thresholds"] and metrics["speaker_leak"] is False
    for level in ("line", "character"):
        for scorer in ("model", "always_male", "tfidf_logreg", "glove_mean_logreg"):
            m = metrics[level][scorer]
            assert {"threshold", "roc_auc", "average_precision", "balanced_accuracy", "ci95"} <= set(m)
        for baseline in ("always_male", "tfidf_logreg", "glove_mean_logreg"):
            d = metrics[level]["difference"][baseline]
            assert set(d) == {"roc_auc", "roc_auc_ci95", "balanced_accuracy", "balanced_accuracy_ci95"}
            assert d["roc_auc"] == pytest.approx(
                metrics[level]["model"]["roc_auc"] - metrics[level][baseline]["roc_auc"]
            )
    # The thresholds chosen on validation travel with the model, and predict() labels with the line threshold.
    config = json.loads((out / "config.json").read_text())
    assert config["threshold"] == metrics["line"]["model"]["threshold"] == metrics["model"]["threshold"]
    assert config["character_threshold"] == metrics["character"]["model"]["threshold"]
    model = BiLSTMClassifier.from_pretrained(out)
    lines = [
        "Darling, the dress is lovely.",
        "Buddy, get the car.",
        "What?",
        "Honey, sweet mother.",
        "Beer money, boss.",
    ]
    proba = model.predict_proba(lines)
    assert [p["label"] == "female" for p in model.predict(lines)] == [bool(p >= config["threshold"]) for p in proba]


def test_split_seed_and_seed_are_separate_options() -> None:
    train = _load_script("train.py")
    options = train.options_from_args(train.parse_args(["--output", "x", "--seed", "3", "--split-seed", "9"]))
    assert (options.data.seed, options.training.seed) == (9, 3)
    options = train.options_from_args(train.parse_args(["--output", "x", "--seed", "3"]))
    assert options.data.seed == 42  # a seed sweep keeps the test set


def test_card_holds_the_real_metric_values(trained) -> None:
    out = trained[2]
    card = (out / "README.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    header = yaml.safe_load(card.split("---")[1])
    assert header["library_name"] == "movie-gender" and header["pipeline_tag"] == "text-classification"
    results = {m["type"]: m["value"] for r in header["model-index"][0]["results"] for m in r["metrics"]}
    assert results["roc_auc"] == round(metrics["line"]["model"]["roc_auc"], 4)
    assert f"{metrics['line']['model']['roc_auc']:.3f}" in card
    assert f"{metrics['line']['tfidf_logreg']['roc_auc']:.3f}" in card
    assert "Limitations and bias" in card and "real person" in card


def test_card_widget_lines_are_validation_lines_stored_at_training(trained) -> None:
    from movie_gender.data.dataset import prepare_dataset

    corpus, _, out = trained
    metrics = json.loads((out / "metrics.json").read_text())
    validation = prepare_dataset(corpus)[0]["validation"]  # the same defaults (movie split, seed 42) as the run
    examples = metrics["examples"]
    assert len(examples) == 6 and {e["label"] for e in examples} == {"male", "female"}
    by_text = dict(zip(validation["text"], validation.features["label"].int2str(validation["label"]), strict=False))
    assert all(by_text[e["text"]] == e["label"] for e in examples)
    header = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    assert [w["text"] for w in header["widget"]] == [" ".join(e["text"].split()) for e in examples]
    assert set(metrics["versions"]) >= {"torch", "datasets", "tokenizers", "huggingface_hub", "movie-gender"}


def test_folder_loads_and_reproduces_the_test_scores(trained) -> None:
    corpus, _, out = trained
    model = BiLSTMClassifier.from_pretrained(out)
    from movie_gender import build_dataset

    test = build_dataset(corpus, split="movie")["test"]
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(test["label"], model.predict_proba(test["text"]))
    assert auc == pytest.approx(json.loads((out / "metrics.json").read_text())["line"]["model"]["roc_auc"], abs=1e-9)


def test_same_seed_same_metrics(trained, tmp_path: Path) -> None:
    corpus, glove, out = trained
    again = tmp_path / "again"
    assert run_script("train.py", "--corpus", corpus, "--glove", glove, "--output", again, *QUICK).returncode == 0
    first, second = (json.loads((p / "metrics.json").read_text()) for p in (out, again))
    assert first["line"]["model"] == second["line"]["model"]


def test_evaluate_script_reports_both_levels(trained, tmp_path: Path) -> None:
    corpus, _, out = trained
    report_file = tmp_path / "report.json"
    result = run_script(
        "evaluate.py",
        out,
        "--corpus",
        corpus,
        "--by",
        "line",
        "--by",
        "character",
        "--min-lines",
        "3",
        "--bootstrap",
        "50",
        "--json",
        report_file,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report_file.read_text())
    assert report["eval_split"] == "test" and set(report) >= {"line", "character"}
    assert report["line"]["model"] == json.loads((out / "metrics.json").read_text())["line"]["model"]
    assert "tfidf_logreg" in result.stdout and "character" in result.stdout
    # The model fine-tuned its word vectors: the mean-GloVe baseline is refitted on the GloVe it started from (the
    # file is still here), so evaluate reproduces training's baseline, not a bag of the fine-tuned vectors.
    assert not BiLSTMClassifier.from_pretrained(out).config.freeze_embeddings
    trained_metrics = json.loads((out / "metrics.json").read_text())["line"]["glove_mean_logreg"]["roc_auc"]
    assert report["line"]["glove_mean_logreg"]["roc_auc"] == pytest.approx(trained_metrics, abs=1e-9)


def test_evaluate_leaves_the_glove_baseline_out_when_the_starting_vectors_are_gone(trained, tmp_path: Path) -> None:
    import shutil

    from movie_gender.data.local_sources import remember_sources
    from movie_gender.training.pipeline import baseline_resources

    corpus, _, out = trained
    copied = shutil.copytree(out, tmp_path / "model")  # a copy: this machine has no record of where it came from
    model = BiLSTMClassifier.from_pretrained(copied)
    assert baseline_resources(model, str(copied), seed=0).embeddings is None
    remember_sources(copied, {"corpus": str(corpus), "glove": str(tmp_path / "gone.txt")})  # recorded, since gone
    assert baseline_resources(model, str(copied), seed=0).embeddings is None
    kept = baseline_resources(BiLSTMClassifier.from_pretrained(out), str(out), seed=0).embeddings
    assert kept is not None and not (kept == model.embedding.weight.detach().numpy()).all()


def test_no_file_in_a_model_folder_holds_a_local_path_even_uploaded_the_usual_way(trained, monkeypatch) -> None:
    """`hf upload` / HfApi.upload_folder send every file of the folder, hidden ones too: none may name this machine's
    corpus, GloVe or output paths (HfApi.upload_folder is intercepted; it records every file below the folder)."""
    from huggingface_hub import HfApi

    corpus, glove, out = trained
    local = [str(p.resolve()).encode() for p in (corpus, glove, out, out.parent)]
    for path in out.rglob("*"):
        if path.is_file():
            assert not any(text in path.read_bytes() for text in local), path.name
    uploaded = {}

    def upload_folder(self, *, repo_id, folder_path, **kwargs):  # every file below the folder, hidden ones too
        for path in Path(folder_path).rglob("*"):
            if path.is_file():
                uploaded[path.relative_to(folder_path).as_posix()] = path.read_bytes()
        return f"https://huggingface.co/{repo_id}/commit/abc"

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    HfApi(token="hf_not_a_token").upload_folder(repo_id="org/model", folder_path=out)
    assert set(uploaded) == {p.name for p in out.iterdir()} and "metrics.json" in uploaded
    assert not any(text in data for data in uploaded.values() for text in local)
    # What evaluate needs on this machine is still found (in the cache), and only for this very folder and weights.
    from movie_gender.data.local_sources import recall_source

    assert recall_source(out, "corpus") == str(corpus.resolve()) and recall_source(out, "glove") == str(glove.resolve())


def test_tutorial_split_on_a_small_corpus_stops_clearly(trained, tmp_path: Path) -> None:
    corpus, glove, _ = trained
    result = run_script(
        "train.py", "--preset", "tutorial", "--corpus", corpus, "--glove", glove, "--output", tmp_path / "t"
    )
    assert result.returncode == 2
    assert "first 10,000 lines of each gender" in result.stderr and "Traceback" not in result.stderr


def test_preset_values_are_overridden_by_explicit_options(trained, tmp_path: Path) -> None:
    corpus, glove, _ = trained
    out = tmp_path / "t"
    result = run_script(
        "train.py",
        "--preset",
        "tutorial",
        "--split",
        "movie",
        "--max-steps",
        "3",
        "--hidden-size",
        "8",
        "--num-layers",
        "2",
        "--corpus",
        corpus,
        "--glove",
        glove,
        "--output",
        out,
        "--bootstrap",
        "0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert (config["hidden_size"], config["num_layers"], config["pooling"], config["freeze_embeddings"]) == (
        8,
        2,
        "last",
        False,
    )
    assert metrics["training"]["batch_size"] == 256 and metrics["training"]["steps"] == 3
    assert metrics["dataset"]["split"] == "movie" and metrics["training"]["preset"] == "tutorial"


def _load_script(name: str):
    module = {"push_to_hub.py": "push"}.get(name, name.removesuffix(".py"))
    return importlib.import_module(f"movie_gender.commands.{module}")


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--epochs", "-1"], "must be 0 or more"),
        (["--batch-size", "0"], "must be at least 1"),
        (["--split", "bogus"], "invalid choice"),
        (["--dropout", "1.5"], "--dropout: must be in [0, 1)"),
        (["--lr", "0"], "must be greater than 0"),
    ],
)
def test_impossible_options_are_rejected_by_argument_parsing(bad: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _load_script("train.py").parse_args(["--output", "x", *bad])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and message in err


@pytest.mark.parametrize("script", ["train.py", "evaluate.py", "build_dataset.py", "push_to_hub.py", "benchmark.py"])
def test_every_option_is_explained_by_help(script: str, capsys) -> None:
    parser = _load_script(script).build_parser()
    for action in parser._actions:
        assert action.help and len(action.help) > 10, f"{script}: {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_evaluate_defaults_to_the_training_corpus_and_split(trained, tmp_path: Path) -> None:
    _, _, out = trained
    report_file = tmp_path / "report.json"
    result = run_script("evaluate.py", out, "--by", "line", "--bootstrap", "0", "--json", report_file)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Split protocol as in training" in result.stderr
    assert (
        json.loads(report_file.read_text())["line"]["model"]["roc_auc"]
        == json.loads((out / "metrics.json").read_text())["line"]["model"]["roc_auc"]
    )


def _model_with_protocol(folder: Path, **dataset) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps({"dataset": dataset}))
    return folder


def test_evaluate_split_options_come_from_training_unless_given(tmp_path: Path, caplog) -> None:
    evaluate = _load_script("evaluate.py")
    corpus = tmp_path / "corpus.zip"
    corpus.write_bytes(b"")
    model = _model_with_protocol(
        tmp_path / "m",
        split="random",
        seed=7,
        validation_size=0.2,
        test_size=0.15,
        test_per_class=None,
        balance="undersample",
        drop_overlap=True,
        corpus={"source": str(corpus)},
    )
    data = evaluate.data_options(evaluate.parse_args([str(model)]))
    assert (
        data.corpus,
        data.split,
        data.seed,
        data.validation_size,
        data.test_size,
        data.balance,
        data.drop_overlap,
    ) == (str(corpus), "random", 7, 0.2, 0.15, "undersample", True)
    assert data.test_per_class == 10_000  # not recorded (None): the default
    with caplog.at_level("WARNING"):
        data = evaluate.data_options(evaluate.parse_args([str(model), "--split-seed", "8", "--no-drop-overlap"]))
    assert data.seed == 8 and data.drop_overlap is False
    assert "--split-seed 8 differs from the model's training (7)" in caplog.text
    assert evaluate.data_options(evaluate.parse_args([str(model), "--seed", "9"])).seed == 9  # the old name still works
    assert "--drop-overlap False differs" in caplog.text


def test_evaluate_without_a_protocol_or_with_a_missing_corpus(tmp_path: Path, caplog) -> None:
    evaluate = _load_script("evaluate.py")
    with caplog.at_level("WARNING"):
        data = evaluate.data_options(evaluate.parse_args([str(tmp_path)]))
    assert (data.split, data.seed, data.corpus) == ("movie", 42, evaluate.DEFAULT_URL)
    assert "no metrics.json" in caplog.text
    model = _model_with_protocol(tmp_path / "m", split="movie", corpus={"source": str(tmp_path / "gone.zip")})
    with pytest.raises(FileNotFoundError, match="gone.zip, which is not here: pass --corpus"):
        evaluate.data_options(evaluate.parse_args([str(model)]))
    assert evaluate.data_options(evaluate.parse_args([str(model), "--corpus", "x.zip"])).corpus == "x.zip"
