"""A synthetic corpus of the real one's size, in the upstream format, for timing the DatasetDict build."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

SEP = " +++$+++ "
FULL_SIZE = {"n_lines": 304_713, "n_characters": 9_035, "n_movies": 617}
# the words of the synthetic lines: frequent ones of the corpus and a few that carry its gender signal
_VOCABULARY = (
    "the you i to a it and that what is of me in this do n't know we your have be my no not just for he "
    "on was with are all get there so can here like right go up now about out want one come darling honey "
    "sir gun money car love baby dress kill"
)
WORDS = np.array(_VOCABULARY.split())


def write_full_size_corpus(
    folder: Path,
    n_lines: int = FULL_SIZE["n_lines"],
    n_characters: int = FULL_SIZE["n_characters"],
    n_movies: int = FULL_SIZE["n_movies"],
    seed: int = 0,
) -> Path:
    """A synthetic corpus in the upstream format (ISO-8859-1, +++$+++ fields), by default of the real corpus' size."""
    rng = np.random.default_rng(seed)
    characters, movie_of = _characters(rng, n_characters, n_movies)
    lines = _lines(rng, n_lines, n_characters, movie_of)
    target = folder / "cornell movie-dialogs corpus"
    target.mkdir(parents=True, exist_ok=True)
    (target / "movie_lines.txt").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    (target / "movie_characters_metadata.txt").write_bytes(("\n".join(characters) + "\n").encode("latin-1"))
    return folder


def _characters(rng: np.random.Generator, n_characters: int, n_movies: int) -> tuple[list[str], np.ndarray]:
    """The rows of movie_characters_metadata.txt (gender m/f in both cases, or unknown) and each character's movie."""
    genders = rng.choice(["m", "M", "f", "F", "?"], size=n_characters, p=[0.5, 0.05, 0.22, 0.02, 0.21])
    movie_of = np.sort(rng.integers(0, n_movies, n_characters))
    rows = [
        SEP.join([f"u{c}", f"NAME{c}", f"m{movie_of[c]}", f"movie {movie_of[c]}", genders[c], "?"])
        for c in range(n_characters)
    ]
    return rows, movie_of


def _lines(rng: np.random.Generator, n_lines: int, n_characters: int, movie_of: np.ndarray) -> list[str]:
    """The rows of movie_lines.txt: 1 to 19 random words each, spoken by characters in id order."""
    speaker = np.sort(rng.integers(0, n_characters, n_lines))
    sizes = rng.integers(1, 20, n_lines)
    flat = rng.choice(WORDS, size=int(sizes.sum()))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return [
        SEP.join(
            [
                f"L{i}",
                f"u{speaker[i]}",
                f"m{movie_of[speaker[i]]}",
                f"NAME{speaker[i]}",
                " ".join(flat[offsets[i] : offsets[i + 1]]).capitalize() + ".",
            ]
        )
        for i in range(n_lines)
    ]


__all__ = ["SEP", "FULL_SIZE", "WORDS", "write_full_size_corpus"]
