"""predict_characters and `movie-gender predict`: JSON lines, --file, --dataset, and the per-character / per-line
tables of a whole corpus, unknown-gender characters included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, load_cornell, train_tokenizer
from movie_gender.cli import main as cli_main
from movie_gender.commands import predict as predict_command
from movie_gender.configuration import DataOptions
from movie_gender.data.dataset import prepare_dataset
from movie_gender.hub.dataset_folder import save_dataset
from movie_gender.inference.prediction import CHARACTER_COLUMNS, LINE_COLUMNS
from tests.factories import SEP, synthetic_dialogues, write_corpus_folder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    lines, characters, conversations = synthetic_dialogues()
    return write_corpus_folder(tmp_path_factory.mktemp("corpus"), lines, characters, conversations), lines, characters


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, corpus) -> Path:
    """A small untrained (seeded) model: its scores are arbitrary but fixed, which is all these tests need."""
    folder, _, _ = corpus
    torch.manual_seed(0)
    tokenizer = train_tokenizer(load_cornell(folder, include_unknown=True)["text"])
    model = BiLSTMClassifier(
        BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6, num_layers=1, pooling="max")
    )
    model.tokenizer = tokenizer
    out = tmp_path_factory.mktemp("model") / "model"
    model.save_pretrained(out)
    return out


def _sigmoid(x) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        cli_main(["predict", *map(str, args)])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


# --- predict_characters -------------------------------------------------------------------------------------------


def test_predict_characters_is_the_mean_log_odds_of_each_characters_lines(model_folder: Path) -> None:
    model = BiLSTMClassifier.from_pretrained(model_folder)
    texts = ["Get the gun, sir.", "Honey, the dress!", "Buddy, the car.", "Sweet mother, darling.", "What is it?"]
    who = ["u7", "u2", "u7", "u2", "u9"]
    logits = model.predict_logits(texts)
    result = model.predict_characters(texts, who)
    assert [r["character_id"] for r in result] == ["u7", "u2", "u9"]  # order of first appearance
    assert [r["n_lines"] for r in result] == [2, 2, 1]
    expected = _sigmoid([logits[[0, 2]].mean(), logits[[1, 3]].mean(), logits[4]])
    np.testing.assert_allclose([r["p_female"] for r in result], expected, rtol=0, atol=1e-6)
    for r in result:
        assert r["label"] == ("female" if r["p_female"] >= 0.5 else "male")
        assert r["score"] == pytest.approx(r["p_female"] if r["label"] == "female" else 1 - r["p_female"])
    # The character threshold comes from the config.
    model.config.character_threshold = float(np.sort(expected)[:2].mean())  # between the lowest two
    labels = [r["label"] for r in model.predict_characters(texts, who)]
    assert labels == ["female" if p >= model.config.character_threshold else "male" for p in expected]
    assert labels.count("female") == 2


def test_predict_characters_checks_its_arguments(model_folder: Path) -> None:
    model = BiLSTMClassifier.from_pretrained(model_folder)
    with pytest.raises(ValueError, match="2 texts but 1 character ids"):
        model.predict_characters(["a", "b"], ["u1"])
    with pytest.raises(ValueError, match="reads single lines and takes no context"):
        model.predict_characters(["a"], ["u1"], context=[["b"]])
    assert model.predict_characters([], []) == []


# --- the command --------------------------------------------------------------------------------------------------


def test_lines_on_the_command_line_print_json_lines(model_folder: Path, capsys) -> None:
    texts = ["I'll be in the car, darling.", "Get the gun."]
    code, out, _ = _cli(capsys, model_folder, *texts)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    expected = BiLSTMClassifier.from_pretrained(model_folder).predict(texts)
    assert [r["text"] for r in rows] == texts
    assert [(r["label"], round(r["score"], 6)) for r in rows] == [(e["label"], round(e["score"], 6)) for e in expected]


def test_file_scores_every_line_in_order(model_folder: Path, tmp_path: Path, capsys) -> None:
    texts = ["Get the gun.", "", "Honey, the dress \u2026 is lovely."]
    lines_file = tmp_path / "lines.txt"
    lines_file.write_text("\r\n".join(texts) + "\r\n", encoding="utf-8")
    code, out, _ = _cli(capsys, model_folder, "--file", lines_file)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in rows] == texts
    code, alone, _ = _cli(capsys, model_folder, *texts)
    assert alone == out
    code, _, _ = _cli(capsys, model_folder, "--file", lines_file, "--output", tmp_path / "lines.parquet")
    table = pq.read_table(tmp_path / "lines.parquet")
    assert table.column_names == ["text", "p_female", "predicted_label"] and table.num_rows == 3


def test_corpus_by_character_includes_unknown_gender_characters(
    model_folder: Path, corpus, tmp_path: Path, capsys
) -> None:
    folder, lines, characters = corpus
    output = tmp_path / "characters.parquet"
    code, _, err = _cli(capsys, model_folder, "--corpus", folder, "--by", "character", "--output", output)
    assert code == 0, err
    table = pq.read_table(output)
    assert tuple(table.column_names) == CHARACTER_COLUMNS
    rows = table.to_pylist()
    gender = {c.split(SEP)[0]: c.split(SEP)[4].lower() for c in characters}
    spoken = {line.split(SEP)[1] for line in lines}
    assert {r["character_id"] for r in rows} == spoken  # every character that speaks, '?' ones too
    assert sum(r["n_lines"] for r in rows) == len(lines)
    for r in rows:
        assert r["corpus_label"] == {"m": "male", "f": "female", "?": None}[gender[r["character_id"]]]
    unknown = [r for r in rows if r["corpus_label"] is None]
    assert unknown and all(r["character_name"] == "NARRATOR" for r in unknown)
    # The same numbers as predict_characters on the same lines.
    model = BiLSTMClassifier.from_pretrained(model_folder)
    ds = load_cornell(folder, include_unknown=True)
    expected = {r["character_id"]: r for r in model.predict_characters(ds["text"], ds["character_id"])}
    for r in rows:
        assert r["p_female"] == pytest.approx(expected[r["character_id"]]["p_female"], abs=1e-6)
        assert r["predicted_label"] == expected[r["character_id"]]["label"]
        assert r["n_lines"] == expected[r["character_id"]]["n_lines"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_corpus_by_line(model_folder: Path, corpus, tmp_path: Path, capsys, suffix: str) -> None:
    folder, lines, _ = corpus
    output = tmp_path / f"lines{suffix}"
    code, _, err = _cli(capsys, model_folder, "--corpus", folder, "--by", "line", "--output", output)
    assert code == 0, err
    if suffix == ".csv":
        rows = pcsv.read_csv(output, convert_options=pcsv.ConvertOptions(strings_can_be_null=True)).to_pylist()
    else:
        rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert tuple(rows[0]) == LINE_COLUMNS and len(rows) == len(lines)
    assert {r["line_id"] for r in rows} == {line.split(SEP)[0] for line in lines}
    narrator = [r for r in rows if r["corpus_label"] is None]
    assert len(narrator) == sum(line.split(SEP)[3] == "NARRATOR" for line in lines)
    for r in rows:
        assert r["predicted_label"] == ("female" if r["p_female"] >= 0.5 else "male")


def test_dataset_split_by_line_prints_json_lines(model_folder: Path, corpus, tmp_path: Path, capsys) -> None:
    folder, _, _ = corpus
    dd, report = prepare_dataset(folder, DataOptions(split="random"))
    saved = save_dataset(dd, tmp_path / "ds", report)
    code, out, err = _cli(capsys, model_folder, "--dataset", saved, "--split", "validation", "--by", "line")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["line_id"] for r in rows] == dd["validation"]["line_id"]
    assert {r["corpus_label"] for r in rows} == {"male", "female"}
    code, _, err = _cli(capsys, model_folder, "--dataset", saved, "--split", "nope")
    assert code == 2 and err.strip() == f"error: {saved}: no split 'nope'; it has train, validation, test"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--corpus", "C", "--output", "out.xlsx"],
            "out.xlsx: unknown output format '.xlsx'; use one of .parquet, .csv, .jsonl",
        ),
        (["--corpus", "missing.zip"], "missing.zip: no such file or folder"),
        (["--file", "missing.txt"], "missing.txt"),
    ],
)
def test_bad_input_is_one_line(
    model_folder: Path, corpus, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    args = [str(corpus[0]) if a == "C" else str(tmp_path / a) if a.startswith(("out.", "missing")) else a for a in args]
    code, _, err = _cli(capsys, model_folder, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_bad_usage_and_a_missing_model(model_folder: Path, tmp_path: Path, capsys) -> None:
    code, _, err = _cli(capsys, model_folder)
    assert code == 2 and "nothing to score" in err
    code, _, err = _cli(capsys, model_folder, "a line", "--file", "x.txt")
    assert (
        code == 2
        and "give one of TEXT, --file, --dataset, --corpus, --screenplay or --input, not TEXT and --file" in err
    )
    code, _, err = _cli(capsys, tmp_path / "no-model", "a line")
    assert code == 2 and err.strip() == f"error: {tmp_path / 'no-model'}: no such model folder"
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    code, _, err = _cli(capsys, model_folder, "--file", bad)
    assert code == 2 and err.strip().startswith(f"error: {bad}:2: not UTF-8")


def test_every_option_is_explained_by_help(capsys) -> None:
    parser = predict_command.build_parser()
    for action in parser._actions:
        assert action.help and len(action.help) > 10, f"{action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--help"])
    assert exit_info.value.code == 0 and "--corpus" in capsys.readouterr().out


def test_script_wrapper(model_folder: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "predict.py"), str(model_folder), "Get the gun."],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] in {"male", "female"}
