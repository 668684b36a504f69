"""The benchmark's parts as code: FLOP counts, GEMM shapes, the reference loops, the synthetic corpus, the table."""

from __future__ import annotations

import math

import numpy as np
import torch
from benchmarks import peak, reference
from benchmarks.comparisons import default_config, tutorial_config
from benchmarks.machine import machine_info
from benchmarks.synthetic import write_full_size_corpus
from benchmarks.tables import format_table

from movie_gender import BiLSTMClassifier, BiLSTMConfig, build_dataset, train_tokenizer
from movie_gender.model import precision

TEXTS = [
    "I'll be in the car, darling.",
    "Get the gun, buddy!",
    "What?",
    "Honey, I love this dress so much.",
    "go go go go go go go go go go go",
] * 4


def test_flops_per_token_of_the_tutorial_architecture() -> None:
    config = tutorial_config(vocab_size=100)
    # layer 1: 2 directions x 2 x (200 inputs + 256 hidden) x 1024 gates; layers 2-4: inputs are 512
    forward = 2 * 2 * (200 + 256) * 1024 + 3 * 2 * 2 * (512 + 256) * 1024
    assert peak.lstm_flops_per_token(config) == forward == 11_304_960
    assert peak.lstm_flops_per_token(config, training=True) == 3 * forward
    assert peak.lstm_flops_per_token(default_config(100, 50)) == 2 * 2 * (50 + 32) * 128


def test_gemm_shapes_and_a_measured_rate() -> None:
    shapes = peak.gemm_shapes(tutorial_config(100), batch_size=256, width=16)
    assert shapes == {
        "input projection, first layer": (4096, 200, 1024),
        "recurrent step": (256, 256, 1024),
        "input projection, upper layers": (4096, 512, 1024),
    }
    rate = peak.gemm_gflops(64, 32, 128, torch.float32, seconds=0.01)
    assert math.isfinite(rate) and rate > 0
    assert (
        peak.fraction_of_peak(tutorial_config(100), tokens_per_s=1e4, peak_gflops=226.0992, training=False)
        == 1e4 * 11_304_960 / 226.0992e9
    )


def _model(**overrides) -> BiLSTMClassifier:
    torch.manual_seed(0)
    tokenizer = train_tokenizer(TEXTS)
    model = BiLSTMClassifier(
        BiLSTMConfig(
            **{
                "vocab_size": tokenizer.get_vocab_size(),
                "embedding_dim": 8,
                "hidden_size": 8,
                "num_layers": 2,
                **overrides,
            }
        )
    )
    model.tokenizer = tokenizer
    return model


def test_the_reference_loops_compute_the_same_model() -> None:
    for pooling in ("last", "mean_max"):
        model = _model(pooling=pooling).eval()
        np.testing.assert_allclose(
            reference.reference_predict(model, TEXTS, batch_size=3),
            model.predict_proba(TEXTS, bf16=False),
            rtol=0,
            atol=1e-6,
        )
    before = [p.detach().clone() for p in model.parameters()]
    labels = np.array([0, 1] * 10)
    lines, tokens = reference.reference_train_steps(model, TEXTS, labels, np.arange(20), batch_size=8, seed=0)
    assert lines == 20 and tokens == sum(len(model.tokenizer.encode(t, add_special_tokens=False).ids) for t in TEXTS)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=False))


def test_the_synthetic_corpus_is_read_alike_by_both_sides(tmp_path) -> None:
    folder = write_full_size_corpus(tmp_path, n_lines=3000, n_characters=80, n_movies=12)
    ours = build_dataset(folder, split="tutorial", test_per_class=100)
    _, y, valid, test = reference.pandas_reference(folder, test_per_class=100)
    assert len(test) == len(ours["test"]) == 200
    assert len(valid) + len(y) > 0 and set(np.unique(y)) == {0, 1}
    assert sorted(ours["test"]["text"]) == sorted(test["text"])


def test_the_table_says_where_it_ran_and_how_close_to_the_peak() -> None:
    row = {
        "reference_lines_per_s": 100.0,
        "ours_lines_per_s": 400.0,
        "ours_tokens_per_s": 4000.0,
        "gflops": 135.6,
        "fraction_of_peak": 0.4,
        "precision": "bf16",
    }
    machine = machine_info(torch.device("cpu"))
    results = {
        "train_tutorial": row,
        "train_default": {**row, "precision": "fp32"},
        "train_context": {**row, "ours_lines_per_s": 190.0, "precision": "fp32"},
        "predict_tutorial": row,
        "predict_default": row,
        "train_speedup": 4.0,
        "train_speedup_default_preset": 4.0,
        "train_speedup_context_groups": 1.9,
        "predict_speedup": 4.0,
        "predict_speedup_default_preset": 4.0,
        "dataset": {"reference_s": 2.0, "ours_s": 0.15},
        "dataset_speedup": 13.3,
        "glove": {"dim": 50},
        "glove_cold_parse_s": 1.0,
        "glove_cached_load_s": 0.03,
        "peak_rss_mb": None,
        "gemm_peak_gflops": {"fp32": 200.0, "bf16": 900.0},
        "flops_per_token_tutorial": {"train": 3.4e7, "predict": 1.13e7},
        "machine": machine,
        "quick": True,
        "repeats": 2,
        "total_s": 100.0,
    }
    table = format_table(results)
    assert "train, tutorial 4x256 (lines/s)" in table and "4.00x  bf16" in table and "fp32" in table
    assert "contexts whole vs grouped (lines/s)" in table and "190  1.90x  fp32" in table
    assert (
        "40% of the bf16 GEMM peak" in table and "GEMM peak on the LSTM's shapes (GFLOP/s): fp32 200, bf16 900" in table
    )
    assert f"bf16_native {machine['bf16_native']}" in table
    assert set(machine["cpu_flags"]) >= {"avx512f", "avx512_bf16", "amx_bf16"}
    assert f"class {precision.cpu_class()}" in table and machine["cpu_class"] in precision.CPU_CLASSES


def test_the_machine_record_names_a_capped_class(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_info", lambda: {"model": "Some Xeon", "flags": frozenset({"avx2", "avx512f"})})
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    machine = machine_info(torch.device("cpu"))
    assert machine["cpu_class"] == "avx2" and machine["onednn_isa_cap"] == "avx2"
    assert machine["cpu_flags"]["avx2"] and not machine["cpu_flags"]["avx512f"] and not machine["bf16_native"]


def test_streaming_rows_table_and_input(tmp_path) -> None:
    import pyarrow.parquet as pq
    from benchmarks.streaming import format_streaming, write_lines

    table = pq.read_table(write_lines(tmp_path / "lines.parquet", 250_001))
    assert table.num_rows == 250_001 and table["line_id"].to_pylist()[-3:] == [249_998, 249_999, 250_000]
    assert all(1 <= len(t.split()) <= 25 for t in table["text"].to_pylist()[:1000])
    runs = {
        "naive": {"lines_per_s": 1000.0, "total_peak_rss_mb": 4000.0, "max_abs_diff": 0.0},
        "stream": {"lines_per_s": 1500.0, "total_peak_rss_mb": 800.0, "max_abs_diff": 7e-8},
        "ray": {"lines_per_s": 900.0, "total_peak_rss_mb": None, "max_abs_diff": 7e-8},
    }
    text = format_streaming({"lines": 250_001, "cpus": 2, "runs": runs})
    assert "predict --input, 1 process" in text and "1.50x" in text and "n/a" in text and "250,001 lines" in text
