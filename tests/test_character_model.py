"""The character model: attention pooling over a variable number of lines (invariant to batch company, padding and
line order), save/load, predict per character, the character baselines, and the preset end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.evaluation.baselines import TfidfCharacterLogreg
from movie_gender.model.character_model import character_logits, segment_softmax
from tests.factories import (
    FEMALE_WORDS,
    MALE_WORDS,
    SHARED_WORDS,
    synthetic_dialogues,
    write_corpus_folder,
    write_glove,
)

LINES = [
    "I'll be in the car, darling.",
    "Get the gun, buddy!",
    "",
    "What?",
    "Honey, I love this dress so much.",
    "Now we go.",
    "Sir, yes sir.",
]
SPEAKERS = ["a", "b", "a", "c", "a", "b", "d"]  # a: 3 lines (one empty), b: 2, c: 1, d: 1
CONTEXT = [["Yes, ma'am."], [], ["Where is it?"], ["Sir?", "Now!"], [], ["Go"], ["Lovely dress, darling."]]


def _model(**overrides) -> BiLSTMClassifier:
    torch.manual_seed(0)
    tokenizer = train_tokenizer(LINES + [" ".join(c) for c in CONTEXT])
    config = BiLSTMConfig(
        vocab_size=tokenizer.get_vocab_size(),
        embedding_dim=8,
        hidden_size=6,
        bigram_buckets=64,
        context_size=2,
        **{"character_pooling": "attention", **overrides},
    )
    model = BiLSTMClassifier(config)
    for name, weights in model.named_parameters():  # the bags start at 0: random, so the tests see them
        if "bag" in name:
            torch.nn.init.normal_(weights, std=0.5)
    model.tokenizer = tokenizer
    return model.eval()


def _scores(model, texts, speakers, context, **kwargs) -> dict[str, float]:
    names, logits = character_logits(model, texts, speakers, context, **kwargs)
    return dict(zip(names.tolist(), logits.tolist(), strict=True))


def test_a_character_score_depends_only_on_its_own_lines_never_on_batch_company_padding_or_order() -> None:
    model = _model()
    together = _scores(model, LINES, SPEAKERS, CONTEXT)
    assert set(together) == {"a", "b", "c", "d"}
    for who in together:  # alone: no other character, no other line lengths in the batch
        rows = [i for i, s in enumerate(SPEAKERS) if s == who]
        alone = _scores(model, [LINES[i] for i in rows], [who] * len(rows), [CONTEXT[i] for i in rows])
        assert alone[who] == pytest.approx(together[who], abs=1e-5)
    reversed_order = _scores(model, LINES[::-1], SPEAKERS[::-1], CONTEXT[::-1])
    one_per_chunk = _scores(model, LINES, SPEAKERS, CONTEXT, chunk_lines=1)
    for who, value in together.items():
        assert reversed_order[who] == pytest.approx(value, abs=1e-5)
        assert one_per_chunk[who] == pytest.approx(value, abs=1e-5)
    # what is said around a character's lines is part of its estimate
    silent = _scores(model, LINES, SPEAKERS, [[] for _ in LINES])
    assert silent["d"] != pytest.approx(together["d"], abs=1e-4)


def test_a_character_with_a_single_line_gets_its_lines_logit_plus_its_bags() -> None:
    model = _model(bag_of_words=False)
    line = model.predict_logits(["Sir, yes sir."])[0]
    assert _scores(model, ["Sir, yes sir."], ["d"], [["x"]])["d"] == pytest.approx(float(line), abs=1e-5)


def test_segment_softmax_normalises_within_each_character() -> None:
    scores = torch.tensor([1.0, 2.0, 3.0, -50.0, 0.5])
    segment = torch.tensor([0, 0, 1, 1, 2])
    weights = segment_softmax(scores, segment, 3)
    sums = torch.zeros(3).index_add(0, segment, weights)
    torch.testing.assert_close(sums, torch.ones(3))
    torch.testing.assert_close(weights[:2], torch.softmax(scores[:2], 0))


def test_predict_characters_uses_the_pooled_estimate_and_it_survives_save_and_load(tmp_path: Path) -> None:
    model = _model()
    rows = model.predict_characters(LINES, SPEAKERS, context=CONTEXT)
    pooled = _scores(model, LINES, SPEAKERS, CONTEXT)
    assert [r["character_id"] for r in rows] == ["a", "b", "c", "d"]  # order of first appearance
    for row in rows:
        assert row["p_female"] == pytest.approx(1 / (1 + np.exp(-pooled[row["character_id"]])), abs=1e-6)
    line_mean = np.mean(model.predict_logits([LINES[i] for i in (0, 2, 4)]))
    assert pooled["a"] != pytest.approx(float(line_mean), abs=1e-3)  # not the mean log-odds of its lines
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["character_pooling"] == "attention"
    loaded = BiLSTMClassifier.from_pretrained(tmp_path / "m")
    assert any(k.startswith("character_head.") for k in loaded.state_dict())
    assert _scores(loaded, LINES, SPEAKERS, CONTEXT) == pytest.approx(pooled, abs=1e-6)
    with pytest.raises(ValueError, match="line model"):
        character_logits(_model(character_pooling="none"), LINES, SPEAKERS)


def test_the_character_document_baseline_gives_every_line_its_characters_score() -> None:
    texts = ["sir gun", "beer boss", "darling dress", "honey love", "sir car", "dress sweet"]
    characters = ["m1", "m1", "f1", "f1", "m2", "f2"]
    baseline = TfidfCharacterLogreg(context=True).fit(
        texts,
        [0, 0, 1, 1, 0, 1],
        character_id=characters,
        context=[["yes sir"], ["ok"], ["ma'am"], ["yes"], ["go sir"], ["ma'am"]],
    )
    scores = baseline.score(["gun sir", "lovely", "dress honey"], character_id=["x", "y", "y"], context=[[], [], []])
    assert scores[1] == scores[2] and scores[2] > scores[0]


def test_train_script_with_the_character_preset_end_to_end(tmp_path: Path) -> None:
    corpus = write_corpus_folder(tmp_path / "c", *synthetic_dialogues(n_movies=12, conversations_per_movie=20, seed=3))
    glove = write_glove(
        tmp_path / "glove.tiny.8d.txt.gz", ["line", ",", "."] + SHARED_WORDS + MALE_WORDS + FEMALE_WORDS
    )
    out = tmp_path / "model"
    root = Path(__file__).resolve().parents[1]
    common = ["--corpus", str(corpus)]
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "train.py"), "--preset", "character", *common, "--glove", str(glove)]
        + ["--output", str(out), "--epochs", "3", "--hidden-size", "8", "--batch-size", "4", "--bootstrap", "20"]
        + ["--min-lines", "3"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["character_pooling"] == "attention" and config["context_size"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    character_scorers = {"model", "tfidf_character_logreg", "tfidf_character_context_logreg", "tfidf_context_logreg"}
    assert character_scorers <= set(metrics["character"])
    assert {"tfidf_character_logreg", "tfidf_character_context_logreg"} <= set(metrics["character"]["difference"])
    assert "tfidf_character_logreg" not in metrics["line"]  # a character's score is no line-level score
    assert metrics["character"]["model"]["roc_auc"] > 0.8  # the synthetic genders say telling words
    table_path = tmp_path / "characters.parquet"
    predicted = subprocess.run(
        [sys.executable, str(root / "scripts" / "predict.py"), str(out), *common, "--by", "character"]
        + ["--output", str(table_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    table = pq.read_table(table_path)
    assert table.column_names == [
        "movie_id",
        "character_id",
        "character_name",
        "n_lines",
        "p_female",
        "predicted_label",
        "corpus_label",
    ]
    rows = table.to_pylist()
    assert len(rows) == 48 and any(r["corpus_label"] is None for r in rows)  # the unknown-gender characters too
    model = BiLSTMClassifier.from_pretrained(out)
    lines = pq.read_table(table_path).to_pydict()
    assert all(0 < p < 1 for p in lines["p_female"]) and model.config.is_character_model
