"""build_dataset: split protocols, no leaks, balancing only train, determinism, and the Hub layout on disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from datasets import load_dataset

from movie_gender import build_dataset, load_cornell
from movie_gender.configuration import DataOptions
from movie_gender.data.dataset import prepare_dataset
from movie_gender.data.splitting import normalise_text
from movie_gender.hub.dataset_folder import save_dataset
from tests.factories import synthetic_corpus, write_corpus_folder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def big_corpus(tmp_path: Path) -> Path:
    return write_corpus_folder(tmp_path / "big", *synthetic_corpus(n_movies=30, lines_per_character=40, seed=3))


def _movies(split) -> set[str]:
    return set(split["movie_id"])


@pytest.mark.parametrize("mode", ["movie", "random", "tutorial"])
def test_each_split_mode_has_three_splits_balanced_train_and_no_leak(big_corpus: Path, mode: str) -> None:
    dd = build_dataset(big_corpus, split=mode, test_per_class=100)
    assert list(dd) == ["train", "validation", "test"]
    train_labels = np.array(dd["train"]["label"])
    assert (train_labels == 0).sum() == (train_labels == 1).sum()
    for name in ("validation", "test"):
        ids = dd[name]["line_id"]
        assert len(ids) == len(set(ids)), f"{name} holds a line twice"
        assert not set(ids) & set(dd["train"]["line_id"]), f"a train line (or an oversampled copy) is in {name}"
        assert set(dd[name]["label"]) == {0, 1}
    assert not set(dd["validation"]["line_id"]) & set(dd["test"]["line_id"])


def test_movie_split_keeps_each_movie_in_one_split(big_corpus: Path) -> None:
    dd = build_dataset(big_corpus, split="movie")
    train, val, test = (_movies(dd[s]) for s in ("train", "validation", "test"))
    assert not train & val and not train & test and not val & test
    assert len(train | val | test) == 30


def test_validation_and_test_keep_the_natural_ratio(big_corpus: Path) -> None:
    dd = build_dataset(big_corpus, split="random")
    for name in ("validation", "test"):
        female = np.mean(dd[name]["label"])
        assert 0.25 < female < 0.42  # the corpus is 1/3 female


def test_tutorial_split_holds_out_the_first_lines_of_each_gender(big_corpus: Path) -> None:
    corpus = load_cornell(big_corpus)
    dd = build_dataset(big_corpus, split="tutorial", test_per_class=100)
    labels = np.array(corpus["label"])
    ids = np.array(corpus["line_id"])
    expected = set(ids[labels == 0][:100]) | set(ids[labels == 1][:100])
    assert set(dd["test"]["line_id"]) == expected


def test_tutorial_split_on_a_too_small_corpus_is_a_clear_error(big_corpus: Path) -> None:
    with pytest.raises(ValueError, match="first 10,000 lines of each gender.*only 2,400 male lines"):
        build_dataset(big_corpus, split="tutorial")


def test_balance_modes(big_corpus: Path) -> None:
    over = build_dataset(big_corpus, balance="oversample")
    under = build_dataset(big_corpus, balance="undersample")
    none = build_dataset(big_corpus, balance="none")
    n_male = none["train"]["label"].count(0)
    n_female = none["train"]["label"].count(1)
    assert n_male > n_female
    assert len(over["train"]) == 2 * n_male and len(under["train"]) == 2 * n_female
    assert len(set(under["train"]["line_id"])) == len(under["train"])
    assert set(over["train"]["line_id"]) == set(none["train"]["line_id"])
    assert over["test"]["line_id"] == none["test"]["line_id"]


def test_deterministic_for_a_seed(big_corpus: Path) -> None:
    a = build_dataset(big_corpus, seed=7)
    b = build_dataset(big_corpus, seed=7)
    c = build_dataset(big_corpus, seed=8)
    assert all(a[s]["line_id"] == b[s]["line_id"] for s in a)
    assert a["test"]["line_id"] != c["test"]["line_id"]


def test_fingerprints_follow_the_rows_not_the_machine_or_the_route(big_corpus: Path, monkeypatch) -> None:
    """The fingerprints (datasets' cache keys) of the splits are the same whether the corpus is read on one core or
    on several, from its folder or as a Dataset from load_cornell; other rows give other fingerprints."""
    import movie_gender.data.corpus as corpus_module
    import movie_gender.data.corpus_records as records_module

    monkeypatch.setattr(corpus_module, "CONTEXT_CHUNK", 1000)  # the context column in several chunks
    fingerprints = set()
    for cpus in (1, 4):
        monkeypatch.setattr(records_module, "CPUS", cpus)
        for source in (big_corpus, load_cornell(big_corpus)):
            dd = build_dataset(source, seed=7)
            fingerprints.add(tuple(dd[s]._fingerprint for s in dd))
    assert len(fingerprints) == 1
    (ours,) = fingerprints
    other = build_dataset(big_corpus, seed=8)
    assert len(set(ours)) == 3 and not set(ours) & {other[s]._fingerprint for s in other}


def test_the_options_object_and_the_keyword_arguments_build_the_same_splits(big_corpus: Path) -> None:
    options = DataOptions(split="random", balance="undersample", seed=3, validation_size=0.2, drop_overlap=True)
    dd, report = prepare_dataset(big_corpus, options)
    same = build_dataset(
        big_corpus, split="random", balance="undersample", seed=3, validation_size=0.2, drop_overlap=True
    )
    assert {s: dd[s]._fingerprint for s in dd} == {s: same[s]._fingerprint for s in same}
    assert (report.split, report.balance, report.seed, report.validation_size) == ("random", "undersample", 3, 0.2)
    with pytest.raises(ValueError, match="unknown split 'bogus'"):
        prepare_dataset(big_corpus, DataOptions(split="bogus"))


def test_a_shuffled_dataset_source_splits_its_own_rows(big_corpus: Path) -> None:
    corpus = load_cornell(big_corpus)
    shuffled = corpus.shuffle(seed=0).select(range(len(corpus) // 2))  # an indices mapping over the full table
    dd = build_dataset(shuffled, split="random", balance="none")
    assert sorted(line for s in dd for line in dd[s]["line_id"]) == sorted(shuffled["line_id"])


@pytest.mark.parametrize("mode", ["random", "tutorial"])
def test_random_holdouts_are_stratified(big_corpus: Path, mode: str) -> None:
    corpus = load_cornell(big_corpus)
    dd, report = prepare_dataset(corpus, DataOptions(split=mode, balance="none", test_per_class=100))
    female = np.mean(corpus["label"])
    assert abs(np.mean(dd["validation"]["label"]) - female) < 0.01
    if mode == "random":
        assert abs(np.mean(dd["test"]["label"]) - female) < 0.01


def test_drop_overlap_leaves_no_text_in_two_splits(tmp_path: Path) -> None:
    lines, characters = synthetic_corpus(n_movies=30, lines_per_character=40, seed=3)
    # Make many lines identical up to case and spacing ("Yes." and "  yes. ").
    lines = [
        line.rsplit(" +++$+++ ", 1)[0]
        + " +++$+++ "
        + (["Yes.", "  yes. ", "No!"][i % 3] if i % 4 == 0 else line.rsplit(" +++$+++ ", 1)[1])
        for i, line in enumerate(lines)
    ]
    folder = write_corpus_folder(tmp_path / "dup", lines, characters)
    kept = build_dataset(folder, split="movie")
    assert {"yes."} <= set(normalise_text(pa.array(kept["train"]["text"])).to_pylist()) & set(
        normalise_text(pa.array(kept["test"]["text"])).to_pylist()
    )
    dd, report = prepare_dataset(folder, DataOptions(split="movie", drop_overlap=True))
    keys = {s: set(normalise_text(pa.array(dd[s]["text"])).to_pylist()) for s in dd}
    assert (
        not keys["train"] & keys["test"]
        and not keys["train"] & keys["validation"]
        and not keys["validation"] & keys["test"]
    )
    assert report.overlap_dropped["train"] > 0 and report.overlap_dropped["test"] == 0


def test_empty_lines_are_dropped_and_counted(tmp_path: Path) -> None:
    lines, characters = synthetic_corpus(n_movies=6)
    lines = [line.rsplit(" +++$+++ ", 1)[0] + " +++$+++ " if i < 5 else line for i, line in enumerate(lines)]
    folder = write_corpus_folder(tmp_path / "e", lines, characters)
    dd, report = prepare_dataset(folder, DataOptions(split="random", balance="none"))
    narrator_empty = sum(1 for line in lines[:5] if "NARRATOR" in line)
    assert report.empty_lines_dropped == 5 - narrator_empty
    assert all(t.strip() for s in dd for t in dd[s]["text"])


def test_saved_layout_loads_back_with_load_dataset(tmp_path: Path, big_corpus: Path) -> None:
    dd, report = prepare_dataset(big_corpus)
    out = save_dataset(dd, tmp_path / "ds", report)
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet",
    ]
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "class_label" in card and "movie" in card
    for loaded in (load_dataset(str(out)), load_dataset("parquet", data_dir=str(out))):
        assert list(loaded) == ["train", "validation", "test"]
        assert loaded["train"].features["label"].names == ["male", "female"]
        for split in dd:
            assert loaded[split].to_dict() == dd[split].to_dict()


def test_sample_movie_split(sample_zip: Path) -> None:
    dd, report = prepare_dataset(sample_zip, DataOptions(split="movie"))
    assert sum(report.class_counts["validation"].values()) + sum(report.class_counts["test"].values()) > 5000
    assert not _movies(dd["train"]) & _movies(dd["test"])
    assert dd["train"]["label"].count(0) == dd["train"]["label"].count(1)
    assert report.corpus["male"] == 27_660 and report.corpus["female"] == 8_435


def test_build_dataset_script(tmp_path: Path, sample_zip: Path) -> None:
    out = tmp_path / "out" / "ds"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "--corpus", str(sample_zip), "--output", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "27,660 male, 8,435 female" in result.stderr
    assert load_dataset(str(out))["test"].features["label"].names == ["male", "female"]


def test_build_dataset_script_errors_are_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_dataset.py"),
            "--corpus",
            str(tmp_path / "nope.zip"),
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.zip'}: no such file or folder"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dataset.py"), "--output", "o", "--split", "bogus"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "invalid choice: 'bogus'" in result.stderr
