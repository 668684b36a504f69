"""The precision policy: bf16 only where the CPU has it natively and it is faster; fp32 otherwise; overridable."""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.model import precision
from movie_gender.model.precision import (
    bf16_lstm_runs,
    bf16_recommended,
    cpu_class,
    native_bf16_cpu,
    parse_cpuinfo,
    resolve_bf16,
)
from movie_gender.training.pipeline import hardware

CPU = torch.device("cpu")
LARGE = BiLSTMConfig(embedding_dim=200, hidden_size=256, num_layers=4)
SMALL = BiLSTMConfig(embedding_dim=50, hidden_size=32, num_layers=1)
AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})
AVX512_ONLY = frozenset({"avx2", "avx512f", "avx512_vnni"})
AVX2_ONLY = frozenset({"avx", "avx2", "fma"})
# What oneDNN does on each class: a bf16 LSTM runs natively (AMX / AVX512_BF16), emulated (AVX-512), or not at all.
BF16_LSTM_RUNS = {AMX: True, AVX512_ONLY: True, AVX2_ONLY: False}


@pytest.fixture(autouse=True)
def _fresh_decisions(monkeypatch):
    monkeypatch.delenv(precision.ENV_VAR, raising=False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    precision.clear_decisions()
    yield
    precision.clear_decisions()


def fake_cpu(monkeypatch, flags: frozenset[str]) -> None:
    """Simulate a CPU class: its flags, and whether its oneDNN runs a bf16 LSTM (the probe's answer there)."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    monkeypatch.setattr(precision, "bf16_lstm_runs", lambda: BF16_LSTM_RUNS[flags])


def fake_timings(monkeypatch, fp32_s: float, bf16_s: float) -> list:
    calls = []
    monkeypatch.setattr(precision, "time_both", lambda run, device: calls.append(run) or (fp32_s, bf16_s))
    return calls


def test_flags_come_from_cpuinfo() -> None:
    info = parse_cpuinfo(
        "processor\t: 0\nmodel name\t: Some Xeon\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16\n\n"
        "processor\t: 1\nflags\t\t: fpu\n"
    )
    assert info == {"model": "Some Xeon", "flags": frozenset({"fpu", "avx512f", "avx512_bf16", "amx_bf16"})}
    assert native_bf16_cpu(info["flags"]) and native_bf16_cpu(frozenset({"avx512_bf16"}))
    assert not native_bf16_cpu(AVX512_ONLY)  # AVX-512 alone: oneDNN would emulate bf16, ~4-5x slower than fp32


def test_the_cpu_class_comes_from_the_flags_oneDNN_may_use(monkeypatch) -> None:
    assert [cpu_class(f) for f in (AMX, frozenset({"avx2", "avx512f", "avx512_bf16"}), AVX512_ONLY, AVX2_ONLY)] == [
        "amx",
        "avx512_bf16",
        "avx512",
        "avx2",
    ]
    assert cpu_class(frozenset()) == "other"
    monkeypatch.setattr(precision, "cpu_info", lambda: {"model": "x", "flags": AMX})
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # oneDNN's own cap hides the newer instructions from its kernels
    assert cpu_class() == "avx2" and not native_bf16_cpu()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core")
    assert cpu_class() == "avx512"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert cpu_class() == "amx" and native_bf16_cpu()


def test_runs_record_the_cpu_class_they_ran_on(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_info", lambda: {"model": "x", "flags": AVX2_ONLY})
    assert "(avx2 class)" in hardware()  # metrics.json, cv.json and the card: results differ between classes
    monkeypatch.setattr(precision, "cpu_info", lambda: {"model": "x", "flags": AMX})
    assert "(amx class)" in hardware()


def test_the_bf16_lstm_probe_tells_the_truth_about_this_machine() -> None:
    """Not simulated: oneDNN runs a bf16 LSTM on every AVX-512 CPU (natively or emulated) and on no AVX2-only one."""
    if cpu_class() == "other":
        pytest.skip("not an x86-64 CPU with AVX2 or AVX-512 flags: the three classes are x86-64's")
    state = torch.get_rng_state()
    runs = bf16_lstm_runs()
    assert runs == (cpu_class() in ("amx", "avx512_bf16", "avx512"))
    assert torch.equal(torch.get_rng_state(), state)  # the probe's throwaway LSTM drew nothing from the global RNG
    if not runs:
        with pytest.raises(RuntimeError), torch.autocast("cpu", dtype=torch.bfloat16):  # what the probe prevents
            torch.nn.LSTM(4, 4)(torch.zeros(2, 1, 4))


@pytest.mark.parametrize("flags", [AVX512_ONLY, AVX2_ONLY])
def test_without_native_bf16_the_cpu_runs_fp32_without_timing_anything(monkeypatch, flags) -> None:
    fake_cpu(monkeypatch, flags)
    calls = fake_timings(monkeypatch, fp32_s=1.0, bf16_s=0.1)
    assert not precision.bf16_supported(CPU)
    assert not bf16_recommended(CPU, LARGE, probe=lambda: None)
    assert not bf16_recommended(CPU, LARGE, training=True, probe=lambda: None)
    assert not bf16_recommended(CPU, LARGE)  # the rule without a probe too
    assert calls == []


def test_with_native_bf16_the_faster_precision_wins_by_a_margin(monkeypatch) -> None:
    fake_cpu(monkeypatch, AMX)
    fake_timings(monkeypatch, fp32_s=1.0, bf16_s=0.4)
    assert bf16_recommended(CPU, LARGE, probe=lambda: None)
    precision.clear_decisions()
    fake_timings(monkeypatch, fp32_s=1.0, bf16_s=1.3)  # bf16 slower
    assert not bf16_recommended(CPU, LARGE, training=True, probe=lambda: None)
    precision.clear_decisions()
    fake_timings(monkeypatch, fp32_s=1.0, bf16_s=0.95)  # a gain within noise is not worth the precision
    assert not bf16_recommended(CPU, LARGE, probe=lambda: None)


def test_small_layers_stay_fp32_without_timing_and_large_ones_need_a_probe_to_be_timed(monkeypatch) -> None:
    fake_cpu(monkeypatch, AMX)
    calls = fake_timings(monkeypatch, fp32_s=1.0, bf16_s=0.1)
    assert not bf16_recommended(CPU, SMALL, probe=lambda: None) and calls == []  # the same answer in every process
    assert bf16_recommended(CPU, LARGE)  # no probe to time: native bf16 and large layers


def test_the_decision_is_taken_once_per_process_and_shape_and_logged_once(monkeypatch, caplog) -> None:
    fake_cpu(monkeypatch, AMX)
    calls = fake_timings(monkeypatch, fp32_s=1.0, bf16_s=0.4)
    with caplog.at_level(logging.INFO, logger="movie_gender.model.precision"):
        for _ in range(3):
            assert bf16_recommended(CPU, LARGE, probe=lambda: None)
    assert len(calls) == 1
    assert [r.getMessage() for r in caplog.records if "precision for" in r.getMessage()] == [
        (
            "precision for 4x256 LSTM (inference) on cpu: bf16 autocast (native bf16; timed 1000.0 ms fp32 vs "
            "400.0 ms bf16)"
        )
    ]
    bf16_recommended(CPU, LARGE, training=True, probe=lambda: None)
    assert len(calls) == 2  # training is timed separately (backward pass)


def test_the_real_timer_picks_the_faster_side(monkeypatch) -> None:
    import time

    fake_cpu(monkeypatch, AMX)

    def probe() -> None:  # 10x slower in fp32: the margin dwarfs any scheduling noise
        time.sleep(0.002 if torch.is_autocast_enabled("cpu") else 0.02)

    assert bf16_recommended(CPU, LARGE, probe=probe)
    precision.clear_decisions()
    assert not bf16_recommended(
        CPU, LARGE, probe=lambda: time.sleep(0.02 if torch.is_autocast_enabled("cpu") else 0.002)
    )


@pytest.mark.parametrize("flags", [AMX, AVX512_ONLY, AVX2_ONLY])
def test_the_environment_forces_a_precision(monkeypatch, flags) -> None:
    fake_cpu(monkeypatch, flags)
    fake_timings(monkeypatch, fp32_s=1.0, bf16_s=0.1)
    monkeypatch.setenv(precision.ENV_VAR, "fp32")
    assert not bf16_recommended(CPU, LARGE, probe=lambda: None)
    monkeypatch.setenv(precision.ENV_VAR, "bf16")
    assert bf16_recommended(CPU, SMALL, probe=lambda: None) == BF16_LSTM_RUNS[flags]  # never a crash: fp32 on AVX2
    monkeypatch.setenv(precision.ENV_VAR, "fp16")
    with pytest.raises(ValueError, match="MOVIE_GENDER_PRECISION='fp16': expected one of auto, fp32, bf16"):
        bf16_recommended(CPU, LARGE)


def test_an_explicit_request_wins_and_emulated_bf16_is_warned_about(monkeypatch, caplog) -> None:
    fake_cpu(monkeypatch, AVX512_ONLY)
    monkeypatch.setenv(precision.ENV_VAR, "bf16")
    assert not resolve_bf16(False, CPU, LARGE)
    with caplog.at_level(logging.WARNING, logger="movie_gender.model.precision"):
        assert resolve_bf16(True, CPU, LARGE)
    assert "emulated" in caplog.text


def test_forced_bf16_where_no_bf16_lstm_exists_runs_fp32_and_says_so_once(monkeypatch, caplog) -> None:
    fake_cpu(monkeypatch, AVX2_ONLY)
    with caplog.at_level(logging.INFO, logger="movie_gender.model.precision"):
        assert not resolve_bf16(True, CPU, LARGE) and not resolve_bf16(True, CPU, LARGE, training=True)
        assert not bf16_recommended(CPU, LARGE, probe=lambda: None)  # auto: fp32, nothing timed
    fallbacks = [r.getMessage() for r in caplog.records if "running fp32" in r.getMessage()]
    assert fallbacks == [
        "bf16 requested, but this CPU (AVX2 only: no bf16 LSTM in oneDNN) cannot run an LSTM in bf16: running fp32"
    ]


def test_cuda_uses_bf16_wherever_the_gpu_has_it(monkeypatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert bf16_recommended(cuda, SMALL) and bf16_recommended(cuda, LARGE, training=True)
    precision.clear_decisions()
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert not bf16_recommended(cuda, LARGE)


def test_the_model_probe_leaves_weights_gradients_mode_and_rng_alone() -> None:
    tokenizer = train_tokenizer(["a b c d e f g"])
    model = BiLSTMClassifier(
        BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=8, num_layers=2)
    ).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    for training in (False, True):
        model.precision_probe(training)()
    assert torch.equal(torch.get_rng_state(), rng) and model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_fp32_and_the_chosen_precision_give_the_same_validation_auc(corpus_folder) -> None:
    """A short real training run in fp32, in bf16 (what a native-bf16 CPU may pick; fp32 where the CPU has no bf16
    LSTM) and with the auto choice."""
    from movie_gender import build_dataset
    from movie_gender.training.loop import EncodedSplit, TrainingConfig, train

    dataset = build_dataset(corpus_folder, split="movie", seed=1)
    tokenizer = train_tokenizer(dataset["train"]["text"])
    train_data = EncodedSplit.from_texts(tokenizer, dataset["train"]["text"], dataset["train"]["label"])
    val = EncodedSplit.from_texts(tokenizer, dataset["validation"]["text"], dataset["validation"]["label"])
    aucs, ran_bf16 = {}, {}
    for name, bf16 in (("fp32", False), ("bf16", True), ("auto", None)):
        torch.manual_seed(0)
        model = BiLSTMClassifier(
            BiLSTMConfig(
                vocab_size=tokenizer.get_vocab_size(),
                embedding_dim=16,
                hidden_size=16,
                num_layers=1,
                pooling="mean_max",
                dropout=0.0,
            )
        )
        result = train(
            model,
            train_data,
            val,
            TrainingConfig(epochs=3, batch_size=32, learning_rate=1e-2, checkpoint_every=0, bf16=bf16),
            progress=False,
        )
        aucs[name], ran_bf16[name] = result.best_validation_auc, result.bf16
    assert aucs["fp32"] > 0.6  # the run learned something, so the comparison means something
    assert abs(aucs["bf16"] - aucs["fp32"]) < 0.005 and abs(aucs["auto"] - aucs["fp32"]) < 0.005
    assert np.isfinite(list(aucs.values())).all()
    assert ran_bf16["bf16"] == bf16_lstm_runs() and not ran_bf16["fp32"]


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="ONEDNN_MAX_CPU_ISA=AVX2 is an x86-64 cap")
def test_forced_bf16_train_and_predict_exit_0_on_an_avx2_only_cpu(tmp_path, corpus_zip, glove_txt) -> None:
    """Not simulated in Python: oneDNN capped at AVX2 (its own ONEDNN_MAX_CPU_ISA) has no bf16 LSTM on any x86-64 CPU,
    exactly as on an AVX2-only machine; both commands run fp32 and say so in one line."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", precision.ENV_VAR: "bf16"}
    model = tmp_path / "model"

    def run(*args) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "movie_gender.cli", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)

    trained = run(
        "train", "--corpus", corpus_zip, "--glove", glove_txt, "--output", model, "--max-steps", "5", "--epochs", "1",
        "--hidden-size", "8", "--batch-size", "16", "--bootstrap", "0", "--min-lines", "2",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    predicted = run("predict", model, "some line")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert '"score"' in predicted.stdout
    for result in (trained, predicted):
        assert "cannot run an LSTM in bf16: running fp32" in result.stderr
        assert "Traceback" not in result.stderr
