"""The timed comparisons of ``movie-gender benchmark``, one function each: training and prediction throughput against
the reference loops, the DatasetDict build against pandas, GloVe loading, peak memory, accuracy per precision and
onnxruntime against PyTorch; with the two architectures compared and the timing helper they share.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import numpy as np
import torch

from benchmarks.reference import pandas_reference, reference_predict, reference_train_steps
from benchmarks.synthetic import FULL_SIZE, write_full_size_corpus
from movie_gender.configuration import BiLSTMConfig
from movie_gender.data.columns import read_column, read_columns
from movie_gender.data.dataset import build_dataset
from movie_gender.data.glove import load_glove
from movie_gender.data.tokenizer import encode, train_tokenizer
from movie_gender.hub.classifier import BiLSTMClassifier
from movie_gender.model import modeling
from movie_gender.presets import PRESETS
from movie_gender.training.loop import EncodedSplit, TrainingConfig, train

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``repeats`` calls, after ``warmup`` untimed ones (first-call costs: oneDNN primitives)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ----------------------------------------------------------------------------------------------- models
def tutorial_config(vocab_size: int, embedding_dim: int = 200) -> BiLSTMConfig:
    """The tutorial preset's architecture (4 x 256 BiLSTM on the final hidden states) over 200d embeddings."""
    return replace(PRESETS["tutorial"].model, vocab_size=vocab_size, embedding_dim=embedding_dim)


def default_config(vocab_size: int, embedding_dim: int = 50) -> BiLSTMConfig:
    """The default preset's architecture over ``embedding_dim`` GloVe."""
    return replace(PRESETS["default"].model, vocab_size=vocab_size, embedding_dim=embedding_dim)


@dataclass
class BenchData:
    """The real corpus' train split, tokenized, and the lines used for prediction timings."""

    tokenizer: object
    texts: list[str]
    labels: np.ndarray
    encoded: EncodedSplit
    tiny_validation: EncodedSplit
    predict_texts: list[str]
    dataset: object

    @classmethod
    def load(cls, corpus: str, predict_lines: int) -> BenchData:
        """Train split of ``corpus`` (split by movie); up to ``predict_lines`` distinct lines (held-out ones first)."""
        dataset = build_dataset(corpus, split="movie")
        train_columns = read_columns(dataset["train"], ["text", "label"])
        texts, labels = train_columns["text"], np.asarray(train_columns["label"])
        tokenizer = train_tokenizer(texts)
        tiny = read_columns(
            dataset["validation"].shuffle(seed=0).select(range(min(256, len(dataset["validation"])))), ["text", "label"]
        )
        held_out = read_column(dataset["validation"], "text") + read_column(dataset["test"], "text")
        predict_texts = list(dict.fromkeys(held_out + texts))
        return cls(
            tokenizer,
            texts,
            labels,
            EncodedSplit.from_texts(tokenizer, texts, labels),
            EncodedSplit.from_texts(tokenizer, tiny["text"], tiny["label"]),
            predict_texts[:predict_lines],
            dataset,
        )


def _fresh_model(make_config: Callable[[int], BiLSTMConfig], tokenizer: Tokenizer) -> BiLSTMClassifier:
    torch.manual_seed(0)
    model = BiLSTMClassifier(make_config(tokenizer.get_vocab_size()))
    model.tokenizer = tokenizer
    return model


def bench_training(
    name: str, make_config: Callable[[int], BiLSTMConfig], data: BenchData, steps: int, repeats: int, batch_size: int
) -> dict:
    """Lines/s and tokens/s of :func:`movie_gender.training.loop.train` vs :func:`reference_train_steps`, same model,
    the very same ``steps x batch_size`` random train lines for both (each loop batches them its own way: in random
    order, or by length), both warmed up. The same lines on both sides keep the ratio from depending on which lines
    a short run happens to draw, so --quick and the full run agree."""
    reference, ours, precision = [], [], None
    for r in range(repeats):
        subset = np.random.default_rng(r).choice(len(data.texts), (steps + 2) * batch_size, replace=False)
        model = _fresh_model(make_config, data.tokenizer)
        reference_train_steps(model, data.texts, data.labels, subset[: 2 * batch_size], batch_size, r)  # warm-up
        start = time.perf_counter()
        lines, tokens = reference_train_steps(model, data.texts, data.labels, subset[2 * batch_size :], batch_size, r)
        seconds = time.perf_counter() - start
        reference.append((lines / seconds, tokens / seconds))
        model = _fresh_model(make_config, data.tokenizer)
        timed = subset[2 * batch_size :]
        lines_split = EncodedSplit(data.encoded.ids[timed], data.encoded.lengths[timed], data.encoded.labels[timed])
        # Warm-up: the very batches (shapes) that are then timed, so every oneDNN kernel is built beforehand.
        config = TrainingConfig(epochs=1, batch_size=batch_size, seed=r + 100, checkpoint_every=0)
        train(model, lines_split, data.tiny_validation, config, progress=False)
        result = train(model, lines_split, data.tiny_validation, config, progress=False)
        row = result.history[0]
        ours.append((row["lines_per_s"], row["tokens_per_s"]))
        precision = "bf16" if result.bf16 else "fp32"
    ref_lines, our_lines = statistics.median(x[0] for x in reference), statistics.median(x[0] for x in ours)
    result = {
        "reference_lines_per_s": ref_lines,
        "reference_tokens_per_s": statistics.median(x[1] for x in reference),
        "ours_lines_per_s": our_lines,
        "ours_tokens_per_s": statistics.median(x[1] for x in ours),
        "speedup": our_lines / ref_lines,
        "steps": steps,
        "batch_size": batch_size,
        "precision": precision,
        "reference_precision": "fp32",
    }
    logger.info(
        "training, %s: reference %.0f lines/s, ours %.0f lines/s (%s): %.2fx",
        name,
        ref_lines,
        our_lines,
        precision,
        result["speedup"],
    )
    return result


def bench_context_training(data: BenchData, glove_dim: int, steps: int, repeats: int) -> dict:
    """Lines/s of :func:`movie_gender.training.loop.train` on the ``context`` preset's network (the character
    preset's context view) with each group's contexts read whole, every one to the longest (the reference: how it
    ran before :data:`movie_gender.model.batching.CONTEXT_PADDING`), and in groups of about one length (ours): the
    same model, lines, batches and warm-up on both sides."""
    config = replace(PRESETS["context"].model, vocab_size=data.tokenizer.get_vocab_size(), embedding_dim=glove_dim)
    contexts = read_column(data.dataset["train"], "context")
    validation = read_columns(data.dataset["validation"].select(range(256)), ["text", "label", "context"])
    tiny = EncodedSplit.from_texts(data.tokenizer, validation["text"], validation["label"], validation["context"])
    batch_size = PRESETS["context"].training.batch_size
    speeds: dict[str, list[float]] = {"whole": [], "grouped": []}
    for r in range(repeats):
        rows = np.random.default_rng(r).choice(len(data.texts), steps * batch_size, replace=False)
        lines = EncodedSplit.from_texts(
            data.tokenizer, [data.texts[i] for i in rows], data.labels[rows], [contexts[i] for i in rows]
        )
        training = TrainingConfig(epochs=1, batch_size=batch_size, seed=r + 100, checkpoint_every=0)
        for side, padding in (("whole", math.inf), ("grouped", modeling.CONTEXT_PADDING)):
            with mock.patch.object(modeling, "CONTEXT_PADDING", padding):
                model = _fresh_model(lambda _: config, data.tokenizer)
                train(model, lines, tiny, training, progress=False)  # warm-up on the very batches then timed
                speeds[side].append(train(model, lines, tiny, training, progress=False).history[0]["lines_per_s"])
    whole, grouped = statistics.median(speeds["whole"]), statistics.median(speeds["grouped"])
    logger.info(
        "training, context preset: contexts whole %.0f lines/s, grouped %.0f: %.2fx", whole, grouped, grouped / whole
    )
    return {
        "reference_lines_per_s": whole,
        "ours_lines_per_s": grouped,
        "speedup": grouped / whole,
        "steps": steps,
        "batch_size": batch_size,
        "precision": "fp32",
    }


def bench_inference(name: str, make_config: Callable[[int], BiLSTMConfig], data: BenchData, repeats: int) -> dict:
    """Lines/s of ``BiLSTMClassifier.predict`` vs :func:`reference_predict` on the same lines, both warmed up on all
    of them (oneDNN builds a kernel per batch shape on first use)."""
    model = _fresh_model(make_config, data.tokenizer).eval()
    texts = data.predict_texts
    ref = median_time(lambda: reference_predict(model, texts), repeats)
    ours = median_time(lambda: model.predict(texts), repeats)
    bf16 = model.precision_for(training=False)
    tokens = int(np.maximum(encode(data.tokenizer, texts)[1], 1).sum())
    agree = np.abs(reference_predict(model, texts[:500]) - model.predict_proba(texts[:500])).max()
    result = {
        "reference_lines_per_s": len(texts) / ref,
        "ours_lines_per_s": len(texts) / ours,
        "ours_tokens_per_s": tokens / ours,
        "reference_tokens_per_s": tokens / ref,
        "speedup": ref / ours,
        "lines": len(texts),
        "precision": "bf16" if bf16 else "fp32",
        "reference_precision": "fp32",
        "max_abs_probability_difference": float(agree),
    }
    logger.info(
        "inference, %s: reference %.0f lines/s, ours %.0f lines/s (%s): %.2fx",
        name,
        result["reference_lines_per_s"],
        result["ours_lines_per_s"],
        result["precision"],
        result["speedup"],
    )
    return result


def bench_dataset(repeats: int) -> dict:
    """Seconds to build the DatasetDict (tutorial split) from a synthetic full-size corpus vs :func:`pandas_reference`;
    both warmed up once, ours timed 3x as often (it is cheap, and that steadies its median)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_full_size_corpus(Path(tmp))
        ours = median_time(lambda: build_dataset(folder, split="tutorial"), 3 * repeats, warmup=1)
        reference = median_time(lambda: pandas_reference(folder), repeats, warmup=1)
    result = {"reference_s": reference, "ours_s": ours, "speedup": reference / ours, "lines": FULL_SIZE["n_lines"]}
    logger.info(
        "DatasetDict, full size (tutorial split): pandas %.2fs, ours %.2fs: %.1fx", reference, ours, result["speedup"]
    )
    return result


def bench_glove(glove: str, tokenizer: Tokenizer, repeats: int) -> dict:
    """Cold parse and cached load of ``glove`` for ``tokenizer``'s vocabulary (in a temporary cache)."""
    previous = os.environ.get("MOVIE_GENDER_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["MOVIE_GENDER_CACHE"] = cache
        try:
            cold = median_time(lambda: load_glove(glove, tokenizer, cache=False), max(1, repeats - 1), warmup=0)
            matrix, _ = load_glove(glove, tokenizer)
            cached = median_time(lambda: load_glove(glove, tokenizer), repeats, warmup=0)
        finally:
            os.environ.pop("MOVIE_GENDER_CACHE")
            if previous is not None:
                os.environ["MOVIE_GENDER_CACHE"] = previous
    logger.info("GloVe (%dd): cold parse %.2fs, cached load %.3fs", matrix.shape[1], cold, cached)
    return {"cold_s": cold, "cached_s": cached, "dim": int(matrix.shape[1])}


def _memory_child(corpus: str, glove: str, steps: int, queue: Queue) -> None:
    """In a fresh (spawned) process: a short default-preset training run; reports the process' peak RSS (VmHWM)."""
    from movie_gender.configuration import DataOptions, TrainOptions
    from movie_gender.hub.model_folder import train_model

    with tempfile.TemporaryDirectory() as out:
        train_model(
            TrainOptions(
                output=out + "/m",
                data=DataOptions(corpus=corpus),
                glove=glove,
                training=replace(PRESETS["default"].training, epochs=1, max_steps=steps),
                bootstrap=0,
            )
        )
    with open("/proc/self/status", encoding="utf-8") as status:
        queue.put(next(int(line.split()[1]) for line in status if line.startswith("VmHWM")))


def bench_memory(corpus: str, glove: str, steps: int) -> dict:
    """Peak RSS of a short default-preset training run, in a spawned child (a fresh process: VmHWM starts afresh)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_memory_child, args=(corpus, glove, steps, queue))
    child.start()
    child.join()
    if child.exitcode != 0 or queue.empty():
        logger.warning("memory run failed (exit code %s)", child.exitcode)
        return {"peak_rss_mb": None, "steps": steps}
    peak = queue.get() / 1024
    logger.info("peak RSS of a default-preset training run (%d steps): %.0f MB", steps, peak)
    return {"peak_rss_mb": peak, "steps": steps}


def bench_accuracy(data: BenchData, glove: str) -> dict:
    """Validation ROC-AUC of the default preset trained for real: auto precision vs forced fp32 vs forced bf16, and
    without length buckets."""
    matrix, _ = load_glove(glove, data.tokenizer)
    dataset = data.dataset
    validation = read_columns(dataset["validation"], ["text", "label"])
    val = EncodedSplit.from_texts(data.tokenizer, validation["text"], validation["label"])
    preset = PRESETS["default"].training
    results = {}
    runs = (
        ("auto precision + length buckets", {}),
        ("fp32 + buckets", {"bf16": False}),
        ("bf16 + buckets", {"bf16": True}),
        ("auto precision, no buckets", {"bucket_batches": 1}),
    )
    for name, overrides in runs:
        torch.manual_seed(0)
        model = BiLSTMClassifier(default_config(data.tokenizer.get_vocab_size(), matrix.shape[1]))
        model.load_embeddings(matrix)
        config = replace(preset, checkpoint_every=0, **overrides)
        r = train(model, data.encoded, val, config, progress=False)
        results[name] = {
            "best_val_auc": r.best_validation_auc,
            "best_epoch": r.best_epoch,
            "seconds": r.seconds,
            "precision": "bf16" if r.bf16 else "fp32",
        }
        logger.info(
            "accuracy, default preset, %s: best validation ROC-AUC %.4f (epoch %d) in %.0fs",
            name,
            r.best_validation_auc,
            r.best_epoch,
            r.seconds,
        )
    return results


def bench_onnx(data: BenchData, repeats: int) -> dict | None:
    """Onnxruntime vs PyTorch prediction (:func:`movie_gender.hub.export.benchmark_onnx`) for both architectures; None
    without the onnx extra."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        logger.info("onnxruntime not installed: no ONNX rows (pip install 'movie-gender[onnx]')")
        return None
    from movie_gender.hub.export import benchmark_onnx

    out = {}
    for name, make_config in (("tutorial 4x256", tutorial_config), ("default preset", default_config)):
        torch.manual_seed(0)
        model = BiLSTMClassifier(make_config(data.tokenizer.get_vocab_size())).eval()
        model.tokenizer = data.tokenizer
        out[name] = benchmark_onnx(model, data.predict_texts, repeats=repeats)
        logger.info(
            "onnx, %s: PyTorch %.0f lines/s (fp32 %.0f), onnxruntime %.0f lines/s: %.2fx (%.2fx)",
            name,
            out[name]["torch_lines_per_s"],
            out[name]["torch_fp32_lines_per_s"],
            out[name]["onnx_lines_per_s"],
            out[name]["ratio"],
            out[name]["ratio_fp32"],
        )
    return out


__all__ = [
    "median_time",
    "tutorial_config",
    "default_config",
    "BenchData",
    "bench_training",
    "bench_inference",
    "bench_dataset",
    "bench_glove",
    "bench_memory",
    "bench_accuracy",
    "bench_onnx",
]
