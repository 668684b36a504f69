"""Which numeric precision to run in: bf16 autocast where the hardware has it natively *and* it is faster, else fp32.

On CUDA, bf16 autocast runs on tensor cores wherever the GPU supports bf16. CPUs come in three classes
(:func:`cpu_class`): native bf16 (AMX or AVX512_BF16, read from the CPU's flags), AVX-512 without it (oneDNN emulates
bf16, ~4-5x slower than fp32) and AVX2 only (oneDNN has no bf16 LSTM at all: one tiny probe call, caught and
remembered, tells, see :func:`bf16_lstm_runs`). Only the first gains from bf16. Even with native bf16, small layers
can be slower in bf16 (the casts cost more than the faster GEMMs save), so on such a CPU ``auto`` times the model's
own forward (and, for training, backward) pass both ways once per process and shape, and picks bf16 only if it is
clearly faster; layers below ``BF16_MIN_HIDDEN_ON_CPU`` units stay in fp32 without timing (they gain little, and a
close timing would flip with noise from one process to the next).

The environment variable ``MOVIE_GENDER_PRECISION`` (``auto`` | ``fp32`` | ``bf16``) overrides ``auto`` for the
whole process; ``fp32`` is the policy of a CPU without native bf16, so it also stands in for one when measuring.
An explicit ``bf16=True`` / ``--precision bf16`` is honoured where bf16 runs, even emulated (with a warning); where the
CPU cannot run a bf16 LSTM it runs fp32, saying so in one log line. oneDNN's ``ONEDNN_MAX_CPU_ISA`` (which hides
newer instructions from its kernels) is honoured when reading the flags, so a machine of one class can stand in for
an older one.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from movie_gender.configuration import BiLSTMConfig
from movie_gender.errors import first_line

if TYPE_CHECKING:
    from movie_gender.model.modeling import BiLSTMNetwork

logger = logging.getLogger(__name__)

ENV_VAR = "MOVIE_GENDER_PRECISION"
PRECISIONS = ("auto", "fp32", "bf16")
# CPU flags (as /proc/cpuinfo spells them) that mean native bf16 arithmetic.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# oneDNN's ISA cap (ONEDNN_MAX_CPU_ISA, or its older name DNNL_MAX_CPU_ISA) -> the flags its kernels may not use.
_AVX512 = ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
_ISA_CAP_HIDES = {
    "sse41": ("avx", "avx2", *_AVX512),
    "avx": ("avx2", *_AVX512),
    "avx2": _AVX512,
    "avx2_vnni": _AVX512,
    "avx2_vnni_2": _AVX512,
    "avx512_core": ("avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"),
    "avx512_core_vnni": ("avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"),
    "avx512_core_bf16": ("amx_tile", "amx_bf16", "amx_int8"),
    "avx512_core_fp16": ("amx_tile", "amx_bf16", "amx_int8"),
    "avx10_1_512": ("amx_tile", "amx_bf16", "amx_int8"),
}
# The CPU classes, from the newest: what each means for precision.
CPU_CLASSES = {
    "amx": "AMX: native bf16",
    "avx512_bf16": "AVX512_BF16: native bf16",
    "avx512": "AVX-512 without native bf16: bf16 emulated, slower than fp32",
    "avx2": "AVX2 only: no bf16 LSTM in oneDNN",
    "other": "no AVX2 / AVX-512 flags read",
}
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


def isa_cap() -> str:
    """The ISA cap of oneDNN from the environment (``ONEDNN_MAX_CPU_ISA``, lower case; "" when unset)."""
    return (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").strip().lower()


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx512f``, ``avx512_bf16``, ``amx_bf16`` ...) that oneDNN may use: those of
    /proc/cpuinfo less what ``ONEDNN_MAX_CPU_ISA`` hides; empty where unknown."""
    return cpu_info()["flags"] - frozenset(_ISA_CAP_HIDES.get(isa_cap(), ()))


def cpu_class(flags: frozenset[str] | None = None) -> str:
    """The CPU's class for precision (a key of :data:`CPU_CLASSES`): ``amx``, ``avx512_bf16``, ``avx512``, ``avx2``
    or ``other``."""
    flags = cpu_flags() if flags is None else flags
    if "amx_bf16" in flags:
        return "amx"
    for name, flag in (("avx512_bf16", "avx512_bf16"), ("avx512", "avx512f"), ("avx2", "avx2")):
        if flag in flags:
            return name
    return "other"


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


@functools.lru_cache(maxsize=1)
def bf16_lstm_runs() -> bool:
    """Whether this CPU runs an LSTM under bf16 autocast at all: one tiny forward and backward pass, tried once per
    process (oneDNN has no bf16 LSTM on CPUs without AVX-512; torch then raises). The global RNG is left alone."""
    with torch.random.fork_rng(devices=[]):
        lstm = torch.nn.LSTM(8, 8, batch_first=True, bidirectional=True)
    inputs = torch.zeros(2, 3, 8)
    try:
        with torch.enable_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            output, _ = lstm(inputs)
        output.float().sum().backward()
    except RuntimeError as error:
        logger.debug("bf16 LSTM probe failed: %s", first_line(error))
        return False
    return True


def bf16_supported(device: torch.device) -> bool:
    """True on CUDA with bf16 and on CPUs with native bf16 (AMX / AVX512_BF16) and oneDNN whose LSTM runs in bf16."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return native_bf16_cpu() and torch.backends.mkldnn.is_available() and bf16_lstm_runs()
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
    if requested and device.type == "cpu" and not bf16_lstm_runs():
        _log_once(
            ("forced-unavailable",),
            logging.WARNING,
            f"bf16 requested, but this CPU ({CPU_CLASSES[cpu_class()]}) cannot run an LSTM in bf16: running fp32",
        )
        return False
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
        choice, why = False, (CPU_CLASSES[cpu_class()] if device.type == "cpu" else "no bf16 on this device")
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


def precision_for(model: BiLSTMNetwork, training: bool = False) -> bool:
    """Whether ``auto`` precision runs ``model`` in bf16 autocast on its device (decided once per process and shape,
    see :func:`bf16_recommended`; on a native-bf16 CPU by timing both with :func:`precision_probe`)."""
    return bf16_recommended(model.device, model.config, training=training, probe=precision_probe(model, training))


def precision_probe(model: BiLSTMNetwork, training: bool) -> Callable[[], None]:
    """A callable running one small batch of ``model`` (forward; and backward when ``training``) without touching
    its weights, gradients, mode or the global RNG: what the precision policy times both ways."""
    generator = torch.Generator().manual_seed(0)
    batch, width = 64, 12
    ids = torch.randint(0, model.config.vocab_size, (batch, width), generator=generator).to(model.device)
    # Training batches mix a few lengths (the padded path); predict batches have one (the fused path).
    lengths = torch.full((batch,), width) - (torch.arange(batch) % 3 if training else 0)
    # A context model reads a context too (here the same ids), through its own encoder or the line's.
    context = {"context_ids": ids, "context_lengths": lengths} if model.config.line_context else {}
    encoders = [model.lstm] + ([model.context_lstm] if model.config.context_encoder == "separate" else [])
    parameters = [p for encoder in encoders for p in encoder.parameters() if p.requires_grad]

    def run() -> None:
        was_training = model.training
        model.eval()  # no dropout: the probe must not draw from the global RNG
        try:
            if training and parameters:
                with torch.enable_grad():
                    logits = model(ids, lengths=lengths, **context).logits
                    torch.autograd.grad(logits.float().sum(), parameters)
            else:
                with torch.inference_mode():
                    model(ids, lengths=lengths, **context)
        finally:
            model.train(was_training)

    return run


_logged: set = set()


def _log_once(key: tuple, level: int, message: str) -> None:
    if key not in _logged:
        _logged.add(key)
        logger.log(level, message)


def clear_decisions() -> None:
    """Forget the decisions taken so far in this process (tests, or after changing the thread count)."""
    _decisions.clear()
    _logged.clear()
