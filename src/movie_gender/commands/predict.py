"""Predict the gender of the speaker of lines, or of whole characters, with a trained model.

Lines given on the command line (or with --file) print one JSON object per line, {"text", "label", "score"}, where
score is the probability of the label. --dataset and --corpus score many lines at once, per line or per character
(--by), with a progress bar, and print JSON lines or write a table (--output FILE.parquet|.csv|.jsonl).

--corpus reads every line of the corpus, including those of the characters whose gender the corpus marks unknown
('?'): for them the output is the only estimate there is, and their corpus_label is null. Per character, P(female)
is the mean log-odds of the character's lines; every P(female) is calibrated on the validation split at training
time (Platt scaling, config.json) and labelled with the model's line or character threshold (config.json).

--input scores a table of any size (Parquet, JSON lines or CSV files, a folder or a glob of them, or a Hub dataset
id) in bounded memory, part by part, into --output FILE.parquet: the input's columns plus p_female and
predicted_label, in input order. Started again with the same --output, an interrupted job scores only what is
missing (docs/scoring.md). --engine ray runs the same job on a Ray cluster (RAY_ADDRESS, or a local one).

--input --by character scores a speaker table of any size by character: one row per (group, speaker) of
--group-column and --speaker-column (group, speaker, n_lines, p_female, predicted_label, sorted by group and
speaker), in bounded memory whether or not the table is sorted (the rows are first partitioned by a hash of the
group into temporary Parquet files). --conversation-column gives a character model its partner term, and with
--order-column each line its context, as --corpus does. Started again, it resumes (with --engine ray it starts
over). An --output that is an input, or lies inside a folder or glob read as input, is refused before any work.

Examples (offline):
    movie-gender predict out/model "I'll be in the car, darling." "Get the gun."
    movie-gender predict out/model --file lines.txt
    movie-gender predict out/model --corpus ../shared/data/cornell_movie_dialogs_corpus.sample.zip \\
        --by character --output characters.parquet
    movie-gender predict out/model --screenplay 'scripts/*.fountain' --by character --output characters.csv
    movie-gender predict out/model --input 'subtitles/*.parquet' --text-column text --output scores.parquet \\
        --num-workers 2
    movie-gender predict out/model --input transcripts.csv --by character --group-column episode \\
        --speaker-column speaker --conversation-column scene --order-column turn --output speakers.parquet
--corpus also reads a ConvoKit corpus folder (docs/sources-convokit.md); --screenplay reads Fountain or plain-text
screenplays (docs/sources-screenplays.md).

A context model (one trained with conversation context) is given each line's context from --corpus and --dataset;
lines from the command line or --file have none, so it scores them alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from movie_gender.commands import common

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

    from movie_gender.hub.classifier import BiLSTMClassifier


logger = logging.getLogger("predict")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    p = argparse.ArgumentParser(
        prog="movie-gender predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", help="a model folder written by train.py, or a Hub model repo id")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="lines of dialogue to score (each one JSON line out)")
    _add_sources(p.add_argument_group("many lines (instead of TEXT)"))
    _add_outputs(p)
    _add_table_options(p.add_argument_group("with --input"))
    _add_speaker_table_options(p.add_argument_group("with --input --by character (a speaker table)"))
    common.add_corpus_reading_options(p, "with --corpus")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def _add_sources(source: argparse._ArgumentGroup) -> None:
    """--file, --dataset (with --split), --corpus and --input: where many lines come from."""
    source.add_argument(
        "--file",
        help="a UTF-8 text file with one line of dialogue per line ('-': standard input); "
        "prints one JSON object per line, in order",
    )
    source.add_argument(
        "--dataset",
        help="a saved DatasetDict folder (build-dataset --output) or a Hub dataset "
        "repo id; scores the lines of --split",
    )
    source.add_argument(
        "--split",
        help="with --dataset: the split to score (default: test); train is balanced by oversampling, so its lines "
        "repeat; with a Hub dataset id as --input: the split to stream (default: train)",
    )
    source.add_argument(
        "--corpus",
        metavar="SRC",
        help="a Cornell corpus (URL, zip, folder or collated file, as build-dataset --corpus) or a ConvoKit corpus "
        "folder: scores every line, including those of characters (speakers) of unknown gender",
    )
    source.add_argument(
        "--screenplay",
        metavar="PATH|GLOB",
        action="append",
        help="Fountain (.fountain) or plain-text screenplays, a folder of them or a glob (repeatable): each file a "
        "movie, each scene a conversation, speakers from the character cues (docs/sources-screenplays.md)",
    )
    source.add_argument(
        "--input",
        metavar="SRC",
        help="a table to score in bounded memory: a Parquet, JSON lines (.jsonl) or CSV file, a folder or a glob of "
        "them (read in name order), or a Hub dataset id (its --split, streamed); needs --output FILE.parquet",
    )


def _add_outputs(p: argparse.ArgumentParser) -> None:
    """--by, --output, --batch-size and --revision: what is scored and where the rows go."""
    p.add_argument(
        "--by",
        choices=("character", "line"),
        help="with --dataset / --corpus: one row per character (movie_id, character_id, character_name, "
        "n_lines, p_female, predicted_label, corpus_label) or per line (line_id, movie_id, "
        "character_id, text, p_female, predicted_label, corpus_label) (default: character); with --input: per line "
        "(the input's columns plus p_female and predicted_label; the default) or per character of a speaker table "
        "(needs --speaker-column and --group-column)",
    )
    p.add_argument(
        "--output",
        metavar="FILE",
        help="write the rows to FILE.parquet, FILE.csv or FILE.jsonl instead of printing JSON lines; with --input: "
        "FILE.parquet (with --engine ray also a folder or URI: Ray's write_parquet files)",
    )
    p.add_argument(
        "--batch-size", type=common.positive_int, default=512, help="lines per forward pass (default: %(default)s)"
    )
    p.add_argument("--revision", help="Hub revision (branch, tag or commit) of the model or of --dataset / --input")


def _add_table_options(table: argparse._ArgumentGroup) -> None:
    """The options of --input: the text column, workers, parts, the engine and the progress bar."""
    table.add_argument("--text-column", default="text", help="the column holding the lines (default: %(default)s)")
    table.add_argument(
        "--num-workers",
        type=common.positive_int,
        help="processes scoring parts on this machine (--engine local, lines only; default: 1), or Ray actors, "
        "each with one model (--engine ray; default: the cluster's CPUs less one)",
    )
    table.add_argument(
        "--rows-per-part",
        type=common.positive_int,
        default=65_536,
        help="rows per part: the unit of work, of memory (about two parts per worker in flight) and of resuming; "
        "with --by character: the lines per partition, on average (default: %(default)s)",
    )
    table.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this machine, resumable; ray: Ray Data on the cluster at RAY_ADDRESS or a local one "
        "(pip install 'movie-gender[distributed]'), with no resume: a killed Ray job starts over (default: "
        "%(default)s)",
    )
    table.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_speaker_table_options(table: argparse._ArgumentGroup) -> None:
    """The columns of a speaker table: speaker, group, conversation and order."""
    table.add_argument(
        "--speaker-column", metavar="S", help="the column naming each line's speaker (a character of its group)"
    )
    table.add_argument(
        "--group-column",
        metavar="G",
        help="the column naming each line's group (a movie, an episode, a play): the same speaker in two groups is "
        "two characters; the output has one row per (group, speaker)",
    )
    table.add_argument(
        "--conversation-column",
        metavar="C",
        help="optional: the column naming each line's conversation (within its group); a character model then "
        "weighs the scores of the characters each one talks to (its partner term), as with --corpus",
    )
    table.add_argument(
        "--order-column",
        metavar="O",
        help="optional, with --conversation-column: the column ordering the lines of a conversation (a turn "
        "number, a time); a model that reads context then gets each line's context (the lines of other speakers "
        "around it), as with --corpus",
    )


def _check_speaker_table(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--by for --input, and the speaker-table options only where they apply."""
    named = [n for n in ("speaker_column", "group_column", "conversation_column", "order_column") if getattr(args, n)]
    if args.input and args.by is None:
        args.by = "line"
    if args.input and args.by == "character":
        if not (args.speaker_column and args.group_column):
            parser.error("--input --by character scores a speaker table: give --speaker-column and --group-column")
        if args.order_column and not args.conversation_column:
            parser.error("--order-column orders the lines of each conversation: give --conversation-column too")
        if args.num_workers and args.num_workers > 1 and args.engine == "local":
            parser.error("--by character scores one partition at a time on this machine; --num-workers is for Ray")
    elif named:
        flag = "--" + named[0].replace("_", "-")
        parser.error(f"{flag} is for a speaker table: use it with --input --by character")
    args.by = args.by or "character"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)
    args.output_uri = args.output if args.output and "://" in args.output else None  # Path() would spoil it
    args.output = Path(args.output) if args.output else None
    given = [
        name
        for name, value in (
            ("TEXT", args.texts),
            ("--file", args.file),
            ("--dataset", args.dataset),
            ("--corpus", args.corpus),
            ("--screenplay", args.screenplay),
            ("--input", args.input),
        )
        if value
    ]
    if not given:
        parser.error("nothing to score: give lines (TEXT ...), --file, --dataset, --corpus, --screenplay or --input")
    if len(given) > 1:
        parser.error(
            f"give one of TEXT, --file, --dataset, --corpus, --screenplay or --input, not {' and '.join(given)}"
        )
    _check_speaker_table(parser, args)
    if args.input and args.output is None:
        parser.error("--input writes its scores to a Parquet file: give --output FILE.parquet")
    if args.input and args.output.suffix.lower() != ".parquet" and not (args.engine == "ray" and _folder(args)):
        parser.error("--input writes its scores to --output FILE.parquet (with --engine ray: or a folder or URI)")
    return args


def _folder(args: argparse.Namespace) -> bool:
    """Whether --output names a folder or URI (Ray's write_parquet files) rather than one file."""
    return args.output_uri is not None or not args.output.suffix


def read_lines(path: str) -> list[str]:
    """The lines of a UTF-8 text file (or standard input for '-'), split on '\\n' only; a final newline ends the
    last line, it does not start an empty one."""
    if path == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            line = Path(path).read_bytes()[: error.start].count(b"\n") + 1
            raise ValueError(f"{path}:{line}: not UTF-8 ({error.reason})") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ValueError(f"{path}: no lines to score")
    return lines


def _emit(rows: Iterable[dict], output: Path | None, table: pa.Table | None = None) -> None:
    """Print JSON lines, or write the table to ``output``."""
    from movie_gender.inference.prediction import write_table

    if output is not None and table is not None:
        write_table(table, output)
        logger.info("Wrote %s rows to %s", f"{table.num_rows:,}", output)
        return
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.setup_logging(args.verbose)
    from movie_gender.inference.prediction import check_output

    if args.input:  # the output is checked against the input once it is opened
        _score_table(args)
        return
    if args.output is not None:
        check_output(args.output, [args.file, args.dataset, args.corpus, *(args.screenplay or ())])  # before any work
    from movie_gender.hub.classifier import BiLSTMClassifier
    from movie_gender.inference.prediction import score_characters, score_lines

    model = BiLSTMClassifier.from_pretrained(args.model, revision=args.revision)
    if args.texts or args.file:
        _score_texts(args, model)
        return
    data = _dataset_split(args) if args.dataset else _screenplay_lines(args, model) if args.screenplay else None
    data = data if data is not None else _corpus_lines(args, model)
    score = score_characters if args.by == "character" else score_lines
    table = score(model, data, batch_size=args.batch_size)
    _emit(table.to_pylist() if args.output is None else (), args.output, table)


def _score_texts(args: argparse.Namespace, model: BiLSTMClassifier) -> None:
    """TEXT / --file: one row per line given, {"text", "label", "score"} (score: the probability of the label)."""
    import pyarrow as pa

    from movie_gender.inference.prediction import line_labels, line_logits, p_female

    texts = args.texts or read_lines(args.file)
    logits = line_logits(model, texts, batch_size=args.batch_size, progress=bool(args.file))
    p = p_female(model, logits)
    labels = line_labels(model, p).to_pylist()
    names = model.config.id2label
    rows = [
        {"text": t, "label": label, "score": float(v if label == names["1"] else 1 - v)}
        for t, label, v in zip(texts, labels, p, strict=False)
    ]
    table = pa.table({"text": texts, "p_female": pa.array(p, pa.float64()), "predicted_label": labels})
    _emit(rows, args.output, table)


def _dataset_split(args: argparse.Namespace) -> datasets.Dataset:
    """--dataset: its --split (default: test)."""
    from movie_gender.data.dataset import load_hub_dataset

    data = load_hub_dataset(args.dataset, revision=args.revision)
    args.split = args.split or "test"
    if isinstance(data, dict):
        if args.split not in data:
            raise ValueError(f"{args.dataset}: no split {args.split!r}; it has {', '.join(data)}")
        data = data[args.split]
    return data


def _corpus_lines(args: argparse.Namespace, model: BiLSTMClassifier) -> datasets.Dataset:
    """--corpus: every line, also those of characters of unknown gender, with the model's context."""
    from movie_gender.configuration import CorpusSource
    from movie_gender.data.corpus import read_corpus
    from movie_gender.inference.prediction import context_size

    given = common.given_options(args, CorpusSource)
    corpus = CorpusSource(args.corpus, **given, context_size=context_size(model), include_unknown=True)
    data, stats = read_corpus(corpus)
    logger.info(
        "Scoring %s lines of %s characters, %s of them lines of characters of unknown gender",
        f"{len(data):,}",
        f"{stats.characters:,}",
        f"{stats.unknown_gender:,}",
    )
    return data


def _screenplay_lines(args: argparse.Namespace, model: BiLSTMClassifier) -> datasets.Dataset:
    """--screenplay: every line of the screenplays, with the model's context (each scene a conversation)."""
    from movie_gender.data.corpus import load_screenplays
    from movie_gender.inference.prediction import context_size

    data = load_screenplays(args.screenplay, context_size=context_size(model))
    logger.info("Scoring %s lines of %s characters", f"{len(data):,}", f"{len(set(data['character_id'])):,}")
    return data


def _score_table(args: argparse.Namespace) -> None:
    """--input: stream the table through the model (this machine, or Ray) into --output."""
    if args.by == "character":
        _score_speaker_table(args)
        return
    from movie_gender.hub.classifier import BiLSTMClassifier
    from movie_gender.inference.streaming import StreamOptions, check_parquet_output, open_source, stream_predict

    options = StreamOptions(
        text_column=args.text_column,
        batch_size=args.batch_size,
        rows_per_part=args.rows_per_part,
        num_workers=args.num_workers,
        split=args.split or "train",
        revision=args.revision,
        progress=not args.no_progress,
    )
    if args.engine == "ray":
        from movie_gender.inference.distributed import check_ray_output, ray_predict, require_ray

        require_ray()  # before loading the model
        check_ray_output(args.output_uri or args.output, args.input)
        model = BiLSTMClassifier.from_pretrained(args.model, revision=args.revision)
        ray_predict(model, args.input, args.output_uri or args.output, options)
        return
    source = open_source(args.input, options.text_column, options.split, options.revision)  # bad input: fail fast
    check_parquet_output(args.output, source)
    model = BiLSTMClassifier.from_pretrained(args.model, revision=args.revision)
    stream_predict(model, source, args.output, options)


def _score_speaker_table(args: argparse.Namespace) -> None:
    """--input --by character: one row per (group, speaker) of the table (this machine, or Ray) into --output."""
    from movie_gender.hub.classifier import BiLSTMClassifier
    from movie_gender.inference.speaker_tables import (
        SpeakerTableOptions,
        open_speaker_table,
        score_speaker_table,
    )
    from movie_gender.inference.streaming import check_parquet_output

    options = SpeakerTableOptions(
        speaker_column=args.speaker_column,
        group_column=args.group_column,
        text_column=args.text_column,
        conversation_column=args.conversation_column,
        order_column=args.order_column,
        batch_size=args.batch_size,
        rows_per_part=args.rows_per_part,
        split=args.split or "train",
        revision=args.revision,
        progress=not args.no_progress,
    )
    if args.engine == "ray":
        from movie_gender.inference.distributed import check_ray_output, ray_speaker_table, require_ray

        require_ray()  # before loading the model
        options.check()
        check_ray_output(args.output_uri or args.output, args.input)
        model = BiLSTMClassifier.from_pretrained(args.model, revision=args.revision)
        ray_speaker_table(model, args.input, args.output_uri or args.output, options, num_workers=args.num_workers)
        return
    source = open_speaker_table(args.input, options)  # bad input: fail fast
    check_parquet_output(args.output, source)
    model = BiLSTMClassifier.from_pretrained(args.model, revision=args.revision)
    score_speaker_table(model, source, args.output, options)


if __name__ == "__main__":
    common.run(main)
