"""Build the class-balanced train/validation/test DatasetDict from the Cornell corpus and save it as parquet + card.

Example (offline, with the sample in ../shared/data):
    python scripts/build_dataset.py --corpus ../shared/data/cornell_movie_dialogs_corpus.sample.zip --output out/ds
Then: datasets.load_dataset("out/ds") or load_dataset("parquet", data_dir="out/ds").
"""

from __future__ import annotations

import argparse
import logging

from movie_gender.commands import common
from movie_gender.configuration import DataOptions
from movie_gender.hub.dataset_folder import save_dataset
from movie_gender.training.pipeline import build_data

logger = logging.getLogger("build_dataset")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    parser = argparse.ArgumentParser(
        prog="movie-gender build-dataset", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common.add_config_options(parser, DataOptions, skip=("dataset",))
    parser.add_argument(
        "--output", required=True, help="folder to write data/*.parquet and README.md (the dataset card) to"
    )
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="also push the dataset to this Hub dataset repo")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.setup_logging(args.verbose)
    dataset, report = build_data(DataOptions(**common.given_options(args, DataOptions)))
    output = save_dataset(dataset, args.output, report)
    logger.info("Wrote %s (load it with datasets.load_dataset(%r))", output, str(output))
    if args.push_to_hub:
        from movie_gender.hub.publish import push_dataset

        url = push_dataset(output, args.push_to_hub, private=args.private)
        logger.info("Pushed the dataset to %s", url)


if __name__ == "__main__":
    common.run(main)
