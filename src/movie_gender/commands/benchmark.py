"""Measure movie-gender's speed-ups side by side, in one run, as ratios over plain reference implementations.

1. Training throughput (lines/s, tokens/s) of our loop (pre-tokenized, length-bucketed, bf16 autocast where the
   CPU/GPU has it) vs a plain loop (fp32, pack_padded_sequence, random batches, tokenization per batch in Python),
   same model, same data, same number of optimizer steps: tutorial architecture and our default preset.
2. Inference throughput of BiLSTMClassifier.predict vs the same plain loop.
3. Building the DatasetDict from a synthetic corpus of the real size (304,713 lines, 9,035 characters, 617 movies,
   written in the upstream format) vs a straightforward pandas reimplementation of the tutorial's preprocessing.
4. GloVe: cold parse and cached load against the sample corpus' vocabulary.
5. Peak memory (RSS) of a short training run, in a child process (not with --quick).
Optionally (--accuracy, on by default without --quick): validation ROC-AUC of the default preset with and without
each speed-up (bf16, length buckets), trained for real on the sample.

Each timing is the median of --repeats runs (the DatasetDict build, measured first and cheap on our side: one
warm-up of each side, then ours 3x as often). Prints a table and writes JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, build_dataset, load_glove, train_tokenizer
from movie_gender.corpus import DEFAULT_URL
from movie_gender.glove import DEFAULT_GLOVE
from movie_gender.presets import PRESETS
from movie_gender.training import EncodedSplit, TrainingConfig, bf16_supported, resolve_device, train

SEP = " +++$+++ "
logger = logging.getLogger("benchmark")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    p = argparse.ArgumentParser(prog="movie-gender benchmark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats, no accuracy runs: under 2 minutes")
    p.add_argument("--corpus", default=DEFAULT_URL,
                   help="real corpus for the training/inference data (default: the official zip; scripts/benchmark.py uses the sample in ../shared/data when present)")
    p.add_argument("--glove", default=DEFAULT_GLOVE,
                   help="GloVe file for the GloVe timings and accuracy runs (default: the official glove.6B.zip; scripts/benchmark.py uses glove.6B.50d in ../shared/data when present)")
    p.add_argument("--repeats", type=int, help="repeats per timing, the median is reported (default: 3, --quick: 2)")
    p.add_argument("--steps", type=int, help="optimizer steps per training timing, the same for both loops (default: 30, --quick: 10)")
    p.add_argument("--accuracy", action=argparse.BooleanOptionalAction, default=None,
                   help="also train the default preset with and without each speed-up and report validation ROC-AUC "
                        "(default: on, off with --quick)")
    p.add_argument("--json", type=Path, help="write the results as JSON to this file")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def median_time(fn, repeats: int, warmup: int = 0) -> float:
    """Median wall time of ``repeats`` calls, after ``warmup`` untimed ones (first-call costs: imports, allocator)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ----------------------------------------------------------------------------------------------- 1. training
def tutorial_config(vocab_size: int) -> BiLSTMConfig:
    return replace(PRESETS["tutorial"].model, vocab_size=vocab_size, embedding_dim=200)


def default_config(vocab_size: int) -> BiLSTMConfig:
    return replace(PRESETS["default"].model, vocab_size=vocab_size, embedding_dim=50)


def reference_train_steps(model: BiLSTMClassifier, texts: list[str], labels: np.ndarray, subset: np.ndarray,
                          batch_size: int, seed: int) -> tuple[int, int]:
    """The obvious loop over ``subset``: random batches, tokenize each batch in Python, pad, fp32, packed."""
    order = list(subset)
    random.Random(seed).shuffle(order)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    tokenizer = model.tokenizer
    model.train()
    lines = tokens = 0
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        encoded = [torch.tensor(tokenizer.encode(texts[i], add_special_tokens=False).ids or [0]) for i in index]
        lengths = torch.tensor([len(e) for e in encoded])
        input_ids = torch.nn.utils.rnn.pad_sequence(encoded, batch_first=True)
        loss = model(input_ids, lengths=lengths, labels=torch.as_tensor(labels[index])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lines += batch_size
        tokens += int(lengths.sum())
    return lines, tokens


def bench_training(name: str, make_config, tokenizer, texts, labels, encoded: EncodedSplit, tiny_val: EncodedSplit,
                   steps: int, repeats: int, batch_size: int) -> dict:
    def fresh() -> BiLSTMClassifier:
        torch.manual_seed(0)
        model = BiLSTMClassifier(make_config(tokenizer.get_vocab_size()))
        model.tokenizer = tokenizer
        return model

    reference, ours = [], []
    for r in range(repeats):
        # Same train split, same number of optimizer steps; each loop draws its batches its own way (the reference
        # at random, ours from its length buckets: the first `steps` batches of an epoch's shuffled bucket order).
        subset = np.random.default_rng(r).choice(len(texts), (steps + 2) * batch_size, replace=False)
        model = fresh()
        reference_train_steps(model, texts, labels, subset[: 2 * batch_size], batch_size, r)  # warm-up (oneDNN)
        start = time.perf_counter()
        lines, tokens = reference_train_steps(model, texts, labels, subset[2 * batch_size:], batch_size, r)
        seconds = time.perf_counter() - start
        reference.append((lines / seconds, tokens / seconds))
        model = fresh()
        warm = TrainingConfig(epochs=1, max_steps=2, batch_size=batch_size, seed=r, checkpoint_every=0)
        train(model, encoded, tiny_val, warm, progress=False)
        config = TrainingConfig(epochs=1, max_steps=steps, batch_size=batch_size, seed=r + 100, checkpoint_every=0)
        row = train(model, encoded, tiny_val, config, progress=False).history[0]
        ours.append((row["lines_per_s"], row["tokens_per_s"]))
    ref_lines = statistics.median(x[0] for x in reference)
    our_lines = statistics.median(x[0] for x in ours)
    result = {"reference_lines_per_s": ref_lines, "reference_tokens_per_s": statistics.median(x[1] for x in reference),
              "ours_lines_per_s": our_lines, "ours_tokens_per_s": statistics.median(x[1] for x in ours),
              "speedup": our_lines / ref_lines, "steps": steps, "batch_size": batch_size}
    logger.info("training, %s: reference %.0f lines/s, ours %.0f lines/s: %.2fx", name, ref_lines, our_lines, result["speedup"])
    return result


# ----------------------------------------------------------------------------------------------- 2. inference
def reference_predict(model: BiLSTMClassifier, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The obvious loop: input order, tokenize each batch in Python, pad, fp32."""
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            encoded = [torch.tensor(model.tokenizer.encode(t, add_special_tokens=False).ids or [0])
                       for t in texts[start:start + batch_size]]
            lengths = torch.tensor([len(e) for e in encoded])
            logits = model(torch.nn.utils.rnn.pad_sequence(encoded, batch_first=True), lengths=lengths).logits
            out.append(torch.sigmoid(logits).numpy())
    return np.concatenate(out)


def bench_inference(name: str, make_config, tokenizer, texts: list[str], repeats: int) -> dict:
    torch.manual_seed(0)
    model = BiLSTMClassifier(make_config(tokenizer.get_vocab_size())).eval()
    model.tokenizer = tokenizer
    reference_predict(model, texts[:256])
    model.predict(texts[:256])
    ref = median_time(lambda: reference_predict(model, texts), repeats)
    ours = median_time(lambda: model.predict(texts), repeats)
    agree = np.abs(reference_predict(model, texts[:500]) - model.predict_proba(texts[:500])).max()
    result = {"reference_lines_per_s": len(texts) / ref, "ours_lines_per_s": len(texts) / ours, "speedup": ref / ours,
              "lines": len(texts), "max_abs_probability_difference": float(agree)}
    logger.info("inference, %s: reference %.0f lines/s, ours %.0f lines/s: %.2fx", name, result["reference_lines_per_s"],
                result["ours_lines_per_s"], result["speedup"])
    return result


# ----------------------------------------------------------------------------------------------- 3. dataset
def write_full_size_corpus(folder: Path, n_lines: int = 304_713, n_characters: int = 9_035, n_movies: int = 617,
                           seed: int = 0) -> Path:
    """A synthetic corpus with the real corpus' size and upstream format (ISO-8859-1, +++$+++ fields)."""
    rng = np.random.default_rng(seed)
    words = np.array("the you i to a it and that what is of me in this do n't know we your have be my no not just "
                     "for he on was with are all get there so can here like right go up now about out want one come "
                     "darling honey sir gun money car love baby dress kill".split())
    genders = rng.choice(["m", "M", "f", "F", "?"], size=n_characters, p=[0.5, 0.05, 0.22, 0.02, 0.21])
    movie_of = np.sort(rng.integers(0, n_movies, n_characters))
    rows = [SEP.join([f"u{c}", f"NAME{c}", f"m{movie_of[c]}", f"movie {movie_of[c]}", genders[c], "?"])
            for c in range(n_characters)]
    speaker = np.sort(rng.integers(0, n_characters, n_lines))
    sizes = rng.integers(1, 20, n_lines)
    flat = rng.choice(words, size=int(sizes.sum()))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    lines = [SEP.join([f"L{i}", f"u{speaker[i]}", f"m{movie_of[speaker[i]]}", f"NAME{speaker[i]}",
                       " ".join(flat[offsets[i]:offsets[i + 1]]).capitalize() + "."]) for i in range(n_lines)]
    target = folder / "cornell movie-dialogs corpus"
    target.mkdir(parents=True, exist_ok=True)
    (target / "movie_lines.txt").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    (target / "movie_characters_metadata.txt").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    return folder


def pandas_reference(folder: Path, seed: int = 42):
    """The tutorial's preprocessing written the straightforward pandas way (read, merge, filter, split, oversample)."""
    import pandas as pd
    from imblearn.over_sampling import RandomOverSampler
    from sklearn.model_selection import train_test_split

    base = folder / "cornell movie-dialogs corpus"
    lines = pd.read_csv(base / "movie_lines.txt", sep=r" \+\+\+\$\+\+\+ ", engine="python", header=None, encoding="latin-1",
                        names=["line_id", "character_id", "movie_id", "name", "text"], quoting=3, dtype=str,
                        keep_default_na=False)
    characters = pd.read_csv(base / "movie_characters_metadata.txt", sep=r" \+\+\+\$\+\+\+ ", engine="python", header=None,
                             encoding="latin-1", names=["character_id", "cname", "movie_id", "title", "gender", "position"],
                             quoting=3, dtype=str, keep_default_na=False)
    df = lines.merge(characters[["character_id", "gender"]], on="character_id")
    df["gender"] = df["gender"].apply(lambda g: g.lower())
    df = df[df["gender"].isin(["m", "f"])].copy()
    df["label"] = df["gender"].apply(lambda g: 1 if g == "f" else 0)
    df = df[df["text"].apply(lambda t: len(t.strip()) > 0)]
    test = pd.concat([df[df.label == 0].head(10_000), df[df.label == 1].head(10_000)])
    rest = df.drop(test.index)
    train, valid = train_test_split(rest, test_size=0.1, stratify=rest["label"], random_state=seed)
    x, y = RandomOverSampler(random_state=seed).fit_resample(train[["line_id", "movie_id", "text"]], train["label"])
    return x, y, valid, test


def bench_dataset(repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_full_size_corpus(Path(tmp))
        # Both warmed up once; ours is cheap enough to time more often, which steadies its median.
        ours = median_time(lambda: build_dataset(folder, split="tutorial"), 3 * repeats, warmup=1)
        reference = median_time(lambda: pandas_reference(folder), repeats, warmup=1)
    result = {"reference_s": reference, "ours_s": ours, "speedup": reference / ours, "lines": 304_713}
    logger.info("DatasetDict, full size (tutorial split): pandas %.1fs, ours %.1fs: %.1fx", reference, ours, result["speedup"])
    return result


# ----------------------------------------------------------------------------------------------- 4. GloVe
def bench_glove(glove: str, tokenizer, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["MOVIE_GENDER_CACHE"] = cache
        cold = median_time(lambda: load_glove(glove, tokenizer, cache=False), max(1, repeats - 1))
        load_glove(glove, tokenizer)
        cached = median_time(lambda: load_glove(glove, tokenizer), repeats)
        os.environ.pop("MOVIE_GENDER_CACHE")
    logger.info("GloVe: cold parse %.2fs, cached load %.3fs", cold, cached)
    return {"cold_s": cold, "cached_s": cached}


# ----------------------------------------------------------------------------------------------- 5. memory
def bench_memory(corpus: str, glove: str, steps: int) -> dict:
    code = (
        "import tempfile\n"
        "from movie_gender.pipeline import TrainOptions, DataOptions, train_model\n"
        "from movie_gender.training import TrainingConfig\n"
        "with tempfile.TemporaryDirectory() as out:\n"
        f"    train_model(TrainOptions(output=out + '/m', data=DataOptions(corpus={corpus!r}), glove={glove!r},\n"
        f"        training=TrainingConfig(epochs=1, max_steps={steps}, batch_size=256),\n"
        "        bootstrap=0))\n"
        # VmHWM starts afresh at exec; ru_maxrss would carry over the benchmark's own (larger) footprint.
        "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    if result.returncode != 0:
        logger.warning("memory run failed: %s", result.stderr[-500:])
        return {"peak_rss_mb": None}
    peak = int(result.stdout.strip().splitlines()[-1]) / 1024
    logger.info("peak RSS of a default-preset training run (%d steps, sample corpus): %.0f MB", steps, peak)
    return {"peak_rss_mb": peak, "steps": steps}


# ----------------------------------------------------------------------------------------------- accuracy
def bench_accuracy(dataset, tokenizer, glove: str) -> dict:
    matrix, _ = load_glove(glove, tokenizer)
    train_data = EncodedSplit.from_texts(tokenizer, dataset["train"]["text"], dataset["train"]["label"])
    val = EncodedSplit.from_texts(tokenizer, dataset["validation"]["text"], dataset["validation"]["label"])
    preset = PRESETS["default"].training
    results = {}
    for name, overrides in (("ours: auto precision + length buckets", {}), ("forced bf16 + buckets", {"bf16": True}),
                            ("auto precision, no buckets", {"bucket_batches": 1})):
        torch.manual_seed(0)
        model = BiLSTMClassifier(default_config(tokenizer.get_vocab_size()))
        model.load_embeddings(matrix)
        config = TrainingConfig(epochs=preset.epochs, batch_size=preset.batch_size,
                                learning_rate=preset.learning_rate, patience=preset.patience, checkpoint_every=0,
                                **overrides)
        r = train(model, train_data, val, config, progress=False)
        results[name] = {"best_val_auc": r.best_validation_auc, "best_epoch": r.best_epoch, "seconds": r.seconds}
        logger.info("accuracy, default preset, %s: best validation ROC-AUC %.4f (epoch %d) in %.0fs", name,
                    r.best_validation_auc, r.best_epoch, r.seconds)
    return results


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("movie_gender", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    repeats = args.repeats or (2 if args.quick else 3)
    steps = args.steps or (10 if args.quick else 30)
    accuracy = (not args.quick) if args.accuracy is None else args.accuracy
    started = time.perf_counter()
    device = resolve_device()
    machine = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
               "cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
               "device": str(device), "bf16": bf16_supported(device),
               "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    logger.info("machine: %s", machine)

    results = {"machine": machine, "quick": args.quick, "repeats": repeats}
    # First, in a process as fresh as a user's build_dataset.py run (both sides alike), not after minutes of training.
    results["dataset"] = bench_dataset(1 if args.quick else repeats)

    dataset = build_dataset(args.corpus, split="movie")
    texts = list(dataset["train"]["text"])
    labels = np.asarray(dataset["train"]["label"])
    tokenizer = train_tokenizer(texts)
    encoded = EncodedSplit.from_texts(tokenizer, texts, labels)
    tiny = dataset["validation"].shuffle(seed=0).select(range(256))  # both classes, cheap to score between runs
    tiny_val = EncodedSplit.from_texts(tokenizer, list(tiny["text"]), list(tiny["label"]))
    # Inference data: held-out lines first, then distinct train lines, up to 12,000 (4,000 with --quick).
    eval_texts = list(dict.fromkeys(list(dataset["validation"]["text"]) + list(dataset["test"]["text"]) + texts))
    eval_texts = eval_texts[:4000 if args.quick else 12000]

    results["train_tutorial"] = bench_training("tutorial 4x256", tutorial_config, tokenizer, texts, labels, encoded,
                                               tiny_val, max(6, steps // 2), repeats, 256)
    results["train_default"] = bench_training("default preset", default_config, tokenizer, texts, labels, encoded,
                                              tiny_val, steps, repeats, PRESETS["default"].training.batch_size)
    results["predict_tutorial"] = bench_inference("tutorial 4x256", tutorial_config, tokenizer, eval_texts, repeats)
    results["predict_default"] = bench_inference("default preset", default_config, tokenizer, eval_texts, repeats)
    results["glove"] = bench_glove(args.glove, tokenizer, repeats)
    results["memory"] = None if args.quick else bench_memory(args.corpus, args.glove, 30)
    if accuracy:
        results["accuracy"] = bench_accuracy(dataset, tokenizer, args.glove)
    results.update({
        "train_speedup": results["train_tutorial"]["speedup"],
        "train_speedup_default_preset": results["train_default"]["speedup"],
        "predict_speedup": results["predict_tutorial"]["speedup"],
        "predict_speedup_default_preset": results["predict_default"]["speedup"],
        "dataset_speedup": results["dataset"]["speedup"],
        "dataset_build_s": results["dataset"]["ours_s"],
        "glove_cold_parse_s": results["glove"]["cold_s"],
        "glove_cached_load_s": results["glove"]["cached_s"],
        "peak_rss_mb": results["memory"]["peak_rss_mb"] if results["memory"] else None,
        "total_s": time.perf_counter() - started,
    })
    print(format_table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


def format_table(r: dict) -> str:
    rows = [
        ("what", "reference", "ours", "ratio"),
        ("train, tutorial 4x256 (lines/s)", f"{r['train_tutorial']['reference_lines_per_s']:.0f}",
         f"{r['train_tutorial']['ours_lines_per_s']:.0f}", f"{r['train_speedup']:.2f}x"),
        ("train, default preset (lines/s)", f"{r['train_default']['reference_lines_per_s']:.0f}",
         f"{r['train_default']['ours_lines_per_s']:.0f}", f"{r['train_speedup_default_preset']:.2f}x"),
        ("predict, tutorial 4x256 (lines/s)", f"{r['predict_tutorial']['reference_lines_per_s']:.0f}",
         f"{r['predict_tutorial']['ours_lines_per_s']:.0f}", f"{r['predict_speedup']:.2f}x"),
        ("predict, default preset (lines/s)", f"{r['predict_default']['reference_lines_per_s']:.0f}",
         f"{r['predict_default']['ours_lines_per_s']:.0f}", f"{r['predict_speedup_default_preset']:.2f}x"),
        ("DatasetDict, 304,713 lines (s)", f"{r['dataset']['reference_s']:.2f}", f"{r['dataset']['ours_s']:.2f}",
         f"{r['dataset_speedup']:.1f}x"),
        ("GloVe 50d: cold parse / cached load (s)", f"{r['glove_cold_parse_s']:.2f}", f"{r['glove_cached_load_s']:.3f}", ""),
        ("peak RSS, training run (MB)", "", f"{r['peak_rss_mb'] or float('nan'):.0f}", ""),
    ]
    for name, acc in r.get("accuracy", {}).items():
        rows.append((f"val ROC-AUC, default preset, {name}", "", f"{acc['best_val_auc']:.4f}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"({r['machine']['processor']}, {r['machine']['threads']} threads, torch {r['machine']['torch']}, "
                 f"device {r['machine']['device']}, bf16 {r['machine']['bf16']}; medians of {r['repeats']} runs; "
                 f"total {r['total_s']:.0f}s)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
