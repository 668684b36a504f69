"""ONNX export: the graph gives PyTorch's logits (fp32, max |difference| <= 1e-4) on the sample's real lines, at
any batch size and padding; the folder runs with onnxruntime, tokenizers and numpy alone (torch blocked)."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

pytest.importorskip("onnx", reason="the onnx extra (pip install 'movie-gender[onnx]', in dev) is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra (in dev) is not installed")

import onnx  # noqa: E402

from movie_gender import (  # noqa: E402
    BiLSTMClassifier,
    BiLSTMConfig,
    export_onnx,
    labels,  # noqa: E402
    load_cornell,
    train_tokenizer,
)
from movie_gender.commands import export as export_command  # noqa: E402
from movie_gender.hub.export import EXAMPLE, ExportError, onnx_logits, onnx_session, torch_logits  # noqa: E402
from movie_gender.presets import PRESETS  # noqa: E402
from tests.factories import SAMPLE_ZIP, train_small_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def sample_lines() -> tuple[list[str], list[int]]:
    """2,000 real lines of the sample (every length, a few duplicates of nothing), plus an empty line."""
    if not SAMPLE_ZIP.exists():
        pytest.skip(
            f"the real sample corpus is not at {SAMPLE_ZIP} (it is in ../shared/data in the project's checkout and CI)"
        )
    ds = load_cornell(SAMPLE_ZIP).shuffle(seed=0).select(range(2000))
    return list(ds["text"]) + [""], list(ds["label"]) + [0]


@pytest.fixture(scope="module")
def tokenizer(sample_lines):
    return train_tokenizer(sample_lines[0])


def _random_model(tokenizer, **options) -> BiLSTMClassifier:
    torch.manual_seed(0)
    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), **options)).eval()
    for name, weights in model.named_parameters():  # the bag of words starts at 0: random, so the export shows it
        if name.startswith("bag_of_words."):
            torch.nn.init.normal_(weights, std=0.1)
    model.tokenizer = tokenizer
    return model


ARCHITECTURES = {
    # The two presets' architectures, exactly (50d embeddings, as with the sample's GloVe), random weights.
    **{
        name: {
            key: getattr(PRESETS[name].model, key)
            for key in ("hidden_size", "num_layers", "pooling", "dropout", "bidirectional", "bag_of_words")
        }
        for name in ("default", "tutorial")
    },
    # The other poolings and a unidirectional stack.
    "max_2_layers": {"hidden_size": 12, "num_layers": 2, "pooling": "max"},
    "unidirectional_last": {"hidden_size": 12, "num_layers": 2, "pooling": "last", "bidirectional": False},
    "unidirectional_mean_max": {"hidden_size": 12, "num_layers": 1, "pooling": "mean_max", "bidirectional": False},
}


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_onnx_logits_match_pytorch_on_real_lines(name: str, tokenizer, sample_lines, tmp_path: Path) -> None:
    texts = sample_lines[0] if name != "tutorial" else sample_lines[0][:300] + [""]  # 4 x 256 is slow on 2 cores
    model = _random_model(tokenizer, embedding_dim=50, **ARCHITECTURES[name])
    session = onnx_session(export_onnx(model, tmp_path / "onnx"))
    expected = torch_logits(model, texts)
    lengths = np.array([sum(e.attention_mask) for e in tokenizer.encode_batch(texts, add_special_tokens=False)])
    assert lengths.min() == 0 and lengths.max() > 30  # an empty line and long ones
    for batch_size in (1, 7, 64, 512):
        subset = slice(-150, None) if batch_size == 1 else slice(None)  # one line at a time: the last 150 (+ empty)
        got = onnx_logits(session, tokenizer, texts[subset], batch_size=batch_size)
        assert np.abs(got - expected[subset]).max() <= TOLERANCE, (name, batch_size)
    # Unsorted batches: every line padded to the longest of a random mix, plus 5 extra [PAD] columns.
    rng = np.random.default_rng(0)
    for size in (3, 50, 200):
        batch = rng.choice(len(texts), size=size, replace=False)
        batch[0] = len(texts) - 1  # the empty line rides along
        encodings = tokenizer.encode_batch([texts[i] for i in batch], add_special_tokens=False)
        ids = np.array([e.ids + [0] * 5 for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask + [0] * 5 for e in encodings], dtype=np.int64)
        (got,) = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        assert got.dtype == np.float32 and got.shape == (size,)
        assert np.abs(got - expected[batch]).max() <= TOLERANCE, (name, size)


def test_a_batch_of_only_empty_lines(tokenizer, tmp_path: Path) -> None:
    model = _random_model(tokenizer, embedding_dim=16, hidden_size=8)
    session = onnx_session(export_onnx(model, tmp_path / "onnx"))
    empty = np.zeros((3, 0), dtype=np.int64)  # what the tokenizer gives for ["", "", ""]
    (got,) = session.run(["logits"], {"input_ids": empty, "attention_mask": empty})
    np.testing.assert_allclose(got, torch_logits(model, ["", "", ""]), atol=TOLERANCE)


def test_exported_folder_and_graph_signature(sample_lines, tmp_path: Path) -> None:
    model = train_small_model(*sample_lines, steps=10)
    path = export_onnx(model, tmp_path / "movie-gender-onnx")
    folder = path.parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.onnx",
        "movie_gender_labels.py",
        "tokenizer.json",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    assert json.loads((folder / "config.json").read_text()) == model.config.to_dict()
    assert Tokenizer.from_file(str(folder / "tokenizer.json")).to_str() == model.tokenizer.to_str()
    assert EXAMPLE in (folder / "README.md").read_text()
    graph = onnx.load(str(path)).graph
    elem = onnx.TensorProto

    def signature(values):
        return {
            v.name: (v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim])
            for v in values
        }

    assert signature(graph.input) == {
        "input_ids": (elem.INT64, ["batch", "time"]),
        "attention_mask": (elem.INT64, ["batch", "time"]),
    }
    assert signature(graph.output) == {"logits": (elem.FLOAT, ["batch"])}


def test_export_command_writes_the_folder(sample_lines, tmp_path: Path, capsys) -> None:
    model = train_small_model(*sample_lines, steps=10)
    model.save_pretrained(tmp_path / "model")
    export_command.main([str(tmp_path / "model"), "--format", "onnx", "--output", str(tmp_path / "out")])
    session = onnx_session(tmp_path / "out" / "model.onnx")
    texts = sample_lines[0][:300]
    assert np.abs(onnx_logits(session, model.tokenizer, texts) - torch_logits(model, texts)).max() <= TOLERANCE
    # Exporting again replaces the earlier export; a folder holding anything else (the model itself) is refused.
    export_command.main([str(tmp_path / "model"), "--output", str(tmp_path / "out")])
    with pytest.raises(ExportError, match="holds other files"):
        export_command.main([str(tmp_path / "model"), "--output", str(tmp_path / "model")])
    assert (tmp_path / "model" / "model.safetensors").is_file()
    # The thin script gives the command's --help.
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "export.py"), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "--output" in result.stdout and "onnxruntime" in result.stdout


def test_context_model_is_refused_in_one_line(tokenizer, tmp_path: Path) -> None:
    model = _random_model(tokenizer, embedding_dim=8, hidden_size=4)
    model.config.context_size = 3  # what the context model's config says
    refused = r"^the ONNX export does not yet support the context model \(context_size=3\)"
    with pytest.raises(ExportError, match=refused):
        export_onnx(model, tmp_path / "onnx")
    model.config.context_size = 0
    model.context_encoder = torch.nn.Linear(2, 2)  # extra weights: not exported either
    with pytest.raises(ExportError, match="does not yet support the context model"):
        export_onnx(model, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def _readme_example(name: str = "README.md") -> str:
    readme = (ROOT / name).read_text(encoding="utf-8")
    match = re.search(r"<!-- onnx-example[^>]*-->\s*```python\n(.*?)```", readme, re.S)
    assert match, f"{name} has no ONNX example block"
    return match.group(1)


BLOCK_TORCH = """
import importlib.abc, sys

class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("torch", "movie_gender") or name.startswith(("torch.", "movie_gender.")):
            raise ImportError(f"{name.partition('.')[0]} is blocked in this test")
        return None

sys.meta_path.insert(0, _NoTorch())
"""


def test_readme_example_runs_without_torch(sample_lines, tmp_path: Path) -> None:
    code = _readme_example()
    assert code.strip() == EXAMPLE.strip()  # the README and every exported folder show the same code
    assert _readme_example("docs/publishing.md").strip() == EXAMPLE.strip()
    model = train_small_model(*sample_lines, steps=20)
    # A calibrated model, as training leaves it: the example must apply the line calibration as predict_proba does.
    model.config.calibration = {"line": {"method": "platt", "scale": 0.6, "bias": -0.8, "n": 100}}
    model.config.threshold = 0.3
    export_onnx(model, tmp_path / "movie-gender-onnx")
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "torch is blocked" in probe.stderr  # the blocker works
    probe = subprocess.run([sys.executable, "-c", "import movie_gender"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "movie_gender is blocked" in probe.stderr  # the package is not needed either
    shipped = (tmp_path / "movie-gender-onnx" / "movie_gender_labels.py").read_text(encoding="utf-8")
    assert shipped == inspect.getsource(labels)  # the labelling rule is the package's own, not a copy kept by hand
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    lines = ["I'll be in the car, darling.", "Get the gun, buddy!", ""]
    assert [row[2] if len(row) > 2 else "" for row in rows] == lines
    expected = model.predict(lines)
    np.testing.assert_allclose([float(row[0]) for row in rows], model.predict_proba(lines, bf16=False), atol=1e-5)
    assert [row[1] for row in rows] == [e["label"] for e in expected]
