"""Resuming: a finished run stays finished, an interruption at any boundary loses nothing, and a checkpoint is only
ever resumed by the run it belongs to."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, build_dataset, train_tokenizer
from movie_gender.errors import CheckpointMismatchError
from movie_gender.training import loop as training_module
from movie_gender.training.loop import EncodedSplit, TrainingConfig, train
from tests.factories import synthetic_corpus, write_corpus_folder

CONFIG = dict(epochs=3, batch_size=16, patience=0, checkpoint_every=4, seed=3)


@pytest.fixture(scope="module")
def data():
    with tempfile.TemporaryDirectory() as tmp:
        dd = build_dataset(write_corpus_folder(Path(tmp), *synthetic_corpus(n_movies=12, lines_per_character=30)))
        tokenizer = train_tokenizer(dd["train"]["text"])
        return (
            tokenizer,
            EncodedSplit.from_texts(tokenizer, dd["train"]["text"], dd["train"]["label"]),
            EncodedSplit.from_texts(tokenizer, dd["validation"]["text"], dd["validation"]["label"]),
        )


def _model(tokenizer, hidden_size: int = 8) -> BiLSTMClassifier:
    torch.manual_seed(0)
    model = BiLSTMClassifier(
        BiLSTMConfig(
            vocab_size=tokenizer.get_vocab_size(),
            embedding_dim=8,
            hidden_size=hidden_size,
            num_layers=2,
            pooling="mean_max",
        )
    )
    model.tokenizer = tokenizer
    return model


def _same_run(reference, reference_result, resumed, result) -> None:
    assert result.steps == reference_result.steps and result.best_epoch == reference_result.best_epoch
    assert [h["epoch"] for h in result.history] == [h["epoch"] for h in reference_result.history]
    assert [h["val_auc"] for h in result.history] == [h["val_auc"] for h in reference_result.history]
    assert [h["train_loss"] for h in result.history] == [h["train_loss"] for h in reference_result.history]
    assert result.stopped_early == reference_result.stopped_early
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_an_early_stopped_run_resumed_does_not_train_further(data, tmp_path: Path, caplog) -> None:
    tokenizer, train_data, val = data
    config = TrainingConfig(epochs=8, batch_size=16, learning_rate=0.05, patience=1, seed=3)
    reference = _model(tokenizer)
    reference_result = train(reference, train_data, val, config, checkpoint_dir=tmp_path, progress=False)
    assert reference_result.stopped_early and len(reference_result.history) < 8  # the premise of this test

    resumed = _model(tokenizer)
    with caplog.at_level(logging.INFO, logger="movie_gender.training.loop"):
        result = train(resumed, train_data, val, config, checkpoint_dir=tmp_path, resume=True, progress=False)
    assert "is complete" in caplog.text
    _same_run(reference, reference_result, resumed, result)


def test_a_completed_run_resumed_does_not_train_further(data, tmp_path: Path, caplog) -> None:
    tokenizer, train_data, val = data
    reference = _model(tokenizer)
    reference_result = train(
        reference, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path, progress=False
    )
    resumed = _model(tokenizer)
    with caplog.at_level(logging.INFO, logger="movie_gender.training.loop"):
        result = train(
            resumed, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path, resume=True, progress=False
        )
    assert "is complete" in caplog.text
    _same_run(reference, reference_result, resumed, result)


def test_ctrl_c_between_epochs_loses_no_epoch(data, tmp_path: Path, monkeypatch) -> None:
    """Interrupted after the end-of-epoch checkpoint, before the next epoch's first batch."""
    tokenizer, train_data, val = data
    reference = _model(tokenizer)
    reference_result = train(
        reference, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "a", progress=False
    )

    real_batch_order, calls = training_module.batch_order, {"n": 0}

    def interrupting_batch_order(*args, **kwargs):  # Ctrl-C as the second epoch's batches are drawn
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_batch_order(*args, **kwargs)

    monkeypatch.setattr(training_module, "batch_order", interrupting_batch_order)
    with pytest.raises(KeyboardInterrupt):
        train(
            _model(tokenizer), train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "b", progress=False
        )
    monkeypatch.setattr(training_module, "batch_order", real_batch_order)

    resumed = _model(tokenizer)
    result = train(
        resumed, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "b", resume=True, progress=False
    )
    assert all(h["train_loss"] == h["train_loss"] for h in result.history)  # no NaN row
    _same_run(reference, reference_result, resumed, result)


def test_ctrl_c_during_validation_records_no_nan_row(data, tmp_path: Path, monkeypatch) -> None:
    tokenizer, train_data, val = data
    reference = _model(tokenizer)
    reference_result = train(
        reference, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "a", progress=False
    )
    real, calls = BiLSTMClassifier.logits_from_ids, {"n": 0}

    def interrupting(self, *args, **kwargs):  # Ctrl-C while the second epoch is validated
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(BiLSTMClassifier, "logits_from_ids", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train(
            _model(tokenizer), train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "b", progress=False
        )
    monkeypatch.setattr(BiLSTMClassifier, "logits_from_ids", real)
    resumed = _model(tokenizer)
    result = train(
        resumed, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "b", resume=True, progress=False
    )
    _same_run(reference, reference_result, resumed, result)


def test_max_steps_then_resume_continues_the_same_run(data, tmp_path: Path) -> None:
    tokenizer, train_data, val = data
    config = dict(CONFIG, patience=1, lr_schedule="constant")
    reference = _model(tokenizer)
    reference_result = train(
        reference, train_data, val, TrainingConfig(**config), checkpoint_dir=tmp_path / "a", progress=False
    )
    steps_per_epoch = reference_result.history[0]["steps"]
    partial = train(
        _model(tokenizer),
        train_data,
        val,
        TrainingConfig(**config, max_steps=steps_per_epoch + 5),
        checkpoint_dir=tmp_path / "b",
        progress=False,
    )
    assert [h["epoch"] for h in partial.history] == [1, 2]  # the partial second epoch is reported ...

    resumed = _model(tokenizer)
    result = train(
        resumed, train_data, val, TrainingConfig(**config), checkpoint_dir=tmp_path / "b", resume=True, progress=False
    )
    _same_run(reference, reference_result, resumed, result)  # ... but not recorded twice, nor counted as stale


def test_max_steps_at_an_epoch_end_adds_no_empty_epoch(data, tmp_path: Path) -> None:
    tokenizer, train_data, val = data
    config = dict(CONFIG, lr_schedule="constant")  # the same learning rates with and without --max-steps
    full = train(_model(tokenizer), train_data, val, TrainingConfig(**config), progress=False)
    steps_per_epoch = full.history[0]["steps"]
    result = train(
        _model(tokenizer), train_data, val, TrainingConfig(**config, max_steps=steps_per_epoch), progress=False
    )
    assert [h["epoch"] for h in result.history] == [1]
    assert result.history[0]["train_loss"] == full.history[0]["train_loss"]


def test_a_checkpoint_of_another_architecture_is_refused_in_one_line(data, tmp_path: Path) -> None:
    tokenizer, train_data, val = data
    train(
        _model(tokenizer),
        train_data,
        val,
        TrainingConfig(**CONFIG, max_steps=5),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    with pytest.raises(CheckpointMismatchError) as error:
        train(
            _model(tokenizer, hidden_size=12),
            train_data,
            val,
            TrainingConfig(**CONFIG),
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "checkpoint.pt") in message
    assert "hidden_size 8 -> 12" in message


def test_a_checkpoint_of_another_split_or_optimisation_is_refused(data, tmp_path: Path) -> None:
    tokenizer, train_data, val = data
    run = {"data.seed": 42, "data.split": "movie"}
    train(
        _model(tokenizer),
        train_data,
        val,
        TrainingConfig(**CONFIG, max_steps=5),
        checkpoint_dir=tmp_path,
        fingerprint=run,
        progress=False,
    )
    with pytest.raises(CheckpointMismatchError, match=r"checkpoint.pt: .*data.seed 42 -> 7"):
        train(
            _model(tokenizer),
            train_data,
            val,
            TrainingConfig(**CONFIG),
            checkpoint_dir=tmp_path,
            fingerprint={**run, "data.seed": 7},
            resume=True,
            progress=False,
        )
    with pytest.raises(CheckpointMismatchError, match=r"learning_rate [0-9.e-]+ -> 0.01"):
        train(
            _model(tokenizer),
            train_data,
            val,
            TrainingConfig(**CONFIG, learning_rate=0.01),
            checkpoint_dir=tmp_path,
            fingerprint=run,
            resume=True,
            progress=False,
        )
    # The same settings resume (a longer --max-steps is not a different run).
    train(
        _model(tokenizer),
        train_data,
        val,
        TrainingConfig(**CONFIG, max_steps=9),
        checkpoint_dir=tmp_path,
        fingerprint=run,
        resume=True,
        progress=False,
    )


def test_same_shapes_but_another_vocabulary_is_refused(data, tmp_path: Path) -> None:
    tokenizer, train_data, val = data
    train(
        _model(tokenizer),
        train_data,
        val,
        TrainingConfig(**CONFIG, max_steps=5),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    shuffled = EncodedSplit(
        train_data.ids[::-1].copy(), train_data.lengths[::-1].copy(), train_data.labels[::-1].copy()
    )
    with pytest.raises(CheckpointMismatchError, match="train data"):
        train(
            _model(tokenizer),
            shuffled,
            val,
            TrainingConfig(**CONFIG),
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )
