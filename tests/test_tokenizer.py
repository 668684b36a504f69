"""The word-level tokenizer: GloVe-style word pieces, special ids, and a tokenizer.json that reproduces it all."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from movie_gender import train_tokenizer
from movie_gender.data.tokenizer import PAD_ID, UNK_ID, encode, encodings_kept

LINES = ["I don't know, I'm sure you can't... Go!", "She's here\x85 what\x92s that -- OK?", "We'll see, won't we?"]


def test_contractions_and_punctuation_follow_glove() -> None:
    tokenizer = train_tokenizer(LINES)
    assert tokenizer.encode(LINES[0], add_special_tokens=False).tokens == [
        "i",
        "do",
        "n't",
        "know",
        ",",
        "i",
        "'m",
        "sure",
        "you",
        "ca",
        "n't",
        "...",
        "go",
        "!",
    ]
    assert tokenizer.encode(LINES[1], add_special_tokens=False).tokens == [
        "she",
        "'s",
        "here",
        "...",
        "what",
        "'s",
        "that",
        "--",
        "ok",
        "?",
    ]
    assert tokenizer.encode("We'll", add_special_tokens=False).tokens == ["we", "'ll"]


def test_special_ids_and_unknown_words() -> None:
    tokenizer = train_tokenizer(LINES)
    assert tokenizer.token_to_id("[PAD]") == PAD_ID == 0 and tokenizer.token_to_id("[UNK]") == UNK_ID == 1
    assert tokenizer.encode("zyzzyva", add_special_tokens=False).ids == [UNK_ID]


def test_min_frequency_and_max_vocab_size() -> None:
    lines = ["a a a b b c"] * 2
    assert set(train_tokenizer(lines, min_frequency=5).get_vocab()) == {"[PAD]", "[UNK]", "a"}
    assert set(train_tokenizer(lines, max_vocab_size=2).get_vocab()) == {"[PAD]", "[UNK]", "a", "b"}


def test_padding_and_truncation_live_in_tokenizer_json(tmp_path: Path) -> None:
    tokenizer = train_tokenizer(LINES, max_length=5)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    loaded = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    ids, lengths = encode(loaded, ["go", LINES[0], ""])
    assert ids.shape == (3, 5) and lengths.tolist() == [1, 5, 0]
    assert ids[0, 1:].tolist() == [PAD_ID] * 4
    assert (encode(tokenizer, LINES)[0] == encode(loaded, LINES)[0]).all()


class CountingTokenizer:
    """A tokenizer that counts the texts it is asked to encode."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer, self.encoded = tokenizer, 0

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    def encode_batch_fast(self, texts: list[str], add_special_tokens: bool = True) -> list:
        self.encoded += len(texts)
        return self.tokenizer.encode_batch_fast(texts, add_special_tokens=add_special_tokens)


def test_inside_encodings_kept_a_text_is_encoded_once_with_the_same_ids() -> None:
    tokenizer = CountingTokenizer(train_tokenizer(LINES, max_length=6))
    calls = [[LINES[0], "go", LINES[0]], ["", "go", LINES[1]], ["", ""], [LINES[2], LINES[1], "go"]]
    outside = [encode(tokenizer, texts) for texts in calls]  # type: ignore[arg-type]
    assert tokenizer.encoded == 2 + 3 + 1 + 3
    tokenizer.encoded = 0
    with encodings_kept():
        inside = [encode(tokenizer, texts) for texts in calls]  # type: ignore[arg-type]
    assert tokenizer.encoded == 5  # LINES[0], "go", "", LINES[1], LINES[2]: each once
    for (ids, lengths), (kept_ids, kept_lengths) in zip(outside, inside, strict=True):
        assert kept_lengths.tolist() == lengths.tolist()
        assert kept_ids.tolist() == ids.tolist()  # the same width too: the longest line, or one [PAD] column
    encode(tokenizer, calls[0])  # type: ignore[arg-type]
    assert tokenizer.encoded == 7  # outside the block nothing is kept


def test_encodings_are_shared_only_by_tokenizers_that_save_the_same() -> None:
    first, same = (CountingTokenizer(train_tokenizer(LINES, max_length=6)) for _ in range(2))
    shorter = CountingTokenizer(train_tokenizer(LINES, max_length=3))
    with encodings_kept():
        encode(first, LINES)  # type: ignore[arg-type]
        encode(same, LINES)  # type: ignore[arg-type]
        ids, lengths = encode(shorter, LINES)  # type: ignore[arg-type]
    assert (first.encoded, same.encoded, shorter.encoded) == (3, 0, 3)
    assert ids.shape[1] == 3 and lengths.max() == 3
