"""Benchmark rows for scoring a large table (``predict --input``): lines/s and peak memory of streaming scoring in
one process, with two worker processes and with Ray Data on a local cluster, against the naive loop that reads the
whole table with pandas and calls ``predict_proba`` once; and of scoring a shuffled speaker table of the same size
by character (``predict --input --by character``) with a character model.

Every run is a fresh (spawned) child process scoring the same synthetic Parquet file with the default preset's
architecture (random weights: speed and memory do not depend on them); each reports its time (model loaded, input
not yet read) and its peak RSS (VmHWM), plus the largest peak among its own children (the worker processes).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

logger = logging.getLogger(__name__)

RUNS = ("naive", "stream", "stream_2_workers", "ray", "speaker_table")
_VOCABULARY = (
    "i you the a to it is n't what that do we me and of know in this here he get go your my no on be have "
    "are there so just not was can all like come right well want okay now gun car sir darling honey dress "
    "baby love money boss mother lovely sweet buddy"
)


def write_lines(path: Path, n: int, seed: int = 0) -> Path:
    """A Parquet file of ``n`` synthetic lines of dialogue (1 to 25 words, like the corpus' lines) with an id."""
    rng = random.Random(seed)
    words = _VOCABULARY.split()
    writer = None
    for start in range(0, n, 100_000):
        rows = min(100_000, n - start)
        texts = [" ".join(rng.choices(words, k=rng.randint(1, 25))) + rng.choice(".!?") for _ in range(rows)]
        table = pa.table({"line_id": np.arange(start, start + rows), "text": texts})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    return path


def write_speaker_table(path: Path, n: int, seed: int = 0, groups: int | None = None) -> Path:
    """A Parquet file of ``n`` synthetic lines in shuffled order: conversations of 2 to 12 lines between two of the
    12 speakers of a group (``groups``: about one per 1,700 lines, as the corpus' movies), with ``movie_id``,
    ``character_id``, ``conversation_id``, ``turn`` and ``text``."""
    rng = np.random.default_rng(seed)
    words = np.array(_VOCABULARY.split())
    groups = groups or max(1, n // 1700)
    lengths = rng.integers(2, 13, n // 2 + 1)
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), n)) + 1]
    lengths[-1] -= int(lengths.sum()) - n
    conversation = np.repeat(np.arange(len(lengths)), lengths)
    turn = np.arange(n) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    group = rng.integers(0, groups, len(lengths))[conversation]
    pair = rng.integers(0, 12, (len(lengths), 2))
    pair[:, 1] = (pair[:, 0] + 1 + rng.integers(0, 11, len(lengths))) % 12  # two different speakers
    speaker = pair[conversation, turn % 2]
    n_words = rng.integers(1, 26, n)
    flat = words[rng.integers(0, len(words), int(n_words.sum()))]
    ends = np.cumsum(n_words)
    texts = [" ".join(flat[end - k : end]) + "." for end, k in zip(ends.tolist(), n_words.tolist(), strict=True)]
    order = rng.permutation(n)
    table = pa.table(
        {
            "movie_id": pa.array([f"m{g}" for g in group[order]]),
            "character_id": pa.array([f"m{g}_u{s}" for g, s in zip(group[order], speaker[order], strict=True)]),
            "conversation_id": pa.array([f"c{c}" for c in conversation[order]]),
            "turn": pa.array(turn[order], pa.int32()),
            "text": pa.array(texts).take(pa.array(order)),
        }
    )
    pq.write_table(table, path, row_group_size=100_000)
    return path


def speaker_table_options(progress: bool = False) -> Any:
    """The options of the speaker-table run: the columns :func:`write_speaker_table` writes."""
    from movie_gender.inference.speaker_tables import SpeakerTableOptions

    return SpeakerTableOptions(
        "character_id", "movie_id", conversation_column="conversation_id", order_column="turn", progress=progress
    )


def _peak_mb() -> tuple[float, float]:
    """(this process' peak RSS, the largest peak RSS of its finished children) in MB."""
    with open("/proc/self/status", encoding="utf-8") as status:
        own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    return own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _child(run: str, source: str, model_dir: str, output: str, queue: Queue) -> None:
    """In a fresh process: one scoring run; puts {seconds, peak_rss_mb, children_peak_rss_mb} on ``queue``."""
    from movie_gender.hub.classifier import BiLSTMClassifier
    from movie_gender.inference.streaming import StreamOptions, stream_predict

    model = BiLSTMClassifier.from_pretrained(model_dir)
    started = time.perf_counter()
    if run == "naive":
        import pandas as pd

        frame = pd.read_parquet(source)
        frame["p_female"] = model.predict_proba(frame["text"].tolist())
        frame.to_parquet(output)
    elif run == "ray":
        import ray

        from movie_gender.inference.distributed import ray_predict

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        started = time.perf_counter()  # the cluster is up; actors start within the run
        ray_predict(model, source, output, StreamOptions(progress=False))
        seconds = time.perf_counter() - started
        ray.shutdown()
        queue.put({"seconds": seconds, "peak_rss_mb": None, "children_peak_rss_mb": None})
        return
    elif run == "speaker_table":
        from movie_gender.inference.speaker_tables import score_speaker_table

        score_speaker_table(model, source, output, speaker_table_options())
    elif run == "speaker_table_in_memory":  # the whole table, every group in one predict_characters call
        from movie_gender.inference.speaker_tables import ROW, score_groups

        table = pq.read_table(source)
        table = table.append_column(ROW, pa.array(np.arange(table.num_rows)))
        pq.write_table(score_groups(model, table, speaker_table_options()), output)
    else:
        stream_predict(model, source, output, StreamOptions(num_workers=2 if run.endswith("workers") else 1))
    seconds = time.perf_counter() - started
    own, children = _peak_mb()
    queue.put({"seconds": seconds, "peak_rss_mb": own, "children_peak_rss_mb": children})


def _spawn(run: str, source: Path, model_dir: Path, output: Path) -> dict | None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(run, str(source), str(model_dir), str(output), queue))
    child.start()
    child.join()
    if child.exitcode != 0 or queue.empty():
        logger.warning("streaming benchmark run %s failed (exit code %s)", run, child.exitcode)
        return None
    return queue.get()


def bench_streaming(lines: int = 1_000_000, ray: bool = True) -> dict[str, Any]:
    """Score a ``lines``-line Parquet file with each of :data:`RUNS` (Ray only where installed and ``ray``); returns
    {run: {lines_per_s, seconds, peak_rss_mb, total_peak_rss_mb, max_abs_diff}} plus the setting."""
    import torch

    from benchmarks.suite import default_config
    from movie_gender.data.tokenizer import train_tokenizer
    from movie_gender.hub.classifier import BiLSTMClassifier

    results: dict[str, Any] = {"lines": lines, "cpus": os.cpu_count(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = write_lines(tmp / "lines.parquet", lines)
        torch.manual_seed(0)
        tokenizer = train_tokenizer(pq.read_table(source).slice(0, 20_000)["text"].to_pylist())
        model = BiLSTMClassifier(default_config(tokenizer.get_vocab_size())).eval()
        model.tokenizer = tokenizer
        model.save_pretrained(tmp / "model")
        reference = None
        for run in RUNS:
            if run == "ray" and not _ray_installed(ray):
                continue
            if run == "speaker_table":
                results["runs"][run] = _speaker_table_run(tmp, source, tokenizer, lines)
                continue
            output = tmp / f"{run}.parquet"
            measured = _spawn(run, source, tmp / "model", output)
            if measured is None:
                continue
            p = pq.read_table(output, columns=["p_female"])["p_female"].to_numpy()
            reference = p if reference is None else reference
            workers = 2 if run == "stream_2_workers" else 0
            total = (
                measured["peak_rss_mb"] + workers * measured["children_peak_rss_mb"]
                if measured["peak_rss_mb"] is not None
                else None
            )
            results["runs"][run] = {
                **measured,
                "lines_per_s": lines / measured["seconds"],
                "total_peak_rss_mb": total,
                "max_abs_diff": float(np.abs(p - reference).max()) if len(p) else 0.0,
            }
            logger.info("streaming benchmark, %s: %s", run, results["runs"][run])
            output.unlink(missing_ok=True)
    return results


def _speaker_table_run(tmp: Path, lines_file: Path, tokenizer: Any, lines: int) -> dict[str, Any]:
    """The speaker-table row: a shuffled table of ``lines`` lines scored by character with the character preset's
    architecture (random weights), in a fresh process."""
    import torch

    from benchmarks.suite import default_config
    from movie_gender.hub.classifier import BiLSTMClassifier
    from movie_gender.presets import PRESETS

    config = default_config(tokenizer.get_vocab_size())
    for name in ("character_pooling", "character_partner_weight", "freeze_embeddings"):
        setattr(config, name, getattr(PRESETS["character"].model, name))
    config.context_size = 2
    torch.manual_seed(0)
    model = BiLSTMClassifier(config).eval()
    model.tokenizer = tokenizer
    model.save_pretrained(tmp / "character_model")
    table = write_speaker_table(tmp / "speakers.parquet", lines)
    measured = _spawn("speaker_table", table, tmp / "character_model", tmp / "speakers_out.parquet") or {}
    characters = pq.ParquetFile(tmp / "speakers_out.parquet").metadata.num_rows if measured else 0
    logger.info("streaming benchmark, speaker_table: %s (%d characters)", measured, characters)
    return {
        **measured,
        "lines_per_s": lines / measured["seconds"] if measured else float("nan"),
        "total_peak_rss_mb": measured.get("peak_rss_mb"),
        "max_abs_diff": float("nan"),  # other scores than the line runs': a character per row
        "characters": characters,
    }


def _ray_installed(wanted: bool) -> bool:
    if not wanted:
        return False
    try:
        import ray  # noqa: F401
    except ImportError:
        logger.info("ray not installed: no Ray row (pip install 'movie-gender[distributed]')")
        return False
    return True


def format_streaming(r: dict[str, Any]) -> str:
    """The rows as a plain-text table: lines/s, ratio to the naive loop, peak RSS (worker processes included)."""
    names = {
        "naive": "naive: pandas, predict_proba once",
        "stream": "predict --input, 1 process",
        "stream_2_workers": "predict --input --num-workers 2",
        "ray": "predict --input --engine ray (local)",
        "speaker_table": "--by character, shuffled speaker table",
    }
    runs = r["runs"]
    base = runs.get("naive", {}).get("lines_per_s")
    rows = [("scoring a table", "lines/s", "vs naive", "peak RSS (MB)", "max |dp| vs naive")]
    for run, x in runs.items():
        rss = f"{x['total_peak_rss_mb']:.0f}" if x["total_peak_rss_mb"] is not None else "n/a"
        ratio = f"{x['lines_per_s'] / base:.2f}x" if base else ""
        diff = "n/a" if np.isnan(x["max_abs_diff"]) else f"{x['max_abs_diff']:.1e}"
        rows.append((names[run], f"{x['lines_per_s']:.0f}", ratio, rss, diff))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"({r['lines']:,} lines, default preset architecture, {r['cpus']} CPUs)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.streaming MODEL --lines N [--in-memory]``: write a shuffled speaker table of N lines
    under a temporary folder (or --table), score it by character with MODEL in a fresh process (and, with
    --in-memory, all at once in another), print seconds and peak RSS (and how far the two differ)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=main.__doc__)
    parser.add_argument("model", help="a model folder (e.g. scripts/train.py --preset character --max-steps 30)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines of the table (default: %(default)s)")
    parser.add_argument("--table", type=Path, help="write (or reuse) the table here instead of a temporary folder")
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="also score the whole table in memory (one predict_characters call over every line, in a fresh process) "
        "and report its time, its peak RSS and the largest difference of p_female from the streamed file",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = args.table or Path(tmp) / "speakers.parquet"
        if not table.exists():
            write_speaker_table(table, args.lines)
        streamed = Path(tmp) / "out.parquet"
        result = {"lines": args.lines, "streamed": _spawn("speaker_table", table, Path(args.model), streamed)}
        if args.in_memory:
            whole = Path(tmp) / "in_memory.parquet"
            result["in_memory"] = _spawn("speaker_table_in_memory", table, Path(args.model), whole)
            a, b = pq.read_table(streamed), pq.read_table(whole)
            keys = ["movie_id", "character_id", "n_lines", "predicted_label"]
            result["same_characters_and_labels"] = a.select(keys).equals(b.select(keys))
            result["max_abs_diff"] = float(np.abs(a["p_female"].to_numpy() - b["p_female"].to_numpy()).max())
        print(json.dumps(result))


__all__ = ["RUNS", "write_lines", "write_speaker_table", "bench_streaming", "format_streaming"]


if __name__ == "__main__":
    main()
