"""The word-level tokenizer: trained on the train split, saved whole in tokenizer.json.

It lower-cases (glove.6B is uncased), maps the Windows-1252 punctuation that the latin-1 corpus carries
(``\\x85`` ellipsis, ``\\x92`` apostrophe, ...) to ASCII, and splits words the way GloVe's Stanford tokenizer did,
so that contractions land on GloVe tokens: "don't" -> "do", "n't"; "I'm" -> "i", "'m"; "can't" -> "ca", "n't".
Padding ([PAD] = 0) and truncation are configured inside the tokenizer, so tokenizer.json alone reproduces the
encoding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

from movie_gender.configuration import DEFAULT_MAX_LENGTH

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
PAD_ID = 0
UNK_ID = 1
# Stanford-style word pieces: clitics split off, runs of dots/dashes kept together, other punctuation alone.
WORD_PATTERN = r"\w+(?=n't\b)|n't\b|'(?:s|m|re|ll|ve|d)\b|\.{2,}|-{2,}|\w+|[^\w\s]"
_CP1252 = {
    "\x85": "...",
    "\x91": "'",
    "\x92": "'",
    "\x93": '"',
    "\x94": '"',
    "\x96": "-",
    "\x97": "--",
    "\u2019": "'",
    "\u2018": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
}


def _normalizer() -> normalizers.Normalizer:
    return normalizers.Sequence(
        [*(normalizers.Replace(a, b) for a, b in _CP1252.items()), normalizers.NFKC(), normalizers.Lowercase()]
    )


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")]
    )


def train_tokenizer(
    texts: Sequence[str],
    *,
    min_frequency: int = 1,
    max_vocab_size: int | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> Tokenizer:
    """Train a WordLevel tokenizer on ``texts`` (the train split only).

    Args:
        texts: training lines.
        min_frequency: words seen fewer times map to [UNK].
        max_vocab_size: keep at most this many words (plus [PAD] and [UNK]), the most frequent first.
        max_length: truncate encodings to this many tokens.
    """
    tokenizer = Tokenizer(WordLevel(unk_token=UNK_TOKEN))
    tokenizer.normalizer = _normalizer()
    tokenizer.pre_tokenizer = _pre_tokenizer()
    trainer = WordLevelTrainer(
        vocab_size=(max_vocab_size + 2) if max_vocab_size else 2**31 - 1,
        min_frequency=min_frequency,
        special_tokens=[PAD_TOKEN, UNK_TOKEN],
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer, length=len(texts))
    configure(tokenizer, max_length)
    return tokenizer


def configure(tokenizer: Tokenizer, max_length: int = DEFAULT_MAX_LENGTH) -> Tokenizer:
    """Pad to the longest line of a batch with [PAD] and truncate to ``max_length`` tokens."""
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token=PAD_TOKEN)
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


# Within encodings_kept(): per tokenizer (as tokenizer.json would hold it), each text's ids.
_KEPT: ContextVar[dict[str, dict[str, np.ndarray]] | None] = ContextVar("kept", default=None)


@contextmanager
def encodings_kept() -> Iterator[None]:
    """Inside the block, :func:`encode` keeps the ids of every text it encodes and encodes a text it has seen (with
    a tokenizer that saves the same) only once: one run's training and evaluation encode the same splits a dozen
    times. The ids are the same as without it; what is kept grows with the texts and is dropped when the block
    ends, so use it around one run on a corpus held in memory anyway, never around streaming."""
    token = _KEPT.set({})
    try:
        yield
    finally:
        _KEPT.reset(token)


def _kept_for(tokenizer: Tokenizer) -> dict[str, np.ndarray] | None:
    """The texts' ids kept for ``tokenizer`` inside :func:`encodings_kept` (None outside it); two tokenizers that
    would save the same tokenizer.json (a character model's and its context view's) share them."""
    kept = _KEPT.get()
    return None if kept is None else kept.setdefault(tokenizer.to_str(), {})


def _encode_unique(tokenizer: Tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``texts`` through the Rust batch encoder: (ids ``[n, longest]``, lengths ``[n]``)."""
    encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(encodings), -1)
    if ids.shape[1] == 0:  # only empty lines: keep one [PAD] column so every line reads one step
        ids = np.full((len(encodings), 1), PAD_ID, dtype=np.int64)
    lengths = np.array([sum(e.attention_mask) for e in encodings], dtype=np.int64)
    return ids, lengths


def _encode_kept(tokenizer: Tokenizer, texts: list[str], kept: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_encode_unique` through ``kept``: only the texts not in it are encoded (and added to it)."""
    missing = [t for t in texts if t not in kept]
    if missing:
        ids, lengths = _encode_unique(tokenizer, missing)
        kept.update((text, ids[j, : lengths[j]].astype(np.int32)) for j, text in enumerate(missing))  # half the bytes
    rows = [kept[t] for t in texts]
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    out = np.full((len(rows), max(1, int(lengths.max()))), PAD_ID, dtype=np.int64)
    out[np.arange(out.shape[1])[None, :] < lengths[:, None]] = np.concatenate(rows)
    return out, lengths


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Encode lines with the Rust batch encoder: (ids ``[n, longest]`` int64, lengths ``[n]`` int64). A text that
    occurs more than once (a partner's lines beside each cut character it talks to) is encoded once, and inside
    :func:`encodings_kept` once per block."""
    if len(texts) == 0:
        return np.zeros((0, 1), dtype=np.int64), np.zeros(0, dtype=np.int64)
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts))
    unique, kept = list(first), _kept_for(tokenizer)
    ids, lengths = _encode_unique(tokenizer, unique) if kept is None else _encode_kept(tokenizer, unique, kept)
    return ids[inverse], lengths[inverse]
