"""FLOP counts of the LSTM and the machine's GEMM peak on its matrix shapes.

Fraction of peak: ``flops_per_token(config) x tokens/s / peak``. The peak is the best GEMM throughput this machine
reaches on the LSTM's own matrix shapes (the input projection of a batch of lines and the recurrent step of a
batch), in fp32 and, where the CPU has it natively, in bf16; a row is compared with the peak of the precision it
ran in. FLOPs count the LSTM's matrix products only (2 x rows x inner x outputs each), which is the work that
dominates: per token, layer and direction, ``2 x (input + hidden) x 4 hidden``; training counts 3x the forward
pass (the backward pass computes gradients for both the inputs and the weights of every product).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import torch

from movie_gender.model.precision import native_bf16_cpu

if TYPE_CHECKING:
    from movie_gender.configuration import BiLSTMConfig

logger = logging.getLogger(__name__)


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


__all__ = ["lstm_flops_per_token", "gemm_shapes", "gemm_gflops", "gemm_peak", "fraction_of_peak"]
