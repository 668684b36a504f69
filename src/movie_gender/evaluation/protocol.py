"""The evaluation protocol: thresholds chosen on validation, metrics at line and character level beside the
baselines (fitted on the natural train split), paired movie-level bootstrap intervals, and plots.

Protocol (what :func:`evaluate` does, for the model and every baseline alike):

1. Baselines are fitted on the natural train split: the balanced (oversampled) train split de-duplicated by
   ``line_id``, with class-balanced weights (see :mod:`movie_gender.evaluation.baselines`).
2. Every scorer scores the validation and the evaluated split; character scores are the sigmoid of the mean
   log-odds of a character's lines (characters with at least ``min_lines`` lines), except where a scorer scores
   characters itself: a character model (its pooled estimate) and the character baselines (one document per
   character), which are reported per character only.
3. The model's P(female) is calibrated per level by Platt scaling fitted on validation
   (:mod:`movie_gender.evaluation.calibration`; its ECE before and after is reported on the evaluated split).
   For each scorer and level, the decision threshold is the one that maximises balanced accuracy on validation
   (the model's on the calibrated scale); it is applied unchanged to the evaluated split.
4. Threshold-free metrics (ROC-AUC, average precision) and thresholded ones (balanced accuracy, macro-F1,
   accuracy, per-class precision/recall/F1, confusion matrix) on the evaluated split, with 95% intervals from a
   paired bootstrap over movies (the same resamples for every scorer) and the difference model - baseline with
   its own interval.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    roc_auc_score,
)

from movie_gender.data.columns import read_column, read_columns
from movie_gender.data.corpus import LABEL_NAMES
from movie_gender.evaluation.baselines import (
    BASELINES,
    BaselineResources,
    available_baselines,
    baseline_scores,
    reported_baselines,
)
from movie_gender.evaluation.bootstrap import UNITS, bootstrap_samples, intervals, paired_differences
from movie_gender.evaluation.calibration import calibrate_level, config_calibration, sigmoid
from movie_gender.evaluation.partnered import add_character_scorers, with_unknown
from movie_gender.evaluation.size_calibration import attach_cut_scores, by_size  # calibration by size
from movie_gender.inference.characters import aggregate_logits, logit

if TYPE_CHECKING:
    import datasets

    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier


logger = logging.getLogger(__name__)

CONTEXT = "tfidf_context_logreg"  # per line only beside a context model: the other speakers' lines are not the line's
THRESHOLD_RULE = (
    "chosen on the validation split to maximise balanced accuracy, applied unchanged to the evaluated split"
)
LEVELS = ("line", "character")


def choose_threshold(labels: np.ndarray | Sequence[int], scores: np.ndarray | Sequence[float]) -> float:
    """The threshold t (predict female when score >= t) that maximises balanced accuracy on (labels, scores).

    Candidates are the lowest score (everything female), the midpoints between consecutive distinct scores and a
    value above the highest score (everything male); among equally good ones the one closest to 0.5 wins. With a
    single class present there is nothing to choose: 0.5.
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    positives, negatives = int((labels == 1).sum()), int((labels == 0).sum())
    if positives == 0 or negatives == 0:
        return 0.5
    values, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse, weights=labels == 1, minlength=len(values))
    neg = np.bincount(inverse, weights=labels == 0, minlength=len(values))
    # Candidate i predicts female for the values of index >= i (i = len(values): nothing female).
    true_positive = np.r_[np.cumsum(pos[::-1])[::-1], 0.0]
    true_negative = np.r_[0.0, np.cumsum(neg)]
    balanced = (true_positive / positives + true_negative / negatives) / 2
    middle = values[:-1] + (values[1:] - values[:-1]) / 2
    middle = np.where(middle > values[:-1], middle, values[1:])  # adjacent floats: the midpoint rounds down
    top = max((values[-1] + 1) / 2, float(np.nextafter(values[-1], np.inf)))
    candidates = np.r_[values[0], middle, top]
    best = np.flatnonzero(balanced >= balanced.max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def scorer_metrics(
    labels: np.ndarray | Sequence[int], scores: np.ndarray | Sequence[float], threshold: float = 0.5
) -> dict:
    """The metrics of one scorer: threshold-free (ROC-AUC, average precision) first, then those at ``threshold``
    (predict female when score >= threshold): balanced accuracy, macro-F1, accuracy, per class, confusion matrix."""
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    predicted = (scores >= threshold).astype(np.int64)
    report = classification_report(
        labels, predicted, labels=[0, 1], target_names=LABEL_NAMES, output_dict=True, zero_division=0
    )
    two_classes = len(np.unique(labels)) == 2
    return {
        "n": int(len(labels)),
        "roc_auc": float(roc_auc_score(labels, scores)) if two_classes else float("nan"),
        "average_precision": float(average_precision_score(labels, scores)) if two_classes else float("nan"),
        "threshold": float(threshold),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "per_class": {
            name: {k: float(report[name][k]) for k in ("precision", "recall", "f1-score", "support")}
            for name in LABEL_NAMES
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    }


def natural_train(train_split: datasets.Dataset) -> datasets.Dataset:
    """The train split without its oversampled copies: the first row of each ``line_id`` (the split itself when
    there is no ``line_id`` column or no duplicate). An undersampled train split cannot be restored: it is returned
    as it is."""
    if "line_id" not in train_split.column_names:
        return train_split
    _, first = np.unique(np.asarray(read_column(train_split, "line_id")), return_index=True)
    if len(first) == len(train_split):
        return train_split
    return train_split.select(np.sort(first))


def aggregate_by_character(
    character_ids: Sequence[str],
    labels: np.ndarray | Sequence[int],
    scores: np.ndarray | Sequence[float],
    min_lines: int = 5,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Per character with at least ``min_lines`` lines: (ids, label, P(female) from the mean log-odds, line counts)."""
    characters = aggregate_logits(character_ids, logit(np.asarray(scores, dtype=np.float64)))
    character_label = np.zeros(len(characters.ids), dtype=np.int64)
    character_label[characters.inverse] = np.asarray(labels)
    keep = characters.n_lines >= min_lines
    return characters.ids[keep].tolist(), character_label[keep], characters.p_female[keep], characters.n_lines[keep]


def _uses_context(model: object) -> bool:
    """Whether ``model`` reads the ``context`` column (a context model; anything without a config does not)."""
    return bool(getattr(getattr(model, "config", None), "uses_context", False))


def _reported(name: str, level: str, model: object) -> bool:
    """Whether scorer ``name`` is reported at ``level``: a character baseline only per character; TF-IDF + context per
    line only beside a model that reads context too (the other speakers' lines are not the line's)."""
    if name == "model":
        return True
    if level not in BASELINES[name].levels:
        return False
    return level != "line" or name != CONTEXT or _uses_context(model)


def model_scores(model: BiLSTMClassifier, split: datasets.Dataset, batch_size: int = 512) -> np.ndarray:
    """The model's raw P(female) (uncalibrated: :func:`evaluate` fits the calibration on validation) for every line
    of ``split`` (a datasets.Dataset): the sigmoid of its ``predict_logits``, or, for a scorer without that method,
    its ``predict_proba`` as it is. A context model also reads the split's ``context`` column (without one it
    scores each line alone, and says so)."""
    raw = getattr(model, "predict_logits", None)
    context = _uses_context(model) and "context" in split.column_names
    kwargs: dict[str, Any] = {"context": read_column(split, "context")} if context else {}
    texts = read_column(split, "text")
    if raw is None:
        return np.asarray(model.predict_proba(texts, batch_size=batch_size, **kwargs), dtype=np.float64)
    return sigmoid(raw(texts, batch_size=batch_size, **kwargs))


def level_data(split: datasets.Dataset, scores: dict[str, np.ndarray], level: str, min_lines: int = 5) -> dict:
    """``{"labels", "movies", "scores": {scorer: ...}}`` of a split at ``level``: its lines, or its characters with
    at least ``min_lines`` lines (scored by :func:`aggregate_by_character`), each with the movie it belongs to."""
    columns = read_columns(split, ["label", "movie_id"] + ([] if level == "line" else ["character_id"]))
    labels, movies = np.asarray(columns["label"], dtype=np.int64), np.asarray(columns["movie_id"])
    if level == "line":
        return {"labels": labels, "movies": movies, "scores": dict(scores)}
    characters = np.asarray(columns["character_id"])
    names, first = np.unique(characters, return_index=True)
    movie_of = dict(zip(names.tolist(), movies[first].tolist(), strict=False))
    ids_column = columns["character_id"]
    per_scorer = {name: aggregate_by_character(ids_column, labels, s, min_lines) for name, s in scores.items()}
    ids, character_labels = next(iter(per_scorer.values()))[:2]
    return {
        "labels": character_labels,
        "movies": np.asarray([movie_of[c] for c in ids]),
        "ids": ids,
        "scores": {name: agg[2] for name, agg in per_scorer.items()},
    }


def level_report(
    validation: dict,
    evaluated: dict,
    *,
    bootstrap: int = 1000,
    unit: str = "movie",
    seed: int = 0,
    reference: str = "model",
) -> tuple[dict, dict]:
    """Thresholds from ``validation``, metrics and paired intervals on ``evaluated`` (both from :func:`level_data`).

    Returns ({scorer: metrics with ``ci95``, ..., "difference": {baseline: ...}}, thresholds).
    """
    if unit not in UNITS:
        raise ValueError(f"bootstrap unit must be one of {UNITS}, got {unit!r}")
    thresholds = {
        name: choose_threshold(validation["labels"], validation["scores"][name]) for name in evaluated["scores"]
    }
    report = {name: scorer_metrics(evaluated["labels"], s, thresholds[name]) for name, s in evaluated["scores"].items()}
    samples = None
    if bootstrap and len(np.unique(evaluated["labels"])) == 2:
        samples = bootstrap_samples(
            evaluated["labels"],
            evaluated["scores"],
            thresholds,
            evaluated["movies"] if unit == "movie" else None,
            bootstrap,
            seed,
        )
        for name in report:
            report[name]["ci95"] = intervals(samples[name])
    if reference in report:
        report["difference"] = paired_differences(report, samples, reference)
    return report, thresholds


def model_resources(model: BiLSTMClassifier, seed: int = 0) -> BaselineResources:
    """The baselines' seed, the model's tokenizer and its embedding matrix where that is still GloVe (frozen); a
    model that fine-tuned its vectors gives none, so the mean-GloVe baseline is left out rather than fitted on them
    (:func:`movie_gender.training.pipeline.baseline_resources` re-reads the GloVe file where it can)."""
    frozen = model.config.freeze_embeddings
    matrix = model.embedding.weight.detach().float().cpu().numpy() if frozen else None
    return BaselineResources(seed=seed, tokenizer=model.tokenizer, embeddings=matrix)


def evaluate(
    model: BiLSTMClassifier,
    train_split: datasets.Dataset,
    validation_split: datasets.Dataset,
    eval_split: datasets.Dataset,
    *,
    by: Sequence[str] = LEVELS,
    min_lines: int = 5,
    bootstrap: int = 1000,
    unit: str = "movie",
    seed: int = 0,
    batch_size: int = 512,
    baselines: Sequence[str] | None = None,
    resources: BaselineResources | None = None,
    unknown: Mapping[str, datasets.Dataset] | None = None,
) -> tuple[dict, dict]:
    """Score ``model`` and the baselines on ``eval_split`` by the protocol of this module (datasets.Dataset splits).

    ``unknown``: per split ("validation", "evaluated"), the lines of its movies' unknown-gender speakers
    (label -1); character scores are then computed with them as conversation partners, as ``predict --by
    character`` does, and metrics on the labelled characters.

    ``resources`` default to :func:`model_resources` (the model's tokenizer, and its embedding matrix when that is
    frozen GloVe). Returns (report, scores): the report holds, per level, each scorer's metrics and the
    paired differences, plus the protocol; ``scores`` holds the evaluated split's labels and scores per level.
    The calibration and thresholds the report chose for the model are :func:`model_decisions` of it.
    """
    if unit not in UNITS:
        raise ValueError(f"bootstrap unit must be one of {UNITS}, got {unit!r}")
    if resources is None:
        resources = model_resources(model, seed)
    natural = _natural_train(train_split)
    names = available_baselines(_baselines_for(model, baselines, by), resources, eval_split.column_names)
    splits = {"validation": validation_split, "evaluated": eval_split}
    level_scores, terms = _level_scores(model, names, natural, splits, resources, by, batch_size, unknown)
    shared = set(np.unique(np.asarray(read_column(natural, "character_id"))))
    shared &= set(np.unique(np.asarray(read_column(eval_split, "character_id"))))
    report = _report_head(natural, names, shared)
    scores: dict = {}
    for level in by:
        validation = level_data(validation_split, level_scores["validation"][level], level, min_lines)
        evaluated = level_data(eval_split, level_scores["evaluated"][level], level, min_lines)
        if level == "character":  # calibration by size: characters cut to 1-10 lines, their partners as they are
            partnered = with_unknown(splits, unknown)  # unknown-gender partners too, as prediction has them
            cut_splits = (partnered["validation"], partnered["evaluated"])
            attach_cut_scores(model, cut_splits, (validation, evaluated), seed, batch_size)
            validation["prior_labels"] = np.concatenate([_character_labels(natural, min_lines), validation["labels"]])
        entry = _level_entry(level, validation, evaluated, bootstrap=bootstrap, unit=unit, seed=seed)
        if entry is None:
            logger.warning("No character has %d or more lines in this split: no character-level metrics", min_lines)
            continue
        report[level] = entry
        if level == "character":
            _mark_speaker_leak(entry, min_lines, shared)
            entry["partner_terms"] = {name: term.to_dict() for name, term in terms.items()}
        scores[level] = {"labels": evaluated["labels"], **evaluated["scores"]}
    return report, scores


def _report_head(natural: datasets.Dataset, names: Sequence[str], shared: set) -> dict:
    """The report's protocol part: the threshold rule, what the baselines were fitted on, and the speaker leak."""
    return {
        "thresholds": THRESHOLD_RULE,
        "baselines": {
            "fitted_on": "the natural train split (before balancing), class-balanced weights",
            "train_lines": len(natural),
            "names": {n: BASELINES[n].description for n in names},
        },
        "speaker_leak": bool(shared),
    }


def _character_labels(split: datasets.Dataset, min_lines: int) -> np.ndarray:
    """The 0/1 labels of the labelled characters of ``split`` with at least ``min_lines`` lines."""
    columns = read_columns(split, ["label", "character_id"])
    labels = np.asarray(columns["label"], dtype=np.int64)
    _, character_labels, _, _ = aggregate_by_character(
        columns["character_id"], labels, np.full(len(labels), 0.5), min_lines
    )
    return character_labels[character_labels >= 0]


def _natural_train(train_split: datasets.Dataset) -> datasets.Dataset:
    """:func:`natural_train`, saying how many oversampled copies it left out."""
    natural = natural_train(train_split)
    if len(natural) < len(train_split):
        logger.info(
            "Baselines fitted on the natural train split: %d lines (%d oversampled copies left out)",
            len(natural),
            len(train_split) - len(natural),
        )
    return natural


def _baselines_for(model: object, baselines: Sequence[str] | None, by: Sequence[str]) -> tuple[str, ...]:
    """The baselines asked for (None: those the registry reports unasked, :func:`reported_baselines`), plus TF-IDF +
    context beside a context model."""
    baselines = reported_baselines("character" in by) if baselines is None else tuple(baselines)
    if _uses_context(model) and CONTEXT not in baselines:
        baselines = (*baselines, CONTEXT)  # a context model is compared with TF-IDF + context too
    return baselines


def _level_scores(
    model: BiLSTMClassifier,
    names: Sequence[str],
    natural: datasets.Dataset,
    splits: dict[str, datasets.Dataset],
    resources: BaselineResources,
    by: Sequence[str],
    batch_size: int,
    unknown: Mapping[str, datasets.Dataset] | None = None,
) -> tuple[dict[str, dict[str, dict[str, np.ndarray]]], dict]:
    """``({split key: {level: {scorer: line scores}}}, partner terms)``: the model's and the baselines' scores of
    each split, each scorer at the levels it is reported at; a character model's own pooled estimate per character
    and its convex parts alone; each character scorer also with its partner term
    (:func:`movie_gender.evaluation.partnered.add_partnered`, fitted on the validation split).
    Character scorers also score ``unknown`` (per split key: the lines of the unknown-gender speakers of its movies)
    so that these take part as partners, as in prediction."""
    scored = with_unknown(splits, unknown) if "character" in by else splits
    line_scores = {key: {"model": model_scores(model, split, batch_size)} for key, split in splits.items()}
    full = baseline_scores(names, natural, scored, resources)
    for key, per in full.items():
        line_scores[key].update({n: v[: len(splits[key])] for n, v in per.items()})
    level_scores = {
        key: {level: {n: v for n, v in per.items() if _reported(n, level, model)} for level in by}
        for key, per in line_scores.items()
    }
    if "character" not in by:
        return level_scores, {}
    character = {key: {n: v for n, v in full[key].items() if _reported(n, "character", model)} for key in splits}
    for key in splits:  # a line model's character score: the mean log-odds of its own lines
        character[key] = {"model": line_scores[key]["model"], **character[key]}
    terms = add_character_scorers(model, character, scored, batch_size)
    for key in splits:  # the splits' own lines come first in what was scored
        level_scores[key]["character"] = {n: v[: len(splits[key])] for n, v in character[key].items()}
    return level_scores, terms


def _level_entry(level: str, validation: dict, evaluated: dict, *, bootstrap: int, unit: str, seed: int) -> dict | None:
    """One level of the report: the model calibrated on validation, then :func:`level_report` with the
    calibration record; None when the evaluated split has nothing at this level."""
    if len(evaluated["labels"]) == 0:
        return None
    if len(np.unique(validation["labels"])) < 2:
        logger.warning(
            "The validation split has too few %ss of one gender to choose a %s-level threshold: using 0.5",
            level,
            level,
        )
    calibration = calibrate_level(validation, evaluated)  # the model's scores from here on are calibrated
    entry, _ = level_report(validation, evaluated, bootstrap=bootstrap, unit=unit, seed=seed)
    entry["calibration"] = calibration
    if "cut" in evaluated:  # calibration by size: ECE, log-loss and accuracy per size (evaluation/size_calibration)
        calibration["by_size"] = by_size(validation, evaluated, calibration["parameters"], entry["model"]["threshold"])
    return entry


def _mark_speaker_leak(entry: dict, min_lines: int, shared: set) -> None:
    """The character level's ``min_lines`` and ``speaker_leak`` (characters of the evaluated split who also speak in
    train), with a warning when there are any."""
    entry["min_lines"] = min_lines
    entry["speaker_leak"] = bool(shared)
    if shared:
        logger.warning(
            "%d characters of the evaluated split also speak in train (split by line, not by "
            "movie): character-level results are marked speaker_leak and overstate what the "
            "scorers do on unseen speakers",
            len(shared),
        )


def model_decisions(report: Mapping) -> dict:
    """What an evaluation report fixes for the model's use, as values of its config's fields: ``calibration`` (per
    level, fitted on validation; None when no level was calibrated), ``threshold`` and, where characters were
    evaluated, ``character_threshold`` (chosen on validation, on the calibrated scale)."""
    decisions = {"calibration": config_calibration(report) or None, "threshold": report["line"]["model"]["threshold"]}
    if "character" in report:
        decisions["character_threshold"] = report["character"]["model"]["threshold"]
    return decisions


def scorers(level: dict) -> dict[str, dict]:
    """The scorer entries of a level of the report (not ``difference``, ``min_lines``, ``speaker_leak``)."""
    return {k: v for k, v in level.items() if isinstance(v, dict) and "roc_auc" in v}


def _ci(ci: dict, metric: str) -> str:
    return "[{:.3f}, {:.3f}]".format(*ci[metric]) if metric in ci else " " * 14


def format_report(report: dict) -> str:
    """A plain-text table for the log and the terminal: ROC-AUC first, then the thresholded metrics, then the
    paired differences model - baseline."""
    rows = [
        "level      scorer             n      ROC-AUC  [95% CI]         AP      threshold  bal.acc  [95% CI]"
        "         macro-F1  accuracy"
    ]
    for level in LEVELS:
        entries = report.get(level, {})
        for name, m in scorers(entries).items():
            ci = m.get("ci95", {})
            rows.append(
                f"{level:<10} {name:<18} {m['n']:<6} {m['roc_auc']:.3f}    {_ci(ci, 'roc_auc')}   "
                f"{m['average_precision']:.3f}   {m['threshold']:<9.3f}  {m['balanced_accuracy']:.3f}    "
                f"{_ci(ci, 'balanced_accuracy')}   {m['macro_f1']:.3f}     {m['accuracy']:.3f}"
            )
        if entries.get("speaker_leak"):
            rows.append(f"{level:<10} (speaker_leak: characters of this split also speak in train)")
    differences = [
        (level, name, d) for level in LEVELS for name, d in report.get(level, {}).get("difference", {}).items()
    ]
    if differences:
        rows += [
            "",
            "paired difference, model - baseline (95% CI, same resamples)",
            "level      baseline           ROC-AUC  [95% CI]           bal.acc  [95% CI]",
        ]
        for level, name, d in differences:
            rows.append(
                f"{level:<10} {name:<18} {d['roc_auc']:+.3f}   {_ci(d, 'roc_auc_ci95')}    "
                f"{d['balanced_accuracy']:+.3f}   {_ci(d, 'balanced_accuracy_ci95')}"
            )
    return "\n".join(rows)
