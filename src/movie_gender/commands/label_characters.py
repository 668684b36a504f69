"""Complete a corpus: every speaking character with a gender label, the corpus' own where it has one and the model's
calibrated prediction where it has none (gender '?'), as a dataset (parquet + dataset card) on disk or on the Hub.

Columns: movie_id, movie_title, character_id, character_name, n_lines, corpus_label (null where unknown), p_female
(the model's calibrated P(female), for every character), predicted_label, label (corpus_label, else
predicted_label) and label_source ("corpus" or "predicted"). The card says which labels are predicted, by which model
(its Hub repo id or folder name) and how accurate such labels were on the model's held-out test movies (from its
metrics.json). Characters of the metadata who speak no line get no prediction; the log and the card count them.

--corpus also reads a ConvoKit corpus folder (docs/sources-convokit.md); --screenplay reads Fountain or plain-text
screenplays instead (docs/sources-screenplays.md). --format convokit writes a ConvoKit corpus whose speakers carry
the labels in their metadata.

Examples (offline):
    movie-gender label-characters out/model --corpus ../shared/data/cornell_movie_dialogs_corpus.sample.zip \\
        --output out/characters
    movie-gender label-characters out/model --corpus my-convokit-corpus/ --format convokit --output out/labelled
    movie-gender label-characters out/model --screenplay 'scripts/*.fountain' --output out/script-characters
    movie-gender label-characters ORG/movie-gender-bilstm --push ORG/cornell-characters-completed --private
Then: datasets.load_dataset("out/characters").
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from movie_gender.commands import common

logger = logging.getLogger("label_characters")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    from movie_gender.configuration import DEFAULT_URL

    p = argparse.ArgumentParser(
        prog="movie-gender label-characters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="a model folder written by train, or a Hub model repo id")
    p.add_argument(
        "--corpus",
        metavar="SRC",
        default=DEFAULT_URL,
        help="the Cornell corpus to complete: the official zip URL (default), an http(s)/file URL, a local zip, an "
        "extracted folder, or the tutorial's collated file (which has no metadata: no movie titles, and characters "
        "who speak no line cannot be counted); or a ConvoKit corpus folder (--gender-field, --gender-map)",
    )
    p.add_argument(
        "--screenplay",
        metavar="PATH|GLOB",
        action="append",
        help="instead of --corpus: Fountain (.fountain) or plain-text screenplays, a folder of them or a glob "
        "(repeatable); each file is a movie, each scene a conversation, and no character has a corpus label",
    )
    out = p.add_argument_group("where the dataset goes (at least one)")
    out.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="write DIR/data/train-00000-of-00001.parquet and DIR/README.md (--format dataset), or a ConvoKit corpus "
        "(--format convokit); never inside what is read",
    )
    out.add_argument(
        "--format",
        choices=("dataset", "convokit"),
        default="dataset",
        help="dataset: a Hub dataset folder (parquet + card); convokit: a ConvoKit corpus folder (utterances.jsonl, "
        "speakers.json, conversations.json, corpus.json, index.json) whose speakers' metadata carry p_female, "
        "predicted_label, label and label_source, the utterances and conversations copied through "
        "(default: %(default)s)",
    )
    out.add_argument(
        "--push",
        metavar="REPO_ID",
        help="publish the dataset to this Hub dataset repo, as one commit (token from HF_TOKEN or `hf auth login`)",
    )
    out.add_argument("--private", action="store_true", help="with --push: create the repo as private")
    p.add_argument("--revision", help="Hub revision (branch, tag or commit) of the model")
    p.add_argument(
        "--batch-size", type=common.positive_int, default=512, help="lines per forward pass (default: %(default)s)"
    )
    common.add_corpus_reading_options(p, "reading the corpus")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output is None and args.push is None:
        parser.error("nowhere to write: give --output DIR and/or --push REPO_ID")
    if args.private and args.push is None:
        parser.error("--private applies to --push only")
    if args.format == "convokit" and (args.push or args.output is None):
        parser.error("--format convokit writes a folder: give --output DIR (--push publishes --format dataset only)")
    return args


def model_name(model: str) -> str:
    """How the card names the model: a Hub repo id as it is, a local folder by its name only (no local path)."""
    return Path(os.path.normpath(model)).name if os.path.isdir(model) else model


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.setup_logging(args.verbose)
    from movie_gender.atomic import check_output
    from movie_gender.configuration import CorpusSource
    from movie_gender.data.corpus import load_screenplays, read_characters, read_corpus
    from movie_gender.data.download import public_source
    from movie_gender.hub.classifier import BiLSTMClassifier
    from movie_gender.hub.dataset_cards import render_completion_card
    from movie_gender.inference.completion import complete_characters, save_completion, save_convokit_completion
    from movie_gender.inference.prediction import context_size

    inputs = args.screenplay or [args.corpus]
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        check_output(args.output, inputs, folder=True)  # before any work
    model = BiLSTMClassifier.from_pretrained(args.model, revision=args.revision)
    if args.screenplay:
        corpus, characters = load_screenplays(args.screenplay, context_size=context_size(model)), None
    else:
        given = common.given_options(args, CorpusSource)
        source = CorpusSource(args.corpus, **given, context_size=context_size(model), include_unknown=True)
        corpus, _ = read_corpus(source)
        characters = read_characters(source)
    completion = complete_characters(model, corpus, characters, batch_size=args.batch_size)
    if args.format == "convokit":
        save_convokit_completion(completion.table, corpus, args.output, None if args.screenplay else args.corpus)
        logger.info("Wrote the ConvoKit corpus %s (load it with convokit.Corpus(filename=%r))", *[str(args.output)] * 2)
        return
    sources = ", ".join(Path(p).name for p in args.screenplay) if args.screenplay else public_source(args.corpus)
    card = render_completion_card(completion, model_name(args.model), model.metrics, sources)
    if args.output is not None:
        save_completion(completion.table, card, args.output)
        logger.info("Wrote %s (load it with datasets.load_dataset(%r))", args.output, str(args.output))
    if args.push:
        from movie_gender.hub.publish import push_dataset

        if args.output is not None:
            url = push_dataset(args.output, args.push, private=args.private)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                url = push_dataset(
                    save_completion(completion.table, card, Path(tmp) / "completed"), args.push, private=args.private
                )
        logger.info("Pushed the completed corpus to %s", url)


if __name__ == "__main__":
    common.run(main)
