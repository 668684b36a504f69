"""Metrics (scikit-learn), bootstrap intervals, the two baselines, character-level aggregation, and plots."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, classification_report, confusion_matrix, f1_score,
                             roc_auc_score, roc_curve)

from .characters import aggregate_logits
from .characters import logit as _logit
from .corpus import LABEL_NAMES
from .download import atomic_path

logger = logging.getLogger(__name__)


def line_metrics(labels: Sequence[int], scores: Sequence[float], *, threshold: float = 0.5, bootstrap: int = 1000,
                 seed: int = 0) -> dict:
    """Accuracy, balanced accuracy, per-class precision/recall/F1, macro-F1, ROC-AUC, confusion matrix.

    ``scores`` are P(female); a line is predicted female when its score >= ``threshold``. With ``bootstrap`` > 0,
    95% percentile intervals for balanced accuracy and ROC-AUC from that many resamples.
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    predicted = (scores >= threshold).astype(np.int64)
    report = classification_report(labels, predicted, labels=[0, 1], target_names=LABEL_NAMES, output_dict=True,
                                   zero_division=0)
    two_classes = len(np.unique(labels)) == 2
    metrics = {
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, scores)) if two_classes else float("nan"),
        "per_class": {name: {k: float(report[name][k]) for k in ("precision", "recall", "f1-score", "support")}
                      for name in LABEL_NAMES},
        "confusion_matrix": confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    }
    if bootstrap and two_classes:
        metrics["ci95"] = bootstrap_intervals(labels, scores, predicted, bootstrap, seed)
    return metrics


def bootstrap_intervals(labels: np.ndarray, scores: np.ndarray, predicted: np.ndarray, n: int, seed: int) -> dict:
    """95% percentile bootstrap intervals of balanced accuracy and ROC-AUC."""
    rng = np.random.default_rng(seed)
    bacc, auc = [], []
    for _ in range(n):
        sample = rng.integers(0, len(labels), len(labels))
        y = labels[sample]
        if y.min() == y.max():
            continue
        bacc.append(balanced_accuracy_score(y, predicted[sample]))
        auc.append(roc_auc_score(y, scores[sample]))
    return {"balanced_accuracy": [float(np.percentile(bacc, 2.5)), float(np.percentile(bacc, 97.5))],
            "roc_auc": [float(np.percentile(auc, 2.5)), float(np.percentile(auc, 97.5))]}


def tfidf_baseline(train_texts: Sequence[str], train_labels: Sequence[int], seed: int = 0):
    """TF-IDF of word 1-2 grams + logistic regression, fitted on the train split; returns a scorer of P(female)."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    classifier = LogisticRegression(max_iter=2000, random_state=seed)
    classifier.fit(vectorizer.fit_transform(train_texts), train_labels)
    return lambda texts: classifier.predict_proba(vectorizer.transform(texts))[:, 1]


def baseline_scores(train_texts: Sequence[str], train_labels: Sequence[int], texts: Sequence[str], seed: int = 0) -> dict:
    """Scores of the two baselines on ``texts``: always-male (P(female) = 0) and TF-IDF + logistic regression."""
    return {"always_male": np.zeros(len(texts)), "tfidf_logreg": tfidf_baseline(train_texts, train_labels, seed)(texts)}


def aggregate_by_character(character_ids: Sequence[str], labels: Sequence[int], scores: Sequence[float],
                           min_lines: int = 5) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Per character with at least ``min_lines`` lines: (ids, label, P(female) from the mean log-odds, line counts)."""
    characters = aggregate_logits(character_ids, _logit(np.asarray(scores, dtype=np.float64)))
    character_label = np.zeros(len(characters.ids), dtype=np.int64)
    character_label[characters.inverse] = np.asarray(labels)
    keep = characters.n_lines >= min_lines
    return characters.ids[keep].tolist(), character_label[keep], characters.p_female[keep], characters.n_lines[keep]


# ------------------------------------------------------------------------------------------------------- plots
def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training(history: list[dict], path: str | Path) -> Path:
    """Loss (train and validation) and validation ROC-AUC / balanced accuracy per epoch."""
    plt = _figure()
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    left.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation loss")
    left.set_xlabel("epoch"), left.set_title("Loss"), left.legend()
    right.plot(epochs, [h["val_auc"] for h in history], "o-", label="validation ROC-AUC")
    right.plot(epochs, [h["val_balanced_accuracy"] for h in history], "o-", label="validation balanced accuracy")
    right.axhline(0.5, color="grey", lw=0.8, ls="--")
    best = max(history, key=lambda h: h["val_auc"])
    right.axvline(best["epoch"], color="grey", lw=0.8, ls=":", label=f"best epoch ({best['epoch']})")
    right.set_xlabel("epoch"), right.set_title("Validation"), right.legend()
    from matplotlib.ticker import MaxNLocator

    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def plot_confusion(matrix: list[list[int]], path: str | Path, title: str = "Confusion matrix") -> Path:
    """A 2x2 confusion matrix with counts and row-normalised rates."""
    plt = _figure()
    values = np.asarray(matrix, dtype=float)
    rates = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{int(values[i, j]):,}\n{rates[i, j]:.0%}", ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks([0, 1], LABEL_NAMES), ax.set_yticks([0, 1], LABEL_NAMES)
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_title(title)
    return _save(fig, path)


def plot_roc(labels: Sequence[int], curves: dict[str, Sequence[float]], path: str | Path, title: str = "ROC") -> Path:
    """ROC curves of several scorers on the same labels, with their AUC in the legend."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, scores in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("false positive rate (male called female)"), ax.set_ylabel("true positive rate (female)")
    ax.set_title(title), ax.legend(loc="lower right")
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _figure().close(fig)
    return path


def evaluate(model, train_split, eval_split, *, by: Sequence[str] = ("line", "character"), min_lines: int = 5,
             bootstrap: int = 1000, seed: int = 0, batch_size: int = 512) -> tuple[dict, dict]:
    """Score ``model`` and the two baselines (fitted on ``train_split``) on ``eval_split`` (a datasets.Dataset).

    Returns (report, scores): the report holds, for each level in ``by``, the metrics of the model and of each
    baseline; ``scores`` holds the raw labels and P(female) per scorer and level, for plots.
    """
    texts, labels = eval_split["text"], np.asarray(eval_split["label"])
    line_scores = {"model": model.predict_proba(texts, batch_size=batch_size),
                   **baseline_scores(train_split["text"], train_split["label"], texts, seed)}
    report: dict = {}
    scores: dict = {}
    if "line" in by:
        report["line"] = {name: line_metrics(labels, s, bootstrap=bootstrap, seed=seed) for name, s in line_scores.items()}
        scores["line"] = {"labels": labels, **line_scores}
    if "character" in by:
        characters = eval_split["character_id"]
        per_character = {name: aggregate_by_character(characters, labels, s, min_lines) for name, s in line_scores.items()}
        character_labels = next(iter(per_character.values()))[1]
        if len(character_labels) == 0:
            logger.warning("No character has %d or more lines in this split: no character-level metrics", min_lines)
        else:
            report["character"] = {name: line_metrics(character_labels, agg[2], bootstrap=bootstrap, seed=seed)
                                   for name, agg in per_character.items()}
            report["character"]["min_lines"] = min_lines
            scores["character"] = {"labels": character_labels, **{name: agg[2] for name, agg in per_character.items()}}
    return report, scores


def format_report(report: dict) -> str:
    """A plain-text table of the headline metrics for the log and the terminal."""
    rows = ["level      scorer         n      accuracy  bal.acc  [95% CI]         macro-F1  ROC-AUC  [95% CI]"]
    for level in ("line", "character"):
        for name, m in report.get(level, {}).items():
            if not isinstance(m, dict):
                continue
            ci = m.get("ci95", {})
            bacc_ci = "[{:.3f}, {:.3f}]".format(*ci["balanced_accuracy"]) if ci else " " * 14
            auc_ci = "[{:.3f}, {:.3f}]".format(*ci["roc_auc"]) if ci else ""
            rows.append(f"{level:<10} {name:<14} {m['n']:<6} {m['accuracy']:.3f}     {m['balanced_accuracy']:.3f}    "
                        f"{bacc_ci}   {m['macro_f1']:.3f}     {m['roc_auc']:.3f}    {auc_ci}")
    return "\n".join(rows)
