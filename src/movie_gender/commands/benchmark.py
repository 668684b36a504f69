"""Measure movie-gender's speed-ups side by side, as ratios over plain reference implementations (see
``python scripts/benchmark.py --help``). The benchmarks live in the repository's ``benchmarks/`` folder, outside the
installed package: this command runs them from a checkout (the current folder or one above it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from movie_gender.errors import MovieGenderError


def find_checkout(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the current folder) that holds ``benchmarks/run.py``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "benchmarks" / "run.py").is_file():
            return folder
    raise MovieGenderError(
        f"{here}: no benchmarks/ folder here or above; the benchmarks ship with the source, not the package: "
        "run this in a clone of the movie-gender repository (or python scripts/benchmark.py there)"
    )


def _benchmarks_on_path() -> None:
    checkout = str(find_checkout())
    if checkout not in sys.path:
        sys.path.insert(0, checkout)


def build_parser() -> argparse.ArgumentParser:
    _benchmarks_on_path()
    from benchmarks.run import build_parser as benchmark_parser

    return benchmark_parser()


def main(argv: list[str] | None = None) -> dict:
    _benchmarks_on_path()
    from benchmarks.run import main as run_benchmarks

    return run_benchmarks(argv)
