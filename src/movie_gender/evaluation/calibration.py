"""Calibrated P(female): Platt scaling fitted on the validation split, its expected calibration error (ECE) and
reliability diagrams.

A model's raw probabilities are not frequencies: it was trained on an oversampled (balanced) train split, so they
lean towards female, and an early-stopped network is over- or under-confident. Platt scaling maps a raw log-odds
``z`` to ``scale * z + bias`` (``scale > 0``), the two numbers fitted by minimising the log-loss on the **validation**
split (its natural class ratio; never test), with Platt's smoothed targets. It is fitted once per level: lines, and
characters (on the character score: the mean log-odds of the lines, or a character model's own score). Characters
are then calibrated for the lines they have (:func:`fit_size_platt`): the whole-character map is pulled towards the
prior, ``n / (n + half_lines)`` of the way, ``half_lines`` fitted on validation characters whole and cut to 1-10
lines (:mod:`movie_gender.evaluation.size_calibration`), so a one-line character is not read like a large one.

Why Platt and not isotonic regression: two parameters fit well on the few dozen validation characters of a small
corpus where a step function overfits, and a strictly increasing map keeps the ranking (ROC-AUC, average precision)
and maps every threshold exactly, so the thresholds chosen on validation are simply expressed on the calibrated
scale. The parameters live in config.json (``calibration: {"line": {...}, "character": {...}}``, plain numbers).
This module fits them and measures calibration; applying them (:func:`calibrated_probability`, the one function that
turns a model's log-odds into the P(female) users see) and the labelling rule live in
:mod:`movie_gender.labels`, the reliability diagrams in :mod:`movie_gender.evaluation.plots` (both
re-exported here).

ECE: test examples sorted by P(female) and cut into ``BINS`` bins of equal size (equal mass; equal scores share a
bin), the mean |fraction female - mean P(female)| over bins, weighted by bin size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np

from movie_gender.evaluation.plots import plot_name, plot_reliability, write_reliability_plots
from movie_gender.inference.characters import logit
from movie_gender.labels import (
    LEVELS,
    METHOD,
    PlattScaling,
    SizeAwarePlatt,
    calibrated_probability,
    calibration_for,
    check_calibration,
    sigmoid,
)

logger = logging.getLogger(__name__)

BINS = 10
BINNING = "equal-mass"
CONFIDENT = 0.9  # users keep the characters with P(female) >= 0.9 (and P(female) <= 0.1 for male)
MIN_SCALE = 1e-3  # the fitted map stays strictly increasing
RULE = (
    "Platt scaling (log-odds -> scale * log-odds + bias, scale > 0) fitted on the validation split by minimising the "
    "log-loss; thresholds are chosen on validation on the calibrated scale"
)
SIZE_RULE = (
    "Platt scaling shrunk towards the prior by size (log-odds -> prior + n / (n + half_lines) * (scale * log-odds + "
    "bias - prior), n the character's lines): scale and bias fitted on the whole validation characters, half_lines on "
    "them and on them cut to 1, 2, 3, 5 and 10 lines, by minimising the log-loss; thresholds are chosen on "
    "validation on the calibrated scale"
)
HALF_LINES = (math.log(1e-3), math.log(1e4))  # the range of log(half_lines) searched
POWERS = (1.0, 1.5, 2.0, 3.0)  # how fast the shrinkage lets go with the lines (SizeAwarePlatt.power), fitted


def fit_platt(logits: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> PlattScaling:
    """Platt scaling fitted on (raw log-odds, 0/1 labels): minimum log-loss against Platt's smoothed targets
    ((N+ + 1) / (N+ + 2) for positives, 1 / (N- + 2) for negatives), ``scale`` kept >= ``MIN_SCALE``. With one class
    only there is nothing to fit: the identity, with a warning."""
    from scipy.optimize import minimize

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if z.shape != y.shape:
        raise ValueError(f"got {len(z)} scores but {len(y)} labels")
    target = _targets(y)
    if target is None:
        return PlattScaling()
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        s = params[0] * z + params[1]
        # log-loss: -t log sigmoid(s) - (1 - t) log(1 - sigmoid(s)) = logaddexp(0, s) - t s
        value = float(np.sum(np.logaddexp(0.0, s) - target * s))
        residual = sigmoid(s) - target
        return value, np.array([float(residual @ z), float(residual.sum())])

    prior = math.log((positives + 1) / (negatives + 1))
    result = minimize(
        loss, np.array([1.0, prior]), jac=True, method="L-BFGS-B", bounds=[(MIN_SCALE, None), (None, None)]
    )
    return PlattScaling(float(result.x[0]), float(result.x[1]), len(y))


def _targets(y: np.ndarray) -> np.ndarray | None:
    """Platt's smoothed targets of 0/1 labels ``y``; None (with a warning) when a class is missing."""
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    if positives == 0 or negatives == 0:
        logger.warning(
            "Calibration needs both classes in validation (%d female, %d male): left uncalibrated", positives, negatives
        )
        return None
    return np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))


def fit_size_platt(
    logits: Sequence[float] | np.ndarray,
    n_lines: Sequence[int] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    whole: Sequence[bool] | np.ndarray,
    prior_labels: Sequence[int] | np.ndarray | None = None,
) -> SizeAwarePlatt:
    """Platt scaling shrunk towards the prior by size (:class:`~movie_gender.labels.SizeAwarePlatt`) from
    characters' raw log-odds, line counts and 0/1 labels, ``whole`` marking the whole characters (the others are cut
    ones): the Platt scaling of the whole characters (:func:`fit_platt`), the prior the female share of
    ``prior_labels`` (the run's train and validation characters: a share of a few dozen validation characters alone
    is off by several points, which a one-line character's probability pays in full), else of the whole ones, and
    the shrinkage (``half_lines``) of minimum log-loss over all of them, whole and cut. With one class: the
    identity."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    n = np.maximum(np.asarray(n_lines, dtype=np.float64), 1.0)
    whole = np.asarray(whole, dtype=bool)
    if not z.shape == y.shape == n.shape == whole.shape:
        raise ValueError(f"got {len(z)} scores, {len(n)} line counts, {len(whole)} marks and {len(y)} labels")
    if _targets(y[whole]) is None or _targets(y) is None:
        return SizeAwarePlatt(half_lines=0.0)
    platt = fit_platt(z[whole], y[whole])
    counted = y[whole] if prior_labels is None else np.asarray(prior_labels, dtype=np.int64)
    share = (counted.sum() + 1) / (len(counted) + 2)  # smoothed as Platt's targets are
    prior = math.log(share / (1 - share))
    target = _targets(y)

    def loss(log_half: float, power: float) -> float:
        s = SizeAwarePlatt(platt.scale, platt.bias, prior, math.exp(log_half), power=power).logits(z, n)
        return float(np.sum(np.logaddexp(0.0, s) - target * s))

    fits = [(minimize_scalar(loss, bounds=HALF_LINES, args=(p,), method="bounded"), p) for p in POWERS]
    best, power = min(fits, key=lambda fit: fit[0].fun)
    return SizeAwarePlatt(platt.scale, platt.bias, prior, float(math.exp(best.x)), int(whole.sum()), power)


def reliability(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, bins: int = BINS
) -> list[dict]:
    """Equal-mass bins of ``scores`` (P(female)): ``[{"n", "mean_p", "fraction_female"}]`` in increasing order.
    The examples sorted by score are cut into ``bins`` parts of (nearly) equal size; a cut that would separate equal
    scores moves to before them, so that equal scores share a bin (fewer bins where scores tie)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(scores, dtype=np.float64)
    if len(p) == 0:
        return []
    order = np.argsort(p, kind="stable")
    ordered = p[order]
    cuts = [int(round(k * len(p) / bins)) for k in range(1, bins)]
    cuts = sorted({int(np.searchsorted(ordered, ordered[c], side="left")) for c in cuts if 0 < c < len(p)} - {0})
    return [
        {"n": int(len(part)), "mean_p": float(p[part].mean()), "fraction_female": float(y[part].mean())}
        for part in np.split(order, cuts)
    ]


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, bins: int = BINS
) -> float:
    """ECE with ``bins`` equal-mass bins: sum over bins of (bin size / n) * |fraction female - mean P(female)|."""
    table = reliability(labels, scores, bins)
    total = sum(b["n"] for b in table)
    if not total:
        return float("nan")
    return float(sum(b["n"] * abs(b["fraction_female"] - b["mean_p"]) for b in table) / total)


def ece_noise_floor(scores: Sequence[float] | np.ndarray, bins: int = BINS, draws: int = 200, seed: int = 0) -> float:
    """The ECE a perfectly calibrated scorer would show on these scores, from sampling noise alone: the mean ECE
    over ``draws`` label sets drawn with P(female) = the scores. On a few dozen characters it is far from 0, so
    an ECE near it is as calibrated as the sample can show."""
    p = np.asarray(scores, dtype=np.float64)
    if not len(p):
        return float("nan")
    rng = np.random.default_rng(seed)
    return float(np.mean([expected_calibration_error(rng.random(len(p)) < p, p, bins) for _ in range(draws)]))


def confident(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, cut: float = CONFIDENT) -> dict:
    """What a user who keeps only confident predictions finds: among P(female) >= ``cut``, how many and the fraction
    female (``precision``); among P(female) <= 1 - ``cut``, how many and the fraction male (None where none)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(scores, dtype=np.float64)
    female, male = p >= cut, p <= 1 - cut
    return {
        "cut": cut,
        "female": {"n": int(female.sum()), "precision": float((y[female] == 1).mean()) if female.any() else None},
        "male": {"n": int(male.sum()), "precision": float((y[male] == 0).mean()) if male.any() else None},
    }


def calibrate_level(validation: dict, evaluated: dict, scorer: str = "model", bins: int = BINS) -> dict:
    """Fit Platt scaling on ``validation``'s ``scorer`` scores (raw P(female) of one level, as
    :func:`~movie_gender.evaluation.protocol.level_data`) and replace that scorer's scores in ``validation`` and
    ``evaluated`` by the calibrated ones, so thresholds and metrics that follow are on the calibrated scale.
    Returns the level's calibration record: parameters, ECE before and after on the evaluated split, its
    reliability table and the confident-prediction precision."""
    raw_validation = np.asarray(validation["scores"][scorer], dtype=np.float64)
    raw_evaluated = np.asarray(evaluated["scores"][scorer], dtype=np.float64)
    validation["raw"], evaluated["raw"] = raw_validation, raw_evaluated
    fitted: PlattScaling | SizeAwarePlatt
    if "cut" in validation:  # characters: calibrated for the lines each rests on (evaluation/size_calibration.py)
        z, n, y, whole = _size_points(validation)
        fitted = fit_size_platt(z, n, y, whole, prior_labels=validation.get("prior_labels"))
    else:
        fitted = fit_platt(logit(raw_validation), validation["labels"])
    validation["scores"][scorer] = fitted.probability(logit(raw_validation), validation.get("n_lines"))
    evaluated["scores"][scorer] = calibrated = fitted.probability(logit(raw_evaluated), evaluated.get("n_lines"))
    labels = evaluated["labels"]
    return {
        "rule": SIZE_RULE if "cut" in validation else RULE,
        "parameters": fitted.to_dict(),
        "binning": BINNING,
        "bins": bins,
        "ece_raw": expected_calibration_error(labels, raw_evaluated, bins),
        "ece": expected_calibration_error(labels, calibrated, bins),
        "ece_noise_floor": ece_noise_floor(calibrated, bins),
        "validation_ece_raw": expected_calibration_error(validation["labels"], raw_validation, bins),
        "confident": confident(labels, calibrated),
        "reliability": {
            "raw": reliability(labels, raw_evaluated, bins),
            "calibrated": reliability(labels, calibrated, bins),
        },
    }


def _size_points(validation: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(raw log-odds, line counts, labels, whether whole) of the validation characters whole and cut."""
    cuts = validation["cut"].items()
    z = [logit(validation["raw"])] + [np.asarray(c["logits"]) for _, c in cuts]
    n = [np.asarray(validation["n_lines"])] + [np.full(len(c["logits"]), k) for k, c in cuts]
    y = [np.asarray(validation["labels"])] + [np.asarray(c["labels"]) for _, c in cuts]
    whole = [np.ones(len(validation["labels"]), dtype=bool)] + [np.zeros(len(c["logits"]), dtype=bool) for _, c in cuts]
    return np.concatenate(z), np.concatenate(n), np.concatenate(y), np.concatenate(whole)


def config_calibration(report: Mapping) -> dict:
    """The config.json ``calibration`` entry from an evaluation report: ``{level: parameters}`` of each level the
    report calibrated."""
    return {
        level: dict(report[level]["calibration"]["parameters"])
        for level in LEVELS
        if isinstance(report.get(level), Mapping) and "calibration" in report[level]
    }


def summarise_folds(reports: Sequence[Mapping], pooled: Mapping) -> dict:
    """Cross-validation: per level, the ECE before and after calibration and the confident-prediction precision,
    mean and sd over the folds' reports, plus the ECE of all folds' calibrated test scores pooled (``pooled``:
    ``{level: {"labels": [arrays], "model": [arrays]}}``)."""

    def mean_sd(values: Sequence[float | None]) -> dict:
        kept = np.asarray([v for v in values if v is not None], dtype=np.float64)
        if not len(kept):
            return {"mean": None, "sd": None, "folds": 0}
        sd = float(np.std(kept, ddof=1)) if len(kept) > 1 else 0.0
        return {"mean": float(kept.mean()), "sd": sd, "folds": int(len(kept))}

    out: dict = {"binning": BINNING, "bins": BINS, "rule": RULE}
    for level in LEVELS:
        records = [r[level]["calibration"] for r in reports if "calibration" in (r.get(level) or {})]
        if not records:
            continue
        entry = {
            "ece_raw": mean_sd([r["ece_raw"] for r in records]),
            "ece": mean_sd([r["ece"] for r in records]),
            "ece_noise_floor": mean_sd([r.get("ece_noise_floor") for r in records]),
            "female_precision": mean_sd([r["confident"]["female"]["precision"] for r in records]),
            "female_n": int(sum(r["confident"]["female"]["n"] for r in records)),
        }
        data = pooled.get(level)
        if data and "model" in data:
            labels, scores = np.concatenate(data["labels"]), np.concatenate(data["model"])
            entry["pooled"] = {
                "n": int(len(labels)),
                "ece": expected_calibration_error(labels, scores),
                "ece_noise_floor": ece_noise_floor(scores),
                "confident": confident(labels, scores),
            }
        out[level] = entry
    return out


__all__ = [
    "BINS",
    "LEVELS",
    "METHOD",
    "BINNING",
    "CONFIDENT",
    "PlattScaling",
    "SizeAwarePlatt",
    "calibrate_level",
    "calibrated_probability",
    "calibration_for",
    "check_calibration",
    "confident",
    "config_calibration",
    "ece_noise_floor",
    "expected_calibration_error",
    "fit_platt",
    "fit_size_platt",
    "plot_name",
    "plot_reliability",
    "reliability",
    "sigmoid",
    "summarise_folds",
    "write_reliability_plots",
]
