"""The training loop: pre-tokenized tensors, length-bucketed batches, bf16 autocast where the hardware has it,
early stopping on validation ROC-AUC, and resumable checkpoints.

Speed-ups (measured in scripts/benchmark.py): every line is tokenized once with the Rust batch encoder; batches
are drawn from buckets of similar length (shuffle, cut into chunks of ``bucket_batches`` batches, sort each chunk
by length, shuffle the batches), so an LSTM step runs over few padded positions; bf16 autocast uses AMX/AVX512_BF16
on CPUs that have it natively (where it is faster) and tensor cores on CUDA.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from tqdm.auto import tqdm

from .configuration import TrainingConfig
from .download import atomic_path
from .modeling import BiLSTMClassifier, autocast, bf16_recommended, bf16_supported  # noqa: F401 (re-exported)
from .precision import resolve_bf16
from .tokenizer import encode
from .tracking import Tracker, epoch_values, step_values

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class EncodedSplit:
    """A split tokenized once: ids ``[n, longest]``, lengths ``[n]`` and labels ``[n]`` as numpy arrays; for a
    context model also each line's context (its strings joined) as ``context_ids`` / ``context_lengths``."""

    ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    context_ids: np.ndarray | None = None
    context_lengths: np.ndarray | None = None

    @classmethod
    def from_texts(cls, tokenizer, texts, labels, context=None) -> "EncodedSplit":
        """Encode ``texts`` and, when given, ``context`` (one list of strings per line)."""
        ids, lengths = encode(tokenizer, texts)
        context_ids = context_lengths = None
        if context is not None:
            context_ids, context_lengths = encode(tokenizer, [" ".join(item) for item in context])
        return cls(ids, lengths, np.asarray(labels, dtype=np.int64), context_ids, context_lengths)

    def context_batch(self, index: np.ndarray, device: torch.device) -> dict:
        """The model's context arguments for the lines at ``index`` (empty for a split without context)."""
        if self.context_ids is None:
            return {}
        width = max(1, int(self.context_lengths[index].max()))
        return {"context_ids": torch.from_numpy(self.context_ids[index, :width]).to(device, non_blocking=True),
                "context_lengths": torch.from_numpy(self.context_lengths[index])}

    def __len__(self) -> int:
        return len(self.labels)


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

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def batch_order(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucket_batches: int) -> list[np.ndarray]:
    """The batches of one epoch, deterministic in (seed, epoch): length-bucketed unless ``bucket_batches == 1``."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if bucket_batches > 1:
        chunk = batch_size * bucket_batches
        order = np.concatenate([part[np.argsort(lengths[part], kind="stable")]
                                for part in np.split(order, range(chunk, len(order), chunk))])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _validation_metrics(model, data: EncodedSplit, config: TrainingConfig, bf16: bool) -> dict:
    logits = model.logits_from_ids(data.ids, data.lengths, batch_size=config.eval_batch_size, bf16=bf16,
                                   context_ids=data.context_ids, context_lengths=data.context_lengths)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.from_numpy(data.labels).float())
    return {"val_loss": float(loss), "val_auc": float(roc_auc_score(data.labels, logits)),
            "val_balanced_accuracy": float(balanced_accuracy_score(data.labels, logits >= 0))}


def _save_checkpoint(path: Path, model, optimizer, scheduler, state: dict, rng: torch.Tensor) -> None:
    """Write everything needed to resume; ``rng`` is the torch RNG state at the batch boundary resumed from."""
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "torch_rng": rng, **state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def train(
    model: BiLSTMClassifier,
    train_data: EncodedSplit,
    validation_data: EncodedSplit,
    config: TrainingConfig | None = None,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    tracker: Tracker | None = None,
) -> TrainResult:
    """Train ``model`` in place; on return it holds the weights of the best epoch on validation ROC-AUC.

    The test split is never seen here. With ``checkpoint_dir``, a checkpoint (model, optimizer, RNG state, epoch,
    step, best weights, history) is written atomically every ``checkpoint_every`` steps, at the end of each epoch and
    on Ctrl-C; ``resume=True`` continues from it and, on CPU with the same seed, ends with the same weights.
    ``tracker`` (:mod:`movie_gender.tracking`) gets the loss of every step and the validation metrics of every epoch.
    """
    config = config or TrainingConfig()
    if model.config.uses_context and (train_data.context_ids is None or validation_data.context_ids is None):
        raise ValueError("a context model trains on lines with their context: encode the splits with "
                         "EncodedSplit.from_texts(..., context=...)")
    device = resolve_device(config.device)
    model.to(device)
    # None: the precision policy (bf16 only where native and timed faster for this model; MOVIE_GENDER_PRECISION)
    use_bf16 = resolve_bf16(config.bf16, device, model.config, training=True, probe=model._precision_probe(True))
    torch.manual_seed(config.seed)
    # foreach: one multi-tensor kernel per update step instead of a Python loop over the parameters (the default on
    # CPU), ~10% faster for the tutorial's 4 x 256 on 2 cores.
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
                                 weight_decay=config.weight_decay, foreach=True)
    steps_per_epoch = math.ceil(len(train_data) / config.batch_size)
    planned = steps_per_epoch * config.epochs if config.max_steps is None else min(config.max_steps, steps_per_epoch * config.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, (lambda step: max(0.0, 1.0 - step / planned)) if config.lr_schedule == "linear" else (lambda step: 1.0))
    result = TrainResult(device=str(device), bf16=use_bf16)
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    start_epoch, start_batch, best_state, stale = 0, 0, None, 0
    elapsed_before = 0.0
    if resume and checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        start_epoch, start_batch, stale = int(saved["epoch"]), int(saved["batch"]), int(saved["stale"])
        result.steps, elapsed_before = int(saved["steps"]), float(saved["seconds"])
        result.history = [dict(zip(saved["history_keys"], row)) for row in saved["history"].tolist()]
        result.best_epoch, result.best_validation_auc = int(saved["best_epoch"]), float(saved["best_validation_auc"])
        best_state = saved.get("best_model") or None
        logger.info("Resumed from %s at epoch %d, batch %d (step %d)", checkpoint, start_epoch + 1, start_batch, result.steps)
    elif resume:
        logger.warning("--resume given but no checkpoint at %s; starting from scratch", checkpoint)
    if checkpoint is not None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)

    def state(epoch: int, batch: int) -> dict:
        keys = list(result.history[0]) if result.history else []
        return {"epoch": epoch, "batch": batch, "stale": stale, "steps": result.steps,
                "seconds": elapsed_before + time.perf_counter() - started,
                "history_keys": keys,
                "history": torch.tensor([[row[k] for k in keys] for row in result.history], dtype=torch.float64),
                "best_epoch": result.best_epoch, "best_validation_auc": result.best_validation_auc,
                "best_model": best_state or {}}

    started = time.perf_counter()
    epoch, next_batch = start_epoch, start_batch
    rng_at_boundary = torch.get_rng_state()
    try:
        for epoch in range(start_epoch, config.epochs):
            batches = batch_order(train_data.lengths, config.batch_size, config.seed, epoch, config.bucket_batches)
            model.train()
            losses, lines, tokens = [], 0, 0
            epoch_start = time.perf_counter()
            next_batch = start_batch if epoch == start_epoch else 0
            bar = tqdm(total=len(batches), initial=next_batch, disable=not progress,
                       desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
            while next_batch < len(batches) and (config.max_steps is None or result.steps < config.max_steps):
                rng_at_boundary = torch.get_rng_state()
                index = batches[next_batch]
                lengths = train_data.lengths[index]
                width = max(1, int(lengths.max()))
                input_ids = torch.from_numpy(train_data.ids[index, :width]).to(device, non_blocking=True)
                labels = torch.from_numpy(train_data.labels[index]).to(device, non_blocking=True)
                with autocast(device, use_bf16):
                    loss = model(input_ids, lengths=torch.from_numpy(lengths), labels=labels,
                                 **train_data.context_batch(index, device)).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                next_batch += 1
                result.steps += 1
                rng_at_boundary = torch.get_rng_state()
                losses.append(loss.item())
                if tracker is not None:
                    tracker.log(step_values(losses[-1], scheduler.get_last_lr()[0]), result.steps)
                lines += len(index)
                tokens += int(lengths.sum())
                rate = lines / max(time.perf_counter() - epoch_start, 1e-9)
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", lines_s=f"{rate:,.0f}")
                bar.update(1)
                if checkpoint is not None and config.checkpoint_every and result.steps % config.checkpoint_every == 0:
                    _save_checkpoint(checkpoint, model, optimizer, scheduler, state(epoch, next_batch), rng_at_boundary)
            bar.close()
            seconds = time.perf_counter() - epoch_start
            metrics = _validation_metrics(model, validation_data, config, use_bf16)
            row = {"epoch": epoch + 1, "steps": result.steps, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                   **metrics, "seconds": seconds, "lines_per_s": lines / max(seconds, 1e-9),
                   "tokens_per_s": tokens / max(seconds, 1e-9)}
            result.history.append(row)
            if tracker is not None:
                tracker.log(epoch_values(row), result.steps)
            improved = not (metrics["val_auc"] <= result.best_validation_auc)  # the first epoch (nan) improves
            if improved:
                result.best_epoch, result.best_validation_auc, stale = epoch + 1, metrics["val_auc"], 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
            logger.info("epoch %d: train loss %.4f, val loss %.4f, val ROC-AUC %.4f, val balanced acc %.4f, "
                        "%.0f lines/s, %.1fs%s", epoch + 1, row["train_loss"], metrics["val_loss"], metrics["val_auc"],
                        metrics["val_balanced_accuracy"], row["lines_per_s"], seconds, " *" if improved else "")
            finished = next_batch >= len(batches)
            if checkpoint is not None:
                position = (epoch + 1, 0) if finished else (epoch, next_batch)
                _save_checkpoint(checkpoint, model, optimizer, scheduler, state(*position), rng_at_boundary)
            if not finished:  # --max-steps reached
                break
            if config.patience and stale >= config.patience and epoch + 1 < config.epochs:
                result.stopped_early = True
                logger.info("No validation improvement for %d epochs: stopping early", stale)
                break
    except KeyboardInterrupt:
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, optimizer, scheduler, state(epoch, next_batch), rng_at_boundary)
            logger.warning("Interrupted: checkpoint written to %s; run again with --resume to continue", checkpoint)
        raise
    if best_state:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = elapsed_before + time.perf_counter() - started
    return result
