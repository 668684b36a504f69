"""Publish a trained model folder (and optionally a dataset folder) on the Hugging Face Hub.

The model goes up as one commit of config.json, model.safetensors, tokenizer.json, the rendered model card
(README.md), metrics.json and the plots; checkpoints and caches never do. The dataset goes up as its parquet
shards and dataset card. Authentication comes from HF_TOKEN or `hf auth login`; tokens are never printed.

With --onnx the ONNX export (see `movie-gender export`) goes into the same commit under onnx/; with --space the
demo Space (space/ in the project: a Gradio app) is created or updated with the model's repo id filled in.

Example:
    python scripts/push_to_hub.py out/model ORG/movie-gender-bilstm --dataset out/ds \\
        --dataset-repo ORG/cornell-movie-gender
    movie-gender push out/model ORG/movie-gender-bilstm --onnx --space ORG/movie-gender-demo
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from movie_gender.commands import common
from movie_gender.hub.publish import push_dataset, push_model, push_space

logger = logging.getLogger("push_to_hub")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    p = argparse.ArgumentParser(
        prog="movie-gender push", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model_dir", help="a model folder written by scripts/train.py")
    p.add_argument("repo_id", help="the Hub model repo to push to, e.g. ORG/movie-gender-bilstm (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo(s) as private")
    p.add_argument(
        "--revision", "--branch", dest="revision", help="push to this branch (created if missing) instead of main"
    )
    p.add_argument("--dataset", help="a dataset folder written by scripts/build_dataset.py to publish too")
    p.add_argument(
        "--dataset-repo", help="the Hub dataset repo for --dataset; also linked in the model card's datasets: metadata"
    )
    p.add_argument(
        "--onnx",
        action="store_true",
        help="also export the model to ONNX and include it in the same commit as onnx/model.onnx (with "
        "onnx/tokenizer.json, config.json, movie_gender_labels.py, README.md); needs pip install 'movie-gender[onnx]'",
    )
    p.add_argument(
        "--space",
        metavar="SPACE_ID",
        help="also create/update this Gradio Space (e.g. ORG/movie-gender-demo) with the demo app, its "
        "model id filled in",
    )
    p.add_argument(
        "--space-dir",
        type=Path,
        default=Path("space"),
        help="the Space folder to upload with --space (default: space/ of the current checkout)",
    )
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
        logger.info(
            "Dataset: %s", push_dataset(args.dataset, args.dataset_repo, private=args.private, revision=args.revision)
        )
    from movie_gender.hub.classifier import BiLSTMClassifier

    model = BiLSTMClassifier.from_pretrained(args.model_dir)  # scores the card's example lines
    with tempfile.TemporaryDirectory() as work:
        extra = {}
        if args.onnx:
            from movie_gender.hub.export import export_onnx

            folder = export_onnx(model, Path(work) / "onnx").parent
            extra = {f"onnx/{p.name}": str(p) for p in sorted(folder.iterdir())}
        logger.info(
            "Model: %s",
            push_model(
                args.model_dir,
                args.repo_id,
                private=args.private,
                revision=args.revision,
                dataset_repo=args.dataset_repo,
                extra_files=extra,
                model=model,
            ),
        )
    if args.space:
        logger.info(
            "Space: %s",
            push_space(args.space_dir, args.space, args.repo_id, dataset_repo=args.dataset_repo, private=args.private),
        )


if __name__ == "__main__":
    common.run(main)
