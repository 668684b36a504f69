"""Measure movie-gender's speed-ups side by side, in one run, as ratios over plain reference implementations, and
how close training and prediction come to this machine's GEMM peak.

1. Training throughput (lines/s, tokens/s) of our loop (pre-tokenized, length-bucketed, each batch run in groups
   of about one length, the precision policy's choice) vs a plain loop (fp32, random batches, tokenization per
   batch in Python, pack_padded_sequence), same model, same data, same number of optimizer steps: the tutorial
   architecture (4 x 256 BiLSTM over 200d embeddings) and the default preset (over the GloVe file's dimension).
2. Prediction throughput of BiLSTMClassifier.predict vs the same plain loop, on the same 6,000 lines.
3. The GEMM peak (GFLOP/s) on the tutorial LSTM's matrix shapes, fp32 and (where the CPU has it natively) bf16,
   and the fraction of it that training and prediction of the tutorial architecture reach:
   FLOPs per token (LSTM matrix products; training 3x forward) x tokens/s / peak of the row's precision.
4. Building the DatasetDict from a synthetic corpus of the real size (304,713 lines, 9,035 characters, 617 movies,
   upstream format) vs a straightforward pandas reimplementation of the tutorial's preprocessing.
5. GloVe: cold parse and cached load against the corpus' vocabulary.
6. Peak memory (RSS) of a short training run in a fresh child process (not with --quick).
Optionally (--accuracy, on by default without --quick): validation ROC-AUC of the default preset trained for
real with auto / fp32 / bf16 precision and without length buckets.
Optionally (--streaming, on by default without --quick): lines/s and peak RSS of scoring a --streaming-lines
Parquet file with predict --input (1 process, --num-workers 2, --engine ray on a local cluster) vs the naive loop
(pandas reads the whole table, predict_proba once), each in a fresh process.

Every timed path is warmed up first; each timing is the median of --repeats runs. The table and the JSON record
the CPU model, its class (amx, avx512_bf16, avx512, avx2), its flags (avx512f, avx512_bf16, amx), whether bf16 is
native, and the precision each row ran in. Set MOVIE_GENDER_PRECISION=fp32 to measure the policy of a CPU without
native bf16 on one that has it; ONEDNN_MAX_CPU_ISA=AVX512_CORE (an AVX-512 CPU without bf16) or
ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 (an AVX2-only CPU) to run as an older class does, kernels included
(the cap is recorded in the table).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from benchmarks.suite import BenchOptions, run_benchmark
from benchmarks.tables import format_table
from movie_gender.commands.common import positive_int, write_json
from movie_gender.data.corpus import DEFAULT_URL
from movie_gender.data.glove import DEFAULT_GLOVE


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help, in groups: the run, its inputs, what it measures, its output."""
    p = argparse.ArgumentParser(
        prog="movie-gender benchmark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_run_options(p)
    _add_input_options(p)
    _add_measure_options(p)
    p.add_argument_group("output").add_argument("--json", type=Path, help="write the results as JSON to this file")
    return p


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """--quick, --repeats, --steps: how long the run takes."""
    group = parser.add_argument_group("the run")
    group.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats, no memory or accuracy runs (about 3 minutes on 2 idle "
        "cores); the same lines and batch shapes as the full run, so its ratios agree with it",
    )
    group.add_argument(
        "--repeats", type=positive_int, help="repeats per timing, the median is reported (default: 3, --quick: 2)"
    )
    group.add_argument(
        "--steps",
        type=positive_int,
        help="optimizer steps per training timing of the default preset, the same for both loops; the "
        "tutorial architecture runs half as many, on the same random lines (default: 24, with --quick too: fewer "
        "lines made its ratios depend on which lines were drawn)",
    )


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    """--corpus, --glove: the data the timings run on."""
    group = parser.add_argument_group("inputs")
    group.add_argument(
        "--corpus",
        default=DEFAULT_URL,
        help="real corpus for the training/prediction data (default: the official zip; "
        "scripts/benchmark.py uses the sample in ../shared/data when present)",
    )
    group.add_argument(
        "--glove",
        default=DEFAULT_GLOVE,
        help="GloVe file for the GloVe timings, the default preset's dimension and the accuracy runs "
        "(default: the official glove.6B.zip; scripts/benchmark.py uses glove.6B.50d in "
        "../shared/data when present)",
    )


def _add_measure_options(parser: argparse.ArgumentParser) -> None:
    """--accuracy, --memory, --streaming, --streaming-lines: the optional measurements."""
    group = parser.add_argument_group("what to measure")
    group.add_argument(
        "--accuracy",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train the default preset with each precision and without buckets, and report "
        "validation ROC-AUC (default: on, off with --quick)",
    )
    group.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure the peak RSS of a short training run in a child process (default: on, off with --quick)",
    )
    group.add_argument(
        "--streaming",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time scoring a large table (predict --input) against the naive loop (default: on, off with "
        "--quick; several minutes)",
    )
    group.add_argument(
        "--streaming-lines",
        type=positive_int,
        default=1_000_000,
        help="lines of the table for --streaming (default: %(default)s)",
    )


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print the table, write --json; returns the results."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in (
        "movie_gender.training.loop",
        "movie_gender.data.glove",
        "movie_gender.data.dataset",
        "movie_gender.data.corpus",
        "datasets",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results = run_benchmark(
        BenchOptions(
            corpus=str(args.corpus),
            glove=str(args.glove),
            quick=args.quick,
            repeats=args.repeats,
            steps=args.steps,
            accuracy=args.accuracy,
            memory=args.memory,
        )
    )
    if args.streaming if args.streaming is not None else not args.quick:
        from benchmarks.streaming import bench_streaming, format_streaming

        results["streaming"] = bench_streaming(args.streaming_lines)
    print(format_table(results))
    if results.get("streaming"):
        print(format_streaming(results["streaming"]))
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
