"""Training a character model (:mod:`movie_gender.model.character_model`) on line and character labels, in three stages.

1. **Line bags** (convex, to convergence): the bag of each line's words (and, with ``line_context_bag``, the bag of
   the words said around it) as one class-balanced logistic regression (L2, ``C`` = :data:`LINE_C`, as the TF-IDF
   baselines) over every natural train line, each column weighed by its inverse document frequency
   (:func:`idf_weights`, as TF-IDF weighs words); its weights (times those column weights, so that the bags read
   plain counts) and intercept become the line encoder's bags and head bias (the BiLSTM head starts at 0, the
   attention uniform: a character's pooled score starts as the mean log-odds of its lines).
2. **Character bags** (convex): the bags of all the words a character says and hears are a class-balanced logistic
   regression on one row per train character; its ``C`` is chosen from :data:`CHARACTER_C_GRID` by the ROC-AUC of
   the validation characters' full score (pooled lines + bags, with the partner term refitted for each candidate).
3. **BiLSTM and attention** (multiple-instance learning, the bags frozen): steps of ``batch_size`` train characters,
   at most ``character_lines`` of each one's lines (drawn afresh each epoch), class-balanced cross-entropy of the
   characters plus ``line_loss_weight`` times that of each line's own logit. The state before this stage is epoch 0;
   early stopping keeps the epoch (0 included) with the best validation character ROC-AUC.

The partner term (a model built with ``character_partner_weight`` > 0) is fitted on the validation characters for
every state compared (:func:`fit_partners`: the weight from :data:`movie_gender.model.partners.WEIGHT_GRID`, the
center their mean partner score) and for the state kept; what was chosen is in ``character_head.choices``.

The train characters are those of the natural train split (oversampled copies of lines removed: a line counts
once). The test split is never seen here. No checkpoints: a run on the sample takes minutes.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from tqdm.auto import tqdm

from movie_gender.configuration import TrainingConfig
from movie_gender.model.character_model import (
    CharacterData,
    CharacterHead,
    base_logits,
    character_logits,
    character_outputs,
    line_bag_matrix,
    reads_partners,
)
from movie_gender.model.layers import BagOfWords
from movie_gender.model.partners import PartnerTerm, fit_partner_term
from movie_gender.training.loop import TrainResult, resolve_device
from movie_gender.training.tracking import epoch_values, step_values

if TYPE_CHECKING:
    import datasets

    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier
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
    names = ["text", "character_id", "context", "label"]
    names += ["conversation_id"] if "conversation_id" in split.column_names else []
    columns = split.select_columns(names).to_dict()  # one read, not per row
    return CharacterData.build(
        model,
        columns["text"],
        columns["character_id"],
        columns["context"],
        columns["label"],
        columns.get("conversation_id"),
    )


def score_data(model: BiLSTMClassifier, data: CharacterData, partners: bool = True) -> np.ndarray:
    """The model's logit for every character of ``data`` (:func:`character_logits` of :func:`base_logits`); without
    ``partners``, ``base(c)`` alone."""
    base = base_logits(model, data)
    return character_logits(model, base, data.partners) if partners else base


def fit_partners(model: BiLSTMClassifier, validation: CharacterData) -> PartnerTerm | None:
    """Fit the model's partner term (:func:`movie_gender.model.partners.fit_partner_term`) on its current base scores
    of the validation characters, and set it in the model (``config.character_partner_weight``,
    ``character_head.partner_center``). None (nothing set) for data without conversation ids. Called only for a
    model built with a partner term (``character_partner_weight`` > 0 at the start of training); the weight it fits
    may be 0."""
    if validation.conversation_ids is None:
        return None
    term = fit_partner_term(base_logits(model, validation), validation.partners, validation.labels)
    center = model.character_head.partner_center  # a registered buffer, typed by nn.Module as Tensor | Module
    if not isinstance(center, torch.Tensor):
        raise TypeError(f"the character head's partner_center is a {type(center).__name__}, not a tensor buffer")
    model.config.character_partner_weight = term.weight
    center.fill_(term.center)
    return term


LINE_C = 1.0  # the L2 of the line bags' logistic regression: sklearn's default, as the TF-IDF baselines
CHARACTER_C_GRID = (0.25, 1.0, 4.0, 16.0)  # candidates for the character bags' C, chosen on validation


def _set_bag(bag: torch.nn.EmbeddingBag | BagOfWords, weights: np.ndarray, scale: float) -> None:
    """Copy effective weights (a logistic regression's coefficients) into a bag stored divided by ``scale``."""
    with torch.no_grad():
        if isinstance(bag, torch.nn.EmbeddingBag):
            bag.weight.copy_(torch.from_numpy(weights / scale).float().view(-1, 1))
            return
        vocab = bag.words.weight.shape[0]
        bag.words.weight.copy_(torch.from_numpy(weights[:vocab] / scale).float().view(-1, 1))
        if bag.buckets:
            bag.pairs.weight.copy_(torch.from_numpy(weights[vocab:] / scale).float().view(-1, 1))
        if bag.words.padding_idx is not None:
            bag.words.weight[bag.words.padding_idx] = 0.0


def _fit_logreg(features: sparse.csr_matrix, labels: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, float]:
    """``(coefficients, intercept)`` of a class-balanced, L2-penalised logistic regression fitted to convergence."""
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    classifier.fit(features, labels)
    return classifier.coef_[0], float(classifier.intercept_[0])


def idf_weights(features: sparse.csr_matrix) -> np.ndarray:
    """A weight per column of ``features`` (rows: documents): its smoothed inverse document frequency, ``log((1 + n)
    / (1 + df)) + 1`` as scikit-learn's TF-IDF, scaled so that the weighted matrix keeps the total squared norm of
    ``features`` (a regularisation strength ``C`` means what it meant without them)."""
    n = features.shape[0]
    df = np.asarray((features != 0).sum(axis=0)).reshape(-1)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    squares = features.multiply(features)
    weighted = float((squares @ (idf**2)).sum())
    return idf * np.sqrt(float(squares.sum()) / weighted) if weighted > 0 else idf


def _line_bag_features(model: BiLSTMClassifier, data: CharacterData) -> sparse.csr_matrix:
    """One row per line of ``data``: the counts of its words and word pairs, beside those of its context's when the
    model has a context bag (``line_context_bag``)."""
    args = (model.config.vocab_size, model.config.bigram_buckets)
    line = line_bag_matrix(data.ids, data.lengths, *args)
    if not model.character_head.line_context_bag:
        return line
    return sparse.hstack([line, line_bag_matrix(data.context_ids, data.context_lengths, *args)]).tocsr()


def labelled_auc(labels: np.ndarray, logits: np.ndarray) -> float:
    """ROC-AUC of the labelled rows (label >= 0: lines or characters) by ``logits``; nan without both classes."""
    labelled = labels >= 0
    if len(np.unique(labels[labelled])) < 2:
        return float("nan")
    return float(roc_auc_score(labels[labelled], logits[labelled]))


def fit_line_bags(
    model: BiLSTMClassifier, data: CharacterData, seed: int = 0, validation: CharacterData | None = None
) -> None:
    """Stage 1: the line's bag of words (and its context's, with ``line_context_bag``) as one class-balanced
    logistic regression over the lines of ``data``, the columns weighed by :func:`idf_weights`; the bags hold its
    weights times those column weights, and the BiLSTM head's output starts at 0 with the regression's intercept as
    its bias. With ``validation``, the bags' ROC-AUC on its lines is kept in
    ``character_head.choices["line_bags_validation_auc"]``: the measure on which a change to the line bags alone is
    judged (thousands of lines, where the validation characters are dozens)."""
    features = _line_bag_features(model, data)
    labelled = data.line_labels >= 0
    rows = features[labelled]
    columns = idf_weights(rows)
    weights, intercept = _fit_logreg((rows @ sparse.diags(columns)).tocsr(), data.line_labels[labelled], LINE_C, seed)
    weights = weights * columns
    if validation is not None:
        auc = labelled_auc(validation.line_labels, _line_bag_features(model, validation) @ weights + intercept)
        model.character_head.choices["line_bags_validation_auc"] = auc
        logger.info("Line bags: validation line ROC-AUC %.4f", auc)
    width = model.config.vocab_size + model.config.bigram_buckets
    _set_bag(model.bag_of_words, weights[:width], BagOfWords.SCALE)
    if model.character_head.line_context_bag:
        _set_bag(model.character_head.context_bag, weights[width:], BagOfWords.SCALE)
    with torch.no_grad():
        model.fc2.weight.zero_()
        model.fc2.bias.fill_(intercept)


def fit_character_bags(
    model: BiLSTMClassifier, train: CharacterData, validation: CharacterData, seed: int = 0, partners: bool = False
) -> dict[float, float]:
    """Stage 2: the character bags (own and heard words) as a class-balanced logistic regression on the train
    characters, ``C`` chosen from :data:`CHARACTER_C_GRID` by the validation characters' ROC-AUC of the full score
    (with ``partners``, the partner term fitted for each candidate). Returns ``{C: validation ROC-AUC}``."""
    head = model.character_head
    rows = np.flatnonzero(train.labels >= 0)
    features = sparse.hstack([train.own, train.heard]).tocsr()[rows]
    width = head.own_bag.weight.shape[0]
    results: dict[float, float] = {}
    best: tuple[float, np.ndarray] | None = None
    for c in CHARACTER_C_GRID:
        weights, _ = _fit_logreg(features, train.labels[rows], c, seed)
        _set_bag(head.own_bag, weights[:width], CharacterHead.SCALE)
        _set_bag(head.heard_bag, weights[width:], CharacterHead.SCALE)
        if partners:
            fit_partners(model, validation)
        results[c] = _validation_auc(model, validation)
        if best is None or results[c] > results[best[0]]:
            best = (c, weights)
    if best is None:
        raise ValueError("no candidate C for the character bags: CHARACTER_C_GRID is empty")
    _set_bag(head.own_bag, best[1][:width], CharacterHead.SCALE)
    _set_bag(head.heard_bag, best[1][width:], CharacterHead.SCALE)
    head.choices["bags_c"] = best[0]
    head.choices["bags_validation_auc"] = {str(c): auc for c, auc in results.items()}
    logger.info(
        "Character bags: C %s, validation ROC-AUC %s",
        best[0],
        ", ".join(f"{c}: {auc:.4f}" for c, auc in results.items()),
    )
    return results


def _validation_auc(model: BiLSTMClassifier, data: CharacterData) -> float:
    """ROC-AUC of the labelled characters of ``data`` by the model's full score (nan without both classes)."""
    return labelled_auc(data.labels, score_data(model, data))


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


@dataclass
class _Run:
    """What the stages of :func:`train_characters` share: the data, the class weights and the optimizer."""

    train: CharacterData
    validation: CharacterData
    labelled: np.ndarray
    character_weight: float
    line_weight: float
    lines_of: list[np.ndarray] = field(default_factory=list)
    parameters: list[torch.nn.Parameter] = field(default_factory=list)
    optimizer: torch.optim.Optimizer | None = None
    scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
    planned: int = 0
    steps: int = 0
    partners: bool = False  # the model has a partner term: refitted on validation for every state compared

    def stepping(self) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        """The optimizer and its scheduler, which :func:`_optimizer` sets before the first step."""
        if self.optimizer is None or self.scheduler is None:
            raise RuntimeError("the character model's optimizer is not set up: call _optimizer before stepping")
        return self.optimizer, self.scheduler


def _prepare(model: BiLSTMClassifier, train_split: datasets.Dataset, validation_split: datasets.Dataset) -> _Run:
    from movie_gender.evaluation.protocol import natural_train

    train_data = split_data(model, natural_train(train_split))
    validation_data = split_data(model, validation_split)
    labelled = np.flatnonzero(train_data.labels >= 0)
    run = _Run(
        train=train_data,
        validation=validation_data,
        labelled=labelled,
        character_weight=_pos_weight(train_data.labels[labelled]),
        line_weight=_pos_weight(train_data.line_labels[train_data.line_labels >= 0]),
        lines_of=train_data.lines_of(),
        partners=reads_partners(model),
    )
    logger.info(
        "Character model: %d train characters (%d female), %d validation characters; %d train lines",
        len(labelled),
        int((train_data.labels[labelled] == 1).sum()),
        int((validation_data.labels >= 0).sum()),
        len(train_data.lengths),
    )
    return run


def _fit_linear_parts(model: BiLSTMClassifier, run: _Run, seed: int) -> list[torch.nn.Module]:
    """Stages 1 and 2 (the bags, fitted to convergence); returns the bags, which stay frozen afterwards."""
    bags = [m for m in (getattr(model, "bag_of_words", None), getattr(model.character_head, "context_bag", None)) if m]
    if model.config.bag_of_words:
        fit_line_bags(model, run.train, seed, run.validation)
        if model.character_head.character_bags:
            fit_character_bags(model, run.train, run.validation, seed, partners=run.partners)
            bags += [model.character_head.own_bag, model.character_head.heard_bag]
    return bags


def _optimizer(model: BiLSTMClassifier, run: _Run, frozen: list[torch.nn.Module], config: TrainingConfig) -> None:
    """Adam over every trainable parameter outside the frozen bags, with the configured learning-rate schedule."""
    frozen_ids = {id(p) for bag in frozen for p in bag.parameters()}
    run.parameters = [p for p in model.parameters() if p.requires_grad and id(p) not in frozen_ids]
    run.optimizer = torch.optim.Adam(run.parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    per_epoch = math.ceil(len(run.labelled) / config.batch_size)
    planned = config.epochs * per_epoch
    run.planned = planned if config.max_steps is None else min(config.max_steps, planned)
    schedule = (lambda step: max(0.0, 1 - step / max(run.planned, 1))) if config.lr_schedule == "linear" else None
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(run.optimizer, schedule or (lambda step: 1.0))


def _step(
    model: BiLSTMClassifier, run: _Run, batch: np.ndarray, config: TrainingConfig, rng: np.random.Generator
) -> float:
    """One optimizer step on the characters of ``batch`` (at most ``config.character_lines`` lines each)."""
    lines = np.concatenate([_draw(run.lines_of[c], config.character_lines, rng) for c in batch])
    character_logits, line_logits, order_of_lines = character_outputs(
        model, run.train, batch, lines, bag_dropout=model.config.word_dropout
    )
    loss = _balanced_bce(character_logits, run.train.labels[batch], run.character_weight)
    if config.line_loss_weight > 0:
        line_loss = _balanced_bce(line_logits, run.train.line_labels[order_of_lines], run.line_weight)
        loss = loss + config.line_loss_weight * line_loss
    optimizer, scheduler = run.stepping()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.parameters, config.grad_clip)
    optimizer.step()
    scheduler.step()
    run.steps += 1
    return float(loss.detach())


def _epoch(
    model: BiLSTMClassifier,
    run: _Run,
    epoch: int,
    config: TrainingConfig,
    rng: np.random.Generator,
    progress: bool,
    tracker: Tracker | None,
) -> float:
    """One epoch over the train characters in a fresh random order; returns the mean loss."""
    model.train()
    order = rng.permutation(run.labelled)
    losses = []
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    for batch in tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", leave=False, disable=not progress):
        losses.append(_step(model, run, batch, config, rng))
        if tracker is not None:
            tracker.log(step_values(losses[-1], float(run.stepping()[1].get_last_lr()[0])), run.steps)
        if run.steps >= run.planned:
            break
    return float(np.mean(losses))


def _keep_partners(model: BiLSTMClassifier, term: PartnerTerm | None) -> None:
    """Record (in ``character_head.choices``) and log the partner term the model keeps."""
    if term is None:
        return
    model.character_head.choices["partner"] = term.to_dict()
    logger.info(
        "Partner term: weight %s, center %.4f (validation ROC-AUC by weight: %s)",
        term.weight,
        term.center,
        ", ".join(f"{w}: {a:.4f}" for w, a in term.validation_auc.items()),
    )


def _refit_partners(model: BiLSTMClassifier, run: _Run) -> PartnerTerm | None:
    """The partner term fitted for the model's current state (:func:`fit_partners`), when it has one."""
    return fit_partners(model, run.validation) if run.partners else None


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
    text, label, character_id, context and, for the partner term, conversation_id; oversampled copies of lines are
    dropped); on return it holds the weights of the epoch (0: the convex stages alone) with the best validation
    character ROC-AUC."""
    config = config or TrainingConfig()
    if not model.config.is_character_model:
        raise ValueError("train_characters trains a character model (character_pooling='attention')")
    started = time.perf_counter()
    device = resolve_device(config.device)
    model.to(device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    run = _prepare(model, train_split, validation_split)
    _optimizer(model, run, _fit_linear_parts(model, run, config.seed), config)
    result = TrainResult(device=str(device))
    _refit_partners(model, run)
    row = {"epoch": 0, "train_loss": float("nan"), **_validation(model, run.validation, run.character_weight)}
    _record(result, row, tracker, 0)
    result.best_epoch, result.best_validation_auc = 0, row["val_auc"]
    best_state, stale = copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, config.epochs + 1):
        if run.steps >= run.planned:
            break
        loss = _epoch(model, run, epoch, config, rng, progress, tracker)
        _refit_partners(model, run)
        row = {"epoch": epoch, "train_loss": loss, **_validation(model, run.validation, run.character_weight)}
        _record(result, row, tracker, run.steps)
        if row["val_auc"] > result.best_validation_auc:
            result.best_epoch, result.best_validation_auc = epoch, row["val_auc"]
            best_state, stale = copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        if config.patience and stale >= config.patience:
            result.stopped_early = True
            logger.info("Early stopping: no better validation ROC-AUC for %d epochs", stale)
            break
    model.load_state_dict(best_state)
    model.eval()
    _keep_partners(model, _refit_partners(model, run))
    logger.info(
        "Character model: kept epoch %d (validation ROC-AUC %.4f)", result.best_epoch, result.best_validation_auc
    )
    result.steps, result.seconds = run.steps, time.perf_counter() - started
    return result


def _record(result: TrainResult, row: dict, tracker: Tracker | None, steps: int) -> None:
    result.history.append(row)
    if tracker is not None:
        tracker.log(epoch_values(row), steps)
    logger.info(
        "epoch %d: train loss %.4f, validation characters: loss %.4f, ROC-AUC %.4f, balanced acc %.4f",
        row["epoch"],
        row["train_loss"],
        row["val_loss"],
        row["val_auc"],
        row["val_balanced_accuracy"],
    )


def _draw(lines: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``most`` of ``lines`` at random (all when ``most`` is 0 or there are no more)."""
    if not most or len(lines) <= most:
        return lines
    return np.sort(rng.choice(lines, size=most, replace=False))


__all__ = [
    "train_characters",
    "split_data",
    "score_data",
    "idf_weights",
    "labelled_auc",
    "fit_line_bags",
    "fit_character_bags",
    "fit_partners",
]
