"""ONNX export: a model folder that runs with onnxruntime, tokenizers and numpy only (no torch).

The PyTorch model runs packed or equal-length groups of lines, which an ONNX graph cannot express. The export runs
an equivalent network built from the *same* weights in a form with static control flow: per layer, the forward
direction runs over the padded batch (a causal recurrence: padding after a line cannot reach it), the backward
direction runs over each line reversed within its own length (a gather by lengths) and is reversed back; pooling is
masked by the attention mask, and "last" pooling reads the forward state at ``length - 1`` and the backward state
at position 0. So padding never changes a line's logit, exactly as in PyTorch.

The exported folder holds ``model.onnx`` (inputs ``input_ids`` and ``attention_mask``, int64 ``[batch, time]``
with dynamic axes; output ``logits``, float32 ``[batch]``, the log-odds of female), ``tokenizer.json``,
``config.json`` and a short README with a torch-free example.
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from movie_gender import labels
from movie_gender.configuration import CONFIG_NAME, TOKENIZER_NAME
from movie_gender.errors import MovieGenderError
from movie_gender.hub.cards import render_export_readme
from movie_gender.inference.classifier import BiLSTMPredictor
from movie_gender.model.precision import bf16_recommended

if TYPE_CHECKING:
    from collections.abc import Callable


logger = logging.getLogger(__name__)

ONNX_NAME = "model.onnx"
# The labelling rule (movie_gender.labels, numpy only) ships in the folder as this module, so the folder
# labels lines as predict() does without torch or movie-gender installed; the rule's source exists once.
LABELS_NAME = "movie_gender_labels.py"
EXPORT_FILES = (ONNX_NAME, TOKENIZER_NAME, CONFIG_NAME, LABELS_NAME, "README.md")
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"
# The parameters of the plain BiLSTM classifier; anything else (a context encoder, ...) is not exported yet.
_EXPORTED_PREFIXES = ("embedding.", "lstm.", "fc1.", "fc2.", "bag_of_words.")

# The example in README.md (ONNX section) and in every exported folder's README; tests run it with torch blocked.
EXAMPLE = """import json
import sys
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

folder = "movie-gender-onnx"  # the folder written by `movie-gender export MODEL --format onnx --output DIR`
sys.path.insert(0, folder)
from movie_gender_labels import calibrated_probability, is_female, label_names  # the package's labelling rule

tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")
session = ort.InferenceSession(f"{folder}/model.onnx", providers=["CPUExecutionProvider"])
config = SimpleNamespace(**json.load(open(f"{folder}/config.json")))

lines = ["I'll be in the car, darling.", "Get the gun, buddy!", ""]
encodings = tokenizer.encode_batch(lines, add_special_tokens=False)
input_ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(lines), -1)
attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(len(lines), -1)
(logits,) = session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})
p_female = calibrated_probability(config, "line", logits)  # the calibration fitted on validation
labels = label_names(config, is_female(config, "line", p_female))  # at the threshold chosen on validation
for line, p, label in zip(lines, p_female, labels):
    print(f"{p:.6f}\\t{label}\\t{line}")"""


class ExportError(MovieGenderError, ValueError):
    """A model cannot be exported (e.g. an architecture the ONNX export does not cover yet)."""


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'movie-gender[onnx]'") from None


def unsupported_reason(model: BiLSTMPredictor) -> str | None:
    """Why ``model`` cannot be exported yet (one line), or None when it can."""
    config = model.config
    context = getattr(config, "context_size", 0) or 0
    extra = sorted(k for k in model.state_dict() if not k.startswith(_EXPORTED_PREFIXES))
    if context or extra:
        what = f"context_size={context}" if context else f"parameters {', '.join(extra[:3])}"
        return (
            f"the ONNX export does not yet support the context model ({what}); export a line-only model "
            f"(context_size 0)"
        )
    return None


class OnnxBiLSTM(nn.Module):
    """The classifier's network in an export-friendly form (padded batches, no packing), sharing its weights.

    ``forward(input_ids, attention_mask)`` returns ``[batch]`` logits identical (up to float rounding) to
    ``BiLSTMNetwork.forward`` on the same lines, however they are padded.
    """

    def __init__(self, model: BiLSTMPredictor) -> None:
        super().__init__()
        reason = unsupported_reason(model)
        if reason:
            raise ExportError(reason)
        config = model.config
        self.pooling = config.pooling
        self.pad_token_id = int(config.pad_token_id)
        self.bidirectional = bool(config.bidirectional)
        self.embedding = model.embedding
        self.fc1, self.fc2 = model.fc1, model.fc2
        self.bag_of_words = getattr(model, "bag_of_words", None)
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList()
        lstm = model.lstm
        for layer in range(config.num_layers):
            suffixes = ("", "_reverse") if self.bidirectional else ("",)
            for suffix, target in zip(suffixes, (self.forward_layers, self.backward_layers), strict=False):
                width = lstm.input_size if layer == 0 else lstm.hidden_size * (2 if self.bidirectional else 1)
                cell = nn.LSTM(width, lstm.hidden_size, batch_first=True)
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    setattr(cell, f"{kind}_l0", getattr(lstm, f"{kind}_l{layer}{suffix}"))
                target.append(cell)
        self.eval()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[batch]`` logits of the lines in ``input_ids``, padding given by ``attention_mask``."""
        # One extra [PAD] step: a batch of only empty lines (time = 0) still reads one step, as in PyTorch. (A sum
        # over time is [batch, 1] even when time = 0, which slicing or expanding a column is not in ONNX.)
        pad = input_ids.sum(dim=1, keepdim=True) * 0 + self.pad_token_id
        input_ids = torch.cat([input_ids, pad], dim=1)
        lengths = attention_mask.sum(dim=1).clamp(min=1)  # an empty line reads one [PAD]
        steps = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)  # [1, time]
        valid = steps < lengths.unsqueeze(1)  # [batch, time]
        # Reversal of each line within its length (an involution); padded positions stay where they are.
        reverse = torch.where(valid, lengths.unsqueeze(1) - 1 - steps, steps)
        x = self.embedding(input_ids)
        forward_out = backward_out = x
        for layer, cell in enumerate(self.forward_layers):
            forward_out, _ = cell(x)
            if self.bidirectional:
                index = reverse.unsqueeze(-1).expand(-1, -1, x.shape[-1])
                backward_rev, _ = self.backward_layers[layer](torch.gather(x, 1, index))
                index = reverse.unsqueeze(-1).expand(-1, -1, backward_rev.shape[-1])
                backward_out = torch.gather(backward_rev, 1, index)
                x = torch.cat([forward_out, backward_out], dim=-1)
            else:
                x = forward_out
        features = self._pool(x, forward_out, backward_out, lengths, valid)
        hidden = torch.relu(self.fc1(features))
        logits = self.fc2(hidden).squeeze(-1)
        return logits if self.bag_of_words is None else logits + self.bag_of_words(input_ids, valid)

    def _pool(
        self,
        x: torch.Tensor,
        forward_out: torch.Tensor,
        backward_out: torch.Tensor,
        lengths: torch.Tensor,
        valid: torch.Tensor,
    ) -> torch.Tensor:
        if self.pooling == "last":
            index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, forward_out.shape[-1])
            last_forward = torch.gather(forward_out, 1, index).squeeze(1)
            return torch.cat([last_forward, backward_out[:, 0]], dim=1) if self.bidirectional else last_forward
        mask = valid.unsqueeze(-1)
        maxed = x.masked_fill(~mask, float("-inf")).amax(dim=1)
        if self.pooling == "max":
            return maxed
        mean = (x * mask.to(x.dtype)).sum(dim=1) / lengths.unsqueeze(1).to(x.dtype)
        return torch.cat([mean, maxed], dim=1)


def _export_graph(module: OnnxBiLSTM, path: Path, opset: int) -> None:
    """The TorchScript-based exporter: it maps nn.LSTM onto ONNX's LSTM operator with dynamic batch and time axes."""
    example = (torch.tensor([[5, 6, 7], [8, 0, 0]], dtype=torch.int64), torch.tensor([[1, 1, 1], [1, 0, 0]]))
    axes = {"input_ids": {0: "batch", 1: "time"}, "attention_mask": {0: "batch", 1: "time"}, "logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on LSTM batch sizes and its own deprecation
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def export_onnx(model: BiLSTMPredictor, output_dir: str | Path, *, opset: int = OPSET, check: bool = True) -> Path:
    """Write ``model.onnx``, ``tokenizer.json``, ``config.json`` and a README to ``output_dir``; return the .onnx path.

    The folder is written under a temporary name and renamed when complete. With ``check`` (and onnxruntime
    installed) the exported graph is run on a few padded lines and compared with PyTorch (max |difference| 1e-4).
    Raises :class:`ExportError` for a model the export does not cover yet (the context model).
    """
    _require_onnx()
    import onnx

    tokenizer = model.require_tokenizer()
    module = OnnxBiLSTM(model).float()
    output_dir = Path(output_dir)
    if output_dir.exists():
        others = sorted({p.name for p in output_dir.iterdir()} - set(EXPORT_FILES)) if output_dir.is_dir() else ["?"]
        if others:
            raise ExportError(
                f"{output_dir}: exists and holds other files ({', '.join(others[:3])}); export to a new "
                f"or empty folder (an earlier export is replaced)"
            )
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        onnx_path = work / ONNX_NAME
        with torch.no_grad():
            _export_graph(module, onnx_path, opset)
        graph = onnx.load(str(onnx_path))
        onnx.checker.check_model(graph)
        tokenizer.save(str(work / TOKENIZER_NAME))
        (work / CONFIG_NAME).write_text(json.dumps(model.config.to_dict(), indent=2, sort_keys=True) + "\n")
        (work / LABELS_NAME).write_text(inspect.getsource(labels), encoding="utf-8")
        name = output_dir.name or "movie-gender"
        (work / "README.md").write_text(render_export_readme(name, EXAMPLE), encoding="utf-8")
        if check:
            difference = _check(model, work)
            if difference is not None:
                logger.info("ONNX check: max |logit difference| vs PyTorch %.2e", difference)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        work.rename(output_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return output_dir / ONNX_NAME


CHECK_LINES = ["I'll be in the car, darling.", "", "Get the gun!", "What?", "No... no, you don't know what I mean."]


def _check(model: BiLSTMPredictor, folder: Path, tolerance: float = 1e-4) -> float | None:
    """Compare the exported graph with PyTorch on a few lines; None when onnxruntime is not installed."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        logger.warning("onnxruntime is not installed: the export was not checked against PyTorch")
        return None
    session = onnx_session(folder / ONNX_NAME)
    got = onnx_logits(session, model.tokenizer, CHECK_LINES)
    expected = torch_logits(model, CHECK_LINES)
    difference = float(np.abs(got - expected).max())
    if not difference <= tolerance:
        raise ExportError(
            f"{folder / ONNX_NAME}: the exported graph differs from PyTorch by {difference:.2e} "
            f"(more than {tolerance:g})"
        )
    return difference


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for an exported ``model.onnx``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session: Any, tokenizer: Any, texts: list[str], batch_size: int = 512) -> np.ndarray:
    """Logits from an onnxruntime session, in input order: lines sorted by length, batched, padded per batch."""
    encodings = tokenizer.encode_batch_fast(list(texts), add_special_tokens=False) if texts else []
    lengths = np.array([sum(e.attention_mask) for e in encodings], dtype=np.int64)
    out = np.zeros(len(texts), dtype=np.float32)
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = int(lengths[batch].max()) if len(batch) else 0
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            n = lengths[i]
            ids[row, :n] = encodings[i].ids[:n]
            mask[row, :n] = 1
        (logits,) = session.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask})
        out[batch] = logits
    return out


def torch_logits(model: BiLSTMPredictor, texts: list[str], batch_size: int = 512) -> np.ndarray:
    """PyTorch fp32 logits of ``texts`` (the reference the export is checked against)."""
    return model.predict_logits(texts, batch_size=batch_size, bf16=False)


def benchmark_onnx(model: BiLSTMPredictor, texts: list[str], repeats: int = 3, batch_size: int = 512) -> dict:
    """Prediction throughput (lines/s, tokenization included) of onnxruntime (fp32) vs PyTorch ``predict_proba`` as
    configured by default (bf16 autocast where recommended) and in fp32, on the same lines; ``ratio`` and
    ``ratio_fp32`` are onnxruntime's speed over PyTorch's. Also their largest fp32 logit difference."""
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(model, Path(folder) / "onnx", check=False)
        session = onnx_session(path, threads=torch.get_num_threads())

        def timed(fn: Callable[[list[str]], object]) -> float:
            fn(texts[:256])  # warm-up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn(texts)
                times.append(time.perf_counter() - start)
            return statistics.median(times)

        onnx_s = timed(lambda t: onnx_logits(session, model.tokenizer, t, batch_size))
        torch_s = timed(lambda t: model.predict_proba(t, batch_size=batch_size))
        fp32_s = timed(lambda t: model.predict_proba(t, batch_size=batch_size, bf16=False))
        sample = texts[:1000]
        difference = float(np.abs(onnx_logits(session, model.tokenizer, sample) - torch_logits(model, sample)).max())
    return {
        "lines": len(texts),
        "torch_lines_per_s": len(texts) / torch_s,
        "onnx_lines_per_s": len(texts) / onnx_s,
        "torch_fp32_lines_per_s": len(texts) / fp32_s,
        "ratio": torch_s / onnx_s,
        "ratio_fp32": fp32_s / onnx_s,
        "torch_bf16": bool(bf16_recommended(model.device, model.config)),
        "max_abs_logit_difference": difference,
    }


__all__ = [
    "export_onnx",
    "OnnxBiLSTM",
    "ExportError",
    "unsupported_reason",
    "onnx_session",
    "onnx_logits",
    "torch_logits",
    "benchmark_onnx",
    "EXAMPLE",
    "ONNX_NAME",
]
