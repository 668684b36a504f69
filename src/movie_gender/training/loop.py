"""The training loop: pre-tokenized tensors, length-bucketed batches, bf16 autocast where the hardware has it,
early stopping on validation ROC-AUC, and resumable checkpoints (written and read by
:mod:`movie_gender.training.checkpoint`; the splits and their batches are :mod:`movie_gender.training.batches`).

Speed-ups (measured in scripts/benchmark.py): every line is tokenized once with the Rust batch encoder; batches
are drawn from buckets of similar length (shuffle, cut into chunks of ``bucket_batches`` batches, sort each chunk
by length, shuffle the batches), and each batch runs as groups of lines of about one length whose gradients add up
to the batch's (:func:`backward_in_groups`), so an LSTM step runs over few padded positions; Adam is one fused
kernel; bf16 autocast uses AMX/AVX512_BF16 on CPUs that have it natively (where it is faster) and tensor cores on
CUDA.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from tqdm.auto import tqdm

from movie_gender.configuration import TrainingConfig
from movie_gender.inference.classifier import BiLSTMPredictor
from movie_gender.model.batching import MAX_PADDING, length_groups
from movie_gender.model.precision import autocast, resolve_bf16
from movie_gender.training.batches import EncodedSplit, batch_order
from movie_gender.training.checkpoint import (
    CHECKPOINT_NAME,
    RunState,
    checkpoint_payload,
    resume_state,
    run_fingerprint,
    save_checkpoint,
)
from movie_gender.training.tracking import Tracker, epoch_values, step_values

if TYPE_CHECKING:
    from types import FrameType


logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What training did: one dict per epoch, the best epoch (by validation ROC-AUC) and the time it took."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_validation_auc: float = float("nan")
    steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    bf16: bool = False
    stopped_early: bool = False
    already_complete: bool = False  # resumed from the checkpoint of a run that had ended: nothing was trained

    def to_dict(self) -> dict:
        """The fields recorded in metrics.json."""
        result = asdict(self)
        del result["already_complete"]
        return result


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def backward_in_groups(
    model: BiLSTMPredictor, data: EncodedSplit, index: np.ndarray, device: torch.device, bf16: bool
) -> float:
    """Backpropagate the mean loss of the lines ``index`` (adding to the parameters' ``.grad``); returns that loss.

    The batch runs as groups of lines of about one length (:func:`movie_gender.model.modeling.length_groups` with
    ``MAX_PADDING[bf16]``), each backpropagated at its share of the batch's mean loss: the gradient of the whole
    batch, without the padded steps its longest line would give every other line (in fp32 on a CPU, a tutorial
    step runs ~1.4x faster)."""
    total = torch.zeros((), device=device)
    for group in length_groups(data.lengths, index, len(index), MAX_PADDING[bf16]):
        lengths = data.lengths[group]
        width = max(1, int(lengths.max()))
        input_ids = torch.from_numpy(data.ids[group, :width]).to(device, non_blocking=True)
        labels = torch.from_numpy(data.labels[group]).to(device, non_blocking=True)
        with autocast(device, bf16):
            loss = model(
                input_ids, lengths=torch.from_numpy(lengths), labels=labels, **data.context_batch(group, device)
            ).loss
        share = len(group) / len(index)
        (loss * share).backward()
        total += loss.detach() * share
    return float(total)


def _validation_metrics(model: BiLSTMPredictor, data: EncodedSplit, config: TrainingConfig, bf16: bool) -> dict:
    logits = model.logits_from_ids(
        data.ids,
        data.lengths,
        batch_size=config.eval_batch_size,
        bf16=bf16,
        context_ids=data.context_ids,
        context_lengths=data.context_lengths,
    )
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(logits), torch.from_numpy(data.labels).float()
    )
    return {
        "val_loss": float(loss),
        "val_auc": float(roc_auc_score(data.labels, logits)),
        "val_balanced_accuracy": float(balanced_accuracy_score(data.labels, logits >= 0)),
    }


def optimizer_and_schedule(
    model: BiLSTMPredictor, train_lines: int, config: TrainingConfig
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam over the trainable parameters and the learning-rate schedule of ``config`` for ``train_lines`` lines."""
    # fused: one kernel for the whole update, 4-5x faster than foreach on CPU (3% of a tutorial step on 2 cores);
    # torch < 2.4 has no fused Adam on CPU, and there the multi-tensor foreach path is the fastest.
    parameters = [p for p in model.parameters() if p.requires_grad]
    settings: dict[str, Any] = {"lr": config.learning_rate, "weight_decay": config.weight_decay}
    try:
        optimizer = torch.optim.Adam(parameters, **settings, fused=True)
    except RuntimeError:
        optimizer = torch.optim.Adam(parameters, **settings, foreach=True)
    steps_per_epoch = math.ceil(train_lines / config.batch_size)
    planned = (
        steps_per_epoch * config.epochs
        if config.max_steps is None
        else min(config.max_steps, steps_per_epoch * config.epochs)
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        (lambda step: max(0.0, 1.0 - step / planned)) if config.lr_schedule == "linear" else (lambda step: 1.0),
    )
    return optimizer, scheduler


class _Trainer:
    """One run of :func:`train`: the steps it is made of, each a method, sharing the model, optimizer and state."""

    def __init__(
        self,
        model: BiLSTMPredictor,
        train_data: EncodedSplit,
        validation_data: EncodedSplit,
        config: TrainingConfig,
        checkpoint: Path | None,
        fingerprint: dict,
        progress: bool,
        tracker: Tracker | None = None,
    ) -> None:
        self.model, self.train_data, self.validation_data, self.config = model, train_data, validation_data, config
        self.checkpoint, self.fingerprint, self.progress, self.tracker = checkpoint, fingerprint, progress, tracker
        self.device = resolve_device(config.device)
        model.to(self.device)
        # None: the precision policy (bf16 only where native and timed faster for this model; MOVIE_GENDER_PRECISION)
        self.bf16 = resolve_bf16(
            config.bf16, self.device, model.config, training=True, probe=model.precision_probe(True)
        )
        torch.manual_seed(config.seed)
        self.optimizer, self.scheduler = optimizer_and_schedule(model, len(train_data), config)
        self.state = RunState()
        self.started = time.perf_counter()
        self.rng = torch.get_rng_state()  # the torch RNG state at the current batch boundary
        self.interrupted = False  # set by Ctrl-C; the loop stops at the next batch boundary
        self.partial_row: dict | None = None  # the history row of an epoch cut short by --max-steps

    def resume(self) -> bool:
        """Continue from the checkpoint (or from scratch when there is none); True when its run had already ended,
        so that nothing is trained."""
        if self.checkpoint is None:
            raise ValueError("resuming needs a checkpoint folder")
        self.state = resume_state(
            self.checkpoint, self.model, self.optimizer, self.scheduler, self.config, self.fingerprint
        )
        self.rng = torch.get_rng_state()
        if self.state.complete:
            logger.info(
                "The run in %s is complete (%d epochs, best epoch %d): not training further",
                self.checkpoint,
                len(self.state.history),
                self.state.best_epoch,
            )
        return self.state.complete

    def max_steps_reached(self) -> bool:
        return self.config.max_steps is not None and self.state.steps >= self.config.max_steps

    def save(self) -> None:
        """Checkpoint the current batch boundary (a no-op without a checkpoint folder)."""
        if self.checkpoint is not None:
            self.state.seconds = self.elapsed()
            self.started = time.perf_counter()
            save_checkpoint(
                self.checkpoint,
                checkpoint_payload(self.model, self.optimizer, self.scheduler, self.state, self.rng, self.fingerprint),
            )

    def elapsed(self) -> float:
        return self.state.seconds + time.perf_counter() - self.started

    def train_step(self, index: np.ndarray) -> float:
        """One optimizer step on the lines ``index``; returns their mean loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = backward_in_groups(self.model, self.train_data, index, self.device, self.bf16)
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss

    def run_epoch(self, batches: list[np.ndarray]) -> dict:
        """Train from the current batch to the end of the epoch, or until --max-steps or Ctrl-C; returns the seconds,
        lines and tokens of this process's part of the epoch."""
        state, config = self.state, self.config
        self.model.train()
        speed = {"seconds": 0.0, "lines": 0, "tokens": 0}
        epoch_start = time.perf_counter()
        bar = tqdm(
            total=len(batches),
            initial=state.batch,
            disable=not self.progress,
            unit="batch",
            leave=False,
            desc=f"epoch {state.epoch + 1}/{config.epochs}",
        )
        while state.batch < len(batches) and not self.max_steps_reached() and not self.interrupted:
            self.rng = torch.get_rng_state()
            index = batches[state.batch]
            loss = self.train_step(index)
            state.batch, state.steps = state.batch + 1, state.steps + 1
            state.losses.append(loss)
            self.rng = torch.get_rng_state()
            if self.tracker is not None:
                self.tracker.log(step_values(loss, float(self.scheduler.get_last_lr()[0])), state.steps)
            speed["lines"] += len(index)
            speed["tokens"] += int(self.train_data.lengths[index].sum())
            rate = speed["lines"] / max(time.perf_counter() - epoch_start, 1e-9)
            bar.set_postfix(loss=f"{np.mean(state.losses[-50:]):.4f}", lines_s=f"{rate:,.0f}")
            bar.update(1)
            if config.checkpoint_every and state.steps % config.checkpoint_every == 0:
                self.save()
        bar.close()
        speed["seconds"] = time.perf_counter() - epoch_start
        return speed

    def validate(self, speed: dict) -> dict:
        """The history row of the current epoch: train loss so far, validation metrics, speed."""
        state, seconds = self.state, speed["seconds"]
        metrics = _validation_metrics(self.model, self.validation_data, self.config, self.bf16)
        return {
            "epoch": state.epoch + 1,
            "steps": state.steps,
            "train_loss": float(np.mean(state.losses)) if state.losses else float("nan"),
            **metrics,
            "seconds": seconds,
            "lines_per_s": speed["lines"] / max(seconds, 1e-9),
            "tokens_per_s": speed["tokens"] / max(seconds, 1e-9),
        }

    def end_epoch(self, row: dict) -> None:
        """Record a completed epoch, keep the best weights, count epochs without improvement, stop early; all as one
        new state, so a Ctrl-C sees either the epoch before or the epoch after."""
        state, config = self.state, self.config
        improved = not (row["val_auc"] <= state.best_validation_auc)  # the first epoch (nan) improves
        best = ({k: v.detach().clone() for k, v in self.model.state_dict().items()}, row["epoch"], row["val_auc"], 0)
        best_state, best_epoch, best_auc, stale = (
            best if improved else (state.best_state, state.best_epoch, state.best_validation_auc, state.stale + 1)
        )
        stop_early = bool(config.patience and stale >= config.patience and row["epoch"] < config.epochs)
        logger.info(
            "epoch %d: train loss %.4f, val loss %.4f, val ROC-AUC %.4f, val balanced acc %.4f, %.0f lines/s, %.1fs%s",
            row["epoch"],
            row["train_loss"],
            row["val_loss"],
            row["val_auc"],
            row["val_balanced_accuracy"],
            row["lines_per_s"],
            row["seconds"],
            " *" if improved else "",
        )
        if stop_early:
            logger.info("No validation improvement for %d epochs: stopping early", stale)
        self.state = RunState(
            epoch=state.epoch + 1,
            steps=state.steps,
            stale=stale,
            history=[*state.history, row],
            best_epoch=best_epoch,
            best_validation_auc=best_auc,
            best_state=best_state,
            seconds=state.seconds,
            complete=stop_early or row["epoch"] >= config.epochs,
            stopped_early=stop_early,
        )

    def run(self) -> None:
        """Epoch after epoch from the current state until the run is complete, --max-steps is reached, or Ctrl-C."""
        while not self.state.complete:
            if self.max_steps_reached() and self.state.batch == 0:
                break  # --max-steps reached at an epoch boundary: nothing left to train or validate
            batches = batch_order(
                self.train_data.lengths,
                self.config.batch_size,
                self.config.seed,
                self.state.epoch,
                self.config.bucket_batches,
            )
            speed = self.run_epoch(batches)
            if self.interrupted:
                raise KeyboardInterrupt
            row = self.validate(speed)
            if self.tracker is not None:
                self.tracker.log(epoch_values(row), self.state.steps)
            if self.state.batch < len(batches):  # --max-steps reached mid-epoch: report the row, but keep it out of
                self.partial_row = row  # the checkpoint, so that --resume finishes the epoch as one
                self.save()
                break
            self.end_epoch(row)
            self.save()

    def result(self) -> TrainResult:
        """Load the best weights into the model and say what happened."""
        state = self.state
        if state.best_state:
            self.model.load_state_dict(state.best_state)
        self.model.eval()
        history = [*state.history, *([self.partial_row] if self.partial_row else [])]
        return TrainResult(
            history=history,
            best_epoch=state.best_epoch,
            best_validation_auc=state.best_validation_auc,
            steps=state.steps,
            seconds=self.elapsed(),
            device=str(self.device),
            bf16=self.bf16,
            stopped_early=state.stopped_early,
        )


@contextlib.contextmanager
def _stop_at_batch_boundary(trainer: _Trainer) -> Iterator[None]:
    """While training in the main thread, the first Ctrl-C asks the loop to stop at the next batch boundary (so the
    checkpoint is exact); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if trainer.interrupted:
            raise KeyboardInterrupt
        trainer.interrupted = True
        logger.warning("Ctrl-C: stopping after the current batch (press again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def train(
    model: BiLSTMPredictor,
    train_data: EncodedSplit,
    validation_data: EncodedSplit,
    config: TrainingConfig | None = None,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    fingerprint: dict | None = None,
    tracker: Tracker | None = None,
) -> TrainResult:
    """Train ``model`` in place; on return it holds the weights of the best epoch on validation ROC-AUC.

    The test split is never seen here. With ``checkpoint_dir``, a checkpoint (model, optimizer, RNG state, epoch,
    step, best weights, history) is written atomically every ``checkpoint_every`` steps, at the end of each epoch and
    on Ctrl-C; ``resume=True`` continues from it and, on CPU with the same seed, ends with the same weights. A run
    that already ended (all epochs, or early stopping) is not trained further. ``fingerprint``: named settings of the
    run (data protocol, seeds, ...) that, with the architecture, the encoded data and the optimisation settings, a
    checkpoint must match to be resumed (else :class:`CheckpointMismatchError`). ``tracker``
    (:mod:`movie_gender.training.tracking`) gets the loss of every step and the validation metrics of every epoch.
    """
    _check_context(model, train_data, validation_data)
    config = config or TrainingConfig()
    trainer = _Trainer(
        model,
        train_data,
        validation_data,
        config,
        Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None,
        run_fingerprint(model, train_data, validation_data, config, fingerprint),
        progress,
        tracker,
    )
    already_complete = trainer.resume() if resume and trainer.checkpoint is not None else False
    if trainer.checkpoint is not None:
        trainer.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    _run_checkpointing_on_interrupt(trainer)
    result = trainer.result()
    result.already_complete = already_complete
    return result


def _check_context(model: BiLSTMPredictor, train_data: EncodedSplit, validation_data: EncodedSplit) -> None:
    """A context model needs the context of every line, in both splits."""
    if model.config.uses_context and (train_data.context_ids is None or validation_data.context_ids is None):
        raise ValueError(
            "a context model trains on lines with their context: encode the splits with "
            "EncodedSplit.from_texts(..., context=...)"
        )


def _run_checkpointing_on_interrupt(trainer: _Trainer) -> None:
    """Run ``trainer``; on Ctrl-C, write the checkpoint of the last batch boundary (when there is a checkpoint
    folder) and raise KeyboardInterrupt."""
    try:
        with _stop_at_batch_boundary(trainer):
            trainer.run()
    except KeyboardInterrupt:
        if trainer.checkpoint is not None:
            trainer.save()
            logger.warning(
                "Interrupted: checkpoint written to %s; run again with --resume to continue", trainer.checkpoint
            )
        raise


__all__ = ["TrainResult", "resolve_device", "backward_in_groups", "optimizer_and_schedule", "train"]
