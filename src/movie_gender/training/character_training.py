"""Training a character model (:mod:`movie_gender.model.character_model`) on character labels.

Multiple-instance learning: a step takes ``batch_size`` train characters, runs their lines (at most
``character_lines`` per character, drawn afresh each epoch) through the line encoder, pools them into one logit per
character and minimises the class-balanced cross-entropy of the characters (female characters weighed by
#male / #female), plus ``line_loss_weight`` times the class-balanced cross-entropy of each line's own logit. The
train characters are those of the natural train split (oversampled copies of lines removed: a character's lines
count once). Early stopping keeps the epoch with the best ROC-AUC over the validation characters; the test split is
never seen here. No checkpoints: a run on the sample takes minutes.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from tqdm.auto import tqdm

from movie_gender.configuration import TrainingConfig
from movie_gender.model.character_model import CharacterData, character_chunks, character_outputs
from movie_gender.training.loop import TrainResult, resolve_device
from movie_gender.training.tracking import epoch_values, step_values

if TYPE_CHECKING:
    import datasets

    from movie_gender.model.modeling import BiLSTMClassifier
    from movie_gender.training.tracking import Tracker

logger = logging.getLogger(__name__)


def split_data(model: BiLSTMClassifier, split: datasets.Dataset) -> CharacterData:
    """A split's lines grouped by character, with their context and labels (:class:`CharacterData`)."""
    missing = {"character_id", "context"} - set(split.column_names)
    if missing:
        raise ValueError(
            f"a character model trains on lines grouped by character with their context; the dataset has no "
            f"{', '.join(sorted(missing))} column"
        )
    columns = split.select_columns(["text", "character_id", "context", "label"]).to_dict()  # one read, not per row
    return CharacterData.build(model, columns["text"], columns["character_id"], columns["context"], columns["label"])


def score_data(model: BiLSTMClassifier, data: CharacterData) -> np.ndarray:
    """The model's logit for every character of ``data`` (all its lines), in chunks of whole characters."""
    lines_of = data.lines_of()
    out = np.zeros(len(data.names), dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for chunk in character_chunks(lines_of):
                logits, _, _ = character_outputs(model, data, chunk, np.concatenate([lines_of[c] for c in chunk]))
                out[chunk] = logits.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def _balanced_bce(logits: torch.Tensor, labels: np.ndarray, pos_weight: float) -> torch.Tensor:
    target = torch.from_numpy(labels).to(logits.device).float()
    weight = torch.tensor(pos_weight, device=logits.device)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target, pos_weight=weight)


def _pos_weight(labels: np.ndarray) -> float:
    positives, negatives = int((labels == 1).sum()), int((labels == 0).sum())
    return negatives / positives if positives and negatives else 1.0


def _validation(model: BiLSTMClassifier, data: CharacterData, pos_weight: float) -> dict:
    logits = score_data(model, data)
    labelled = data.labels >= 0
    logits, labels = logits[labelled], data.labels[labelled]
    loss = _balanced_bce(torch.from_numpy(logits), labels, pos_weight)
    two = len(np.unique(labels)) == 2
    return {
        "val_loss": float(loss),
        "val_auc": float(roc_auc_score(labels, logits)) if two else float("nan"),
        "val_balanced_accuracy": float(balanced_accuracy_score(labels, logits >= 0)) if two else float("nan"),
    }


def train_characters(
    model: BiLSTMClassifier,
    train_split: datasets.Dataset,
    validation_split: datasets.Dataset,
    config: TrainingConfig | None = None,
    *,
    progress: bool = True,
    tracker: Tracker | None = None,
) -> TrainResult:
    """Train the character model ``model`` in place on the characters of ``train_split`` (datasets.Dataset with
    text, label, character_id, context; oversampled copies of lines are dropped); on return it holds the weights of
    the epoch with the best validation character ROC-AUC."""
    from movie_gender.evaluation.protocol import natural_train

    config = config or TrainingConfig()
    if not model.config.is_character_model:
        raise ValueError("train_characters trains a character model (character_pooling='attention')")
    started = time.perf_counter()
    device = resolve_device(config.device)
    model.to(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_data = split_data(model, natural_train(train_split))
    validation_data = split_data(model, validation_split)
    labelled = np.flatnonzero(train_data.labels >= 0)
    lines_of = train_data.lines_of()
    character_weight = _pos_weight(train_data.labels[labelled])
    line_weight = _pos_weight(train_data.line_labels[train_data.line_labels >= 0])
    logger.info(
        "Character model: %d train characters (%d female), %d validation characters; %d train lines",
        len(labelled),
        int((train_data.labels[labelled] == 1).sum()),
        int((validation_data.labels >= 0).sum()),
        len(train_data.lengths),
    )
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    per_epoch = math.ceil(len(labelled) / config.batch_size)
    planned = (
        config.epochs * per_epoch if config.max_steps is None else min(config.max_steps, config.epochs * per_epoch)
    )
    schedule = (lambda step: max(0.0, 1 - step / planned)) if config.lr_schedule == "linear" else (lambda step: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    result = TrainResult(device=str(device))
    best_state, stale, steps = None, 0, 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(labelled)
        losses = []
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        for batch in tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", leave=False, disable=not progress):
            lines = np.concatenate([_draw(lines_of[c], config.character_lines, rng) for c in batch])
            character_logits, line_logits, order_of_lines = character_outputs(
                model, train_data, batch, lines, bag_dropout=model.config.word_dropout
            )
            loss = _balanced_bce(character_logits, train_data.labels[batch], character_weight)
            if config.line_loss_weight > 0:
                line_loss = _balanced_bce(line_logits, train_data.line_labels[order_of_lines], line_weight)
                loss = loss + config.line_loss_weight * line_loss
            if model.character_head.character_bags:  # the L2 of a logistic regression (C=1) over the characters
                loss = loss + model.character_head.penalty() / len(labelled)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            scheduler.step()
            steps += 1
            losses.append(float(loss.detach()))
            if tracker is not None:
                tracker.log(step_values(losses[-1], scheduler.get_last_lr()[0]), steps)
            if steps >= planned:
                break
        row = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            **_validation(model, validation_data, character_weight),
        }
        result.history.append(row)
        if tracker is not None:
            tracker.log(epoch_values(row), steps)
        logger.info(
            "epoch %d: train loss %.4f, validation characters: loss %.4f, ROC-AUC %.4f, balanced acc %.4f",
            epoch,
            row["train_loss"],
            row["val_loss"],
            row["val_auc"],
            row["val_balanced_accuracy"],
        )
        if best_state is None or row["val_auc"] > result.best_validation_auc:
            result.best_epoch, result.best_validation_auc = epoch, row["val_auc"]
            best_state, stale = copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        if steps >= planned:
            break
        if config.patience and stale >= config.patience:
            result.stopped_early = True
            logger.info("Early stopping: no better validation ROC-AUC for %d epochs", stale)
            break
    model.load_state_dict(best_state)
    model.eval()
    result.steps, result.seconds = steps, time.perf_counter() - started
    return result


def _draw(lines: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``most`` of ``lines`` at random (all when ``most`` is 0 or there are no more)."""
    if not most or len(lines) <= most:
        return lines
    return np.sort(rng.choice(lines, size=most, replace=False))


__all__ = ["train_characters", "split_data", "score_data"]
