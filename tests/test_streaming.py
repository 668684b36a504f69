"""Streaming scoring of a table (`movie-gender predict --input`): formats, order, columns, equality with
predict_proba, empty and non-string cells, resuming (simulated and a real SIGKILL), refused resumes, a process pool,
and Ray Data on a local cluster."""

from __future__ import annotations

import json
import os
import random
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

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.cli import main as cli_main
from movie_gender.inference import sources, streaming
from movie_gender.inference.sources import HubSource
from movie_gender.inference.streaming import ResumeMismatchError, StreamOptions, parts_folder, stream_predict
from tests.factories import FEMALE_WORDS, MALE_WORDS, SHARED_WORDS

ROOT = Path(__file__).resolve().parents[1]
WORDS = SHARED_WORDS + MALE_WORDS + FEMALE_WORDS


def _lines(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 14))) + rng.choice([".", "!", "?"]) for _ in range(n)]


@pytest.fixture(autouse=True)
def _one_thread():
    """The tiny model gains nothing from threads, and on a busy machine spinning threads make it many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A small untrained (seeded) model: its scores are arbitrary but fixed, which is all these tests need."""
    torch.manual_seed(0)
    tokenizer = train_tokenizer(_lines(500, seed=1))
    model = BiLSTMClassifier(
        BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6, num_layers=1, pooling="max")
    )
    model.tokenizer = tokenizer
    out = tmp_path_factory.mktemp("model") / "model"
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def model(model_folder: Path) -> BiLSTMClassifier:
    return BiLSTMClassifier.from_pretrained(model_folder)


def _table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "line_id": [f"L{i}" for i in range(n)],
            "text": _lines(n, seed),
            "year": rng.integers(1930, 2010, n),
        }
    )


def _check_scores(out: pa.Table, expected_input: pa.Table, model: BiLSTMClassifier, text_column: str = "text"):
    assert out.column_names == [*expected_input.column_names, "p_female", "predicted_label"]
    assert out.select(expected_input.column_names).equals(expected_input)  # every row, in input order
    texts = [t if isinstance(t, str) and t.strip() else "" for t in expected_input[text_column].to_pylist()]
    p = model.predict_proba(texts)
    np.testing.assert_allclose(out["p_female"].to_numpy(), p, rtol=0, atol=1e-5)
    names = model.config.id2label
    assert out["predicted_label"].to_pylist() == [names["1"] if v >= model.config.threshold else names["0"] for v in p]


# --- the pieces -----------------------------------------------------------------------------------------------------
def test_parts_are_cut_at_fixed_row_numbers_whatever_the_batches() -> None:
    table = pa.table({"x": list(range(23))})
    batches = table.to_batches(max_chunksize=4) + pa.table({"x": list(range(23, 30))}).to_batches()
    parts = list(sources.parts_of(iter(batches), 10))
    assert [p.num_rows for p in parts] == [10, 10, 10]
    assert sum((p["x"].to_pylist() for p in parts), []) == list(range(30))
    assert [p.num_rows for p in sources.parts_of(iter(table.to_batches(max_chunksize=7)), 10)] == [10, 10, 3]
    assert list(sources.parts_of(iter([]), 10)) == []


def test_empty_and_non_string_cells_are_empty_lines_and_counted() -> None:
    assert streaming.line_texts(pa.array(["a b", None, "", "  \t", "c"])) == (["a b", "", "", "", "c"], 3, 0)
    assert streaming.line_texts(pa.chunked_array([[1, None, 3]])) == (["", "", ""], 1, 2)


# --- one process ----------------------------------------------------------------------------------------------------
def test_parquet_scores_equal_predict_proba_with_columns_and_order(tmp_path, model) -> None:
    table = _table(1000)
    pq.write_table(table, tmp_path / "lines.parquet", row_group_size=300)
    stats = stream_predict(
        model, str(tmp_path / "lines.parquet"), tmp_path / "out.parquet", StreamOptions(rows_per_part=128)
    )
    out = pq.read_table(tmp_path / "out.parquet")
    _check_scores(out, table, model)
    assert (stats.rows, stats.parts_scored, stats.empty, stats.non_string) == (1000, 8, 0, 0)
    assert not parts_folder(tmp_path / "out.parquet").exists()  # the parts are removed once joined
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups == 8


def test_jsonl_csv_and_a_glob_of_files_in_name_order(tmp_path, model, model_folder, capsys) -> None:
    table = _table(300, seed=3)
    with open(tmp_path / "lines.jsonl", "w") as stream:
        for row in table.to_pylist():
            stream.write(json.dumps(row) + "\n")
    pcsv.write_csv(table.set_column(1, "text", pa.array([str(i) for i in range(300)])), tmp_path / "digits.csv")
    (tmp_path / "shards").mkdir()
    for i, start in enumerate(range(0, 300, 100)):
        pq.write_table(table.slice(start, 100), tmp_path / "shards" / f"part-{i}.parquet")

    stream_predict(model, str(tmp_path / "lines.jsonl"), tmp_path / "json.parquet", StreamOptions(rows_per_part=64))
    _check_scores(pq.read_table(tmp_path / "json.parquet"), table, model)
    # CSV: a column of digits is still read as text.
    stream_predict(model, str(tmp_path / "digits.csv"), tmp_path / "csv.parquet", StreamOptions(rows_per_part=64))
    out = pq.read_table(tmp_path / "csv.parquet")
    assert out.schema.field("text").type == pa.string()
    assert out["text"].to_pylist()[:3] == ["0", "1", "2"]
    np.testing.assert_allclose(
        out["p_female"].to_numpy(), model.predict_proba(out["text"].to_pylist()), rtol=0, atol=1e-5
    )
    # A glob, through the command line: the shards in name order make the table again.
    code = _cli(capsys, "predict", model_folder, "--input", str(tmp_path / "shards" / "*.parquet"),
                "--output", tmp_path / "glob.parquet", "--rows-per-part", "70", "--no-progress")[0]  # fmt: skip
    assert code == 0
    _check_scores(pq.read_table(tmp_path / "glob.parquet"), table, model)


def _cli(capsys, *args) -> tuple[int, str, str]:
    try:
        cli_main([str(a) for a in args])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def test_empty_and_non_string_cells_are_scored_as_empty_lines_and_logged(tmp_path, model, caplog) -> None:
    table = pa.table({"text": ["Get the gun.", None, "", "   ", "Honey!"], "n": [1, 2, 3, 4, 5]})
    pq.write_table(table, tmp_path / "gaps.parquet")
    with caplog.at_level("INFO", logger="movie_gender.inference.streaming"):
        stats = stream_predict(model, str(tmp_path / "gaps.parquet"), tmp_path / "out.parquet")
    _check_scores(pq.read_table(tmp_path / "out.parquet"), table, model)
    assert (stats.empty, stats.non_string) == (3, 0)
    assert "3 empty and 0 non-string cells" in caplog.text
    stats = stream_predict(
        model, str(tmp_path / "gaps.parquet"), tmp_path / "n.parquet", StreamOptions(text_column="n")
    )
    assert (stats.empty, stats.non_string) == (0, 5)
    p = pq.read_table(tmp_path / "n.parquet")["p_female"].to_numpy()
    np.testing.assert_allclose(p, model.predict_proba([""] * 5), rtol=0, atol=1e-5)


def test_missing_column_and_bad_input_are_one_line_errors(tmp_path, model_folder, capsys) -> None:
    pq.write_table(_table(5), tmp_path / "lines.parquet")
    code, _, err = _cli(capsys, "predict", model_folder, "--input", tmp_path / "lines.parquet",
                        "--text-column", "dialogue", "--output", tmp_path / "out.parquet")  # fmt: skip
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'lines.parquet'}: no column 'dialogue' (--text-column); "
        "the columns are line_id, text, year"
    )
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    code, _, err = _cli(capsys, "predict", model_folder, "--input", tmp_path / "broken.parquet",
                        "--output", tmp_path / "out.parquet")  # fmt: skip
    assert code == 2 and err.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'broken.parquet'}: ")
    code, _, err = _cli(capsys, "predict", model_folder, "--input", tmp_path / "lines.parquet",
                        "--output", tmp_path / "out.csv")  # fmt: skip
    assert code == 2 and "--output FILE.parquet" in err
    assert not (tmp_path / "out.parquet").exists()


# --- resuming -------------------------------------------------------------------------------------------------------
def _interrupted(model, source: Path, output: Path, options: StreamOptions, after_parts: int, monkeypatch) -> None:
    """A run that dies after ``after_parts`` parts, as a killed one would (the parts so far stay on disk)."""
    calls = {"n": 0}
    real = streaming.score_table

    def dying(*args, **kwargs):
        if calls["n"] == after_parts:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(streaming, "score_table", dying)
    with pytest.raises(KeyboardInterrupt):
        stream_predict(model, str(source), output, options)
    monkeypatch.setattr(streaming, "score_table", real)


def test_an_interrupted_job_resumes_to_the_same_file(tmp_path, model, monkeypatch) -> None:
    pq.write_table(_table(1000), tmp_path / "lines.parquet", row_group_size=256)
    options = StreamOptions(rows_per_part=100, progress=False)
    stream_predict(model, str(tmp_path / "lines.parquet"), tmp_path / "whole.parquet", options)

    _interrupted(model, tmp_path / "lines.parquet", tmp_path / "out.parquet", options, 4, monkeypatch)
    assert not (tmp_path / "out.parquet").exists()
    assert sorted(p.name for p in parts_folder(tmp_path / "out.parquet").glob("part-*")) == [
        f"part-00000{i}.parquet" for i in range(4)
    ]
    stats = stream_predict(model, str(tmp_path / "lines.parquet"), tmp_path / "out.parquet", options)
    assert (stats.parts_reused, stats.parts_scored, stats.rows) == (4, 6, 600)
    assert (tmp_path / "out.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert not parts_folder(tmp_path / "out.parquet").exists()


def test_a_resume_with_other_options_or_input_is_refused(tmp_path, model, model_folder, monkeypatch, capsys) -> None:
    pq.write_table(_table(500), tmp_path / "lines.parquet")
    options = StreamOptions(rows_per_part=100, progress=False)
    _interrupted(model, tmp_path / "lines.parquet", tmp_path / "out.parquet", options, 2, monkeypatch)
    with pytest.raises(ResumeMismatchError, match="rows_per_part: 100"):
        stream_predict(
            model, str(tmp_path / "lines.parquet"), tmp_path / "out.parquet", StreamOptions(rows_per_part=50)
        )
    code, _, err = _cli(capsys, "predict", model_folder, "--input", tmp_path / "lines.parquet", "--rows-per-part",
                        "100", "--text-column", "line_id", "--output", tmp_path / "out.parquet")  # fmt: skip
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"error: {parts_folder(tmp_path / 'out.parquet')}: an unfinished")
    pq.write_table(_table(500, seed=9), tmp_path / "lines.parquet")  # other lines under the same name
    with pytest.raises(ResumeMismatchError, match="the input files changed"):
        stream_predict(model, str(tmp_path / "lines.parquet"), tmp_path / "out.parquet", options)
    assert len(list(parts_folder(tmp_path / "out.parquet").glob("part-*"))) == 2  # nothing lost


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
        except (OSError, IndexError):
            pass
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker processes")
def test_sigkill_halfway_then_again_gives_the_uninterrupted_file(tmp_path, model, model_folder) -> None:
    pq.write_table(_table(20_000, seed=5), tmp_path / "lines.parquet")
    args = [sys.executable, "-m", "movie_gender.cli", "predict", str(model_folder), "--input",
            str(tmp_path / "lines.parquet"), "--rows-per-part", "1000", "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env["OMP_NUM_THREADS"] = "1"
    output = tmp_path / "out.parquet"
    # Two worker processes, killed with their parent's SIGKILL once three parts are on disk ...
    job = subprocess.Popen([*args, "--num-workers", "2", "--output", str(output)], env=env, stderr=subprocess.PIPE)
    parts = parts_folder(output)
    deadline = time.monotonic() + 120
    while not (parts / "part-000002.parquet").exists():
        assert job.poll() is None, job.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    workers = _children(job.pid)
    job.send_signal(signal.SIGKILL)
    job.wait()
    job.stderr.close()
    done = len(list(parts.glob("part-*.parquet")))
    assert not output.exists() and 3 <= done < 20, done  # killed halfway: some parts written, no output
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # ... the workers end with it
        assert time.monotonic() < deadline, "the worker processes outlived the killed job"
        time.sleep(0.05)
    # ... then started again (in one process this time): the file of an uninterrupted run.
    subprocess.run([*args, "--output", str(output)], env=env, check=True, capture_output=True)
    options = StreamOptions(rows_per_part=1000, progress=False)
    stream_predict(model, str(tmp_path / "lines.parquet"), tmp_path / "whole.parquet", options)
    assert output.read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert not parts.exists()


# --- more processes, other sources ----------------------------------------------------------------------------------
def test_two_workers_write_what_one_writes(tmp_path, model) -> None:
    table = _table(3000, seed=7)
    pq.write_table(table, tmp_path / "lines.parquet")
    one = stream_predict(
        model, str(tmp_path / "lines.parquet"), tmp_path / "one.parquet", StreamOptions(rows_per_part=400)
    )
    two = stream_predict(
        model,
        str(tmp_path / "lines.parquet"),
        tmp_path / "two.parquet",
        StreamOptions(rows_per_part=400, num_workers=2),
    )
    assert one.rows == two.rows == 3000 and two.parts_scored == 8
    out = pq.read_table(tmp_path / "two.parquet")
    _check_scores(out, table, model)
    np.testing.assert_allclose(
        out["p_female"].to_numpy(), pq.read_table(tmp_path / "one.parquet")["p_female"].to_numpy(), rtol=0, atol=1e-6
    )


def test_a_datasets_source_streams_the_same_scores(tmp_path, model) -> None:
    """The Hub path (datasets.load_dataset(..., streaming=True)), on a local folder of data files."""
    table = _table(700, seed=11)
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "train-00000-of-00001.parquet")
    source = HubSource(str(tmp_path / "data"), split="train")
    assert source.schema.names == table.column_names
    stream_predict(model, source, tmp_path / "out.parquet", StreamOptions(rows_per_part=256))
    _check_scores(pq.read_table(tmp_path / "out.parquet"), table, model)


# --- Ray ------------------------------------------------------------------------------------------------------------
def test_without_ray_the_error_names_the_extra(monkeypatch) -> None:
    from movie_gender.inference import distributed

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(distributed.MissingExtraError, match=r"pip install 'movie-gender\[distributed\]'"):
        distributed.require_ray()


def test_ray_on_a_local_cluster_gives_the_single_process_scores(tmp_path, model) -> None:
    ray = pytest.importorskip("ray", reason="Ray is the distributed extra (installed by .[dev])")
    from movie_gender.inference.distributed import ray_predict

    table = _table(20_000, seed=13)
    pq.write_table(table, tmp_path / "lines.parquet", row_group_size=5000)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        stats = ray_predict(model, str(tmp_path / "lines.parquet"), tmp_path / "ray.parquet",
                            StreamOptions(rows_per_part=4096, num_workers=1, progress=False))  # fmt: skip
    finally:
        ray.shutdown()
    assert stats.rows == 20_000 and stats.empty == 0
    _check_scores(pq.read_table(tmp_path / "ray.parquet"), table, model)
