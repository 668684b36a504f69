"""Outputs that never touch inputs: an output that is an input, lies inside a folder or under a glob read as input,
or is a folder holding an input is refused with one line saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from movie_gender.commands.input_guard import refuse_output_in_inputs


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.fountain").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("output", "source", "why"),
    [
        ("in/a.fountain", "in/a.fountain", "is the input"),
        ("in/scores.parquet", "in/*.fountain", "lies inside"),
        ("in/sub/scores.csv", "in", "lies inside"),
        ("in", "in/*.fountain", "is the input"),
        (".", "in/a.fountain", "holds the input"),
        ("in/../in/x.csv", "in", "lies inside"),
    ],
)
def test_refused(tree: Path, output: str, source: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as error:
        refuse_output_in_inputs(tree / output, [str(tree / source)])
    assert "\n" not in str(error.value) and "write the output elsewhere" in str(error.value)


@pytest.mark.parametrize("source", ["in/a.fountain", "in/*.fountain", "in", "https://example.org/c.zip", "org/repo"])
def test_allowed(tree: Path, source: str, monkeypatch) -> None:
    monkeypatch.chdir(tree)
    refuse_output_in_inputs(tree / "out" / "scores.parquet", [source if "://" in source else str(tree / source)])
    refuse_output_in_inputs("elsewhere.csv", [source, None])
