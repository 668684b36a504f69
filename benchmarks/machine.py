"""Where a benchmark runs: the CPU, its class and flags, threads, torch and the precision settings."""

from __future__ import annotations

import os
import platform

import torch

from movie_gender.model.precision import (
    CPU_CLASSES,
    bf16_lstm_runs,
    bf16_supported,
    cpu_class,
    cpu_flags,
    cpu_info,
    isa_cap,
    native_bf16_cpu,
    precision_override,
)
from movie_gender.training.loop import resolve_device


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


__all__ = ["machine_info"]
