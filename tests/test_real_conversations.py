"""Real conversations: a corpus with movie_conversations.txt (the official zip) gives its listed exchanges, of two
speakers each, as the conversations behind `conversation_id`, and so behind the context and the character model's
partner term; without the file they come from line-id adjacency, said once in the log, and exchanges that follow
each other without a gap merge."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, load_cornell, train_tokenizer
from movie_gender.model.character_model import partner_matrix
from tests.factories import SEP, write_corpus_folder

# One movie, three characters. Two official exchanges follow each other with no gap in the line ids: ANN and BOB
# (L10-L12), then BOB and CAL (L13-L14); adjacency reads the five lines as one exchange of three speakers.
CHARACTERS = [
    SEP.join(["u0", "ANN", "m0", "a movie", "f", "1"]),
    SEP.join(["u1", "BOB", "m0", "a movie", "m", "2"]),
    SEP.join(["u2", "CAL", "m0", "a movie", "m", "3"]),
]
SPOKEN = [("L10", "u0", "Hello there, sir."), ("L11", "u1", "Hello, darling."), ("L12", "u0", "Where is the car?"),
          ("L13", "u1", "Get the gun."), ("L14", "u2", "Yes, boss.")]  # fmt: skip
LINES = [SEP.join([lid, cid, "m0", {"u0": "ANN", "u1": "BOB", "u2": "CAL"}[cid], text]) for lid, cid, text in SPOKEN]
CONVERSATIONS = [SEP.join(["u0", "u1", "m0", "['L10', 'L11', 'L12']"]), SEP.join(["u1", "u2", "m0", "['L13', 'L14']"])]


@pytest.fixture
def with_file(tmp_path: Path) -> Path:
    return write_corpus_folder(tmp_path / "official", LINES[::-1], CHARACTERS, CONVERSATIONS)


@pytest.fixture
def without_file(tmp_path: Path) -> Path:
    return write_corpus_folder(tmp_path / "sample", LINES[::-1], CHARACTERS)


def _conversations(folder: Path) -> dict[str, list[tuple[str, str]]]:
    data = load_cornell(folder)
    out: dict[str, list] = {}
    for row in sorted(data, key=lambda r: (r["conversation_id"], r["turn"])):
        out.setdefault(row["conversation_id"], []).append((row["line_id"], row["character_id"]))
    return out


def test_the_listed_conversations_are_the_conversation_ids_and_have_two_speakers(with_file: Path) -> None:
    conversations = _conversations(with_file)
    assert conversations == {
        "m0:L10": [("L10", "u0"), ("L11", "u1"), ("L12", "u0")],
        "m0:L13": [("L13", "u1"), ("L14", "u2")],
    }
    assert all(len({speaker for _, speaker in lines}) == 2 for lines in conversations.values())
    context = dict(zip(*[load_cornell(with_file, context_size=2)[c] for c in ("line_id", "context")], strict=True))
    assert context["L13"] == ["Yes, boss."]  # not ANN's lines of the exchange before


def test_without_the_file_adjacency_merges_them_and_the_log_says_so_once(
    without_file: Path, with_file: Path, caplog
) -> None:
    with caplog.at_level(logging.INFO, logger="movie_gender"):
        conversations = _conversations(without_file)
    assert list(conversations) == ["m0:L10"] and len({s for _, s in conversations["m0:L10"]}) == 3
    said = [r.getMessage() for r in caplog.records if "no movie_conversations.txt" in r.getMessage()]
    assert len(said) == 1 and "line-id adjacency" in said[0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="movie_gender"):
        load_cornell(with_file)
    assert not [r for r in caplog.records if "adjacency" in r.getMessage()]


def test_the_partner_term_reads_the_listed_conversations(with_file: Path, without_file: Path) -> None:
    """ANN talks only to BOB in the official exchanges; adjacency would make CAL her partner too. The character
    model's partner weights and scores follow the conversation ids the corpus gives."""
    for folder, ann_and_cal in ((with_file, 0.0), (without_file, 1.0)):
        data = load_cornell(folder)
        speakers, character = np.unique(data["character_id"], return_inverse=True)
        weights = partner_matrix(character.reshape(-1), data["conversation_id"], len(speakers)).toarray()
        assert (weights[0, 2] > 0) == bool(ann_and_cal)
    torch.manual_seed(0)
    tokenizer = train_tokenizer([text for _, _, text in SPOKEN])
    config = BiLSTMConfig(
        vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6, bigram_buckets=16, context_size=2,
        character_pooling="attention", character_partner_weight=0.75,
    )  # fmt: skip
    model = BiLSTMClassifier(config)
    model.tokenizer = tokenizer
    model.eval()
    scores = {}
    for name, folder in (("official", with_file), ("adjacency", without_file)):
        data = load_cornell(folder, context_size=2)
        rows = model.predict_characters(
            data["text"], data["character_id"], context=data["context"], conversation_ids=data["conversation_id"]
        )
        scores[name] = {r["character_id"]: r["p_female"] for r in rows}
    assert scores["official"]["u0"] != pytest.approx(scores["adjacency"]["u0"], abs=1e-9)
