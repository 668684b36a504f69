"""The word-level tokenizer: GloVe-style word pieces, special ids, and a tokenizer.json that reproduces it all."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from movie_gender import train_tokenizer
from movie_gender.data.tokenizer import PAD_ID, UNK_ID, encode

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
