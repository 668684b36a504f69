"""Speaker tables scored by character (`movie-gender predict --input T --by character`): the in-memory scores of the
same lines (a line model, and a character model with context and conversation partners), any row order, the three
formats, skipped rows, what a model loses without conversations, a real SIGKILL then a resume, and Ray Data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, load_cornell, train_tokenizer
from movie_gender.cli import main as cli_main
from movie_gender.inference.prediction import context_size, score_characters
from movie_gender.inference.speaker_tables import SpeakerTableOptions, partition_path, score_speaker_table
from movie_gender.inference.streaming import parts_folder
from tests.factories import synthetic_dialogues, write_corpus_folder

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["movie_id", "character_id", "text", "conversation_id", "turn"]
OPTIONS = {"conversation_column": "conversation_id", "order_column": "turn", "progress": False}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    lines, characters, conversations = synthetic_dialogues(n_movies=8, conversations_per_movie=10)
    return write_corpus_folder(tmp_path_factory.mktemp("corpus"), lines, characters, conversations)


def _model(corpus: Path, **overrides) -> BiLSTMClassifier:
    """A small untrained (seeded) model; a character model's bags are made random so that they count."""
    torch.manual_seed(0)
    tokenizer = train_tokenizer(load_cornell(corpus, include_unknown=True)["text"])
    config = BiLSTMConfig(
        vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6, bigram_buckets=64, **overrides
    )
    model = BiLSTMClassifier(config)
    for name, weights in model.named_parameters():
        if "bag" in name or "attention" in name:
            torch.nn.init.normal_(weights, std=0.5)
    model.tokenizer = tokenizer
    return model.eval()


@pytest.fixture(scope="module")
def line_model(corpus) -> BiLSTMClassifier:
    return _model(corpus, num_layers=1, pooling="max")


@pytest.fixture(scope="module")
def character_model(corpus) -> BiLSTMClassifier:
    return _model(corpus, character_pooling="attention", context_size=2, character_partner_weight=0.75)


def _table(corpus: Path, model: BiLSTMClassifier, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """(the corpus' lines as a shuffled speaker table, the in-memory character scores of the same lines)."""
    data = load_cornell(corpus, include_unknown=True, context_size=context_size(model))
    expected = score_characters(model, data, progress=False)
    table = data.data.table.select(COLUMNS)
    return table.take(np.random.default_rng(seed).permutation(table.num_rows)), expected


def _check_equal(out: pa.Table, expected: pa.Table) -> None:
    assert out.column_names == ["movie_id", "character_id", "n_lines", "p_female", "predicted_label"]
    keys = list(zip(out["movie_id"].to_pylist(), out["character_id"].to_pylist(), strict=True))
    assert keys == sorted(keys)  # sorted by group, then speaker
    want = {(r["movie_id"], r["character_id"]): r for r in expected.to_pylist()}
    assert set(keys) == set(want)
    for row in out.to_pylist():
        reference = want[(row["movie_id"], row["character_id"])]
        assert row["n_lines"] == reference["n_lines"]
        assert row["p_female"] == pytest.approx(reference["p_female"], abs=1e-6)
        assert row["predicted_label"] == reference["predicted_label"]


@pytest.mark.parametrize("which", ["line_model", "character_model"])
def test_scores_equal_the_in_memory_character_path(tmp_path, corpus, which, request) -> None:
    model = request.getfixturevalue(which)
    table, expected = _table(corpus, model)
    pq.write_table(table, tmp_path / "speakers.parquet", row_group_size=300)
    options = SpeakerTableOptions("character_id", "movie_id", rows_per_part=60, **OPTIONS)
    stats = score_speaker_table(model, str(tmp_path / "speakers.parquet"), tmp_path / "out.parquet", options)
    assert stats.partitions > 2 and stats.rows == table.num_rows and stats.skipped == 0
    _check_equal(pq.read_table(tmp_path / "out.parquet"), expected)
    assert not parts_folder(tmp_path / "out.parquet").exists()


def test_the_context_and_partners_count_and_their_absence_is_logged(tmp_path, corpus, character_model, caplog) -> None:
    table, expected = _table(corpus, character_model)
    pq.write_table(table, tmp_path / "speakers.parquet")
    bare = SpeakerTableOptions("character_id", "movie_id", progress=False)
    with caplog.at_level("WARNING", logger="movie_gender.inference.speaker_tables"):
        score_speaker_table(character_model, str(tmp_path / "speakers.parquet"), tmp_path / "bare.parquet", bare)
    assert "without --conversation-column and --order-column there is no such context" in caplog.text
    assert "partner term" in caplog.text
    full = {(r["movie_id"], r["character_id"]): r["p_female"] for r in expected.to_pylist()}
    bare_rows = pq.read_table(tmp_path / "bare.parquet").to_pylist()
    differences = [abs(r["p_female"] - full[(r["movie_id"], r["character_id"])]) for r in bare_rows]
    assert len(differences) == len(full) and max(differences) > 1e-3  # context and partners change the scores


def _cli(capsys, *args) -> tuple[int, str]:
    try:
        cli_main([str(a) for a in args])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


def test_csv_and_jsonl_in_any_order_give_the_same_characters(
    tmp_path, corpus, line_model, model_folder, capsys
) -> None:
    table, expected = _table(corpus, line_model, seed=1)
    pcsv.write_csv(table, tmp_path / "speakers.csv")
    with open(tmp_path / "speakers.jsonl", "w", encoding="utf-8") as stream:
        for row in table.sort_by("text").to_pylist():  # another row order
            stream.write(json.dumps(row) + "\n")
    for name in ("speakers.csv", "speakers.jsonl"):
        out = tmp_path / f"{name}.parquet"
        code, err = _cli(capsys, "predict", model_folder, "--input", tmp_path / name, "--by", "character",
                         "--speaker-column", "character_id", "--group-column", "movie_id", "--conversation-column",
                         "conversation_id", "--order-column", "turn", "--rows-per-part", "90", "--output", out,
                         "--no-progress")  # fmt: skip
        assert code == 0, err
        _check_equal(pq.read_table(out), expected)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, line_model) -> Path:
    out = tmp_path_factory.mktemp("model") / "model"
    line_model.save_pretrained(out)
    return out


def test_speakers_are_characters_of_their_group_and_rows_without_keys_are_counted(tmp_path, line_model) -> None:
    table = pa.table(
        {
            "show": ["a", "a", "b", "b", None, "a", "b"],
            "who": ["Sam", "Jo", "Sam", "Sam", "Sam", None, "Jo"],
            "text": ["Get the gun.", "Honey!", "The dress, darling.", "Sir?", "lost", "lost", ""],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    options = SpeakerTableOptions("who", "show", progress=False)
    stats = score_speaker_table(line_model, str(tmp_path / "t.parquet"), tmp_path / "out.parquet", options)
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [(r["show"], r["who"], r["n_lines"]) for r in out] == [("a", "Jo", 1), ("a", "Sam", 1), ("b", "Jo", 1),
                                                                  ("b", "Sam", 2)]  # fmt: skip
    assert stats.skipped == 2 and stats.rows == 7 and stats.characters == 4
    expected = line_model.predict_characters(["The dress, darling.", "Sir?"], ["x", "x"])[0]["p_female"]
    assert out[3]["p_female"] == pytest.approx(expected, abs=1e-6)


def test_bad_columns_are_one_line_errors(tmp_path, model_folder, capsys) -> None:
    pq.write_table(pa.table({"text": ["a"], "who": ["x"], "show": ["s"]}), tmp_path / "t.parquet")
    base = [
        "predict",
        str(model_folder),
        "--input",
        str(tmp_path / "t.parquet"),
        "--output",
        str(tmp_path / "o.parquet"),
    ]
    cases = [
        (["--by", "character", "--speaker-column", "who"], "give --speaker-column and --group-column"),
        (["--by", "character", "--speaker-column", "who", "--group-column", "movie"],
         f"{tmp_path / 't.parquet'}: no column 'movie' (--group-column); the columns are text, who, show"),
        (["--speaker-column", "who", "--group-column", "show"], "--speaker-column is for a speaker table"),
        (["--by", "character", "--speaker-column", "who", "--group-column", "show", "--order-column", "text"],
         "give --conversation-column too"),
        (["--by", "character", "--speaker-column", "who", "--group-column", "show", "--num-workers", "2"],
         "--num-workers is for Ray"),
    ]  # fmt: skip
    for extra, message in cases:
        code, err = _cli(capsys, *base, *extra)
        assert code == 2 and message in err.strip().splitlines()[-1], err
    assert not (tmp_path / "o.parquet").exists()


def _random_table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = np.array(
        [
            "the",
            "gun",
            "car",
            "sir",
            "darling",
            "honey",
            "dress",
            "baby",
            "love",
            "money",
            "boss",
            "mother",
            "lovely",
            "sweet",
            "buddy",
        ]
    )
    texts = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(n)]
    group = rng.integers(0, n // 50, n)
    return pa.table({"group": group, "speaker": rng.integers(0, 6, n), "text": texts})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL")
def test_sigkill_halfway_then_again_gives_the_uninterrupted_file(tmp_path, model_folder, line_model) -> None:
    pq.write_table(_random_table(30_000, seed=3), tmp_path / "speakers.parquet")
    args = [sys.executable, "-m", "movie_gender.cli", "predict", str(model_folder), "--input",
            str(tmp_path / "speakers.parquet"), "--by", "character", "--speaker-column", "speaker", "--group-column",
            "group", "--rows-per-part", "1000", "--no-progress", "--output"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env["OMP_NUM_THREADS"] = "1"
    output = tmp_path / "out.parquet"
    job = subprocess.Popen([*args, str(output)], env=env, stderr=subprocess.PIPE)
    scored = parts_folder(output) / "scored"
    deadline = time.monotonic() + 180
    while not partition_path(scored, 2).exists():
        assert job.poll() is None, job.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.wait()
    job.stderr.close()
    done = len(list(scored.glob("partition-*.parquet")))
    assert not output.exists() and 3 <= done < 30, done
    again = subprocess.run([*args, str(output)], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "Resuming" in again.stderr
    options = SpeakerTableOptions("speaker", "group", rows_per_part=1000, progress=False)
    score_speaker_table(line_model, str(tmp_path / "speakers.parquet"), tmp_path / "whole.parquet", options)
    assert output.read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert not parts_folder(output).exists()


def test_ray_groups_with_ray_data_and_gives_the_local_scores(tmp_path, corpus, character_model) -> None:
    ray = pytest.importorskip("ray", reason="Ray is the distributed extra (installed by .[dev])")
    from movie_gender.inference.distributed import ray_speaker_table

    table, expected = _table(corpus, character_model, seed=2)
    pq.write_table(table, tmp_path / "speakers.parquet", row_group_size=500)
    options = SpeakerTableOptions("character_id", "movie_id", **OPTIONS)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        stats = ray_speaker_table(
            character_model, str(tmp_path / "speakers.parquet"), tmp_path / "ray.parquet", options, num_workers=1
        )
    finally:
        ray.shutdown()
    assert stats.characters == expected.num_rows
    _check_equal(pq.read_table(tmp_path / "ray.parquet"), expected)


def test_a_datasets_source_streams_the_same_characters(tmp_path, corpus, line_model) -> None:
    """The Hub path (datasets.load_dataset(..., streaming=True)), on a local folder of data files."""
    from movie_gender.inference.sources import HubSource

    table, expected = _table(corpus, line_model, seed=4)
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "train-00000-of-00001.parquet")
    options = SpeakerTableOptions("character_id", "movie_id", rows_per_part=100, **OPTIONS)
    source = HubSource(str(tmp_path / "data"), split="train")
    stats = score_speaker_table(line_model, source, tmp_path / "out.parquet", options)
    assert stats.rows == table.num_rows
    _check_equal(pq.read_table(tmp_path / "out.parquet"), expected)
