"""Small synthetic corpora and GloVe files written in the exact upstream formats: the helpers behind the fixtures in
conftest.py, importable by tests as ``tests.factories``."""

from __future__ import annotations

import gzip
import random
import zipfile
from pathlib import Path

import numpy as np

from movie_gender.data.corpus import SEPARATOR

SEP = SEPARATOR
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE_ZIP = SHARED_DATA / "cornell_movie_dialogs_corpus.sample.zip"
GLOVE_50D = SHARED_DATA / "glove.6B.50d.txt.gz"
FOLDER = "cornell movie-dialogs corpus"

# Words that the synthetic characters favour, so that a model can learn something from the synthetic corpus.
MALE_WORDS = ["sir", "buddy", "gun", "car", "game", "boss", "beer", "money"]
FEMALE_WORDS = ["darling", "dress", "honey", "baby", "sweet", "love", "mother", "lovely"]
SHARED_WORDS = ["the", "i", "you", "do", "n't", "know", "what", "is", "a", "go", "we", "it", "now", "here"]


def synthetic_corpus(n_movies: int = 12, lines_per_character: int = 30, seed: int = 0) -> tuple[list[str], list[str]]:
    """(movie_lines.txt lines, movie_characters_metadata.txt lines) of a small corpus in the upstream format.

    Each movie has two male characters (codes m and M), one female (f or F) and one of unknown gender (?).
    """
    rng = random.Random(seed)
    lines, characters = [], []
    line_no, char_no = 1000, 0
    for movie in range(n_movies):
        cast = [("m", "JOHN"), ("M", "PETE"), ("f" if movie % 2 else "F", "MARY"), ("?", "NARRATOR")]
        for code, name in cast:
            cid = f"u{char_no}"
            char_no += 1
            characters.append(
                SEP.join([cid, name, f"m{movie}", f"movie number {movie}", code, str(char_no % 5 or "?")])
            )
            favoured = FEMALE_WORDS if code in "fF" else MALE_WORDS
            for _ in range(lines_per_character):
                words = rng.sample(SHARED_WORDS, 3) + rng.sample(favoured, 2)
                rng.shuffle(words)
                text = " ".join(words).capitalize() + rng.choice([".", "!", "?", "\x85"])
                lines.append(SEP.join([f"L{line_no}", cid, f"m{movie}", name, text]))
                line_no += 1
    rng.shuffle(lines)
    return lines, characters


def synthetic_dialogues(
    n_movies: int = 6, conversations_per_movie: int = 12, seed: int = 0
) -> tuple[list[str], list[str], list[str]]:
    """(movie_lines.txt, movie_characters_metadata.txt, movie_conversations.txt lines) of a corpus in conversations.

    Each movie has the cast of :func:`synthetic_corpus` (two male characters, one female, one of unknown gender);
    each conversation is between two of them, mostly alternating, sometimes with two lines in a row by one speaker,
    and 1 to 7 lines long. Line ids are consecutive within a conversation and skip at least one number between
    conversations (as the official corpus does wherever an exchange ends a scene). movie_lines.txt lists each movie's
    lines newest first, as upstream. Every text is unique (it ends with its line id in words), so a test can tell
    which line a context string came from.
    """
    rng = random.Random(seed)
    lines, characters, conversations = [], [], []
    line_no, char_no = 194, 0
    for movie in range(n_movies):
        cast = []
        for code, name in (("m", "JOHN"), ("M", "PETE"), ("f" if movie % 2 else "F", "MARY"), ("?", "NARRATOR")):
            cid = f"u{char_no}"
            char_no += 1
            characters.append(SEP.join([cid, name, f"m{movie}", f"movie number {movie}", code, "?"]))
            cast.append((cid, name, code))
        movie_lines = []
        for _ in range(conversations_per_movie):
            first, second = rng.sample(cast, 2)
            ids, speaker = [], first
            for turn in range(rng.randint(1, 7)):
                if turn and rng.random() < 0.75:
                    speaker = second if speaker is first else first
                cid, name, code = speaker
                favoured = FEMALE_WORDS if code in "fF" else MALE_WORDS if code in "mM" else SHARED_WORDS
                text = (
                    " ".join(rng.sample(SHARED_WORDS, 2) + rng.sample(favoured, 2)).capitalize() + f", line {line_no}."
                )
                movie_lines.append(SEP.join([f"L{line_no}", cid, f"m{movie}", name, text]))
                ids.append(f"L{line_no}")
                line_no += 1
            conversations.append(SEP.join([first[0], second[0], f"m{movie}", str(ids)]))
            line_no += rng.randint(1, 40)
        lines += movie_lines[::-1]
    return lines, characters, conversations


def write_corpus_folder(
    root: Path, lines: list[str], characters: list[str], conversations: list[str] | None = None
) -> Path:
    """Write the corpus files (ISO-8859-1, '\\n'-terminated) in a 'cornell movie-dialogs corpus' folder; with
    ``conversations``, movie_conversations.txt too."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movie_lines.txt").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    (folder / "movie_characters_metadata.txt").write_bytes(("\n".join(characters) + "\n").encode("latin-1"))
    if conversations is not None:
        (folder / "movie_conversations.txt").write_bytes(("\n".join(conversations) + "\n").encode("latin-1"))
    return root


def zip_folder(folder: Path, target: Path) -> Path:
    """Zip a corpus folder the way the official zip is laid out (one top folder, plus a __MACOSX entry)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((folder / FOLDER).iterdir()):
            archive.write(path, f"{FOLDER}/{path.name}")
        archive.writestr(f"__MACOSX/{FOLDER}/._movie_lines.txt", b"\x00\x05\x16\x07junk")
    return target


def write_glove(path: Path, words: list[str], dim: int = 8, seed: int = 0) -> Path:
    """A GloVe text file (``word v1 ... vD``), gzip-compressed when the name ends in .gz."""
    rng = np.random.default_rng(seed)
    text = "".join(w + " " + " ".join(f"{v:.5f}" for v in rng.normal(size=dim)) + "\n" for w in words)
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


def train_small_model(texts: list[str], labels: list[int], steps: int = 40, seed: int = 0, **config):
    """A small BiLSTMClassifier (tokenizer trained on ``texts``) after ``steps`` Adam steps on them: a real, quickly
    trained model for tests that need one (export, demo)."""
    import torch

    from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
    from movie_gender.data.tokenizer import encode

    torch.manual_seed(seed)
    tokenizer = train_tokenizer(texts)
    options = {"embedding_dim": 16, "hidden_size": 16, "num_layers": 1, "pooling": "mean_max", **config}
    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), **options))
    model.tokenizer = tokenizer
    ids, lengths = encode(tokenizer, texts)
    targets = torch.tensor(labels, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        batch = rng.choice(len(texts), size=min(64, len(texts)), replace=False)
        width = max(1, int(lengths[batch].max()))
        loss = model(
            torch.from_numpy(ids[batch, :width]), lengths=torch.from_numpy(lengths[batch]), labels=targets[batch]
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
