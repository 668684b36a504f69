"""The whole benchmark run: every comparison (:mod:`benchmarks.comparisons`) on one machine (:mod:`benchmarks.machine`),
with the fraction of the GEMM peak (:mod:`benchmarks.peak`) and the headline ratios, as the JSON ``movie-gender
benchmark --json`` writes; :mod:`benchmarks.tables` prints it.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.comparisons import (
    BenchData,
    bench_accuracy,
    bench_context_training,
    bench_dataset,
    bench_glove,
    bench_inference,
    bench_memory,
    bench_onnx,
    bench_training,
    default_config,
    tutorial_config,
)
from benchmarks.machine import machine_info
from benchmarks.peak import gemm_peak, lstm_flops_per_token
from movie_gender.presets import PRESETS
from movie_gender.training.loop import resolve_device

if TYPE_CHECKING:
    from movie_gender.configuration import BiLSTMConfig

logger = logging.getLogger(__name__)


@dataclass
class BenchOptions:
    """What ``run_benchmark`` measures, and how long it may take."""

    corpus: str
    glove: str
    quick: bool = False
    repeats: int | None = None
    steps: int | None = None
    accuracy: bool | None = None
    memory: bool | None = None

    def resolved(self) -> tuple[int, int, bool, bool]:
        """``(repeats, steps, accuracy, memory)`` with the quick or full defaults filled in."""
        repeats = self.repeats or (2 if self.quick else 3)
        steps = self.steps or 24  # the same lines in both modes: fewer made --quick's ratios differ by 30%
        accuracy = (not self.quick) if self.accuracy is None else self.accuracy
        memory = (not self.quick) if self.memory is None else self.memory
        return repeats, steps, accuracy, memory


def run_benchmark(options: BenchOptions) -> dict:
    """Every comparison; returns the results (the JSON ``movie-gender benchmark --json`` writes)."""
    repeats, steps, accuracy, memory = options.resolved()
    started = time.perf_counter()
    device = resolve_device()
    machine = machine_info(device)
    logger.info("machine: %s", machine)
    results: dict = {
        "machine": machine,
        "quick": options.quick,
        "repeats": repeats,
        "bf16_native": machine["bf16_native"],
    }
    # First, in a process as fresh as a user's build_dataset run (both sides alike), not after minutes of training.
    results["dataset"] = bench_dataset(1 if options.quick else repeats)
    # The same lines in both modes (enough per length for full batches), so --quick and the full run agree.
    data = BenchData.load(options.corpus, predict_lines=6000)
    glove = bench_glove(options.glove, data.tokenizer, repeats)
    results.update(_throughput(data, glove["dim"], steps, repeats))
    results["glove"] = glove
    results["onnx"] = bench_onnx(data, repeats)
    results["memory"] = bench_memory(options.corpus, options.glove, 30) if memory else None
    if accuracy:
        results["accuracy"] = bench_accuracy(data, options.glove)
    tutorial_model = tutorial_config(data.tokenizer.get_vocab_size())
    _add_fraction_of_peak(results, tutorial_model)
    results.update(_headline(results, tutorial_model))
    results["total_s"] = time.perf_counter() - started
    return results


def _throughput(data: BenchData, glove_dim: int, steps: int, repeats: int) -> dict:
    """The GEMM peak, then training and prediction throughput of the tutorial architecture and the default preset."""
    tutorial = tutorial_config  # 200d, as in the tutorial (random embeddings: speed does not depend on them)
    default = functools.partial(default_config, embedding_dim=glove_dim)
    results = {"gemm_peak": gemm_peak(tutorial_config(data.tokenizer.get_vocab_size()))}
    tutorial_steps = max(4, steps // 2)
    results["train_tutorial"] = bench_training("tutorial 4x256", tutorial, data, tutorial_steps, repeats, 256)
    results["train_default"] = bench_training(
        "default preset", default, data, steps, repeats, PRESETS["default"].training.batch_size
    )
    results["train_context"] = bench_context_training(data, glove_dim, steps, repeats)
    results["predict_tutorial"] = bench_inference("tutorial 4x256", tutorial, data, repeats)
    results["predict_default"] = bench_inference("default preset", default, data, repeats)
    return results


def _add_fraction_of_peak(results: dict, tutorial_model: BiLSTMConfig) -> None:
    """Add GFLOP/s, the peak of the row's precision and the fraction of it to the tutorial's train and predict rows."""
    peak = results["gemm_peak"]
    for key, training in (("train_tutorial", True), ("predict_tutorial", False)):
        row = results[key]
        row["peak_gflops"] = peak[row["precision"]]["peak_gflops"] if row["precision"] in peak else None
        row["gflops"] = lstm_flops_per_token(tutorial_model, training) * row["ours_tokens_per_s"] / 1e9
        row["fraction_of_peak"] = row["gflops"] / row["peak_gflops"] if row["peak_gflops"] else None


def _headline(results: dict, tutorial_model: BiLSTMConfig) -> dict:
    """The headline numbers, flat: the ratios, the times, the peaks and the FLOPs per token."""
    return {
        "train_speedup": results["train_tutorial"]["speedup"],
        "train_speedup_default_preset": results["train_default"]["speedup"],
        "train_speedup_context_groups": results["train_context"]["speedup"],
        "predict_speedup": results["predict_tutorial"]["speedup"],
        "predict_speedup_default_preset": results["predict_default"]["speedup"],
        "dataset_speedup": results["dataset"]["speedup"],
        "dataset_build_s": results["dataset"]["ours_s"],
        "glove_cold_parse_s": results["glove"]["cold_s"],
        "glove_cached_load_s": results["glove"]["cached_s"],
        "peak_rss_mb": results["memory"]["peak_rss_mb"] if results["memory"] else None,
        "gemm_peak_gflops": {name: value["peak_gflops"] for name, value in results["gemm_peak"].items()},
        "train_fraction_of_peak": results["train_tutorial"]["fraction_of_peak"],
        "predict_fraction_of_peak": results["predict_tutorial"]["fraction_of_peak"],
        "flops_per_token_tutorial": {
            "predict": lstm_flops_per_token(tutorial_model),
            "train": lstm_flops_per_token(tutorial_model, training=True),
        },
    }


__all__ = ["BenchOptions", "run_benchmark"]
