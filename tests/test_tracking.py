"""Opt-in experiment tracking: --report-to tensorboard writes local event files holding the per-step loss and the
per-epoch validation metrics; nothing is tracked unless asked."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the tracking extra, in dev

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.training.loop import EncodedSplit, TrainingConfig, train
from movie_gender.training.tracking import REPORT_TO, make_tracker

MALE = ["get the gun buddy", "the car is mine sir", "give me the money boss", "one more beer buddy"]
FEMALE = ["my darling the dress is lovely", "honey you look sweet", "mother loves you baby", "what a lovely dress"]


def _splits() -> tuple[BiLSTMClassifier, EncodedSplit, EncodedSplit]:
    texts = (MALE + FEMALE) * 8
    labels = ([0] * len(MALE) + [1] * len(FEMALE)) * 8
    tokenizer = train_tokenizer(texts)
    torch.manual_seed(0)
    model = BiLSTMClassifier(
        BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=8, num_layers=1, pooling="max")
    )
    model.tokenizer = tokenizer
    return (
        model,
        EncodedSplit.from_texts(tokenizer, texts, labels),
        EncodedSplit.from_texts(tokenizer, MALE + FEMALE, [0] * 4 + [1] * 4),
    )


def test_tensorboard_event_file_holds_step_loss_and_epoch_validation_metrics(tmp_path: Path) -> None:
    model, train_data, validation_data = _splits()
    tracker = make_tracker("tensorboard", tmp_path / "logs")
    config = TrainingConfig(epochs=2, batch_size=16, patience=0, seed=0, device="cpu", bf16=False)
    result = train(model, train_data, validation_data, config, progress=False, tracker=tracker)
    tracker.close()
    events = list((tmp_path / "logs").glob("events.out.tfevents.*"))
    assert len(events) == 1
    accumulator = EventAccumulator(str(tmp_path / "logs"))
    accumulator.Reload()
    scalars = set(accumulator.Tags()["scalars"])
    assert {
        "train/loss",
        "train/learning_rate",
        "validation/auc",
        "validation/loss",
        "validation/balanced_accuracy",
    } <= scalars
    losses = accumulator.Scalars("train/loss")
    assert [e.step for e in losses] == list(range(1, result.steps + 1))  # one point per optimizer step
    assert all(np.isfinite(e.value) for e in losses)
    auc = accumulator.Scalars("validation/auc")
    assert [e.step for e in auc] == [row["steps"] for row in result.history]  # one point per epoch
    np.testing.assert_allclose([e.value for e in auc], [row["val_auc"] for row in result.history], rtol=1e-6)


def test_nothing_is_tracked_unless_asked(tmp_path: Path) -> None:
    assert REPORT_TO[0] == "none" and make_tracker("none", tmp_path / "logs") is None
    assert not (tmp_path / "logs").exists()
    with pytest.raises(ValueError, match="report_to must be one of"):
        make_tracker("wandb", tmp_path / "logs")


def test_train_option_report_to_defaults_to_none() -> None:
    from movie_gender.commands.train import options_from_args, parse_args

    assert options_from_args(parse_args(["--output", "x"])).report_to == "none"
    options = options_from_args(parse_args(["--output", "x", "--report-to", "tensorboard", "--logging-dir", "runs"]))
    assert (options.report_to, options.logging_dir) == ("tensorboard", "runs")


def test_a_missing_tensorboard_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    from movie_gender.errors import MovieGenderError

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the tracking extra were not installed
    with pytest.raises(MovieGenderError, match=r'pip install "movie-gender\[tracking\]"'):
        make_tracker("tensorboard", tmp_path / "logs")
