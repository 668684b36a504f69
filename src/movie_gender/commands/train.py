"""Train the movie-gender BiLSTM and write a model folder ready to publish.

Builds the DatasetDict (or loads one with --dataset), trains the tokenizer on train, aligns GloVe, trains with
early stopping on validation ROC-AUC, evaluates once on test beside the baselines (thresholds chosen on
validation, paired movie-bootstrap intervals), and writes OUTPUT/:
config.json, model.safetensors, tokenizer.json, README.md (model card), metrics.json and PNG plots.

Offline example with the files in ../shared/data:
    python scripts/train.py --corpus ../shared/data/cornell_movie_dialogs_corpus.sample.zip \\
        --glove ../shared/data/glove.6B.50d.txt.gz --output out/model
The tutorial's setup (a preset only sets defaults; explicit options win):
    python scripts/train.py --preset tutorial --split movie --max-steps 200 ...
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

from movie_gender.commands import common
from movie_gender.configuration import VOCAB, BiLSTMConfig, DataOptions, TrainingConfig, TrainOptions
from movie_gender.hub.model_folder import train_model
from movie_gender.presets import PRESETS
from movie_gender.training.report_parts import ScorerMetrics

logger = logging.getLogger("train")
SECTIONS = ("data", VOCAB, "model", "optimisation", "output and resuming", "evaluation")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one option per setting of the config dataclasses (movie_gender.configuration), with the
    help and checks written beside each field, plus --preset and the Hub options."""
    p = argparse.ArgumentParser(
        prog="movie-gender train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items())
        + ". A preset only sets defaults: options given explicitly win; --help shows where the presets "
        "differ (default: %(default)s)",
    )
    groups = {title: p.add_argument_group(title) for title in SECTIONS}
    _add_settings(p, groups)
    _add_run_options(groups)
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def _add_settings(p: argparse.ArgumentParser, groups: dict[str, argparse._ArgumentGroup]) -> None:
    """One option per setting of DataOptions, TrainOptions, BiLSTMConfig and TrainingConfig, in their sections; --help
    shows where the presets differ."""
    common.add_config_options(
        p,
        DataOptions,
        groups=groups,
        group="data",
        skip=("seed",),  # --seed: TrainingConfig
        defaults={name: preset.data for name, preset in PRESETS.items()},
    )
    common.add_config_options(p, TrainOptions, groups=groups)
    common.add_config_options(
        p, BiLSTMConfig, groups=groups, group="model", defaults={name: preset.model for name, preset in PRESETS.items()}
    )
    common.add_config_options(
        p,
        TrainingConfig,
        groups=groups,
        group="optimisation",
        defaults={name: preset.training for name, preset in PRESETS.items()},
    )


def _add_run_options(groups: dict[str, argparse._ArgumentGroup]) -> None:
    """--split-seed, --cv, --push-to-hub and --private: the options that are not settings of the dataclasses."""
    groups["data"].add_argument(
        "--split-seed",
        type=int,
        help="seed for the data split and the train resampling, separate from --seed (the model's initialisation and "
        "batch order) so that a seed sweep keeps the same test set; it also seeds the evaluation bootstrap "
        f"(default: the preset's, {DataOptions.seed})",
    )
    groups["evaluation"].add_argument(
        "--cv",
        type=common.positive_int,
        metavar="K",
        help="cross-validation by movie instead of one model: K folds, each holding out a disjoint 1/K of the movies "
        "as test (validation carved from the rest), the preset trained and the baselines fitted on each; writes "
        "OUTPUT/cv.json and OUTPUT/cv_scores.png, no model folder",
    )
    groups["evaluation"].add_argument(
        "--push-to-hub", metavar="REPO_ID", help="publish the model folder to this Hub model repo when done"
    )
    groups["evaluation"].add_argument(
        "--private", action="store_true", help="with --push-to-hub: create the repo as private"
    )


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    """The preset's settings, with the options given on the command line in their place; --seed seeds the model,
    --split-seed the data split."""
    preset = PRESETS[args.preset]
    training = replace(preset.training, **common.given_options(args, TrainingConfig))
    given = {k: v for k, v in common.given_options(args, DataOptions).items() if k != "seed"}  # args.seed: --seed
    data = replace(preset.data, **given, **({} if args.split_seed is None else {"seed": args.split_seed}))
    model = replace(preset.model, **common.given_options(args, BiLSTMConfig))
    return TrainOptions(
        **{
            **common.given_options(args, TrainOptions),
            "data": data,
            "model": model,
            "training": training,
            "preset": args.preset,
        }
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line (impossible combinations end with a usage error, before any work)."""
    p = build_parser()
    args = p.parse_args(argv)
    try:
        options_from_args(args)
    except ValueError as error:
        p.error(str(error))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.setup_logging(args.verbose)
    if args.cv:
        if args.push_to_hub or getattr(args, "resume", False):
            raise ValueError(
                "--cv writes cv.json, not a model folder: it cannot be combined with --push-to-hub or --resume"
            )
        from movie_gender.training.crossval import cross_validate

        cross_validate(options_from_args(args), args.cv)
        return
    record = train_model(options_from_args(args))
    line = record.level("line").scorers
    nan = ScorerMetrics(roc_auc=float("nan"))
    logger.info(
        "Test ROC-AUC: model %.3f, TF-IDF %.3f, mean GloVe %.3f; balanced accuracy at the validation "
        "threshold: model %.3f, TF-IDF %.3f",
        line["model"].roc_auc,
        line["tfidf_logreg"].roc_auc,
        line.get("glove_mean_logreg", nan).roc_auc,
        line["model"].balanced_accuracy,
        line["tfidf_logreg"].balanced_accuracy,
    )
    if args.push_to_hub:
        from movie_gender.hub.classifier import BiLSTMClassifier
        from movie_gender.hub.publish import push_model

        model = BiLSTMClassifier.from_pretrained(args.output)  # scores the card's example lines
        logger.info("Pushed: %s", push_model(args.output, args.push_to_hub, private=args.private, model=model))


if __name__ == "__main__":
    common.run(main)
