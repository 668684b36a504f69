"""The demo Space: space/app.py served on 127.0.0.1 and queried over HTTP with gradio_client (offline, no analytics,
stopped at the end); occlusion and the character estimate; `push --space` / `--onnx` with the Hub API intercepted."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("gradio", reason="the demo extra (pip install 'movie-gender[demo]', in dev) is not installed")
gradio_client = pytest.importorskip("gradio_client", reason="the demo extra (in dev) is not installed")

from movie_gender import BiLSTMClassifier, load_cornell  # noqa: E402
from movie_gender.commands import push as push_command  # noqa: E402
from movie_gender.hub.publish import space_files  # noqa: E402
from tests.factories import SAMPLE_ZIP, train_small_model  # noqa: E402
from tests.test_hub import _metrics, _Recorder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "space"
LINES = ["I'll be in the car, darling.", "Get the gun, we're leaving!", "What?", "", "You know what I mean, honey"]
# Where a stray outbound request would go: nowhere (it fails at once instead of reaching the internet).
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    **{name: "http://127.0.0.1:9" for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
    **{name: "127.0.0.1,localhost" for name in ("NO_PROXY", "no_proxy")},
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A small model trained for a few steps on 3,000 real lines of the sample, saved as a model folder."""
    if not SAMPLE_ZIP.exists():
        pytest.skip(
            f"the real sample corpus is not at {SAMPLE_ZIP} (it is in ../shared/data in the project's checkout and CI)"
        )
    ds = load_cornell(SAMPLE_ZIP).shuffle(seed=0).select(range(3000))
    model = train_small_model(list(ds["text"]), list(ds["label"]), steps=60)
    folder = tmp_path_factory.mktemp("space") / "movie-gender-model"
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def app():
    """space/app.py as a module (imported, not run)."""
    spec = importlib.util.spec_from_file_location("movie_gender_space_app", SPACE / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_answers_over_http_like_model_predict(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    port = _free_port()
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "MOVIE_GENDER_MODEL": str(model_dir),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
    }
    log = (tmp_path / "app.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(SPACE / "app.py")], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "app.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the app did not start within 120 s"
                time.sleep(0.5)
        client = gradio_client.Client(url, verbose=False)
        model = BiLSTMClassifier.from_pretrained(model_dir)
        expected = model.predict(LINES)
        p_female = model.predict_proba(LINES)
        for line, want, p in zip(LINES, expected, p_female, strict=False):
            label, probability, highlighted, table = client.predict(line, api_name="/score_line")
            assert label == want["label"]
            assert probability == pytest.approx(float(p), abs=1e-6)
            tokens = [t for t in highlighted if t["class_or_confidence"] is not None] if highlighted else []
            assert "".join(t["token"] for t in highlighted or []) == line  # the whole line, spaces included
            assert len(table["data"]) == min(8, len(tokens))
        lines = [line for line in LINES if line]
        label, p, mean_logit, count, note = client.predict("\n".join(lines + ["  "]), api_name="/score_character")
        want_logit = float(np.mean(model.predict_logits(lines)))
        assert count == len(lines) and mean_logit == pytest.approx(want_logit, abs=1e-5)
        assert label == model.config.id2label["1" if 1 / (1 + np.exp(-want_logit)) >= 0.5 else "0"]
        assert "0.5" in note
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode("utf-8", "replace")
        assert "movie-gender" in page and str(model_dir) not in page  # no local absolute path on the page
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
        log.close()
    assert server.returncode is not None
    assert str(model_dir) not in (tmp_path / "app.log").read_text()


def test_occlusion_effects_are_logit_differences(model_dir: Path, app) -> None:
    model = BiLSTMClassifier.from_pretrained(model_dir)
    line = "get the gun now honey"
    effects = app.word_effects(model, line)
    assert [word for word, _, _ in effects] == line.split()
    full = model.predict_logits([line], bf16=False)[0]
    for i, (word, effect, _) in enumerate(effects):
        without = " ".join(w for j, w in enumerate(line.split()) if j != i)
        assert effect == pytest.approx(full - model.predict_logits([without], bf16=False)[0], abs=1e-5), word
    assert app.word_effects(model, "") == []
    label, p, highlighted, table = app.score_line(model, "")
    assert label == model.predict([""])[0]["label"] and highlighted == [] and table == []


def test_character_label_uses_the_models_character_threshold(model_dir: Path, app) -> None:
    model = BiLSTMClassifier.from_pretrained(model_dir)
    text = "\n".join(LINES)
    label, p, mean_logit, count, note = app.score_character(model, text)
    assert count == 4 and p == pytest.approx(1 / (1 + np.exp(-mean_logit)), abs=1e-5)
    model.config.character_threshold = p + 0.01  # just above: male
    assert app.score_character(model, text)[0] == model.config.id2label["0"]
    model.config.character_threshold = p - 0.01  # just below: female
    label, _, _, _, note = app.score_character(model, text)
    assert label == model.config.id2label["1"] and "the model's character threshold" in note
    assert app.score_character(model, " \n ")[3] == 0


def test_space_files_fill_in_the_model(tmp_path: Path) -> None:
    files = space_files(SPACE, "org/movie-gender-bilstm", "org/cornell-movie-gender")
    assert "DEFAULT_MODEL = 'org/movie-gender-bilstm'" in files["app.py"].decode()
    assert files["requirements.txt"] == (SPACE / "requirements.txt").read_bytes()
    header = yaml.safe_load(files["README.md"].decode().split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert header["models"] == ["org/movie-gender-bilstm"] and header["datasets"] == ["org/cornell-movie-gender"]
    assert "datasets" not in yaml.safe_load(space_files(SPACE, "org/m")["README.md"].decode().split("---")[1])
    (tmp_path / "app.py").write_text("print('no model line')\n")
    with pytest.raises(FileNotFoundError, match="not a Space folder"):
        space_files(tmp_path, "org/m")


def test_push_with_onnx_and_space(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime", reason="the onnx extra (in dev) is not installed")
    import onnxruntime as ort

    folder = tmp_path / "model"
    folder.mkdir()
    for path in model_dir.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "metrics.json").write_text(json.dumps(_metrics()))
    recorder = _Recorder()
    recorder.install(monkeypatch)
    push_command.main(
        [
            str(folder),
            "org/movie-gender-bilstm",
            "--onnx",
            "--space",
            "org/movie-gender-demo",
            "--space-dir",
            str(SPACE),
            "--dataset-repo",
            "org/cornell-movie-gender",
        ]
    )
    commits = [call for name, call in recorder.calls if name == "create_commit"]
    repos = [call for name, call in recorder.calls if name == "create_repo"]
    assert [c["repo_id"] for c in commits] == ["org/movie-gender-bilstm", "org/movie-gender-demo"]
    model_files, space = commits[0]["files"], commits[1]["files"]
    assert {"onnx/model.onnx", "onnx/tokenizer.json", "onnx/config.json", "onnx/README.md"} <= set(model_files)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(model_files)
    session = ort.InferenceSession(model_files["onnx/model.onnx"], providers=["CPUExecutionProvider"])
    model = BiLSTMClassifier.from_pretrained(folder)
    encodings = model.tokenizer.encode_batch(LINES, add_special_tokens=False)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    (logits,) = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
    np.testing.assert_allclose(logits, model.predict_logits(LINES, bf16=False), atol=1e-4)
    assert repos[-1]["repo_type"] == "space" and repos[-1]["space_sdk"] == "gradio"
    assert commits[1]["repo_type"] == "space" and set(space) == {"app.py", "requirements.txt", "README.md"}
    assert "DEFAULT_MODEL = 'org/movie-gender-bilstm'" in space["app.py"].decode()
    assert str(tmp_path) not in space["app.py"].decode() + space["README.md"].decode()
