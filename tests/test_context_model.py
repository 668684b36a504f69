"""The context-aware model: what config.json asks for, predict with and without context, strict save/load, and
training on the conversation around each line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.errors import ModelLoadError
from movie_gender.training.loop import EncodedSplit, TrainingConfig, train
from tests.factories import (
    FEMALE_WORDS,
    MALE_WORDS,
    SHARED_WORDS,
    synthetic_dialogues,
    write_corpus_folder,
    write_glove,
)

LINES = ["I'll be in the car, darling.", "Get the gun, buddy!", "", "What?", "Honey, I love this dress so much."]
CONTEXT = [["Yes, ma'am.", "You look beautiful tonight."], [], ["Where is it?"], ["Sir?", "Now!", "Go", "Run"], []]
BAG_KEYS = {"bag_of_words.words.weight", "bag_of_words.pairs.weight"}
SINGLE_LINE_KEYS = {"embedding.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", *BAG_KEYS} | {
    f"lstm.{kind}_{part}_l{layer}{suffix}"
    for kind in ("weight", "bias")
    for part in ("ih", "hh")
    for layer in (0, 1)
    for suffix in ("", "_reverse")
}


def _model(context_encoder: str = "separate", pooling: str = "mean_max", **overrides) -> BiLSTMClassifier:
    torch.manual_seed(0)
    tokenizer = train_tokenizer(LINES + [" ".join(c) for c in CONTEXT] + ["some more words"])
    config = BiLSTMConfig(
        vocab_size=tokenizer.get_vocab_size(),
        embedding_dim=8,
        hidden_size=6,
        num_layers=2,
        pooling=pooling,
        context_encoder=context_encoder,
        context_size=2,
        **overrides,
    )
    model = BiLSTMClassifier(config)
    for name, weights in model.named_parameters():  # the bags of words start at 0: random, so the tests see them
        if "bag_of_words" in name:
            torch.nn.init.normal_(weights, std=0.1)
    model.tokenizer = tokenizer
    return model.eval()


def test_single_line_models_keep_their_weights_and_reject_context() -> None:
    model = _model("none")
    assert set(model.state_dict()) == SINGLE_LINE_KEYS
    assert model.fc1.in_features == 2 * 2 * 6  # bidirectional, mean + max
    with pytest.raises(ValueError, match="takes no context"):
        model.predict_proba(LINES, context=CONTEXT)
    with pytest.raises(ValueError, match="takes no context"):
        model.predict(LINES, context=[[] for _ in LINES])  # even an empty one: never silently ignored


@pytest.mark.parametrize("encoder", ["shared", "separate"])
def test_context_encoders_add_only_what_they_need(encoder: str) -> None:
    model = _model(encoder)
    extra = set(model.state_dict()) - SINGLE_LINE_KEYS
    assert set(model.state_dict()) >= SINGLE_LINE_KEYS
    context_bag = {f"context_{k}" for k in BAG_KEYS}  # the context's words get bag-of-words weights of their own
    assert (
        (extra == context_bag)
        if encoder == "shared"
        else (
            extra
            == context_bag | {k.replace("lstm.", "context_lstm.") for k in SINGLE_LINE_KEYS if k.startswith("lstm.")}
        )
    )
    assert model.fc1.in_features == 2 * (2 * 2 * 6)  # line features and context features, joined


@pytest.mark.parametrize("pooling", ["last", "max", "mean_max"])
def test_context_changes_the_score_and_padding_never_does(pooling: str) -> None:
    model = _model(pooling=pooling)
    with_context = model.predict_logits(LINES, context=CONTEXT)
    alone = model.predict_logits(LINES, context=[[] for _ in LINES])
    assert not np.allclose(with_context[[0, 2, 3]], alone[[0, 2, 3]])  # lines that have a context
    np.testing.assert_allclose(with_context[[1, 4]], alone[[1, 4]], rtol=1e-5, atol=1e-6)  # lines that have none
    one_by_one = np.concatenate([model.predict_logits([t], context=[c]) for t, c in zip(LINES, CONTEXT, strict=True)])
    np.testing.assert_allclose(with_context, one_by_one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        with_context, model.predict_logits(LINES, context=CONTEXT, batch_size=2), rtol=1e-5, atol=1e-6
    )


def test_contexts_are_read_in_groups_of_one_length_with_the_same_scores_and_gradients(monkeypatch) -> None:
    from movie_gender.model import modeling

    model = _model()
    data = EncodedSplit.from_texts(model.tokenizer, LINES, [0, 1, 0, 1, 0], CONTEXT)
    rows = np.arange(len(LINES))

    def scores_and_gradients() -> tuple[np.ndarray, list[np.ndarray], int]:
        model.zero_grad()
        reads = {"n": 0}
        real_read = modeling.BiLSTMNetwork._read

        def counted(self, *args):
            reads["n"] += 1
            return real_read(self, *args)

        monkeypatch.setattr(modeling.BiLSTMNetwork, "_read", counted)
        ids, lengths = torch.from_numpy(data.ids), torch.from_numpy(data.lengths)
        output = model(ids, lengths=lengths, labels=torch.from_numpy(data.labels), **data.context_batch(rows, "cpu"))
        output.loss.backward()
        grads = [p.grad.clone().numpy() for p in model.parameters() if p.grad is not None]
        return output.logits.detach().numpy(), grads, reads["n"]

    grouped, grouped_grads, grouped_reads = scores_and_gradients()
    monkeypatch.setattr(modeling, "CONTEXT_PADDING", 1e9)  # one group: every row to the longest
    whole, whole_grads, whole_reads = scores_and_gradients()
    assert (whole_reads, grouped_reads > 3) == (2, True)  # the line, then the contexts: one call, or one a group
    np.testing.assert_allclose(grouped, whole, rtol=1e-5, atol=1e-6)
    for a, b in zip(grouped_grads, whole_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_context_model_without_context_scores_lines_alone_and_says_so_once(caplog) -> None:
    model = _model()
    with caplog.at_level(logging.WARNING, logger="movie_gender.model.modeling"):
        first = model.predict_proba(LINES)
        model.predict(LINES)
    warnings = [r for r in caplog.records if "No context given" in r.getMessage()]
    assert len(warnings) == 1 and "scored alone" in warnings[0].getMessage()
    np.testing.assert_allclose(first, model.predict_proba(LINES, context=[[] for _ in LINES]), rtol=1e-6)
    labels = model.predict(LINES, context=CONTEXT)
    assert [d["label"] for d in labels] == [
        "female" if p >= 0.5 else "male" for p in model.predict_proba(LINES, context=CONTEXT)
    ]


def test_context_of_the_wrong_shape_is_refused_clearly() -> None:
    model = _model()
    with pytest.raises(ValueError, match="one list of strings per line: 5 lines but 2 contexts"):
        model.predict_proba(LINES, context=CONTEXT[:2])
    with pytest.raises(ValueError, match=r"context\[1\] must be a list of strings"):
        model.predict_proba(LINES[:2], context=[["ok"], "a plain string"])
    with pytest.raises(ValueError, match="context_encoder must be one of"):
        BiLSTMConfig(context_encoder="attention")


def test_a_context_model_saves_what_it_expects_and_loads_strictly(tmp_path: Path) -> None:
    model = _model("separate")
    folder = tmp_path / "m"
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["context_encoder"] == "separate" and config["context_size"] == 2
    loaded = BiLSTMClassifier.from_pretrained(folder)
    assert loaded.config == model.config
    np.testing.assert_array_equal(
        loaded.predict_logits(LINES, context=CONTEXT), model.predict_logits(LINES, context=CONTEXT)
    )

    weights = load_file(folder / "model.safetensors")
    del weights["context_lstm.weight_ih_l0"]
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match=r"missing \['context_lstm.weight_ih_l0'\]"):
        BiLSTMClassifier.from_pretrained(folder)


def test_a_single_line_folder_does_not_load_as_a_context_model(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    _model("none").save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["context_encoder"] == "none"
    config = json.loads((folder / "config.json").read_text())
    config["context_encoder"] = "separate"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="weights do not match config.json"):
        BiLSTMClassifier.from_pretrained(folder)


def test_config_json_without_context_fields_loads_as_a_single_line_model(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    model = _model("none")
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    del config["context_encoder"], config["context_size"]  # a folder written before context models existed
    (folder / "config.json").write_text(json.dumps(config))
    loaded = BiLSTMClassifier.from_pretrained(folder)
    assert not loaded.config.uses_context
    np.testing.assert_array_equal(loaded.predict_logits(LINES), model.predict_logits(LINES))


def _conversations(n: int, seed: int) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Lines that say nothing about the speaker; only the context (how others address them) does."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    filler = ["okay", "what", "where", "now", "go", "really", "fine", "maybe", "later", "here"]
    texts = [" ".join(rng.choice(filler, 3)) for _ in range(n)]
    context = [
        [" ".join(rng.choice(filler, 2)) + (" ma'am" if y else " sir"), " ".join(rng.choice(filler, 2))] for y in labels
    ]
    return texts, context, labels


def test_training_learns_from_the_context_that_a_single_line_model_cannot_see() -> None:
    texts, context, labels = _conversations(600, 0)
    val_texts, val_context, val_labels = _conversations(200, 1)
    tokenizer = train_tokenizer(texts + [" ".join(c) for c in context])
    scores = {}
    for encoder in ("none", "separate"):
        torch.manual_seed(0)
        model = BiLSTMClassifier(
            BiLSTMConfig(
                vocab_size=tokenizer.get_vocab_size(),
                embedding_dim=8,
                hidden_size=8,
                num_layers=1,
                pooling="mean_max",
                dropout=0.0,
                context_encoder=encoder,
            )
        )
        model.tokenizer = tokenizer
        given = context if encoder != "none" else None
        given_val = val_context if encoder != "none" else None
        result = train(
            model,
            EncodedSplit.from_texts(tokenizer, texts, labels, given),
            EncodedSplit.from_texts(tokenizer, val_texts, val_labels, given_val),
            TrainingConfig(epochs=6, batch_size=32, learning_rate=1e-2, patience=0, checkpoint_every=0),
            progress=False,
        )
        scores[encoder] = result.best_validation_auc
    assert scores["separate"] > 0.95 and scores["none"] < 0.7


def test_a_context_model_refuses_to_train_without_context() -> None:
    model = _model()
    data = EncodedSplit.from_texts(model.tokenizer, LINES, [0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="context model trains on lines with their context"):
        train(model, data, data, TrainingConfig(epochs=1, checkpoint_every=0), progress=False)


def test_train_script_with_the_context_preset_end_to_end(tmp_path: Path) -> None:
    corpus = write_corpus_folder(tmp_path / "c", *synthetic_dialogues(n_movies=12, conversations_per_movie=20, seed=3))
    glove = write_glove(
        tmp_path / "glove.tiny.8d.txt.gz", ["line", ",", "."] + SHARED_WORDS + MALE_WORDS + FEMALE_WORDS
    )
    out = tmp_path / "model"
    script = Path(__file__).resolve().parents[1] / "scripts" / "train.py"
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--preset",
            "context",
            "--corpus",
            str(corpus),
            "--glove",
            str(glove),
            "--output",
            str(out),
            "--epochs",
            "2",
            "--hidden-size",
            "8",
            "--batch-size",
            "32",
            "--bootstrap",
            "20",
            "--min-lines",
            "3",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["context_encoder"] == "separate" and config["context_size"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    for level in ("line", "character"):
        assert {"model", "tfidf_logreg", "tfidf_context_logreg"} <= set(metrics[level])
    # the card's example lines keep their context, and the card scores them with it
    assert metrics["examples"] and all(isinstance(e["context"], list) for e in metrics["examples"])
    assert "No context given" not in result.stderr
    assert metrics["line"]["tfidf_context_logreg"]["roc_auc"] > 0.5  # the other speakers' words are informative too
    model = BiLSTMClassifier.from_pretrained(out)
    assert model.config.uses_context and "context_lstm.weight_ih_l0" in model.state_dict()
    scores = model.predict_proba(["Sir, go now, line 1."], context=[["Yes darling, line 2.", "Honey, line 3."]])
    assert scores.shape == (1,) and 0 < scores[0] < 1
