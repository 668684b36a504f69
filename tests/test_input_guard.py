"""Outputs that never touch inputs (the one check, movie_gender.atomic.check_output, as the corpus, screenplay and
ConvoKit commands call it): an output that is an input, lies inside a folder read as input, matches a glob read as
input, or is an output folder holding an input is refused with one line saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from movie_gender.atomic import OutputIsInputError, check_output


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sub").mkdir()
    (tmp_path / "in" / "a.fountain").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("output", "source", "folder", "why"),
    [
        ("in/a.fountain", "in/a.fountain", False, "is the input"),
        ("in/b.fountain", "in/*.fountain", False, "matches the input glob"),
        ("in/sub/scores.csv", "in", False, "lies inside the input folder"),
        ("in", "in/*.fountain", True, "holds input files"),
        (".", "in/a.fountain", True, "holds the input"),
        ("in/../in/x.csv", "in", False, "lies inside the input folder"),
    ],
)
def test_refused(tree: Path, output: str, source: str, folder: bool, why: str) -> None:
    before = (tree / "in" / "a.fountain").read_bytes()
    with pytest.raises(OutputIsInputError, match=why) as error:
        check_output(tree / output, [str(tree / source)], folder=folder)
    assert "\n" not in str(error.value) and "write it elsewhere" in str(error.value)
    assert (tree / "in" / "a.fountain").read_bytes() == before


@pytest.mark.parametrize("source", ["in/a.fountain", "in/*.fountain", "in", "https://example.org/c.zip", "org/repo"])
def test_allowed(tree: Path, source: str, monkeypatch) -> None:
    monkeypatch.chdir(tree)
    (tree / "out").mkdir()
    spec = source if "://" in source or "/" not in source or source == "org/repo" else str(tree / source)
    check_output(tree / "out" / "scores.parquet", [spec, None])
    check_output(tree / "out" / "completed", [spec], folder=True)


def test_label_characters_refuses_an_output_inside_the_screenplays(tree: Path) -> None:
    from movie_gender.commands import label_characters

    with pytest.raises(OutputIsInputError, match="lies inside the input folder"):
        label_characters.main(["any-model", "--screenplay", str(tree / "in"), "--output", str(tree / "in" / "out")])
    assert sorted(p.name for p in (tree / "in").iterdir()) == ["a.fountain", "sub"]
