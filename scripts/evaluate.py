#!/usr/bin/env python
"""Evaluate a trained model (folder or Hub repo id) beside two baselines, at line and character level.

Prints accuracy, balanced accuracy, macro-F1 and ROC-AUC (95% bootstrap intervals) for the model, always-male and
TF-IDF (word 1-2 grams) + logistic regression, both baselines fitted on the same train split; writes the full
report (per-class precision/recall/F1, confusion matrices) as JSON with --json, and plots with --plots.

Example:
    python scripts/evaluate.py out/model --corpus ../shared/data/cornell_movie_dialogs_corpus.sample.zip
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from movie_gender import cli
from movie_gender.corpus import DEFAULT_URL
from movie_gender.dataset import BALANCE_MODES, SPLIT_MODES
from movie_gender.download import atomic_path
from movie_gender.evaluation import format_report, plot_confusion, plot_roc
from movie_gender.pipeline import DataOptions, evaluate_model


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a model folder written by train.py, or a Hub model repo id")
    p.add_argument("--revision", help="Hub revision (branch, tag or commit) of the model")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--corpus", default=DEFAULT_URL, help="build the data from this corpus (default: the official zip)")
    src.add_argument("--dataset", help="a saved DatasetDict folder or Hub dataset repo id")
    p.add_argument("--split", dest="eval_split", default="test", choices=("train", "validation", "test"),
                   help="which split to score (default: %(default)s)")
    p.add_argument("--split-mode", choices=SPLIT_MODES, default="movie",
                   help="with --corpus: how the data is split; use the same as in training (default: %(default)s)")
    p.add_argument("--balance", choices=BALANCE_MODES, default="oversample",
                   help="with --corpus: train balancing for the baselines, as in training (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="with --corpus: the split seed used in training (default: %(default)s)")
    p.add_argument("--validation-size", type=cli.fraction, default=0.1, help="with --corpus: as in training (default: %(default)s)")
    p.add_argument("--test-size", type=cli.fraction, default=0.1, help="with --corpus: as in training (default: %(default)s)")
    p.add_argument("--test-per-class", type=cli.positive_int, default=10_000, help="with --split-mode tutorial (default: %(default)s)")
    p.add_argument("--drop-overlap", action="store_true", help="with --corpus: as in training")
    p.add_argument("--by", action="append", choices=("line", "character"),
                   help="level(s) to report; repeat for both (default: line and character)")
    p.add_argument("--min-lines", type=cli.positive_int, default=5,
                   help="character level: only characters with at least N lines in the split (default: %(default)s)")
    p.add_argument("--bootstrap", type=cli.non_negative_int, default=1000, help="bootstrap resamples; 0 = no intervals (default: %(default)s)")
    p.add_argument("--json", type=Path, help="write the full report to this JSON file")
    p.add_argument("--plots", type=Path, help="write confusion_matrix.png and roc_curve.png into this folder")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cli.setup_logging(args.verbose)
    data = DataOptions(corpus=args.corpus, dataset=args.dataset, split=args.split_mode, balance=args.balance,
                       seed=args.seed, validation_size=args.validation_size, test_size=args.test_size,
                       test_per_class=args.test_per_class, drop_overlap=args.drop_overlap)
    report, scores = evaluate_model(args.model, data, split=args.eval_split, by=tuple(args.by or ("line", "character")),
                                    min_lines=args.min_lines, bootstrap=args.bootstrap, revision=args.revision)
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
        for level, level_scores in scores.items():
            plot_confusion(report[level]["model"]["confusion_matrix"], args.plots / f"confusion_matrix_{level}.png",
                           f"{level.capitalize()}s, {args.eval_split} split")
            plot_roc(level_scores["labels"], {k: v for k, v in level_scores.items() if k not in ("labels", "always_male")},
                     args.plots / f"roc_curve_{level}.png", f"ROC, {level}s, {args.eval_split} split")


if __name__ == "__main__":
    cli.run(main)
