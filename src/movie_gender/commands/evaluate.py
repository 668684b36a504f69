"""Evaluate a trained model (folder or Hub repo id) beside the baselines, at line and character level.

The protocol of training: the baselines (always-male; TF-IDF word 1-2 grams + logistic regression; the mean of
the line's GloVe vectors, from the model's embedding matrix, + logistic regression) are fitted on the natural
train split with class-balanced weights; each scorer's decision threshold is chosen on the validation split
(maximum balanced accuracy) and applied unchanged to the scored split. Prints ROC-AUC and average precision,
then balanced accuracy, macro-F1 and accuracy at that threshold, with 95% intervals from a paired bootstrap over
movies, and the differences model - baseline with their intervals. --json writes the full report (per-class
precision/recall/F1, confusion matrices), --plots the plots.

The data is split as in training (corpus and split options from the model's metrics.json), so that the test
split holds no line the model was trained on; options given on the command line override it, with a warning.

Example:
    python scripts/evaluate.py out/model --plots out/eval
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from movie_gender.commands import common
from movie_gender.data.corpus import DEFAULT_URL
from movie_gender.data.dataset import BALANCE_MODES, SPLIT_MODES
from movie_gender.data.download import is_url
from movie_gender.evaluation.protocol import format_report, plot_confusion, plot_roc
from movie_gender.training.pipeline import SPLIT_OPTIONS, DataOptions, evaluate_model, training_protocol

logger = logging.getLogger("evaluate")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    p = argparse.ArgumentParser(
        prog="movie-gender evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", help="a model folder written by train.py, or a Hub model repo id")
    p.add_argument("--revision", help="Hub revision (branch, tag or commit) of the model")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--corpus",
        help="build the data from this corpus (default: the one the model was trained on, "
        "from its metrics.json, else the official zip)",
    )
    src.add_argument("--dataset", help="a saved DatasetDict folder or Hub dataset repo id")
    p.add_argument(
        "--split",
        dest="eval_split",
        default="test",
        choices=("train", "validation", "test"),
        help="which split to score (default: %(default)s)",
    )
    same = "ignored with --dataset; default: as in training, from the model's metrics.json, else %s"
    p.add_argument("--split-mode", choices=SPLIT_MODES, help="how the data is split (" + same % DataOptions.split + ")")
    p.add_argument(
        "--balance",
        choices=BALANCE_MODES,
        help="train balancing for the baselines (" + same % DataOptions.balance + ")",
    )
    p.add_argument(
        "--split-seed",
        "--seed",
        dest="seed",
        type=int,
        help="the data split seed; also seeds the bootstrap (" + same % DataOptions.seed + ")",
    )
    p.add_argument(
        "--validation-size", type=common.fraction, help="validation share (" + same % DataOptions.validation_size + ")"
    )
    p.add_argument("--test-size", type=common.fraction, help="test share (" + same % DataOptions.test_size + ")")
    p.add_argument(
        "--test-per-class",
        type=common.positive_int,
        help="lines of each gender held out by --split-mode tutorial (" + same % DataOptions.test_per_class + ")",
    )
    p.add_argument(
        "--drop-overlap",
        action=argparse.BooleanOptionalAction,
        help="drop lines whose text also occurs in a higher-priority split ("
        + same % ("yes" if DataOptions.drop_overlap else "no")
        + ")",
    )
    p.add_argument(
        "--by",
        action="append",
        choices=("line", "character"),
        help="level(s) to report; repeat for both (default: line and character)",
    )
    p.add_argument(
        "--min-lines",
        type=common.positive_int,
        default=5,
        help="character level: only characters with at least N lines in the split (default: %(default)s)",
    )
    p.add_argument(
        "--bootstrap",
        type=common.non_negative_int,
        default=1000,
        help="bootstrap resamples; 0 = no intervals (default: %(default)s)",
    )
    p.add_argument(
        "--bootstrap-unit",
        choices=("movie", "line"),
        default="movie",
        help="resample whole movies (paired across scorers) or single lines, the old too-narrow way "
        "(default: %(default)s)",
    )
    p.add_argument("--json", type=Path, help="write the full report to this JSON file")
    p.add_argument("--plots", type=Path, help="write confusion_matrix.png and roc_curve.png into this folder")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def data_options(args: argparse.Namespace) -> DataOptions:
    """The data to score on: split options not given on the command line are those the model was trained with, so
    that its test split holds no line it was trained on; a given option that differs from training is warned about."""
    if args.dataset:
        return DataOptions(dataset=args.dataset)
    trained = training_protocol(args.model, args.revision)
    if not trained:
        logger.warning(
            "%s has no metrics.json with its split protocol: using the options given and the defaults; "
            "make sure they are those of training",
            args.model,
        )
    elif trained.get("split") == "prepared":
        logger.warning(
            "%s was trained on a prepared dataset (%s): pass --dataset with it to score the same test split",
            args.model,
            trained.get("corpus", {}).get("source", "?"),
        )
        trained = {}
    data = DataOptions(corpus=args.corpus or trained.get("corpus", {}).get("source") or DEFAULT_URL)
    if not args.corpus and not is_url(data.corpus) and not Path(data.corpus).exists():
        raise FileNotFoundError(
            f"{args.model} was trained on {data.corpus}, which is not here: pass --corpus with the "
            "same corpus, or --dataset"
        )
    given = {
        "split": ("--split-mode", args.split_mode),
        "balance": ("--balance", args.balance),
        "seed": ("--split-seed", args.seed),
        "validation_size": ("--validation-size", args.validation_size),
        "test_size": ("--test-size", args.test_size),
        "test_per_class": ("--test-per-class", args.test_per_class),
        "drop_overlap": ("--drop-overlap", args.drop_overlap),
    }
    for key, (flag, value) in given.items():
        if value is None:
            value = trained.get(key)
        elif trained.get(key) is not None and trained[key] != value:
            logger.warning(
                "%s %s differs from the model's training (%s): the %s split may hold lines the model was trained on",
                flag,
                value,
                trained[key],
                args.eval_split,
            )
        if value is not None:
            setattr(data, key, value)
    if trained:
        logger.info(
            "Split protocol as in training: corpus=%s, %s",
            data.corpus,
            ", ".join(f"{k}={getattr(data, k)}" for k in SPLIT_OPTIONS),
        )
    return data


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.setup_logging(args.verbose)
    data = data_options(args)
    report, scores = evaluate_model(
        args.model,
        data,
        split=args.eval_split,
        by=tuple(args.by or ("line", "character")),
        min_lines=args.min_lines,
        bootstrap=args.bootstrap,
        unit=args.bootstrap_unit,
        revision=args.revision,
    )
    print(format_report(report))
    if args.json:
        common.write_json(args.json, report)
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
        for level, level_scores in scores.items():
            plot_confusion(
                report[level]["model"]["confusion_matrix"],
                args.plots / f"confusion_matrix_{level}.png",
                f"{level.capitalize()}s, {args.eval_split} split",
            )
            plot_roc(
                level_scores["labels"],
                {k: v for k, v in level_scores.items() if k not in ("labels", "always_male")},
                args.plots / f"roc_curve_{level}.png",
                f"ROC, {level}s, {args.eval_split} split",
            )


if __name__ == "__main__":
    common.run(main)
