"""The character model: attention pooling over a variable number of lines (invariant to batch company, padding and
line order), save/load, predict per character, the character baselines, and the preset end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.configuration import CorpusSource
from movie_gender.data.corpus import read_corpus
from movie_gender.evaluation.baselines import (
    TfidfCharacterLogreg,
    TfidfContextLogreg,
    TfidfLogreg,
    TfidfStack,
    baseline_scores,
)
from movie_gender.inference import characters as character_scoring
from movie_gender.inference.characters import CharacterLines, logit, score_characters
from movie_gender.model.character_model import CharacterData, line_bag_matrix, partner_term, segment_softmax
from movie_gender.model.layers import BagOfWords
from movie_gender.model.partners import partner_matrix, partner_means, with_partners
from movie_gender.training.character_training import fit_character_bags, fit_line_bags, idf_weights, score_data
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


def _scores(model, texts, speakers, context, conversation_ids=None) -> dict[str, float]:
    scores = score_characters(model, CharacterLines(texts, speakers, conversation_ids, context))
    return dict(zip(scores.ids.tolist(), scores.mean_logit.tolist(), strict=True))


def test_a_character_score_depends_only_on_its_own_lines_never_on_batch_company_padding_or_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _model()
    together = _scores(model, LINES, SPEAKERS, CONTEXT)
    assert set(together) == {"a", "b", "c", "d"}
    for who in together:  # alone: no other character, no other line lengths in the batch
        rows = [i for i, s in enumerate(SPEAKERS) if s == who]
        alone = _scores(model, [LINES[i] for i in rows], [who] * len(rows), [CONTEXT[i] for i in rows])
        assert alone[who] == pytest.approx(together[who], abs=1e-5)
    reversed_order = _scores(model, LINES[::-1], SPEAKERS[::-1], CONTEXT[::-1])
    monkeypatch.setattr(character_scoring, "CHUNK_LINES", 1)
    one_per_chunk = _scores(model, LINES, SPEAKERS, CONTEXT)
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
    line_model = _model(character_pooling="none")  # a line model's character score: the mean log-odds of its lines
    assert _scores(line_model, LINES, SPEAKERS, None)["b"] == pytest.approx(
        float(np.mean(line_model.predict_logits([LINES[1], LINES[5]]))), abs=1e-6
    )


CONVERSATIONS = ["k1", "k1", "k2", "k2", "k3", "k3", "k4"]  # a-b, a-c, a-b; d alone


def test_partner_weights_count_the_lines_of_shared_conversations_and_exclude_oneself() -> None:
    character = np.array([0, 1, 0, 2, 0, 1, 3])
    weights = partner_matrix(character, CONVERSATIONS, 4).toarray()
    # a shares k1 (1 + 1 lines) and k3 (1 + 1) with b, k2 (1 + 1) with c: b weighs 4/6, c 2/6; d has no partner
    np.testing.assert_allclose(weights, [[0, 4 / 6, 2 / 6, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    logits = np.array([1.0, -2.0, 0.5, 3.0])
    matrix = partner_matrix(character, CONVERSATIONS, 4)
    shifted = with_partners(logits, matrix, 0.5)
    np.testing.assert_allclose(shifted, logits - 0.5 * (weights @ logits))
    assert shifted[3] == logits[3]  # no partner, no term
    np.testing.assert_array_equal(with_partners(logits, None, 0.5), logits)
    np.testing.assert_array_equal(with_partners(logits, matrix, 0.0), logits)


def test_the_partner_term_moves_a_character_against_the_scores_of_those_it_talks_to() -> None:
    model = _model(character_partner_weight=0.75)
    alone = _scores(model, LINES, SPEAKERS, CONTEXT)
    with_ids = _scores(model, LINES, SPEAKERS, CONTEXT, conversation_ids=CONVERSATIONS)
    assert with_ids["d"] == pytest.approx(alone["d"], abs=1e-6)
    assert with_ids["b"] == pytest.approx(alone["b"] - 0.75 * alone["a"], abs=1e-5)
    assert with_ids["a"] == pytest.approx(alone["a"] - 0.75 * (4 * alone["b"] + 2 * alone["c"]) / 6, abs=1e-5)
    reordered = _scores(model, LINES[::-1], SPEAKERS[::-1], CONTEXT[::-1], conversation_ids=CONVERSATIONS[::-1])
    assert reordered == pytest.approx(with_ids, abs=1e-5)
    rows = model.predict_characters(LINES, SPEAKERS, context=CONTEXT, conversation_ids=CONVERSATIONS)
    assert {r["character_id"]: r["p_female"] for r in rows} == pytest.approx(
        {k: 1 / (1 + np.exp(-v)) for k, v in with_ids.items()}, abs=1e-6
    )
    with pytest.raises(ValueError, match="conversation ids"):
        CharacterLines(LINES, SPEAKERS, CONVERSATIONS[:3], CONTEXT)


def test_the_partner_term_is_measured_from_the_train_center_so_no_partners_means_the_average_term(
    tmp_path: Path,
) -> None:
    character = np.array([0, 1, 0, 2, 0, 1, 3])
    logits = np.array([1.0, -2.0, 0.5, 3.0])
    matrix = partner_matrix(character, CONVERSATIONS, 4)
    means, has_partner = partner_means(logits, matrix)
    centred = with_partners(logits, matrix, 0.5, center=-1.0)
    np.testing.assert_allclose(centred[:3], logits[:3] - 0.5 * (means[:3] + 1.0))
    assert list(has_partner) == [True, True, True, False] and centred[3] == logits[3]
    model = _model(character_partner_weight=0.75)
    model.character_head.partner_center.fill_(-1.25)
    assert partner_term(model) == (0.75, -1.25)
    alone = _scores(model, LINES, SPEAKERS, CONTEXT)  # no conversation ids: every character gets the average term
    with_ids = _scores(model, LINES, SPEAKERS, CONTEXT, conversation_ids=CONVERSATIONS)
    assert with_ids["b"] == pytest.approx(alone["b"] - 0.75 * (alone["a"] + 1.25), abs=1e-5)
    assert with_ids["d"] == pytest.approx(alone["d"], abs=1e-6)
    model.save_pretrained(tmp_path / "m")  # the center is saved with the weights
    assert partner_term(BiLSTMClassifier.from_pretrained(tmp_path / "m")) == (0.75, -1.25)


def test_the_line_bag_features_are_what_the_bag_of_words_reads() -> None:
    torch.manual_seed(1)
    vocab, buckets = 30, 16
    bag = BagOfWords(vocab, buckets, pad_token_id=0)
    for weights in bag.parameters():
        torch.nn.init.normal_(weights)
    with torch.no_grad():
        bag.words.weight[0] = 0.0
    lengths = np.array([3, 1, 0, 5])
    ids = np.zeros((4, 5), dtype=np.int64)
    for row, n in enumerate(lengths):
        ids[row, :n] = np.random.default_rng(row).integers(1, vocab, n)
    ids[3, :5] = [4, 7, 4, 7, 9]  # a repeated word and a repeated pair count twice
    valid = torch.arange(5)[None, :] < torch.from_numpy(lengths)[:, None]
    expected = bag(torch.from_numpy(ids), valid).detach().numpy()
    effective = BagOfWords.SCALE * np.concatenate(
        [bag.words.weight.detach().numpy()[:, 0], bag.pairs.weight.detach().numpy()[:, 0]]
    )
    np.testing.assert_allclose(
        line_bag_matrix(ids, lengths, vocab, buckets) @ effective, expected, rtol=1e-5, atol=1e-5
    )


def test_the_convex_stages_fit_the_bags_and_choose_c_on_validation() -> None:
    model = _model(character_partner_weight=0.5)
    for name, weights in model.named_parameters():
        if "bag" in name:
            torch.nn.init.zeros_(weights)
    female = ["Honey, I love this dress so much.", "I'll be in the car, darling."]
    male = ["Get the gun, buddy!", "Sir, yes sir."]
    texts = female * 3 + male * 3
    speakers = ["f1", "f1", "f2", "f2", "f3", "f3", "m1", "m1", "m2", "m2", "m3", "m3"]
    labels = [1] * 6 + [0] * 6
    context = [["Yes, ma'am."]] * 6 + [["Now!"]] * 6
    train = CharacterData.build(model, texts, speakers, context, labels, [f"k{i // 4}" for i in range(12)])
    fit_line_bags(model, train)
    pooled = score_data(model, train, partners=False)
    assert pooled[:3].min() > pooled[3:].max()  # the female characters' lines score higher
    assert float(model.fc2.weight.detach().abs().sum()) == 0.0  # the BiLSTM head starts at 0 on top of the bags
    results = fit_character_bags(model, train, train, partners=True)
    assert set(results) == {0.25, 1.0, 4.0, 16.0}
    assert float(model.character_head.own_bag.weight.detach().abs().sum()) > 0
    assert score_data(model, train, partners=False)[:3].min() - score_data(model, train, partners=False)[3:].max() > (
        pooled[:3].min() - pooled[3:].max()
    )


def test_without_a_line_context_bag_the_line_bags_read_the_line_alone_and_context_only_reaches_the_heard_bag() -> None:
    model = _model(line_context_bag=False)
    assert not any("context_bag" in key for key in model.state_dict())
    assert any("context_bag" in key for key in _model().state_dict())  # the setting's default keeps the old design
    female = ["Honey, I love this dress so much.", "I'll be in the car, darling."]
    male = ["Get the gun, buddy!", "Sir, yes sir."]
    texts, speakers = female * 2 + male * 2, ["f1", "f1", "f2", "f2", "m1", "m1", "m2", "m2"]
    train = CharacterData.build(model, texts, speakers, [["Yes, ma'am."]] * 4 + [["Now!"]] * 4, [1] * 4 + [0] * 4)
    fit_line_bags(model, train)
    other = [["Now!"]] * 4 + [["Yes, ma'am."]] * 4  # swap what is said around the lines
    with torch.no_grad():  # the character bags at 0: the score is the mean of the line bags' logits
        model.character_head.own_bag.weight.zero_()
        model.character_head.heard_bag.weight.zero_()
    swapped = CharacterData.build(model, texts, speakers, other, [1] * 4 + [0] * 4)
    base = score_data(model, train, partners=False)
    np.testing.assert_allclose(score_data(model, swapped, partners=False), base, atol=1e-6)
    assert base[:2].min() > base[2:].max()
    with torch.no_grad():
        torch.nn.init.normal_(model.character_head.heard_bag.weight, std=0.5)
    assert np.abs(score_data(model, swapped, partners=False) - score_data(model, train, partners=False)).max() > 1e-3


def test_idf_weights_are_scikit_learns_smoothed_idf_keeping_the_total_squared_norm() -> None:
    features = sparse.csr_matrix(np.array([[1.0, 0, 2.0, 0], [1.0, 1.0, 0, 0], [1.0, 0, 0, 0], [0, 0, 0.5, 0]]))
    weights = idf_weights(features)
    idf = TfidfTransformer(smooth_idf=True).fit(features).idf_
    np.testing.assert_allclose(weights / weights[0], idf / idf[0])  # a common word weighs least, a rare one most
    squares = features.multiply(features)
    assert float((squares @ weights**2).sum()) == pytest.approx(float(squares.sum()))


def test_the_line_bags_are_a_logistic_regression_on_idf_weighted_columns_read_back_as_plain_counts() -> None:
    model = _model()
    texts = ["Honey, I love this dress.", "I'll be in the car, darling.", "Get the gun, buddy!", "Sir, yes sir."] * 3
    labels = [1, 1, 0, 0] * 3
    data = CharacterData.build(model, texts, [f"c{i % 4}" for i in range(12)], [["Now!"]] * 12, labels, None)
    fit_line_bags(model, data)
    args = (model.config.vocab_size, model.config.bigram_buckets)
    features = sparse.hstack(
        [line_bag_matrix(data.ids, data.lengths, *args), line_bag_matrix(data.context_ids, data.context_lengths, *args)]
    ).tocsr()
    columns = idf_weights(features)
    expected = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=0)
    expected.fit(features @ sparse.diags(columns), labels)
    held = BagOfWords.SCALE * np.concatenate(
        [model.bag_of_words.words.weight.detach().numpy()[:, 0], model.bag_of_words.pairs.weight.detach().numpy()[:, 0]]
    )
    width = sum(args)
    np.testing.assert_allclose(held, (expected.coef_[0] * columns)[:width], atol=1e-5)
    assert float(model.fc2.bias.detach()) == pytest.approx(float(expected.intercept_[0]), abs=1e-5)


def test_the_line_bags_record_their_roc_auc_on_the_labelled_validation_lines() -> None:
    model = _model()
    texts = ["Honey, I love this dress.", "I'll be in the car, darling.", "Get the gun, buddy!", "Sir, yes sir."] * 3
    train = CharacterData.build(model, texts, [f"c{i % 4}" for i in range(12)], [["Now!"]] * 12, [1, 1, 0, 0] * 3)
    held_out = ["I love the car, honey.", "The gun, sir!", "Yes, darling.", "Buddy, get in.", "Now, sir."]
    labels = [1, 0, 0, 1, -1]  # one line of an unknown-gender partner: not counted
    validation = CharacterData.build(model, held_out, ["v1", "v2", "v3", "v4", "u"], [["Now!"]] * 5, labels)
    fit_line_bags(model, train, validation=validation)
    args = (model.config.vocab_size, model.config.bigram_buckets)
    features = sparse.hstack(
        [
            line_bag_matrix(validation.ids, validation.lengths, *args),
            line_bag_matrix(validation.context_ids, validation.context_lengths, *args),
        ]
    ).tocsr()
    effective = BagOfWords.SCALE * np.concatenate(
        [
            model.bag_of_words.words.weight.detach().numpy()[:, 0],
            model.bag_of_words.pairs.weight.detach().numpy()[:, 0],
            model.character_head.context_bag.words.weight.detach().numpy()[:, 0],
            model.character_head.context_bag.pairs.weight.detach().numpy()[:, 0],
        ]
    )
    expected = roc_auc_score(labels[:4], (features @ effective)[:4])
    assert model.character_head.choices["line_bags_validation_auc"] == pytest.approx(expected)


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


def test_the_tfidf_stack_sums_the_two_tfidf_scorers_character_log_odds() -> None:
    texts = ["sir gun", "beer boss", "darling dress", "honey love", "sir car", "dress sweet", "gun boss", "love you"]
    characters = ["m1", "m1", "f1", "f1", "m2", "f2", "m2", "f2"]
    labels = [0, 0, 1, 1, 0, 1, 0, 1]
    context = [["yes sir"], ["ok then"], ["ma'am"], ["yes dear"], ["go sir"], ["ma'am"], ["move it"], ["me too"]]
    stack = TfidfStack().fit(texts, labels, character_id=characters, context=context)
    lines = TfidfContextLogreg().fit(texts, labels, context=context)
    documents = TfidfCharacterLogreg().fit(texts, labels, character_id=characters)
    new = ["gun sir", "lovely dress", "dress honey", "boss"]
    who, heard = ["x", "y", "y", "x"], [["hey"], [], ["oh dear"], ["sir"]]
    line_logit = logit(lines.score(new, context=heard))
    expected = {
        c: np.mean(line_logit[[i for i, w in enumerate(who) if w == c]])
        + logit(documents.score(new, character_id=who))[who.index(c)]
        for c in ("x", "y")
    }
    scores = stack.score(new, character_id=who, context=heard)
    np.testing.assert_allclose(logit(scores), [expected[c] for c in who], atol=1e-6)
    assert scores[1] > scores[0]
    # Fitted beside its two parts, the stack reuses them and scores the same.
    train = {"text": texts, "label": labels, "character_id": characters, "context": context}
    names = ["tfidf_context_logreg", "tfidf_character_logreg", "tfidf_stack"]
    split = {"text": new, "character_id": who, "context": heard}
    np.testing.assert_allclose(baseline_scores(names, train, {"new": split})["new"]["tfidf_stack"], scores, atol=1e-9)
    # Without context (tfidf_line_stack) the line half is the line alone: TfidfLogreg's mean log-odds.
    alone = TfidfLogreg().fit(texts, labels)
    line_stack = TfidfStack(context=False).fit(texts, labels, character_id=characters)
    line_logit = logit(alone.score(new))
    expected = {
        c: np.mean(line_logit[[i for i, w in enumerate(who) if w == c]])
        + logit(documents.score(new, character_id=who))[who.index(c)]
        for c in ("x", "y")
    }
    np.testing.assert_allclose(logit(line_stack.score(new, character_id=who)), [expected[c] for c in who], atol=1e-6)
    with pytest.raises(ValueError, match="context"):
        stack.score(new, character_id=who)


def test_baselines_fitted_together_share_their_tfidf_and_score_as_fitted_alone() -> None:
    texts = ["sir gun", "beer boss", "darling dress", "honey love", "sir car", "dress sweet", "gun boss", "love you"]
    characters = ["m1", "m1", "f1", "f1", "m2", "f2", "m2", "f2"]
    context = [["yes sir"], ["ok then"], ["ma'am"], ["yes dear"], ["go sir"], ["ma'am"], ["move it"], ["me too"]]
    train = {"text": texts, "label": [0, 0, 1, 1, 0, 1, 0, 1], "character_id": characters, "context": context}
    split = {"text": ["gun sir", "lovely dress", "dress honey", "boss"], "character_id": ["x", "y", "y", "x"]}
    split["context"] = [["hey"], [], ["oh dear"], ["sir"]]
    names = [
        "tfidf_logreg",
        "tfidf_context_logreg",
        "tfidf_character_logreg",
        "tfidf_character_context_logreg",
        "tfidf_stack",
        "tfidf_line_stack",
    ]
    alone = {name: baseline_scores([name], train, {"new": split})["new"][name] for name in names}
    analysed: list[str] = []
    real = TfidfVectorizer.build_analyzer

    def counting(self: TfidfVectorizer):  # every document a vectorizer reads is analysed once per read
        analyse = real(self)
        return lambda document: analysed.append(document) or analyse(document)

    with mock.patch.object(TfidfVectorizer, "build_analyzer", counting):
        together = baseline_scores(names, train, {"new": split})["new"]
    for name in names:
        np.testing.assert_allclose(together[name], alone[name], atol=1e-12, err_msg=name)
    # Each distinct document list is read once by each distinct vocabulary: lines and documents per character
    # (train and new), contexts and heard documents (train and new), whatever the number of baselines reading them.
    assert analysed.count("sir gun") == 1 and analysed.count("gun sir") == 1
    assert analysed.count("yes sir") == 1 and analysed.count("hey") == 1
    assert len(analysed) == 2 * len(texts) + 2 * 4 + 2 * 4 + 2 * 2


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
    # the table is the model's estimate with its conversation partners (the corpus has conversation ids)
    choices = metrics["character"]["partner_terms"]  # each term fitted inside the run, on train and validation
    assert {"convex_partners", "tfidf_character_logreg_partners", "tfidf_context_logreg_partners"} <= set(choices)
    assert {"convex", "convex_partners", "tfidf_character_logreg_partners"} <= set(metrics["character"])
    assert model.config.character_partner_weight in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)  # fitted on validation
    assert partner_term(model)[1] != 0.0  # training measured the validation characters' mean partner score
    corpus_lines, _ = read_corpus(CorpusSource(corpus, context_size=model.config.context_size, include_unknown=True))
    columns = corpus_lines.select_columns(["text", "character_id", "context", "conversation_id"]).to_dict()
    expected = model.predict_characters(
        columns["text"],
        columns["character_id"],
        context=columns["context"],
        conversation_ids=columns["conversation_id"],
    )
    by_id = {r["character_id"]: r["p_female"] for r in rows}
    assert {r["character_id"]: r["p_female"] for r in expected} == pytest.approx(by_id, abs=1e-5)
    alone = model.predict_characters(columns["text"], columns["character_id"], context=columns["context"])
    differs = {r["character_id"]: r["p_female"] for r in alone} != pytest.approx(by_id, abs=1e-6)
    assert differs == (model.config.character_partner_weight > 0)  # without conversation ids: no partner term


def test_a_character_model_scored_without_conversations_or_context_warns_once_saying_what_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = _model(character_partner_weight=0.75)
    model.character_head.partner_center.fill_(-0.5)
    with caplog.at_level("WARNING"):
        first = model.predict_characters(LINES, SPEAKERS)
        second = model.predict_characters(LINES, SPEAKERS)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "conversation ids" in warnings[0] and "partner term" in warnings[0]
    assert "context" in warnings[0] and "heard" in warnings[0]
    assert first == second
    caplog.clear()
    with caplog.at_level("WARNING"):  # given everything it reads: no warning
        _model(character_partner_weight=0.75).predict_characters(
            LINES, SPEAKERS, context=CONTEXT, conversation_ids=CONVERSATIONS
        )
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
