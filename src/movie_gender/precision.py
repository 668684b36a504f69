"""Which numeric precision to run in: bf16 autocast where the hardware has it and it is faster, else fp32."""

from __future__ import annotations

import torch

from .configuration import BiLSTMConfig


def bf16_supported(device: torch.device) -> bool:
    """True on CUDA with bf16 and on CPUs with AMX or AVX-512 (where oneDNN runs bf16 LSTM/linear kernels)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.cpu.get_cpu_capability() in {"AVX512", "AMX"} and torch.backends.mkldnn.is_available()
    return False


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on ``device`` when ``enabled`` (a no-op context otherwise)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


# On CPUs, bf16 autocast pays off only when the LSTM's matrices are large enough for AMX to beat the casts
# (scripts/benchmark.py: 4 x 256 trains ~1.9x faster in bf16; 1 x 32 runs ~25% slower).
BF16_MIN_HIDDEN_ON_CPU = 128


def bf16_recommended(device: torch.device, config: BiLSTMConfig) -> bool:
    """Whether bf16 autocast is supported *and* faster for this model on this device."""
    if not bf16_supported(device):
        return False
    return device.type == "cuda" or config.hidden_size >= BF16_MIN_HIDDEN_ON_CPU
