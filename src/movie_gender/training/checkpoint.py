"""Checkpoints of a training run: what a run's state is at a batch boundary (:class:`RunState`), the fingerprint a
checkpoint must share with the run that resumes it, and writing and reading ``checkpoint.pt``."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from movie_gender.atomic import atomic_path
from movie_gender.errors import CheckpointMismatchError, first_line

if TYPE_CHECKING:
    from pathlib import Path

    from movie_gender.configuration import TrainingConfig
    from movie_gender.inference.classifier import BiLSTMPredictor
    from movie_gender.training.batches import EncodedSplit

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"


# TrainingConfig fields that make a run a different run; the others (epochs and max_steps extend or cut it, patience,
# checkpoint_every, device, precision, eval_batch_size) may change on --resume.
FINGERPRINT_TRAINING_KEYS = (
    "batch_size",
    "learning_rate",
    "weight_decay",
    "grad_clip",
    "lr_schedule",
    "bucket_batches",
    "seed",
)


def _digest(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def run_fingerprint(
    model: BiLSTMPredictor,
    train_data: EncodedSplit,
    validation_data: EncodedSplit,
    config: TrainingConfig,
    extra: dict | None = None,
) -> dict:
    """The named settings a checkpoint must share with the run that resumes it: the architecture (config.json), the
    optimisation settings that shape the run, digests of the encoded train and validation lines (which change with
    the split, its seeds and the vocabulary), and whatever ``extra`` names (the data protocol, GloVe, ...)."""
    settings = {
        **model.config.to_dict(),
        **{key: getattr(config, key) for key in FINGERPRINT_TRAINING_KEYS},
        "train data": _digest(*train_data.arrays()),
        "validation data": _digest(*validation_data.arrays()),
    }
    settings.update(extra or {})
    return {
        key: value for key, value in settings.items() if value is None or isinstance(value, (str, int, float, bool))
    }


def check_fingerprint(checkpoint: Path, saved: dict, current: dict) -> None:
    """Raise CheckpointMismatchError, one line naming the checkpoint and every differing setting, on a mismatch."""
    differing = [
        f"{key} {saved.get(key, 'unset')} -> {current.get(key, 'unset')}"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key)
    ]
    if differing:
        raise CheckpointMismatchError(
            f"{checkpoint}: belongs to another run ({'; '.join(differing)}); resume with "
            f"the same settings, or start afresh with another --checkpoint-dir"
        )


@dataclass
class RunState:
    """Where a run stands at a batch boundary: everything a checkpoint holds besides the model and optimizer.

    ``history``, ``stale`` and ``best_*`` cover completed epochs only; ``losses`` the batches of the current epoch so
    far. ``complete``: the run ended (all epochs, or early stopping).
    """

    epoch: int = 0
    batch: int = 0
    steps: int = 0
    stale: int = 0
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_validation_auc: float = float("nan")
    best_state: dict | None = None
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0  # training time before this process
    complete: bool = False
    stopped_early: bool = False


def checkpoint_payload(
    model: BiLSTMPredictor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: RunState,
    rng: torch.Tensor,
    fingerprint: dict,
) -> dict:
    """Everything needed to resume, in types ``torch.load(weights_only=True)`` reads without unpickling."""
    keys = list(state.history[0]) if state.history else []
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": rng,
        "epoch": state.epoch,
        "batch": state.batch,
        "stale": state.stale,
        "steps": state.steps,
        "seconds": state.seconds,
        "history_keys": keys,
        "history": torch.tensor([[row[k] for k in keys] for row in state.history], dtype=torch.float64),
        "best_epoch": state.best_epoch,
        "best_validation_auc": state.best_validation_auc,
        "best_model": state.best_state or {},
        "epoch_losses": torch.tensor(state.losses, dtype=torch.float64),
        "complete": state.complete,
        "stopped_early": state.stopped_early,
        "fingerprint": json.dumps(fingerprint, sort_keys=True),
    }


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically (a reader never sees half a checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def resume_state(
    checkpoint: Path,
    model: BiLSTMPredictor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainingConfig,
    fingerprint: dict,
) -> RunState:
    """Load a checkpoint into ``model``, ``optimizer``, ``scheduler`` and the torch RNG after checking it belongs to
    this run; a fresh RunState when there is none."""
    if not checkpoint.exists():
        logger.warning("--resume given but no checkpoint at %s; starting from scratch", checkpoint)
        return RunState()
    saved = torch.load(checkpoint, map_location=next(model.parameters()).device, weights_only=True)
    _load_checked(checkpoint, saved, model, fingerprint)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"].cpu())
    state = _run_state(saved, config)
    logger.info(
        "Resumed from %s at epoch %d, batch %d (step %d)", checkpoint, state.epoch + 1, state.batch, state.steps
    )
    return state


def _load_checked(checkpoint: Path, saved: dict, model: BiLSTMPredictor, fingerprint: dict) -> None:
    """Check the saved fingerprint against this run's (when the checkpoint records one), then load the weights."""
    if "fingerprint" in saved:
        check_fingerprint(checkpoint, json.loads(saved["fingerprint"]), fingerprint)
    else:
        logger.warning("%s was written by an older version and records no settings to check", checkpoint)
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as error:
        raise CheckpointMismatchError(f"{checkpoint}: belongs to another architecture ({first_line(error)})") from None


def _run_state(saved: dict, config: TrainingConfig) -> RunState:
    """The RunState a checkpoint payload (:func:`checkpoint_payload`) holds."""
    # Checkpoints from before "complete" was recorded: all epochs done, or stopped early at an epoch boundary.
    ended = int(saved["epoch"]) >= config.epochs or (
        bool(config.patience) and int(saved["stale"]) >= config.patience and int(saved["batch"]) == 0
    )
    return RunState(
        epoch=int(saved["epoch"]),
        batch=int(saved["batch"]),
        steps=int(saved["steps"]),
        stale=int(saved["stale"]),
        seconds=float(saved["seconds"]),
        history=[dict(zip(saved["history_keys"], row, strict=False)) for row in saved["history"].tolist()],
        best_epoch=int(saved["best_epoch"]),
        best_validation_auc=float(saved["best_validation_auc"]),
        best_state=saved.get("best_model") or None,
        losses=saved.get("epoch_losses", torch.zeros(0)).tolist(),
        complete=bool(saved.get("complete", ended)),
        stopped_early=bool(saved.get("stopped_early", False)),
    )


__all__ = [
    "CHECKPOINT_NAME",
    "FINGERPRINT_TRAINING_KEYS",
    "RunState",
    "run_fingerprint",
    "check_fingerprint",
    "checkpoint_payload",
    "save_checkpoint",
    "resume_state",
]
