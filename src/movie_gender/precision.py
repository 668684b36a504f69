"""Which numeric precision to run in: bf16 autocast where the hardware has it natively *and* it is faster, else fp32.

On CUDA, bf16 autocast runs on tensor cores wherever the GPU supports bf16. On a CPU, bf16 pays off only with native
bf16 instructions (AMX or AVX512_BF16, read from the CPU's flags): on an AVX-512 CPU without them oneDNN emulates
bf16 GEMMs, ~4-5x slower than fp32. Even with native bf16, small layers can be slower in bf16 (the casts cost more
than the faster GEMMs save), so on such a CPU ``auto`` times the model's own forward (and, for training, backward)
pass both ways once per process and shape, and picks bf16 only if it is clearly faster; layers below
``BF16_MIN_HIDDEN_ON_CPU`` units stay in fp32 without timing (they gain little, and a close timing would flip with
noise from one process to the next).

The environment variable ``MOVIE_GENDER_PRECISION`` (``auto`` | ``fp32`` | ``bf16``) overrides ``auto`` for the
whole process; ``fp32`` is the policy of a CPU without native bf16, so it also stands in for one when measuring.
An explicit ``bf16=True`` / ``--precision bf16`` is honoured even where bf16 is emulated (with a warning).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable

import torch

from .configuration import BiLSTMConfig

logger = logging.getLogger(__name__)

ENV_VAR = "MOVIE_GENDER_PRECISION"
PRECISIONS = ("auto", "fp32", "bf16")
# CPU flags (as /proc/cpuinfo spells them) that mean native bf16 arithmetic.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# On a native-bf16 CPU, smaller layers stay in fp32 without timing (the default 1 x 32 gains nothing from bf16);
# larger ones are timed both ways (the tutorial's 4 x 256 runs ~2-2.5x faster in bf16 on an AMX CPU).
BF16_MIN_HIDDEN_ON_CPU = 128
# bf16 must beat fp32 by this factor in the probe to be chosen (a margin against timing noise).
BF16_MIN_GAIN = 1.1

_decisions: dict[tuple, bool] = {}


def parse_cpuinfo(text: str) -> dict:
    """``{"model": str, "flags": frozenset}`` of the first CPU in /proc/cpuinfo's ``text``."""
    model, flags = "", ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = value
        if model and flags:
            break
    return {"model": model, "flags": frozenset(flags.split())}


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict:
    """The CPU's model name and flags from /proc/cpuinfo (empty where it cannot be read, e.g. not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            return parse_cpuinfo(file.read())
    except OSError:
        return {"model": "", "flags": frozenset()}


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx512f``, ``avx512_bf16``, ``amx_bf16`` ...); empty where unknown."""
    return cpu_info()["flags"]


def native_bf16_cpu(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU computes in bf16 natively (AMX or AVX512_BF16).

    Read from the CPU flags; where the flags cannot be read (not Linux), torch's own CPU checks answer.
    """
    flags = cpu_flags() if flags is None else flags
    if flags:
        return any(flag in flags for flag in NATIVE_BF16_FLAGS)
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    with contextlib.suppress(Exception):
        return any(check() for check in checks if check is not None)
    return False


def bf16_supported(device: torch.device) -> bool:
    """True on CUDA with bf16 and on CPUs with native bf16 (AMX / AVX512_BF16) and oneDNN."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return native_bf16_cpu() and torch.backends.mkldnn.is_available()
    return False


def precision_override() -> str:
    """The precision forced by ``MOVIE_GENDER_PRECISION`` ("auto" when unset)."""
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in PRECISIONS:
        raise ValueError(f"{ENV_VAR}={value!r}: expected one of {', '.join(PRECISIONS)}")
    return value


def autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """bfloat16 autocast on ``device`` when ``enabled`` (a no-op context otherwise)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def time_both(run: Callable[[], None], device: torch.device, repeats: int = 2) -> tuple[float, float]:
    """Best-of-``repeats`` seconds of ``run()`` in fp32 and under bf16 autocast, interleaved (after one warm-up
    each)."""
    best = {False: float("inf"), True: float("inf")}
    for attempt in range(repeats + 1):
        for bf16 in (False, True):
            start = time.perf_counter()
            with autocast(device, bf16):
                run()
            if attempt:
                best[bf16] = min(best[bf16], time.perf_counter() - start)
    return best[False], best[True]


def resolve_bf16(
    requested: bool | None,
    device: torch.device,
    config: BiLSTMConfig,
    *,
    training: bool = False,
    probe: Callable[[], None] | None = None,
) -> bool:
    """The precision to run in: ``requested`` (True / False) when given, else :func:`bf16_recommended`."""
    if requested is None:
        return bf16_recommended(device, config, training=training, probe=probe)
    if requested and device.type == "cpu" and not native_bf16_cpu():
        _log_once(
            ("forced-emulated",),
            logging.WARNING,
            "bf16 requested on a CPU without native bf16 (no AMX / AVX512_BF16): it runs emulated, slower than fp32",
        )
    if requested and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return False
    return bool(requested)


def bf16_recommended(
    device: torch.device, config: BiLSTMConfig, *, training: bool = False, probe: Callable[[], None] | None = None
) -> bool:
    """Whether bf16 autocast is native *and* faster for this model on this device (decided once per process).

    ``MOVIE_GENDER_PRECISION`` forces fp32 or bf16. On CUDA: bf16 where supported. On a CPU without native bf16:
    fp32. On a CPU with native bf16: fp32 below ``BF16_MIN_HIDDEN_ON_CPU`` hidden units; above, with ``probe`` (a
    callable running one small batch of the model's forward, or forward and backward when ``training``), bf16 only
    if it is faster by at least 10%, so the choice is never slower than fp32 by more than noise; without a probe,
    bf16.
    """
    forced = precision_override()
    if forced != "auto":
        _log_once(("forced", forced), logging.INFO, f"precision forced by {ENV_VAR}={forced}")
        return resolve_bf16(forced == "bf16", device, config)
    shape = (config.embedding_dim, config.hidden_size, config.num_layers, config.bidirectional)
    key = (device.type, shape, training, probe is not None)
    if key in _decisions:
        return _decisions[key]
    what = f"{config.num_layers}x{config.hidden_size} LSTM ({'training' if training else 'inference'}) on {device.type}"
    if not bf16_supported(device):
        choice, why = (
            False,
            ("no native bf16 on this CPU (no AMX / AVX512_BF16)" if device.type == "cpu" else "no bf16 on this device"),
        )
    elif device.type == "cuda":
        choice, why = True, "CUDA with bf16"
    elif config.hidden_size < BF16_MIN_HIDDEN_ON_CPU:
        # Small layers gain little or lose in bf16, and a timing this close would flip with noise from process to
        # process (the same model scoring slightly differently): fp32, deterministically.
        choice, why = False, f"native bf16, but hidden size < {BF16_MIN_HIDDEN_ON_CPU}"
    elif probe is not None:
        fp32, bf16 = time_both(probe, device)
        choice = bf16 * BF16_MIN_GAIN < fp32
        why = f"native bf16; timed {fp32 * 1e3:.1f} ms fp32 vs {bf16 * 1e3:.1f} ms bf16"
    else:
        choice, why = True, f"native bf16; hidden size >= {BF16_MIN_HIDDEN_ON_CPU}, no timing probe given"
    _decisions[key] = choice
    _log_once(key, logging.INFO, f"precision for {what}: {'bf16 autocast' if choice else 'fp32'} ({why})")
    return choice


_logged: set = set()


def _log_once(key: tuple, level: int, message: str) -> None:
    if key not in _logged:
        _logged.add(key)
        logger.log(level, message)


def clear_decisions() -> None:
    """Forget the decisions taken so far in this process (tests, or after changing the thread count)."""
    _decisions.clear()
    _logged.clear()
