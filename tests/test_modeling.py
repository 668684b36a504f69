"""BiLSTMClassifier: forward, padding invariance, predict, and strict save/load through the Hub mixin."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.data.tokenizer import encode
from movie_gender.errors import ModelLoadError
from movie_gender.model.batching import length_groups
from movie_gender.model.layers import BagOfWords, dropout
from movie_gender.presets import PRESETS
from movie_gender.training.loop import (
    EncodedSplit,
    TrainingConfig,
    backward_in_groups,
    optimizer_and_schedule,
)

LINES = ["I'll be in the car, darling.", "Get the gun, buddy!", "", "What?", "Honey, I love this dress so much."]


def _model(pooling: str = "last", **overrides) -> BiLSTMClassifier:
    torch.manual_seed(0)
    tokenizer = train_tokenizer(LINES + ["some more words for the vocabulary"])
    config = BiLSTMConfig(
        **{
            "vocab_size": tokenizer.get_vocab_size(),
            "embedding_dim": 8,
            "hidden_size": 6,
            "num_layers": 2,
            "pooling": pooling,
            **overrides,
        }
    )
    model = BiLSTMClassifier(config)
    if config.bag_of_words:  # it starts at 0; random weights make every test below check it too
        for weights in model.bag_of_words.parameters():
            torch.nn.init.normal_(weights, std=0.1)
    model.tokenizer = tokenizer
    return model.eval()


def test_the_tutorial_preset_is_the_tutorial_architecture() -> None:
    config = PRESETS["tutorial"].model
    assert (config.embedding_dim, config.hidden_size, config.num_layers, config.bidirectional, config.dropout) == (
        200,
        256,
        4,
        True,
        0.2,
    )
    model = BiLSTMClassifier(replace(config, vocab_size=10))
    assert (model.fc1.in_features, model.fc1.out_features, model.fc2.out_features) == (512, 256, 1)


def test_the_bag_of_words_is_a_logistic_regression_on_words_and_word_pairs() -> None:
    model = _model()
    ids, lengths = encode(model.tokenizer, ["the car", "car the"])
    with torch.no_grad():
        ids = torch.from_numpy(ids)
        bag = model.bag_of_words(ids, torch.ones_like(ids, dtype=torch.bool))
        words = model.bag_of_words.words(ids).squeeze(-1).sum(dim=1)
        pairs = model.bag_of_words.pairs(model.bag_of_words.pair_ids(ids)).squeeze(-1).sum(dim=1)
        without = replace(model.config, bag_of_words=False)
        lstm_only = BiLSTMClassifier(without)
        lstm_only.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("bag_of_words.")})
        lstm_only.eval()
        full, alone = model(ids).logits, lstm_only(ids).logits
    expected = BagOfWords.SCALE * (words + pairs) / np.sqrt(2)
    torch.testing.assert_close(bag, expected)
    assert bag[0] != bag[1]  # the same words in another order: other pairs
    torch.testing.assert_close(full, alone + bag)


def test_word_dropout_acts_in_training_only() -> None:
    model = _model("mean_max", word_dropout=0.5, dropout=0.0)
    ids = torch.from_numpy(encode(model.tokenizer, LINES)[0])
    with torch.no_grad():
        evaluation = [model(ids).logits for _ in range(2)]
        model.train()
        training = [model(ids).logits for _ in range(2)]
    torch.testing.assert_close(evaluation[0], evaluation[1])
    assert not torch.allclose(training[0], training[1])


def test_a_config_json_from_before_the_bag_of_words_loads_as_it_was_saved() -> None:
    config = BiLSTMConfig.from_dict({"vocab_size": 10, "embedding_dim": 4, "hidden_size": 3})
    assert (config.bag_of_words, config.word_dropout) == (False, 0.0)
    assert "bag_of_words.words.weight" not in BiLSTMClassifier(config).state_dict()
    assert BiLSTMConfig.from_dict(BiLSTMConfig(vocab_size=10).to_dict()) == BiLSTMConfig(vocab_size=10)


def test_forward_returns_logits_and_loss() -> None:
    model = _model()
    ids, lengths = encode(model.tokenizer, LINES)
    out = model(torch.from_numpy(ids), attention_mask=torch.from_numpy(ids != 0), labels=torch.tensor([1, 0, 0, 0, 1]))
    assert out.logits.shape == (5,) and out.loss.ndim == 0 and out.loss.requires_grad


@pytest.mark.parametrize("pooling", ["last", "max", "mean_max"])
def test_padding_never_changes_a_logit(pooling: str) -> None:
    model = _model(pooling)
    alone = np.array([model.predict_logits([line], bf16=False)[0] for line in LINES])
    ids, lengths = encode(model.tokenizer, LINES)
    padded = np.pad(ids, ((0, 0), (0, 7)))  # more padding than any line needs
    with torch.no_grad():
        batch = model(torch.from_numpy(padded)).logits.numpy()
    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict_logits(LINES, batch_size=2, bf16=False), alone, rtol=0, atol=1e-6)


@pytest.mark.parametrize("pooling", ["last", "mean_max"])
def test_a_batch_of_many_lengths_gives_each_line_its_own_logit(pooling: str) -> None:
    model = _model(pooling)
    lines = [" ".join(["go"] * n) for n in range(1, 13)]  # 12 lengths: the padded path, backward pass reversed per line
    alone = np.array([model.predict_logits([line], bf16=False)[0] for line in lines])
    ids, _ = encode(model.tokenizer, lines)
    with torch.no_grad():
        batch = model(torch.from_numpy(ids)).logits.numpy()
    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-6)
    for max_padding in (0.0, 0.5, 100.0):  # predict's batches: one length each, a few lengths, all lengths
        np.testing.assert_allclose(
            model.logits_from_ids(*encode(model.tokenizer, lines), max_padding=max_padding), alone, rtol=0, atol=1e-6
        )


def test_training_through_the_padded_path_matches_the_unpadded_gradients() -> None:
    model = _model("mean_max", num_layers=2, dropout=0.0, word_dropout=0.0).train()
    lines = ["go go go", "the car", "darling honey sweet love you"]
    ids, lengths = encode(model.tokenizer, lines)
    labels = torch.tensor([1.0, 0.0, 1.0])
    model(torch.from_numpy(ids), lengths=torch.from_numpy(lengths), labels=labels).loss.backward()
    padded = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    loss = (
        sum(model(torch.from_numpy(ids[i : i + 1, : lengths[i]]), labels=labels[i : i + 1]).loss for i in range(3)) / 3
    )
    loss.backward()
    for name, grad in padded.items():
        torch.testing.assert_close(grad, model.get_parameter(name).grad, rtol=1e-4, atol=1e-6)


def test_a_training_step_in_length_groups_has_the_gradient_of_the_whole_batch() -> None:
    model = _model("last", num_layers=2, dropout=0.0, word_dropout=0.0).train()
    lines = [" ".join(["go"] * n) for n in (1, 2, 2, 3, 7, 8, 12)] + ["the car", "darling honey sweet love you"]
    split = EncodedSplit.from_texts(model.tokenizer, lines, [1, 0, 1, 0, 1, 0, 1, 0, 1])
    index = np.arange(len(lines))[::-1].copy()
    groups = length_groups(split.lengths, index, len(index), max_padding=0.125)
    assert len(groups) > 3 and sorted(np.concatenate(groups)) == list(range(len(lines)))
    for group in groups:  # each group: lines of about one length (at most 12.5% longer than its shortest)
        assert split.lengths[group].max() <= 1.125 * max(1, split.lengths[group].min())
    ids, lengths, labels = (torch.from_numpy(a) for a in (split.ids, split.lengths, split.labels))
    whole_loss = model(ids, lengths=lengths, labels=labels).loss
    whole_loss.backward()
    whole = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    loss = backward_in_groups(model, split, index, torch.device("cpu"), bf16=False)
    assert loss == pytest.approx(float(whole_loss), abs=1e-6)
    for name, grad in whole.items():
        torch.testing.assert_close(grad, model.get_parameter(name).grad, rtol=1e-4, atol=1e-6)


def test_adam_is_fused_where_torch_has_it_and_multi_tensor_where_not(monkeypatch) -> None:
    model = _model()
    optimizer, _ = optimizer_and_schedule(model, 10, TrainingConfig())
    assert optimizer.defaults["fused"]
    real_adam = torch.optim.Adam

    def adam_of_old_torch(params, **kwargs):  # torch < 2.4: no fused Adam on a CPU
        if kwargs.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real_adam(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", adam_of_old_torch)
    optimizer, _ = optimizer_and_schedule(model, 10, TrainingConfig())
    assert optimizer.defaults["foreach"] and not optimizer.defaults["fused"]


def test_dropout_between_layers_keeps_the_expected_value() -> None:
    torch.manual_seed(0)
    x = torch.ones(200_000)
    dropped = dropout(x, 0.2)
    assert set(dropped.unique().tolist()) == {0.0, 1.25}  # inverted dropout: kept values scaled by 1 / (1 - p)
    assert (dropped == 0).float().mean().item() == pytest.approx(0.2, abs=0.005)
    assert dropped.mean().item() == pytest.approx(1.0, abs=0.01)


def test_predict_and_predict_proba() -> None:
    model = _model()
    proba = model.predict_proba(LINES)
    assert proba.shape == (5,) and ((proba > 0) & (proba < 1)).all()
    predictions = model.predict(LINES)
    for p, result in zip(proba, predictions, strict=False):
        assert result["label"] == ("female" if p >= 0.5 else "male")
        assert result["score"] == pytest.approx(max(p, 1 - p), abs=1e-6)
    assert model.predict([]) == []
    assert model.predict("a single string")[0]["label"] in {"male", "female"}


def test_glove_matrix_and_freezing() -> None:
    model = _model(freeze_embeddings=True)
    matrix = np.random.default_rng(0).normal(size=model.embedding.weight.shape).astype(np.float32)
    model.load_embeddings(matrix)
    np.testing.assert_array_equal(model.embedding.weight.detach().numpy(), matrix)
    assert not model.embedding.weight.requires_grad
    with pytest.raises(ValueError, match="embedding matrix has shape"):
        model.load_embeddings(matrix[:, :3])


def test_save_and_load_give_bit_identical_logits(tmp_path: Path) -> None:
    model = _model("mean_max")
    model.save_pretrained(tmp_path / "m")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (tmp_path / "m").iterdir()}
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["id2label"] == {"0": "male", "1": "female"} and config["pooling"] == "mean_max"
    loaded = BiLSTMClassifier.from_pretrained(tmp_path / "m")
    assert not loaded.training and loaded.config == model.config
    np.testing.assert_array_equal(loaded.predict_logits(LINES), model.predict_logits(LINES))
    assert loaded.tokenizer.to_str() == model.tokenizer.to_str()


def test_loading_is_strict(tmp_path: Path) -> None:
    model = _model()
    folder = tmp_path / "m"
    model.save_pretrained(folder)
    weights = load_file(folder / "model.safetensors")
    del weights["fc2.bias"]
    weights["extra.weight"] = torch.zeros(1)
    save_file(weights, folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match=r"missing \['fc2.bias'\], unexpected \['extra.weight'\]"):
        BiLSTMClassifier.from_pretrained(folder)


def test_config_and_weights_mismatch(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    _model().save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_layers"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="weights do not match config.json"):
        BiLSTMClassifier.from_pretrained(folder)
    config["num_layers"], config["hidden_size"] = 2, 7
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="has shape"):
        BiLSTMClassifier.from_pretrained(folder)


def test_missing_tokenizer_and_mismatched_tokenizer(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    model = _model()
    model.save_pretrained(folder)
    other = train_tokenizer(["entirely different words"])
    other.save(str(folder / "tokenizer.json"))
    with pytest.raises(ModelLoadError, match="vocabulary of .* tokens, but config.json says vocab_size"):
        BiLSTMClassifier.from_pretrained(folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="has no tokenizer.json"):
        BiLSTMClassifier.from_pretrained(folder)


def test_pickle_checkpoints_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    model = _model()
    model.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="only a pickle checkpoint"):
        BiLSTMClassifier.from_pretrained(folder)


def test_hub_metadata_labels_the_repo() -> None:
    card = _model().generate_model_card()
    assert card.data.library_name == "movie-gender" and card.data.pipeline_tag == "text-classification"
    assert card.data.license == "mit"


# --- Precision and device: the decisions run everywhere; the CUDA run needs a GPU ------------------------------


def test_forced_bf16_predictions_stay_close_to_fp32_or_are_fp32_where_no_bf16_lstm_runs(caplog) -> None:
    from movie_gender.model.precision import bf16_lstm_runs, clear_decisions

    clear_decisions()  # the fallback is logged once per process: start afresh
    model = _model(hidden_size=16)
    fp32 = model.predict_proba(LINES, bf16=False)
    with caplog.at_level(logging.WARNING, logger="movie_gender.model.precision"):
        forced = model.predict_proba(LINES, bf16=True)
    if bf16_lstm_runs():  # AMX / AVX512_BF16 natively, AVX-512 emulated, CUDA
        np.testing.assert_allclose(forced, fp32, atol=0.02)
        assert not np.array_equal(forced, fp32)  # it really ran in bf16
    else:  # AVX2 only: oneDNN has no bf16 LSTM; fp32, said in one line
        np.testing.assert_array_equal(forced, fp32)
        assert "cannot run an LSTM in bf16: running fp32" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs where one is present)")
def test_cuda_training_and_inference_match_cpu() -> None:
    from movie_gender.training.loop import EncodedSplit, TrainingConfig, train

    model = _model(hidden_size=16)
    cpu = model.predict_proba(LINES, bf16=False)
    model.to("cuda")
    assert torch.backends.cudnn.enabled and next(model.parameters()).is_cuda
    np.testing.assert_allclose(model.predict_proba(LINES, bf16=False), cpu, atol=1e-4)
    np.testing.assert_allclose(model.predict_proba(LINES), cpu, atol=0.02)  # bf16 autocast, the default on CUDA
    data = EncodedSplit.from_texts(model.tokenizer, LINES * 20, [0, 1, 0, 1, 1] * 20)
    result = train(
        model, data, data, TrainingConfig(epochs=1, batch_size=16, device="cuda", checkpoint_every=0), progress=False
    )
    assert result.device.startswith("cuda") and result.bf16 == torch.cuda.is_bf16_supported()
    assert np.isfinite(result.history[0]["train_loss"])
