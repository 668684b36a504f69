"""load_glove: every source kind, aligned rows, coverage, the cache, and errors that name file and line."""

from __future__ import annotations

import gzip
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from movie_gender import load_glove, train_tokenizer
from movie_gender.errors import GloveFormatError
from tests.factories import write_glove

TEXTS = ["The king and the queen!", "I don't know, sir.", "Darling, the money is here... zyzzyva"]


@pytest.fixture
def tokenizer():
    return train_tokenizer(TEXTS)


def _vectors(path: Path) -> dict[str, np.ndarray]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return {
            w: np.array(v.split(), dtype=np.float32) for w, v in (line.rstrip("\n").split(" ", 1) for line in handle)
        }


def test_rows_follow_tokenizer_ids(glove_txt: Path, tokenizer) -> None:
    matrix, coverage = load_glove(glove_txt, tokenizer, texts=TEXTS)
    vectors = _vectors(glove_txt)
    vocab = tokenizer.get_vocab()
    assert matrix.shape == (len(vocab), 8) and matrix.dtype == np.float32
    for word, index in vocab.items():
        expected = vectors.get(word, np.zeros(8, dtype=np.float32))
        np.testing.assert_array_equal(matrix[index], expected, err_msg=word)
    assert not matrix[0].any()  # [PAD]
    missing = [w for w in vocab if w not in vectors and not w.startswith("[")]
    assert coverage.types_found == len(vocab) - 2 - len(missing)
    assert coverage.type_coverage == pytest.approx(coverage.types_found / (len(vocab) - 2))
    assert 0 < coverage.token_coverage < 1 and coverage.dimension == 8


def test_random_init_for_unknown_words(glove_txt: Path, tokenizer) -> None:
    matrix, _ = load_glove(glove_txt, tokenizer, unknown_init="random", seed=1)
    assert matrix[tokenizer.token_to_id("zyzzyva")].any() and matrix[tokenizer.token_to_id("[UNK]")].any()
    assert not matrix[0].any()
    again, _ = load_glove(glove_txt, tokenizer, unknown_init="random", seed=1, cache=False)
    np.testing.assert_array_equal(matrix, again)


def test_every_source_kind_gives_the_same_matrix(tmp_path: Path, glove_txt: Path, tokenizer, http_server) -> None:
    reference, _ = load_glove(glove_txt, tokenizer, cache=False)
    gz = tmp_path / "g.txt.gz"
    gz.write_bytes(gzip.compress(glove_txt.read_bytes()))
    archive = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(glove_txt, "glove.6B.8d.txt")
        z.write(glove_txt, "glove.6B.9d.txt")
    base, root, requests = http_server
    shutil.copy(archive, root / "glove.6B.zip")
    for source, member in (
        (gz, None),
        (archive, "glove.6B.8d.txt"),
        (glove_txt.as_uri(), None),
        (f"{base}/glove.6B.zip", "glove.6B.8d.txt"),
    ):
        matrix, _ = load_glove(source, tokenizer, member=member, cache=False)
        np.testing.assert_array_equal(matrix, reference, err_msg=str(source))
    assert requests == ["/glove.6B.zip"]


def test_second_load_comes_from_the_cache(glove_txt: Path, tokenizer, _isolated_cache: Path) -> None:
    first, _ = load_glove(glove_txt, tokenizer)
    assert len(list(_isolated_cache.rglob("*.safetensors"))) == 1
    start = time.perf_counter()
    second, coverage = load_glove(glove_txt, tokenizer, texts=TEXTS)
    assert time.perf_counter() - start < 0.5
    np.testing.assert_array_equal(first, second)
    assert coverage.token_coverage is not None
    other = train_tokenizer(TEXTS + ["new words entirely"])
    load_glove(glove_txt, other)
    assert len(list(_isolated_cache.rglob("*.safetensors"))) == 2  # another vocabulary, another entry


def test_wrong_dimension_names_file_and_line(tmp_path: Path, tokenizer) -> None:
    path = write_glove(tmp_path / "bad.txt", ["the", "king", "queen"])
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(" ", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GloveFormatError, match=r"bad.txt:3: expected 8 numbers after the word, found 7"):
        load_glove(path, tokenizer)


def test_non_numeric_value_names_file_and_line(tmp_path: Path, tokenizer) -> None:
    path = write_glove(tmp_path / "bad.txt", ["the", "king", "queen"])
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace(lines[1].split(" ")[3], "abc", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GloveFormatError, match=r"bad.txt:2: not a number"):
        load_glove(path, tokenizer)


def test_empty_file_and_missing_zip_member(tmp_path: Path, tokenizer, glove_txt: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(GloveFormatError, match="empty.txt: no vectors found"):
        load_glove(tmp_path / "empty.txt", tokenizer)
    archive = tmp_path / "g.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(glove_txt, "a.txt")
        z.write(glove_txt, "b.txt")
    with pytest.raises(GloveFormatError, match="no member 'glove.6B.200d.txt'"):
        load_glove(archive, tokenizer)


def test_duplicate_words_keep_the_first_vector(tmp_path: Path, tokenizer, glove_txt: Path) -> None:
    path = tmp_path / "dup.txt"
    first = glove_txt.read_text()
    path.write_text(first + write_glove(tmp_path / "other.txt", ["king"], seed=9).read_text())
    matrix, coverage = load_glove(path, tokenizer)
    assert coverage.duplicate_words == 1
    np.testing.assert_array_equal(matrix[tokenizer.token_to_id("king")], _vectors(glove_txt)["king"])


def test_real_glove_50d_on_the_sample_vocabulary(glove_50d: Path, sample_zip: Path) -> None:
    from movie_gender import build_dataset

    train = build_dataset(sample_zip, balance="none")["train"]["text"]
    tokenizer = train_tokenizer(train)
    matrix, coverage = load_glove(glove_50d, tokenizer, texts=train)
    vocab = tokenizer.get_vocab()
    king, queen = matrix[vocab["king"]], matrix[vocab["queen"]]
    assert king @ queen / np.linalg.norm(king) / np.linalg.norm(queen) == pytest.approx(0.784, abs=1e-3)
    assert coverage.dimension == 50 and coverage.type_coverage > 0.9 and coverage.token_coverage > 0.99
    for token in ("n't", "'m", "'s", "...", "ca"):
        assert matrix[vocab[token]].any(), token


def test_token_coverage_from_pre_encoded_lines(glove_txt: Path, tokenizer) -> None:
    from movie_gender.data.tokenizer import encode

    _, from_texts = load_glove(glove_txt, tokenizer, texts=TEXTS)
    _, from_encoded = load_glove(glove_txt, tokenizer, encoded=encode(tokenizer, TEXTS))
    assert from_encoded.token_coverage == from_texts.token_coverage
