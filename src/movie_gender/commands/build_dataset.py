"""Build the class-balanced train/validation/test DatasetDict from the Cornell corpus and save it as parquet + card.

Example (offline, with the sample in ../shared/data):
    python scripts/build_dataset.py --corpus ../shared/data/cornell_movie_dialogs_corpus.sample.zip --output out/ds
Then: datasets.load_dataset("out/ds") or load_dataset("parquet", data_dir="out/ds").
"""

from __future__ import annotations

import argparse
import logging

from movie_gender.commands import common
from movie_gender.conversations import DEFAULT_CONTEXT_SIZE
from movie_gender.corpus import DEFAULT_URL
from movie_gender.dataset import BALANCE_MODES, SPLIT_MODES, prepare_dataset, save_dataset

logger = logging.getLogger("build_dataset")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    parser = argparse.ArgumentParser(prog="movie-gender build-dataset", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=DEFAULT_URL,
                        help="the corpus: official zip URL (default), an http(s)/file:// URL, a local .zip, an extracted "
                             "folder, or the tutorial's collated 7-field file (default: %(default)s)")
    parser.add_argument("--sha256", help="expected sha256 of the corpus zip/file; the build stops if it differs")
    parser.add_argument("--output", required=True, help="folder to write data/*.parquet and README.md (the dataset card) to")
    parser.add_argument("--split", choices=SPLIT_MODES, default="movie",
                        help="movie: whole movies in one split only; random: stratified by line; tutorial: the first "
                             "--test-per-class lines of each gender are test, as in the tutorial (default: %(default)s)")
    parser.add_argument("--balance", choices=BALANCE_MODES, default="oversample",
                        help="how to balance the train split (only train, after splitting) (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="seed for the split and the resampling (default: %(default)s)")
    parser.add_argument("--validation-size", type=common.fraction, default=0.1, help="fraction of lines for validation (default: %(default)s)")
    parser.add_argument("--test-size", type=common.fraction, default=0.1,
                        help="fraction of lines for test; not used by --split tutorial (default: %(default)s)")
    parser.add_argument("--test-per-class", type=common.positive_int, default=10_000,
                        help="--split tutorial: lines of each gender held out as test (default: %(default)s)")
    parser.add_argument("--drop-overlap", action="store_true",
                        help="drop lines whose normalised text also occurs in a higher-priority split (test > validation > train)")
    parser.add_argument("--skip-bad-lines", action="store_true",
                        help="count and skip malformed corpus lines (reported in the log and the card) instead of stopping")
    parser.add_argument("--encoding", default="latin-1",
                        help="text encoding of the corpus files; the upstream corpus is ISO-8859-1 (default: %(default)s)")
    parser.add_argument("--context-size", type=common.non_negative_int, default=DEFAULT_CONTEXT_SIZE,
                        help="the 'context' column: up to this many lines spoken by other characters before each line, "
                             "and as many after it, within its conversation; 0 leaves it empty (default: %(default)s)")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="also push the dataset to this Hub dataset repo")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.setup_logging(args.verbose)
    dataset, report = prepare_dataset(
        args.corpus, split=args.split, balance=args.balance, seed=args.seed, validation_size=args.validation_size,
        test_size=args.test_size, test_per_class=args.test_per_class, drop_overlap=args.drop_overlap,
        skip_bad_lines=args.skip_bad_lines, sha256=args.sha256, encoding=args.encoding, context_size=args.context_size,
    )
    output = save_dataset(dataset, args.output, report)
    logger.info("Wrote %s (load it with datasets.load_dataset(%r))", output, str(output))
    if args.push_to_hub:
        from movie_gender.hub import push_dataset

        url = push_dataset(output, args.push_to_hub, private=args.private)
        logger.info("Pushed the dataset to %s", url)


if __name__ == "__main__":
    common.run(main)
