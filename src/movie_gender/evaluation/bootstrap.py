"""Paired bootstrap intervals, by movie (default) or by line, computed as weighted metrics.

Resampling whole movies with replacement is the same as giving every line (or character) of a movie the weight
"how many times its movie was drawn". Every metric here is therefore computed from a weight matrix ``[B, n]`` (one
row per resample), all resamples at once, and every scorer is scored on the same rows: the intervals are paired,
so the difference model - baseline gets an interval of its own. Resamples that hold only one class are dropped
(their metrics are undefined).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

METRICS = ("roc_auc", "average_precision", "balanced_accuracy", "macro_f1", "accuracy")
DIFFERENCE_METRICS = ("roc_auc", "balanced_accuracy")
UNITS = ("movie", "line")
CHUNK = 100  # resamples per weight matrix


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(np.broadcast_shapes(a.shape, b.shape)), where=b > 0)


def weighted_metrics(labels: np.ndarray, scores: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> dict:
    """Each metric of :data:`METRICS` for every row of ``weights`` (``[B, n]``, or ``[n]`` for one set).

    With all weights 1 these equal scikit-learn's roc_auc_score, average_precision_score, balanced_accuracy_score,
    f1_score(average="macro") and accuracy_score; with integer weights, those on the rows repeated that many times.
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=bool)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    pos, neg = w[:, labels].sum(1), w[:, ~labels].sum(1)
    tp, tn = w[:, labels & predicted].sum(1), w[:, ~labels & ~predicted].sum(1)
    fp, fn = neg - tn, pos - tp
    out = {
        "balanced_accuracy": (_divide(tp, pos) + _divide(tn, neg)) / 2,
        "accuracy": _divide(tp + tn, pos + neg),
        "macro_f1": (_divide(2 * tp, 2 * tp + fp + fn) + _divide(2 * tn, 2 * tn + fn + fp)) / 2,
    }
    # Ties share a group: sort once by score (descending), sum the weights of each group of equal scores.
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ws = w[:, order]
    ypos = labels[order]
    group_pos = np.add.reduceat(ws * ypos, starts, axis=1)
    group_neg = np.add.reduceat(ws * ~ypos, starts, axis=1)
    # ROC-AUC: each positive beats the negatives of lower groups and ties with half of its own group's negatives.
    neg_below = neg[:, None] - np.cumsum(group_neg, axis=1)
    out["roc_auc"] = _divide((group_pos * (neg_below + group_neg / 2)).sum(1), pos * neg)
    # Average precision: precision at each threshold (group), weighted by the recall it adds.
    cum_tp, cum_fp = np.cumsum(group_pos, axis=1), np.cumsum(group_neg, axis=1)
    precision = _divide(cum_tp, cum_tp + cum_fp)
    out["average_precision"] = _divide((precision * group_pos).sum(1), pos)
    undefined = (pos <= 0) | (neg <= 0)
    return {k: np.where(undefined, np.nan, v) for k, v in out.items()}


def resample_weights(n_items: int, clusters: np.ndarray | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, n_items]`` weights of ``n`` bootstrap resamples: by cluster (each item weighs as often as its cluster
    was drawn) when ``clusters`` (one id per item) is given, else by item."""
    if clusters is None:
        return rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=n).astype(np.float64)
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    n_clusters = int(inverse.max()) + 1 if len(inverse) else 0
    drawn = rng.multinomial(n_clusters, np.full(n_clusters, 1 / n_clusters), size=n).astype(np.float64)
    return drawn[:, inverse.ravel()]


def bootstrap_samples(
    labels: Sequence[int],
    scores: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    clusters: Sequence | None,
    n: int,
    seed: int,
) -> dict[str, dict[str, np.ndarray]]:
    """``{scorer: {metric: [n] values}}`` over the same ``n`` resamples for every scorer (NaN: one class only)."""
    label_array = np.asarray(labels)
    cluster_array = None if clusters is None else np.asarray(clusters)
    rng = np.random.default_rng(seed)
    parts: dict[str, dict[str, list]] = {name: {m: [] for m in METRICS} for name in scores}
    for start in range(0, n, CHUNK):
        weights = resample_weights(len(label_array), cluster_array, min(CHUNK, n - start), rng)
        for name, s in scores.items():
            s = np.asarray(s, dtype=np.float64)
            values = weighted_metrics(label_array, s, s >= thresholds[name], weights)
            for metric in METRICS:
                parts[name][metric].append(values[metric])
    return {name: {m: np.concatenate(v) for m, v in per.items()} for name, per in parts.items()}


def percentile_interval(values: np.ndarray, level: float = 0.95) -> list[float]:
    """The central ``level`` percentile interval of the defined (non-NaN) values; [nan, nan] when none are."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return [float("nan"), float("nan")]
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def intervals(samples: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
    """95% percentile interval of each metric of one scorer."""
    return {metric: percentile_interval(values) for metric, values in samples.items()}


def paired_differences(
    point: Mapping[str, Mapping[str, float]],
    samples: Mapping[str, Mapping[str, np.ndarray]] | None,
    reference: str = "model",
    metrics: Sequence[str] = DIFFERENCE_METRICS,
) -> dict[str, dict]:
    """For each scorer other than ``reference``: the difference reference - scorer of each metric, and (with
    ``samples`` from :func:`bootstrap_samples`) its 95% interval over the same resamples (``METRIC_ci95``)."""
    out = {}
    for name in point:
        if name == reference:
            continue
        entry: dict = {}
        for metric in metrics:
            entry[metric] = float(point[reference][metric] - point[name][metric])
            if samples is not None:
                entry[f"{metric}_ci95"] = percentile_interval(samples[reference][metric] - samples[name][metric])
        out[name] = entry
    return out


__all__ = [
    "METRICS",
    "DIFFERENCE_METRICS",
    "UNITS",
    "weighted_metrics",
    "resample_weights",
    "bootstrap_samples",
    "percentile_interval",
    "intervals",
    "paired_differences",
]
