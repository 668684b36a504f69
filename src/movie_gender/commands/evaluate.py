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
from movie_gender.configuration import DEFAULT_URL, DataOptions, TrainOptions
from movie_gender.data.download import is_url
from movie_gender.evaluation.plots import plot_confusion, plot_roc
from movie_gender.evaluation.protocol import format_report
from movie_gender.training.pipeline import SPLIT_OPTIONS, evaluate_model, training_protocol
from movie_gender.training.report_parts import CorpusRecord, DatasetRecord, or_default

# How a ConvoKit corpus is read: not in the model's record, so give the values training was given.
READING_OPTIONS = ("gender_field", "gender_map", "group_field")

logger = logging.getLogger("evaluate")
# The split options as evaluate spells them (--split names the split to score); the others as train does.
SPLIT_FLAGS = {"split": ("--split-mode",), "seed": ("--split-seed", "--seed")}
AS_TRAINED = "ignored with --dataset; default: as in training (from the model's metrics.json), without one"
EVALUATION_OPTIONS = ("min_lines", "bootstrap", "bootstrap_unit")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help: the split options and the evaluation options are those of
    ``movie-gender train`` (from :class:`DataOptions` and :class:`TrainOptions`)."""
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
    common.add_config_options(p, DataOptions, only=SPLIT_OPTIONS, flags=SPLIT_FLAGS, defaults={AS_TRAINED: DataOptions})
    common.add_config_options(p, DataOptions, only=READING_OPTIONS)  # a ConvoKit corpus: give those of training
    p.add_argument(
        "--by",
        action="append",
        choices=("line", "character"),
        help="level(s) to report; repeat for both (default: line and character)",
    )
    common.add_config_options(p, TrainOptions, only=EVALUATION_OPTIONS)
    p.add_argument("--json", type=Path, help="write the full report to this JSON file")
    p.add_argument("--plots", type=Path, help="write confusion_matrix.png and roc_curve.png into this folder")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _trained_protocol(args: argparse.Namespace) -> dict:
    """The split protocol of the model's training (empty when unknown or a prepared dataset, with a warning)."""
    trained = training_protocol(args.model, args.revision)
    if not trained:
        logger.warning(
            "%s has no metrics.json with its split protocol: using the options given and the defaults; "
            "make sure they are those of training",
            args.model,
        )
    elif DatasetRecord.from_dict(trained).split == "prepared":
        logger.warning(
            "%s was trained on a prepared dataset (%s): pass --dataset with it to score the same test split",
            args.model,
            or_default(_trained_corpus(trained), "?"),
        )
        trained = {}
    return trained


def _trained_corpus(trained: dict) -> str | None:
    """The corpus the model was trained on (its local path where this machine keeps it), from its split protocol."""
    return (DatasetRecord.from_dict(trained).corpus or CorpusRecord()).source


def data_options(args: argparse.Namespace) -> DataOptions:
    """The data to score on: split options not given on the command line are those the model was trained with, so
    that its test split holds no line it was trained on; a given option that differs from training is warned about."""
    if args.dataset:
        return DataOptions(dataset=args.dataset)
    trained = _trained_protocol(args)
    data = DataOptions(corpus=args.corpus or _trained_corpus(trained) or DEFAULT_URL)
    if not args.corpus and not is_url(data.corpus) and not Path(data.corpus).exists():
        raise FileNotFoundError(
            f"{args.model} was trained on {data.corpus}, which is not here: pass --corpus with the "
            "same corpus, or --dataset"
        )
    given = common.given_options(args, DataOptions)
    for key in READING_OPTIONS:  # how a ConvoKit corpus is read (its gender field, values and groups)
        if given.get(key) is not None:
            setattr(data, key, given[key])
    for key in SPLIT_OPTIONS:
        value = given.get(key)
        if value is None:
            value = trained.get(key)
        elif trained.get(key) is not None and trained[key] != value:
            logger.warning(
                "%s %s differs from the model's training (%s): the %s split may hold lines the model was trained on",
                SPLIT_FLAGS.get(key, ("--" + key.replace("_", "-"),))[0],
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
    settings = common.option_values(args, TrainOptions, EVALUATION_OPTIONS)
    report, scores = evaluate_model(
        args.model,
        data,
        split=args.eval_split,
        by=tuple(args.by or ("line", "character")),
        min_lines=settings["min_lines"],
        bootstrap=settings["bootstrap"],
        unit=settings["bootstrap_unit"],
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
