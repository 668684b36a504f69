"""Publish a trained model folder (and optionally a dataset folder) on the Hugging Face Hub.

The model goes up as one commit of config.json, model.safetensors, tokenizer.json, the rendered model card
(README.md), metrics.json and the plots; checkpoints and caches never do. The dataset goes up as its parquet
shards and dataset card. Authentication comes from HF_TOKEN or `hf auth login`; tokens are never printed.

Example:
    python scripts/push_to_hub.py out/model ORG/movie-gender-bilstm --dataset out/ds --dataset-repo ORG/cornell-movie-gender
"""

from __future__ import annotations

import argparse
import logging

from movie_gender.commands import common
from movie_gender.hub import push_dataset, push_model

logger = logging.getLogger("push_to_hub")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    p = argparse.ArgumentParser(prog="movie-gender push", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", help="a model folder written by scripts/train.py")
    p.add_argument("repo_id", help="the Hub model repo to push to, e.g. ORG/movie-gender-bilstm (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo(s) as private")
    p.add_argument("--revision", "--branch", dest="revision", help="push to this branch (created if missing) instead of main")
    p.add_argument("--dataset", help="a dataset folder written by scripts/build_dataset.py to publish too")
    p.add_argument("--dataset-repo", help="the Hub dataset repo for --dataset; also linked in the model card's datasets: metadata")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    if args.dataset and not args.dataset_repo:
        p.error("--dataset needs --dataset-repo")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.setup_logging(args.verbose)
    if args.dataset:
        logger.info("Dataset: %s", push_dataset(args.dataset, args.dataset_repo, private=args.private, revision=args.revision))
    logger.info("Model: %s", push_model(args.model_dir, args.repo_id, private=args.private, revision=args.revision,
                                        dataset_repo=args.dataset_repo))


if __name__ == "__main__":
    common.run(main)
