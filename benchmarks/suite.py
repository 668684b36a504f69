"""Benchmarks as code: the plain reference implementations, the synthetic full-size corpus, the machine's GEMM peak,
FLOP counts, and the timed comparisons that ``movie-gender benchmark`` runs and prints.

Reference implementations are what a careful user would write without this package's speed-ups: a training loop
and a prediction loop in fp32 over random batches, tokenizing each batch in Python and packing the padded batch
(``pack_padded_sequence`` through the model's LSTM); and the tutorial's preprocessing in pandas.

Fraction of peak: ``flops_per_token(config) x tokens/s / peak``. The peak is the best GEMM throughput this machine
reaches on the LSTM's own matrix shapes (the input projection of a batch of lines and the recurrent step of a
batch), in fp32 and, where the CPU has it natively, in bf16; a row is compared with the peak of the precision it
ran in. FLOPs count the LSTM's matrix products only (2 x rows x inner x outputs each), which is the work that
dominates: per token, layer and direction, ``2 x (input + hidden) x 4 hidden``; training counts 3x the forward
pass (the backward pass computes gradients for both the inputs and the weights of every product).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from movie_gender.configuration import BiLSTMConfig
from movie_gender.data.dataset import build_dataset
from movie_gender.data.glove import load_glove
from movie_gender.data.tokenizer import encode, train_tokenizer
from movie_gender.model.modeling import BiLSTMClassifier, valid_positions
from movie_gender.model.precision import (
    CPU_CLASSES,
    ENV_VAR,
    bf16_lstm_runs,
    bf16_supported,
    cpu_class,
    cpu_flags,
    cpu_info,
    isa_cap,
    native_bf16_cpu,
    precision_override,
)
from movie_gender.presets import PRESETS
from movie_gender.training.loop import EncodedSplit, TrainingConfig, resolve_device, train

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    import pandas as pd
    from tokenizers import Tokenizer


logger = logging.getLogger(__name__)

SEP = " +++$+++ "
FULL_SIZE = {"n_lines": 304_713, "n_characters": 9_035, "n_movies": 617}


# ----------------------------------------------------------------------------------------------- machine
def machine_info(device: torch.device | None = None) -> dict:
    """Where a benchmark runs: CPU model, its class and the flags that matter (those oneDNN may use: an
    ``ONEDNN_MAX_CPU_ISA`` cap is applied and recorded), threads, torch, device, native bf16."""
    device = device or resolve_device()
    info = cpu_info()
    flags = cpu_flags()
    return {
        "platform": platform.platform(),
        "cpu_model": info["model"] or platform.processor() or platform.machine(),
        "cpu_class": cpu_class(),
        "cpu_class_means": CPU_CLASSES[cpu_class()],
        "onednn_isa_cap": isa_cap() or None,
        "cpu_flags": {
            flag: flag in flags for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
        },
        "bf16_native": native_bf16_cpu(),
        "bf16_lstm_runs": bf16_lstm_runs(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": str(device),
        "bf16_supported": bf16_supported(device),
        "precision_env": precision_override(),
    }


def lstm_flops_per_token(config: BiLSTMConfig, training: bool = False) -> float:
    """Matrix-product FLOPs of the LSTM per token: sum over layers and directions of 2 x (input + hidden) x 4 hidden;
    3x that for a training step (forward, gradients of inputs, gradients of weights)."""
    directions = 2 if config.bidirectional else 1
    total = 0.0
    for layer in range(config.num_layers):
        inputs = config.embedding_dim if layer == 0 else directions * config.hidden_size
        total += directions * 2 * (inputs + config.hidden_size) * 4 * config.hidden_size
    return total * (3 if training else 1)


def gemm_shapes(config: BiLSTMConfig, batch_size: int = 256, width: int = 16) -> dict[str, tuple[int, int, int]]:
    """(rows, inner, outputs) of the LSTM's matrix products for a batch: input projections and the recurrent step."""
    directions = 2 if config.bidirectional else 1
    gates = 4 * config.hidden_size
    shapes = {
        "input projection, first layer": (batch_size * width, config.embedding_dim, gates),
        "recurrent step": (batch_size, config.hidden_size, gates),
    }
    if config.num_layers > 1:
        shapes["input projection, upper layers"] = (batch_size * width, directions * config.hidden_size, gates)
    return shapes


def gemm_gflops(rows: int, inner: int, outputs: int, dtype: torch.dtype, seconds: float = 0.3) -> float:
    """Best GFLOP/s of ``[rows, inner] @ [inner, outputs]`` in ``dtype`` over about ``seconds`` of repeats."""
    a, b = torch.randn(rows, inner).to(dtype), torch.randn(inner, outputs).to(dtype)
    out = torch.empty(rows, outputs, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    flops, best, spent = 2.0 * rows * inner * outputs, float("inf"), 0.0
    reps = max(1, int(2e8 / flops))
    while spent < seconds or best == float("inf"):
        start = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b, out=out)
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = min(best, elapsed / reps)
    return flops / best / 1e9


def gemm_peak(config: BiLSTMConfig, seconds: float = 0.3) -> dict:
    """The machine's GEMM throughput on ``config``'s LSTM shapes: per shape and the best, in fp32 and in bf16 where
    the CPU has native bf16 (emulated bf16 is not a peak anyone should aim for)."""
    dtypes = {"fp32": torch.float32, **({"bf16": torch.bfloat16} if native_bf16_cpu() else {})}
    result = {}
    for name, dtype in dtypes.items():
        shapes = {label: gemm_gflops(*shape, dtype, seconds) for label, shape in gemm_shapes(config).items()}
        result[name] = {"peak_gflops": max(shapes.values()), "shapes": shapes}
        logger.info("GEMM %s on LSTM shapes: %s", name, ", ".join(f"{k} {v:.0f}" for k, v in shapes.items()))
    return result


def fraction_of_peak(config: BiLSTMConfig, tokens_per_s: float, peak_gflops: float, training: bool) -> float:
    """Achieved LSTM FLOP rate over the GEMM peak."""
    return lstm_flops_per_token(config, training) * tokens_per_s / (peak_gflops * 1e9)


# ----------------------------------------------------------------------------------------------- timing
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


# ----------------------------------------------------------------------------------------------- references
def reference_train_steps(
    model: BiLSTMClassifier, texts: list[str], labels: np.ndarray, subset: np.ndarray, batch_size: int, seed: int
) -> tuple[int, int]:
    """The obvious training loop over ``subset``: random batches, tokenize each batch in Python, pad, pack, fp32.

    Returns (lines, tokens) seen."""
    order = list(subset)
    random.Random(seed).shuffle(order)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    lines = tokens = 0
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        loss, n_tokens = _reference_loss(model, [texts[i] for i in index], torch.as_tensor(labels[index]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lines += len(index)
        tokens += n_tokens
    return lines, tokens


def _reference_logits(model: BiLSTMClassifier, texts: list[str]) -> tuple[torch.Tensor, int]:
    """The plain forward pass: per-line tokenization, pad_sequence, pack_padded_sequence through the model's LSTM."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

    encoded = [torch.tensor(model.tokenizer.encode(t, add_special_tokens=False).ids or [0]) for t in texts]
    lengths = torch.tensor([len(e) for e in encoded])
    padded = pad_sequence(encoded, batch_first=True)
    embedded = model.embedding(padded)
    packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
    output, (hidden, _) = model.lstm(packed)
    if model.config.pooling == "last":
        features = torch.cat([hidden[-2], hidden[-1]], dim=1) if model.config.bidirectional else hidden[-1]
    else:
        steps, _ = pad_packed_sequence(output, batch_first=True)
        features = model._pool(steps, None, lengths, model.config.pooling, padded=True)
    hidden_layer = torch.relu(model.fc1(model.dropout(features)))
    logits = model.fc2(model.dropout(hidden_layer)).squeeze(-1)
    if model.config.bag_of_words:
        logits = logits + model.bag_of_words(padded, valid_positions(lengths, padded.shape[1]))
    return logits, int(lengths.sum())


def _reference_loss(model: BiLSTMClassifier, texts: list[str], labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    logits, tokens = _reference_logits(model, texts)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float()), tokens


def reference_predict(model: BiLSTMClassifier, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The obvious prediction loop: input order, tokenize each batch in Python, pad, pack, fp32."""
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            logits, _ = _reference_logits(model, texts[start : start + batch_size])
            out.append(torch.sigmoid(logits).numpy())
    return np.concatenate(out)


def write_full_size_corpus(
    folder: Path,
    n_lines: int = FULL_SIZE["n_lines"],
    n_characters: int = FULL_SIZE["n_characters"],
    n_movies: int = FULL_SIZE["n_movies"],
    seed: int = 0,
) -> Path:
    """A synthetic corpus in the upstream format (ISO-8859-1, +++$+++ fields), by default of the real corpus' size."""
    rng = np.random.default_rng(seed)
    words = np.array(
        [
            "the",
            "you",
            "i",
            "to",
            "a",
            "it",
            "and",
            "that",
            "what",
            "is",
            "of",
            "me",
            "in",
            "this",
            "do",
            "n't",
            "know",
            "we",
            "your",
            "have",
            "be",
            "my",
            "no",
            "not",
            "just",
            "for",
            "he",
            "on",
            "was",
            "with",
            "are",
            "all",
            "get",
            "there",
            "so",
            "can",
            "here",
            "like",
            "right",
            "go",
            "up",
            "now",
            "about",
            "out",
            "want",
            "one",
            "come",
            "darling",
            "honey",
            "sir",
            "gun",
            "money",
            "car",
            "love",
            "baby",
            "dress",
            "kill",
        ]
    )
    genders = rng.choice(["m", "M", "f", "F", "?"], size=n_characters, p=[0.5, 0.05, 0.22, 0.02, 0.21])
    movie_of = np.sort(rng.integers(0, n_movies, n_characters))
    rows = [
        SEP.join([f"u{c}", f"NAME{c}", f"m{movie_of[c]}", f"movie {movie_of[c]}", genders[c], "?"])
        for c in range(n_characters)
    ]
    speaker = np.sort(rng.integers(0, n_characters, n_lines))
    sizes = rng.integers(1, 20, n_lines)
    flat = rng.choice(words, size=int(sizes.sum()))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    lines = [
        SEP.join(
            [
                f"L{i}",
                f"u{speaker[i]}",
                f"m{movie_of[speaker[i]]}",
                f"NAME{speaker[i]}",
                " ".join(flat[offsets[i] : offsets[i + 1]]).capitalize() + ".",
            ]
        )
        for i in range(n_lines)
    ]
    target = folder / "cornell movie-dialogs corpus"
    target.mkdir(parents=True, exist_ok=True)
    (target / "movie_lines.txt").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    (target / "movie_characters_metadata.txt").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    return folder


def pandas_reference(
    folder: Path, seed: int = 42, test_per_class: int = 10_000
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.DataFrame]:
    """The tutorial's preprocessing written the straightforward pandas way (read, merge, filter, split, oversample).

    Returns (train texts, train labels, validation frame, test frame)."""
    import pandas as pd
    from imblearn.over_sampling import RandomOverSampler
    from sklearn.model_selection import train_test_split

    base = folder / "cornell movie-dialogs corpus"
    read = {
        "sep": r" \+\+\+\$\+\+\+ ",
        "engine": "python",
        "header": None,
        "encoding": "latin-1",
        "quoting": 3,
        "dtype": str,
        "keep_default_na": False,
    }
    lines = pd.read_csv(base / "movie_lines.txt", names=["line_id", "character_id", "movie_id", "name", "text"], **read)
    characters = pd.read_csv(
        base / "movie_characters_metadata.txt",
        names=["character_id", "cname", "movie_id", "title", "gender", "position"],
        **read,
    )
    df = lines.merge(characters[["character_id", "gender"]], on="character_id")
    df["gender"] = df["gender"].apply(lambda g: g.lower())
    df = df[df["gender"].isin(["m", "f"])].copy()
    df["label"] = df["gender"].apply(lambda g: 1 if g == "f" else 0)
    df = df[df["text"].apply(lambda t: len(t.strip()) > 0)]
    test = pd.concat([df[df.label == 0].head(test_per_class), df[df.label == 1].head(test_per_class)])
    rest = df.drop(test.index)
    train_frame, valid = train_test_split(rest, test_size=0.1, stratify=rest["label"], random_state=seed)
    x, y = RandomOverSampler(random_state=seed).fit_resample(
        train_frame[["line_id", "movie_id", "text"]], train_frame["label"]
    )
    return x, y, valid, test


# ----------------------------------------------------------------------------------------------- the comparisons
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
        texts = list(dataset["train"]["text"])
        labels = np.asarray(dataset["train"]["label"])
        tokenizer = train_tokenizer(texts)
        tiny = dataset["validation"].shuffle(seed=0).select(range(min(256, len(dataset["validation"]))))
        predict_texts = list(dict.fromkeys(list(dataset["validation"]["text"]) + list(dataset["test"]["text"]) + texts))
        return cls(
            tokenizer,
            texts,
            labels,
            EncodedSplit.from_texts(tokenizer, texts, labels),
            EncodedSplit.from_texts(tokenizer, list(tiny["text"]), list(tiny["label"])),
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
    from movie_gender.training.pipeline import train_model

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
    val = EncodedSplit.from_texts(data.tokenizer, dataset["validation"]["text"], dataset["validation"]["label"])
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
    """Onnxruntime vs PyTorch prediction (:func:`movie_gender.model.export.benchmark_onnx`) for both architectures; None
    without the onnx extra."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        logger.info("onnxruntime not installed: no ONNX rows (pip install 'movie-gender[onnx]')")
        return None
    from movie_gender.model.export import benchmark_onnx

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


# ----------------------------------------------------------------------------------------------- the whole run
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
    tutorial = tutorial_config  # 200d, as in the tutorial (random embeddings: speed does not depend on them)
    default = functools.partial(default_config, embedding_dim=glove["dim"])
    peak = gemm_peak(tutorial_config(data.tokenizer.get_vocab_size()))
    results["gemm_peak"] = peak
    tutorial_steps = max(4, steps // 2)
    results["train_tutorial"] = bench_training("tutorial 4x256", tutorial, data, tutorial_steps, repeats, 256)
    results["train_default"] = bench_training(
        "default preset", default, data, steps, repeats, PRESETS["default"].training.batch_size
    )
    results["predict_tutorial"] = bench_inference("tutorial 4x256", tutorial, data, repeats)
    results["predict_default"] = bench_inference("default preset", default, data, repeats)
    results["glove"] = glove
    results["onnx"] = bench_onnx(data, repeats)
    results["memory"] = bench_memory(options.corpus, options.glove, 30) if memory else None
    if accuracy:
        results["accuracy"] = bench_accuracy(data, options.glove)
    tutorial_model = tutorial_config(data.tokenizer.get_vocab_size())
    for key, training in (("train_tutorial", True), ("predict_tutorial", False)):
        row = results[key]
        row["peak_gflops"] = peak[row["precision"]]["peak_gflops"] if row["precision"] in peak else None
        row["gflops"] = lstm_flops_per_token(tutorial_model, training) * row["ours_tokens_per_s"] / 1e9
        row["fraction_of_peak"] = row["gflops"] / row["peak_gflops"] if row["peak_gflops"] else None
    results.update(
        {
            "train_speedup": results["train_tutorial"]["speedup"],
            "train_speedup_default_preset": results["train_default"]["speedup"],
            "predict_speedup": results["predict_tutorial"]["speedup"],
            "predict_speedup_default_preset": results["predict_default"]["speedup"],
            "dataset_speedup": results["dataset"]["speedup"],
            "dataset_build_s": results["dataset"]["ours_s"],
            "glove_cold_parse_s": results["glove"]["cold_s"],
            "glove_cached_load_s": results["glove"]["cached_s"],
            "peak_rss_mb": results["memory"]["peak_rss_mb"] if results["memory"] else None,
            "gemm_peak_gflops": {name: value["peak_gflops"] for name, value in peak.items()},
            "train_fraction_of_peak": results["train_tutorial"]["fraction_of_peak"],
            "predict_fraction_of_peak": results["predict_tutorial"]["fraction_of_peak"],
            "flops_per_token_tutorial": {
                "predict": lstm_flops_per_token(tutorial_model),
                "train": lstm_flops_per_token(tutorial_model, training=True),
            },
            "total_s": time.perf_counter() - started,
        }
    )
    return results


def format_table(r: dict) -> str:
    """The results as a plain-text table, with the machine it ran on."""

    def row(label: str, key: str, ratio: str) -> tuple:
        x = r[key]
        return (label, f"{x['reference_lines_per_s']:.0f}", f"{x['ours_lines_per_s']:.0f}", ratio, x["precision"])

    rows = [
        ("what", "reference", "ours", "ratio", "precision"),
        row("train, tutorial 4x256 (lines/s)", "train_tutorial", f"{r['train_speedup']:.2f}x"),
        row("train, default preset (lines/s)", "train_default", f"{r['train_speedup_default_preset']:.2f}x"),
        row("predict, tutorial 4x256 (lines/s)", "predict_tutorial", f"{r['predict_speedup']:.2f}x"),
        row("predict, default preset (lines/s)", "predict_default", f"{r['predict_speedup_default_preset']:.2f}x"),
        (
            "DatasetDict, 304,713 lines (s)",
            f"{r['dataset']['reference_s']:.2f}",
            f"{r['dataset']['ours_s']:.2f}",
            f"{r['dataset_speedup']:.1f}x",
            "",
        ),
        (
            f"GloVe {r['glove']['dim']}d: cold parse / cached load (s)",
            f"{r['glove_cold_parse_s']:.2f}",
            f"{r['glove_cached_load_s']:.3f}",
            "",
            "",
        ),
    ]
    if r.get("peak_rss_mb"):
        rows.append(("peak RSS, training run (MB)", "", f"{r['peak_rss_mb']:.0f}", "", ""))
    for name, x in (r.get("onnx") or {}).items():  # ratio: onnxruntime's lines/s over PyTorch's
        precision = "bf16" if x["torch_bf16"] else "fp32"
        rows.append(
            (
                f"predict, {name}: PyTorch vs onnxruntime (lines/s)",
                f"{x['torch_lines_per_s']:.0f}",
                f"{x['onnx_lines_per_s']:.0f}",
                f"{x['ratio']:.2f}x",
                f"{precision} vs onnx fp32",
            )
        )
        if x["torch_bf16"]:
            rows.append(
                (
                    f"predict, {name}: PyTorch fp32 vs onnxruntime (lines/s)",
                    f"{x['torch_fp32_lines_per_s']:.0f}",
                    f"{x['onnx_lines_per_s']:.0f}",
                    f"{x['ratio_fp32']:.2f}x",
                    "fp32 vs onnx fp32",
                )
            )
    for name, acc in (r.get("accuracy") or {}).items():
        rows.append((f"val ROC-AUC, default preset, {name}", "", f"{acc['best_val_auc']:.4f}", "", acc["precision"]))
    widths = [max(len(str(x[i])) for x in rows) for i in range(5)]
    lines = [
        "  ".join(
            str(cell).ljust(widths[i]) if i in (0, 4) else str(cell).rjust(widths[i]) for i, cell in enumerate(x)
        ).rstrip()
        for x in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    peaks = ", ".join(f"{name} {value:.0f}" for name, value in r["gemm_peak_gflops"].items())
    flops = r["flops_per_token_tutorial"]
    for key, what in (("train_tutorial", "train"), ("predict_tutorial", "predict")):
        x = r[key]
        lines.append(
            f"{what}, tutorial 4x256: {x['ours_tokens_per_s']:,.0f} tokens/s x "
            f"{flops[what] / 1e6:.1f} MFLOP/token = {x['gflops']:.0f} GFLOP/s = "
            f"{100 * (x['fraction_of_peak'] or float('nan')):.0f}% of the {x['precision']} GEMM peak"
        )
    m = r["machine"]
    flags = " ".join(flag for flag, present in m["cpu_flags"].items() if present) or "unknown"
    lines.append(f"GEMM peak on the LSTM's shapes (GFLOP/s): {peaks}")
    cap = f", ONEDNN_MAX_CPU_ISA={m['onednn_isa_cap']}" if m.get("onednn_isa_cap") else ""
    lines.append(
        f"({m['cpu_model']}; class {m.get('cpu_class', '?')}{cap}; flags: {flags}; bf16_native {m['bf16_native']}; "
        f"{_override_note(m)}{m['threads']} threads, torch {m['torch']}, device {m['device']}; "
        f"{'--quick, ' if r['quick'] else ''}medians of {r['repeats']} runs; total {r['total_s']:.0f}s)"
    )
    return "\n".join(lines)


def _override_note(machine: dict) -> str:
    env = machine.get("precision_env", "auto")
    return "" if env == "auto" else f"{ENV_VAR}={env}; "
