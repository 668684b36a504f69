"""Outputs never touch inputs: `predict` refuses an output that is an input, or lies inside a folder or glob read as
input (symbolic links and relative paths resolved), with one line that says why, before anything is written; the
one check (movie_gender.atomic.check_output) on its own."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.atomic import OutputIsInputError, check_output
from movie_gender.cli import main as cli_main
from movie_gender.inference.distributed import check_ray_output
from tests.factories import synthetic_dialogues, write_corpus_folder

TEXTS = ["Get the gun.", "Honey, the dress!", "Sir?", "Darling, the car."]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    tokenizer = train_tokenizer(TEXTS)
    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=4, hidden_size=3))
    model.tokenizer = tokenizer
    out = tmp_path_factory.mktemp("model") / "model"
    model.save_pretrained(out)
    return out


@pytest.fixture
def data(tmp_path) -> Path:
    """A folder of two Parquet shards of a speaker table."""
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(2):
        table = pa.table({"text": TEXTS, "who": ["a", "b", "a", "c"], "show": [f"s{i}"] * 4})
        pq.write_table(table, folder / f"part-{i}.parquet")
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(capsys, model_folder: Path, args: list, why: str) -> None:
    try:
        cli_main(["predict", str(model_folder), *map(str, args), "--no-progress"])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: ") and why in err[0], err


SPEAKERS = ["--by", "character", "--speaker-column", "who", "--group-column", "show"]


@pytest.mark.parametrize("by", [[], SPEAKERS], ids=["lines", "characters"])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(
    tmp_path, data, model_folder, capsys, monkeypatch, by
) -> None:
    before = _snapshot(tmp_path)
    shard = data / "part-0.parquet"
    _refused(capsys, model_folder, ["--input", shard, "--output", shard, *by], f"it is the input {shard}")
    with monkeypatch.context() as patch:
        patch.chdir(data)  # a relative path, through '..', names the same file
        args = ["--input", "part-0.parquet", "--output", "../data/part-0.parquet", *by]
        _refused(capsys, model_folder, args, "it is the input part-0.parquet")
    _refused(
        capsys, model_folder, ["--input", data, "--output", data / "scores.parquet", *by], "inside the input folder"
    )
    glob = str(data / "*.parquet")
    _refused(
        capsys, model_folder, ["--input", glob, "--output", data / "scores.parquet", *by], "matches the input glob"
    )
    _refused(capsys, model_folder, ["--input", str(tmp_path / "**" / "*.parquet"), "--output",
                                    data / ".." / "x.parquet", *by], "matches the input glob")  # fmt: skip
    (tmp_path / "link").symlink_to(data)  # a symbolic link to the input folder
    _refused(capsys, model_folder, ["--input", data, "--output", tmp_path / "link" / "s.parquet", *by], "inside")
    (tmp_path / "shard-link.parquet").symlink_to(shard)  # ... and to the input file
    _refused(capsys, model_folder, ["--input", tmp_path / "shard-link.parquet", "--output", shard, *by], "input")
    (tmp_path / "link").unlink()
    (tmp_path / "shard-link.parquet").unlink()
    assert _snapshot(tmp_path) == before  # every input byte unchanged, nothing written


def test_run_twice_on_a_glob_never_reads_its_own_output(tmp_path, data, model_folder, capsys) -> None:
    """The issue's case: --input 'dir/*.parquet' --output dir/scores.parquet used to double the rows."""
    glob = str(data / "*.parquet")
    _refused(capsys, model_folder, ["--input", glob, "--output", data / "scores.parquet"], "a later run would read it")
    for _ in range(2):
        try:
            cli_main(["predict", str(model_folder), "--input", glob, "--output", str(tmp_path / "scores.parquet")])
        except SystemExit as exit_info:
            assert exit_info.code == 0
    assert pq.read_table(tmp_path / "scores.parquet").num_rows == 8  # the two shards' rows, once


def test_the_corpus_path_refuses_an_output_inside_the_corpus_folder(tmp_path, model_folder, capsys) -> None:
    corpus = write_corpus_folder(tmp_path, *synthetic_dialogues(n_movies=2, conversations_per_movie=2))
    before = _snapshot(corpus)
    _refused(capsys, model_folder, ["--corpus", corpus, "--output", corpus / "characters.parquet"], "inside")
    assert _snapshot(corpus) == before


def test_ray_outputs_are_checked_too_a_folder_that_holds_the_input_included(tmp_path, data) -> None:
    with pytest.raises(OutputIsInputError, match="matches the input glob"):
        check_ray_output(data / "out.parquet", str(data / "*.parquet"))
    with pytest.raises(OutputIsInputError, match="holds the input"):
        check_ray_output(tmp_path, str(data / "part-0.parquet"))  # Ray's write_parquet folder
    with pytest.raises(OutputIsInputError, match="overlaps the input"):
        check_ray_output("s3://bucket/in/scores/", "s3://bucket/in/")
    check_ray_output(tmp_path / "elsewhere", str(data / "*.parquet"))  # a new folder beside the input: fine


def test_the_one_check_on_its_own(tmp_path, data) -> None:
    (tmp_path / "data2").mkdir()
    assert check_output(tmp_path / "data2" / "x.parquet", [data]) == tmp_path / "data2" / "x.parquet"  # a prefix
    check_output(data / "scores.csv", [str(data / "*.parquet")])  # not matched by the glob: not read
    check_output(tmp_path / "x.parquet", ["user/some-hub-dataset", None])  # Hub ids are not local files
    with pytest.raises(OutputIsInputError, match="matches the input glob"):
        check_output(data / "part-9.parquet", [str(data / "part-?.parquet")])
    (data / "a" / "b").mkdir(parents=True)
    with pytest.raises(OutputIsInputError, match="matches the input glob"):
        check_output(data / "a" / "b" / "x.pq", [str(tmp_path / "**" / "*.pq")])
    with pytest.raises(FileNotFoundError, match="no such folder for the output"):
        check_output(tmp_path / "missing" / "x.parquet")
    with pytest.raises(ValueError, match="unknown output format '.xlsx'"):
        check_output(tmp_path / "x.xlsx", formats=(".parquet", ".csv"))
