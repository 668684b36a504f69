"""GloVe vectors aligned to a tokenizer's ids, parsed once and cached as safetensors.

Sources: the official glove.6B.zip URL (default, member glove.6B.200d.txt as in the tutorial), any http(s)/file
URL, a local .zip (with ``member``), a .txt or a .txt.gz in the standard ``word v1 ... vD`` format. Only the lines of
words in the vocabulary are converted to numbers; every line's field count is checked.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from movie_gender.atomic import atomic_path
from movie_gender.configuration import DEFAULT_GLOVE, UNKNOWN_INIT
from movie_gender.data.download import cache_dir, fetch, is_url
from movie_gender.data.tokenizer import PAD_ID, encode
from movie_gender.errors import GloveFormatError

logger = logging.getLogger(__name__)

DEFAULT_MEMBER = "glove.6B.200d.txt"


@dataclass
class GloveCoverage:
    """How much of the vocabulary (types) and of the given texts (tokens) GloVe covers."""

    dimension: int
    vocab_size: int
    types_found: int
    type_coverage: float
    token_coverage: float | None
    duplicate_words: int = 0

    def to_dict(self) -> dict:
        """The report as a plain dict (for JSON)."""
        return asdict(self)


@contextmanager
def _open_lines(path: Path, member: str | None) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield (display name, binary stream) for a .zip member, a .gz or a plain file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if member is None:
                txt = [n for n in names if n.endswith(".txt")]
                member = txt[0] if len(txt) == 1 else DEFAULT_MEMBER
            if member not in names:
                raise GloveFormatError(path, f"the zip holds no member {member!r} (it holds: {', '.join(names[:10])})")
            with archive.open(member) as handle:
                yield f"{path}!{member}", handle
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as gz:
            yield str(path), cast(IO[bytes], gz)
    else:
        with open(path, "rb") as handle:
            yield str(path), handle


def _parse(
    path: Path, member: str | None, wanted: dict[bytes, int]
) -> tuple[str, int, dict[int, tuple[int, bytes]], int]:
    """One pass over the file: (name, dimension, {token id: (line number, raw vector bytes)}, duplicate words)."""
    found: dict[int, tuple[int, bytes]] = {}
    duplicates = 0
    dim = None
    with _open_lines(path, member) as (name, stream), tqdm(unit=" lines", unit_scale=True, desc="Reading GloVe") as bar:
        for number, line in enumerate(stream, start=1):
            if number % 100_000 == 0:
                bar.update(100_000)
            word, _, rest = line.rstrip(b"\r\n").partition(b" ")
            if not rest:
                if not line.strip():
                    continue
                raise GloveFormatError(name, "expected a word followed by numbers", number)
            count = rest.count(b" ") + 1
            if dim is None:
                dim = count
            elif count != dim:
                raise GloveFormatError(name, f"expected {dim} numbers after the word, found {count}", number)
            token_id = wanted.get(word)
            if token_id is None:
                continue
            if token_id in found:
                duplicates += 1
                continue
            found[token_id] = (number, rest)
    if dim is None:
        raise GloveFormatError(path, "no vectors found (empty file?)")
    return name, dim, found, duplicates


def _to_matrix(name: str, found: dict[int, tuple[int, bytes]], dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
    try:
        values = np.array(b" ".join(raw for _, raw in found.values()).split(), dtype=np.float32)
    except ValueError:
        for number, raw in found.values():
            try:
                np.array(raw.split(), dtype=np.float32)
            except ValueError:
                raise GloveFormatError(
                    name, f"not a number in {raw[:60].decode('utf-8', 'replace')!r}", number
                ) from None
        raise
    return ids, values.reshape(len(found), dim)


def _cache_key(path: Path, source: str, member: str | None, tokenizer: Tokenizer, unknown_init: str, seed: int) -> str:
    stat = path.stat()
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    payload = json.dumps(
        [
            source if is_url(source) else str(path.resolve()),
            stat.st_size,
            stat.st_mtime_ns,
            member,
            unknown_init,
            seed,
            vocab,
        ]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _token_coverage(
    tokenizer: Tokenizer,
    found_mask: np.ndarray,
    texts: Sequence[str] | None,
    encoded: tuple[np.ndarray, np.ndarray] | None,
) -> float | None:
    if encoded is None:
        if texts is None:
            return None
        encoded = encode(tokenizer, texts)
    ids, lengths = encoded
    real = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    tokens = ids[real]
    return float(found_mask[tokens].mean()) if tokens.size else 0.0


def load_glove(
    source: str | os.PathLike,
    tokenizer: Tokenizer,
    *,
    member: str | None = None,
    unknown_init: str = "zeros",
    seed: int = 0,
    texts: Sequence[str] | None = None,
    encoded: tuple[np.ndarray, np.ndarray] | None = None,
    cache: bool = True,
    sha256: str | None = None,
) -> tuple[np.ndarray, GloveCoverage]:
    """A float32 matrix ``[vocab_size, dim]`` aligned to ``tokenizer``'s ids, and its coverage.

    Args:
        source: GloVe URL, .zip, .txt or .txt.gz (any dimension); ``DEFAULT_GLOVE`` is the official glove.6B.zip.
        tokenizer: the tokenizer whose ids the rows follow.
        member: the file inside a zip (default: its only .txt, else ``glove.6B.200d.txt``).
        unknown_init: rows of words GloVe lacks: ``"zeros"`` (the tutorial) or ``"random"`` (normal, GloVe's std).
            [PAD] is always zeros.
        seed: seed for ``"random"``.
        texts: lines (the train split) to measure token coverage on; logged and returned.
        encoded: the same lines already encoded, as ``(ids, lengths)`` from :func:`movie_gender.data.tokenizer.encode`,
            to avoid encoding them twice.
        cache: keep the aligned matrix in the cache folder (keyed by file, vocabulary and options).
        sha256: optional checksum of the GloVe file or zip.

    Raises:
        GloveFormatError: naming file and line of a malformed vector.
    """
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(
            f"load_glove needs the tokenizers.Tokenizer whose ids the matrix rows follow, got {tokenizer!r}"
        )
    if unknown_init not in UNKNOWN_INIT:
        raise ValueError(f"unknown_init must be one of {UNKNOWN_INIT}, got {unknown_init!r}")
    path = fetch(source, sha256=sha256)
    if member is None and str(source) == DEFAULT_GLOVE:
        member = DEFAULT_MEMBER
    vocab = tokenizer.get_vocab()
    cache_file = (
        cache_dir() / "glove" / f"{_cache_key(path, str(source), member, tokenizer, unknown_init, seed)}.safetensors"
    )

    if cache and cache_file.exists():
        matrix, found_mask, meta = _read_cache(cache_file)
    else:
        matrix, found_mask, meta = _align(path, member, vocab, unknown_init, seed)
        if cache:
            _write_cache(cache_file, matrix, found_mask, meta)
    coverage = _coverage(tokenizer, found_mask, meta, texts, encoded)
    return matrix, coverage


def _align(
    path: Path, member: str | None, vocab: dict[str, int], unknown_init: str, seed: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read the vectors of the words of ``vocab`` from the GloVe file at ``path``: the matrix aligned to the ids,
    which rows GloVe has, and the facts to cache beside them (dimension, duplicate words)."""
    wanted = {word.encode("utf-8"): i for word, i in vocab.items() if i != PAD_ID}
    name, dim, found, duplicates = _parse(path, member, wanted)
    ids, vectors = _to_matrix(name, found, dim)
    rng = np.random.default_rng(seed)
    matrix = np.zeros((len(vocab), dim), dtype=np.float32)
    found_mask = np.zeros(len(vocab), dtype=bool)
    if unknown_init == "random":
        matrix[:] = rng.normal(scale=float(vectors.std()) if vectors.size else 0.1, size=matrix.shape)
    matrix[ids] = vectors
    matrix[PAD_ID] = 0.0
    found_mask[ids] = True
    if duplicates:
        logger.warning("%s: %d words occur more than once; the first vector of each was used", path, duplicates)
    return matrix, found_mask, {"dimension": dim, "duplicate_words": duplicates}


def _read_cache(cache_file: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """What :func:`_write_cache` kept."""
    tensors = load_file(str(cache_file))
    meta = json.loads(cache_file.with_suffix(".json").read_text())
    logger.info("Loaded the GloVe matrix from the cache (%s)", cache_file)
    return tensors["matrix"], tensors["found"].astype(bool), meta


def _write_cache(cache_file: Path, matrix: np.ndarray, found_mask: np.ndarray, meta: dict) -> None:
    """Keep an aligned matrix (safetensors) and its facts (JSON) in the cache, each written whole or not at all."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache_file.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta))
    with atomic_path(cache_file) as tmp:
        save_file({"matrix": matrix, "found": found_mask.astype(np.uint8)}, str(tmp))


def _coverage(
    tokenizer: Tokenizer,
    found_mask: np.ndarray,
    meta: dict,
    texts: Sequence[str] | None,
    encoded: tuple[np.ndarray, np.ndarray] | None,
) -> GloveCoverage:
    """How much of the vocabulary (and of ``texts``' tokens) GloVe covers, logged."""
    n_words = len(found_mask) - 2  # [PAD] and [UNK] are not words
    types_found = int(found_mask.sum())
    coverage = GloveCoverage(
        dimension=int(meta["dimension"]),
        vocab_size=len(found_mask),
        types_found=types_found,
        type_coverage=types_found / n_words if n_words > 0 else 0.0,
        token_coverage=_token_coverage(tokenizer, found_mask, texts, encoded),
        duplicate_words=int(meta["duplicate_words"]),
    )
    logger.info(
        "GloVe %dd covers %s of %s vocabulary words (%.1f%%)%s",
        coverage.dimension,
        f"{types_found:,}",
        f"{n_words:,}",
        100 * coverage.type_coverage,
        "" if coverage.token_coverage is None else f" and {100 * coverage.token_coverage:.1f}% of train tokens",
    )
    return coverage
