"""Benchmark rows for scoring a large table (``predict --input``): lines/s and peak memory of streaming scoring in
one process, with two worker processes and with Ray Data on a local cluster, against the naive loop that reads the
whole table with pandas and calls ``predict_proba`` once.

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

RUNS = ("naive", "stream", "stream_2_workers", "ray")
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
    }
    runs = r["runs"]
    base = runs.get("naive", {}).get("lines_per_s")
    rows = [("scoring a table", "lines/s", "vs naive", "peak RSS (MB)", "max |dp| vs naive")]
    for run, x in runs.items():
        rss = f"{x['total_peak_rss_mb']:.0f}" if x["total_peak_rss_mb"] is not None else "n/a"
        ratio = f"{x['lines_per_s'] / base:.2f}x" if base else ""
        rows.append((names[run], f"{x['lines_per_s']:.0f}", ratio, rss, f"{x['max_abs_diff']:.1e}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"({r['lines']:,} lines, default preset architecture, {r['cpus']} CPUs)")
    return "\n".join(lines)


__all__ = ["RUNS", "write_lines", "bench_streaming", "format_streaming"]
