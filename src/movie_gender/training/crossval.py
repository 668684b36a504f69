"""Cross-validation by movie: K models of one preset, each tested on a disjoint 1/K of the movies.

One split of about ten test movies is one draw; the gap between the model and a baseline moves a lot from one set
of movies to another. ``movie-gender train --cv K`` shows how much: the movies are dealt into K folds of about
equal line counts; for fold i its movies are test, whole movies holding ``validation_size`` of the lines are drawn
from the others as validation, the rest is train (balanced as usual). Each fold trains the model, fits the
baselines on its natural train lines and evaluates by the same protocol as a single run (thresholds chosen on the
fold's validation split). OUTPUT/cv.json holds every fold, the mean and standard deviation over folds of each
metric per scorer and level, and the pooled out-of-fold ROC-AUC; OUTPUT/cv_scores.png compares the scorers fold
by fold.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import roc_auc_score

from movie_gender.atomic import atomic_path
from movie_gender.data.columns import read_column
from movie_gender.data.corpus import read_corpus
from movie_gender.data.splitting import prepare_dataset
from movie_gender.data.tokenizer import encodings_kept
from movie_gender.evaluation.bootstrap import DIFFERENCE_METRICS, METRICS
from movie_gender.evaluation.calibration import summarise_folds
from movie_gender.evaluation.partnered import unknown_lines
from movie_gender.evaluation.plots import pyplot, save_figure
from movie_gender.evaluation.protocol import LEVELS
from movie_gender.evaluation.size_calibration import format_sizes, summarise_sizes  # character calibration by size
from movie_gender.training.pipeline import TrainOptions, check_writable, evaluate_fitted, fit_model, hardware
from movie_gender.training.report_parts import LevelReport

if TYPE_CHECKING:
    import datasets

    from movie_gender.training.pipeline import FittedModel

logger = logging.getLogger(__name__)

CV_NAME = "cv.json"
PLOT_NAME = "cv_scores.png"


def movie_folds(movie_ids: Sequence[str], k: int, seed: int) -> list[list[str]]:
    """Deal the movies into ``k`` disjoint folds of about equal line counts (one id per line in ``movie_ids``):
    movies in a random order (``seed``), each to the fold with the fewest lines so far. Folds are sorted lists."""
    names, counts = np.unique(np.asarray(movie_ids), return_counts=True)
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if len(names) < k + 2:
        raise ValueError(
            f"{k}-fold cross-validation by movie needs at least {k + 2} movies, the corpus has {len(names)}"
        )
    lines = np.zeros(k, dtype=np.int64)
    folds: list[list[str]] = [[] for _ in range(k)]
    for index in np.random.default_rng(seed).permutation(len(names)):
        target = int(np.argmin(lines))
        folds[target].append(str(names[index]))
        lines[target] += counts[index]
    return [sorted(fold) for fold in folds]


def _fold_entry(report: dict) -> dict:
    """The per-fold record: each scorer's metrics and threshold, and the differences, per level (no intervals)."""
    entry: dict = {}
    for level in LEVELS:
        if level not in report:
            continue
        read = LevelReport.from_dict(report[level])
        entry[level] = {
            name: {key: getattr(m, key) for key in ("n", "threshold", *METRICS)} for name, m in read.scorers.items()
        }
        entry[level]["difference"] = {
            name: {metric: getattr(d, metric) for metric in DIFFERENCE_METRICS}
            for name, d in (read.difference or {}).items()
        }
    return entry


def _mean_sd(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(np.nanmean(array)), "sd": float(np.nanstd(array, ddof=1)) if len(array) > 1 else 0.0}


def summarise(folds: list[dict]) -> dict:
    """``{level: {scorer: {metric: {"mean", "sd"}}, "difference": {baseline: {metric: {"mean", "sd"}}}}}`` over
    the folds (sample standard deviation)."""
    summary: dict = {}
    for level in LEVELS:
        present = [f[level] for f in folds if level in f]
        if not present:
            continue
        names = [n for n in present[0] if n != "difference"]
        summary[level] = {
            name: {metric: _mean_sd([f[name][metric] for f in present]) for metric in METRICS} for name in names
        }
        summary[level]["difference"] = {
            name: {metric: _mean_sd([f["difference"][name][metric] for f in present]) for metric in DIFFERENCE_METRICS}
            for name in present[0]["difference"]
        }
    return summary


def pooled_auc(pooled: dict) -> dict:
    """ROC-AUC of the out-of-fold scores of all folds together, per level and scorer."""
    out: dict = {}
    for level, data in pooled.items():
        labels = np.concatenate(data["labels"])
        out[level] = {
            name: {"roc_auc": float(roc_auc_score(labels, np.concatenate(parts))), "n": int(len(labels))}
            for name, parts in data.items()
            if name != "labels"
        }
    return out


def plot_cv(cv: dict, path: str | Path) -> Path:
    """ROC-AUC of each scorer (one row each, the model on top) in each fold (grey dots), mean +- sd over the folds in
    black, line and character level side by side."""
    plt = pyplot()
    levels = [level for level in LEVELS if level in cv["summary"]]
    names_of = {level: [n for n in cv["summary"][level] if n != "difference"] for level in levels}
    rows = max((len(names) for names in names_of.values()), default=1)
    fig, axes = plt.subplots(1, len(levels), figsize=(7 * len(levels), 1.5 + 0.3 * rows), squeeze=False)
    for axis, level in zip(axes[0], levels, strict=False):
        names = names_of[level]
        y = np.arange(len(names))[::-1]
        for fold in cv["folds"]:
            if level in fold:
                axis.plot([fold[level][n]["roc_auc"] for n in names], y, "o", color="grey", alpha=0.5, ms=4)
        means = [cv["summary"][level][n]["roc_auc"]["mean"] for n in names]
        sds = [cv["summary"][level][n]["roc_auc"]["sd"] for n in names]
        axis.errorbar(means, y, xerr=sds, fmt="s", color="black", capsize=3, label="mean +- sd over folds")
        axis.axvline(0.5, color="grey", lw=0.8, ls="--")
        axis.set_yticks(y, names)
        axis.set_xlabel("test ROC-AUC"), axis.set_title(f"{level.capitalize()} level, {cv['k']} folds by movie")
        axis.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)


def cross_validate(options: TrainOptions, k: int) -> dict:
    """Run ``k``-fold cross-validation by movie with ``options`` (the preset as resolved); write OUTPUT/cv.json and
    OUTPUT/cv_scores.png. Returns what cv.json holds."""
    started = time.perf_counter()
    data = options.data
    _check_cv_options(options)
    output = Path(options.output)
    check_writable(output)
    everyone, stats = read_corpus(replace(data.reading(), include_unknown=True))
    corpus = everyone.select(np.flatnonzero(np.asarray(everyone.select_columns(["label"]).to_dict()["label"]) >= 0))
    folds: list[dict] = []
    reports: list[dict] = []
    pooled: dict = {}
    for i, test_movies in enumerate(movie_folds(read_column(corpus, "movie_id"), k, data.seed), start=1):
        entry, report, scores = _run_fold(options, corpus, test_movies, i, k, everyone)
        folds.append(entry)
        reports.append(report)
        _pool_scores(pooled, scores)
        _log_fold(entry, i, k)
    cv = {
        "k": k,
        "unit": "movie",
        "split_seed": data.seed,
        "seed": options.training.seed,
        "preset": options.preset,
        "corpus": {"source": str(data.corpus), "male": stats.male, "female": stats.female},
        "thresholds": "chosen on each fold's validation split (maximum balanced accuracy)",
        "summary": summarise(folds),
        "pooled": pooled_auc(pooled),
        "calibration": {**summarise_folds(reports, pooled), "by_size": summarise_sizes(reports)},  # by size
        "folds": folds,
        "min_lines": options.min_lines,
        "hardware": hardware(),
        "total_seconds": time.perf_counter() - started,
    }
    cv["ablation"] = ablation(cv)
    _write_cv(cv, output)
    return cv


def _check_cv_options(options: TrainOptions) -> None:
    """Folds are built from a corpus, by movie."""
    if options.data.dataset:
        raise ValueError("--cv builds its folds from a corpus: pass --corpus, not --dataset")
    if options.data.split != "movie":
        raise ValueError(f"--cv holds out whole movies: it needs --split movie, not {options.data.split!r}")


def _run_fold(
    options: TrainOptions,
    corpus: datasets.Dataset,
    test_movies: list[str],
    i: int,
    k: int,
    everyone: datasets.Dataset | None = None,
) -> tuple[dict, dict, dict]:
    """Fold ``i`` of ``k``: split ``corpus`` with ``test_movies`` as test, train, evaluate (``everyone``: the corpus
    with its unknown-gender speakers, scored as conversation partners); returns the fold's cv.json record, its
    evaluation report and its test scores (per level and scorer)."""
    fold_started = time.perf_counter()
    logger.info("Fold %d/%d: %d test movies", i, k, len(test_movies))
    data = options.data
    dataset, data_report = prepare_dataset(corpus, data, test_movies=test_movies)
    unknown = unknown_lines(options.data, dataset, everyone) if everyone is not None else None
    with encodings_kept():  # training and evaluation encode each split once
        fitted = fit_model(options, dataset, unknown=unknown)
        report, scores = evaluate_fitted(options, fitted, dataset, bootstrap=0, unknown=unknown)
    entry = {
        "fold": i,
        "test_movies": test_movies,
        "class_counts": data_report.class_counts,
        "movies": data_report.movies,
        **_fold_run(fitted),
        "choices": _fold_choices(fitted, report),
        **_fold_entry(report),
        "calibration": _fold_calibration(report),
        "seconds": time.perf_counter() - fold_started,
    }
    return entry, report, scores


def _fold_run(fitted: FittedModel) -> dict:
    """What a fold's training run recorded: its best epoch and that epoch's validation ROC-AUC."""
    return {"best_epoch": fitted.result.best_epoch, "best_validation_auc": fitted.result.best_validation_auc}


def _fold_choices(fitted: FittedModel, report: dict) -> dict:
    """What the fold chose on its own train and validation characters: the character model's bags' C and partner
    term, and the partner term of each partnered scorer."""
    model, choices = fitted.model, {}
    head = getattr(model, "character_head", None)
    if head is not None:
        choices["model"] = {
            **head.choices,
            "partner_weight": model.config.character_partner_weight,
            "partner_center": float(head.partner_center),
        }
    choices["partner_terms"] = report.get("character", {}).get("partner_terms", {})
    return choices


def ablation(cv: dict) -> dict:
    """The character model's paired ablation over the folds: ``convex`` (its bags alone), ``convex_partners`` (with
    the partner term) and ``model`` (the full model), and the differences model - convex_partners and model - the
    best partnered baseline (by mean), each with the folds where the model is ahead. Empty without them."""
    folds = [f["character"] for f in cv["folds"] if "character" in f]
    if not folds or not all(name in folds[0] for name in ("convex", "convex_partners", "model")):
        return {}
    auc = {name: np.asarray([f[name]["roc_auc"] for f in folds]) for name in folds[0] if name != "difference"}
    out: dict[str, dict[str, float] | str] = {
        name: _mean_sd(list(auc[name])) for name in ("convex", "convex_partners", "model")
    }
    partnered = [n for n in auc if n.endswith("_partners") and n != "convex_partners"]
    pairs = {"convex_partners": "convex_partners"}
    if partnered:
        pairs["best_partnered_baseline"] = max(partnered, key=lambda n: float(np.nanmean(auc[n])))
        out["best_partnered_baseline"] = pairs["best_partnered_baseline"]
    for key, name in pairs.items():
        difference = auc["model"] - auc[name]
        out[f"model_minus_{key}"] = {**_mean_sd(list(difference)), "folds_ahead": int((difference > 0).sum())}
    lines = validation_lines(cv["folds"])
    return {**out, "validation_lines": lines} if lines else out


VALIDATION_LINE_PARTS = {
    "line_bags": ("line_bags_validation_auc",),
    "context_view": ("context_view", "line_validation_auc"),
}


def validation_lines(folds: list[dict]) -> dict:
    """The validation line ROC-AUC of the character model's line-level parts (the line bags, the context view) per
    fold, with its mean and sd: where a change to one of them is judged, on thousands of validation lines a fold
    (the validation characters are a few dozen). Parts no fold recorded are left out."""
    out = {}
    for part, path in VALIDATION_LINE_PARTS.items():
        values = []
        for fold in folds:
            value = fold.get("choices", {}).get("model", {})
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                values.append(float(value))
        if values:
            out[part] = {**_mean_sd(values), "folds": values}
    return out


def _fold_calibration(report: dict) -> dict:
    """The calibration of each level of a fold's report: its parameters, ECE and the confident predictions."""
    return {
        level: {
            key: report[level]["calibration"][key]
            for key in ("parameters", "ece_raw", "ece", "ece_noise_floor", "confident")
        }
        for level in LEVELS
        if "calibration" in report.get(level, {})
    }


def _pool_scores(pooled: dict, scores: dict) -> None:
    """Add a fold's test scores (``{level: {scorer: values}}``) to the out-of-fold scores of the folds so far."""
    for level, level_scores in scores.items():
        target = pooled.setdefault(level, {})
        for name, values in level_scores.items():
            target.setdefault(name, []).append(np.asarray(values))


def _log_fold(entry: dict, i: int, k: int) -> None:
    """Log a fold's test ROC-AUC per scorer and its calibration per level."""
    line = entry["line"]
    logger.info(
        "Fold %d/%d: test ROC-AUC model %.3f, TF-IDF %.3f, mean GloVe %s (%.0f s)",
        i,
        k,
        line["model"]["roc_auc"],
        line["tfidf_logreg"]["roc_auc"],
        f"{line['glove_mean_logreg']['roc_auc']:.3f}" if "glove_mean_logreg" in line else "n/a",
        entry["seconds"],
    )
    for level, c in entry["calibration"].items():
        logger.info(
            "Fold %d/%d: %s ECE raw %.3f, calibrated %.3f (noise floor %.3f); P(female) >= 0.9: %d, %s female",
            i,
            k,
            level,
            c["ece_raw"],
            c["ece"],
            c["ece_noise_floor"],
            c["confident"]["female"]["n"],
            "n/a" if c["confident"]["female"]["precision"] is None else f"{c['confident']['female']['precision']:.3f}",
        )


def _write_cv(cv: dict, output: Path) -> None:
    """Write OUTPUT/cv.json (atomically) and OUTPUT/cv_scores.png, and log the summary."""
    with atomic_path(output / CV_NAME) as tmp:
        tmp.write_text(json.dumps(cv, indent=2) + "\n")
    plot_cv(cv, output / PLOT_NAME)
    logger.info("Cross-validation, %d folds by movie (mean +- sd of test ROC-AUC):\n%s", cv["k"], format_cv(cv))
    logger.info("Wrote %s and %s in %.1f min", output / CV_NAME, output / PLOT_NAME, cv["total_seconds"] / 60)


def format_cv(cv: dict) -> str:
    """One row per level and scorer: ROC-AUC and balanced accuracy, mean +- sd over folds, and the pooled ROC-AUC."""
    rows = [f"{'level':<10} {'scorer':<40} ROC-AUC mean +- sd   pooled   bal.acc mean +- sd"]
    for level, per in cv["summary"].items():
        for name, m in per.items():
            if name == "difference":
                continue
            pooled = cv["pooled"].get(level, {}).get(name, {}).get("roc_auc", float("nan"))
            rows.append(
                f"{level:<10} {name:<40} {m['roc_auc']['mean']:.3f} +- {m['roc_auc']['sd']:.3f}      "
                f"{pooled:.3f}    {m['balanced_accuracy']['mean']:.3f} +- {m['balanced_accuracy']['sd']:.3f}"
            )
    calibration = cv.get("calibration", {})
    rows += format_ablation(cv.get("ablation", {})) + format_calibration(calibration)
    return "\n".join(rows + format_sizes(calibration.get("by_size", {})))


def format_ablation(ablation: dict) -> list[str]:
    """The character model's ablation (:func:`ablation`) for the log."""
    if not ablation:
        return []
    rows = ["", "character model ablation (character ROC-AUC, mean +- sd over folds)"]
    for name in ("convex", "convex_partners", "model"):
        rows.append(f"  {name:<40} {ablation[name]['mean']:.3f} +- {ablation[name]['sd']:.3f}")
    for key in ("convex_partners", "best_partnered_baseline"):
        d = ablation.get(f"model_minus_{key}")
        if d:
            name = ablation[key] if key == "best_partnered_baseline" else key
            rows.append(f"  model - {name:<32} {d['mean']:+.3f} +- {d['sd']:.3f}, ahead in {d['folds_ahead']} folds")
    for part, m in ablation.get("validation_lines", {}).items():
        rows.append(
            f"  {part + ', validation lines':<40} {m['mean']:.4f} +- {m['sd']:.4f} (ROC-AUC, the parts' own measure)"
        )
    return rows


def format_calibration(summary: dict) -> list[str]:
    """The model's ECE per level, raw and calibrated, mean +- sd over folds and pooled, for the log."""
    rows = []
    for level in LEVELS:
        c = summary.get(level)
        if not c or c["ece"]["mean"] is None:
            continue
        pooled, nan = c.get("pooled", {}), float("nan")
        female = pooled.get("confident", {}).get("female", {})
        precision = "n/a" if female.get("precision") is None else f"{female['precision']:.3f}"
        rows.append(
            f"{level:<10} model ECE raw {c['ece_raw']['mean']:.3f} +- {c['ece_raw']['sd']:.3f}, calibrated "
            f"{c['ece']['mean']:.3f} +- {c['ece']['sd']:.3f} (pooled {pooled.get('ece', float('nan')):.3f}; "
            f"noise floor {c['ece_noise_floor']['mean']:.3f}, pooled {pooled.get('ece_noise_floor', nan):.3f}); "
            f"P(female) >= 0.9: {female.get('n', 0)} pooled, {precision} female"
        )
    return [""] + rows if rows else []


__all__ = [
    "movie_folds",
    "summarise",
    "pooled_auc",
    "plot_cv",
    "cross_validate",
    "format_cv",
    "ablation",
    "validation_lines",
]
