"""Publishing and pulling back by repo id, offline: a real Hugging Face cache layout, and pushes intercepted at
HfApi's commit boundary. An opt-in live test talks to the real Hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import HfApi
from safetensors.torch import load as load_safetensors

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.data.dataset import load_hub_dataset, prepare_dataset
from movie_gender.errors import ModelLoadError
from movie_gender.hub.dataset_folder import save_dataset
from movie_gender.hub.folder_cards import write_model_card
from movie_gender.hub.publish import push_dataset, push_model
from tests.factories import synthetic_corpus, write_corpus_folder

LINES = ["I'll be in the car, darling.", "Get the gun, buddy!", "What?"]
ROOT = Path(__file__).resolve().parents[1]


def _metrics() -> dict:
    m = {
        "n": 10,
        "accuracy": 0.61234,
        "balanced_accuracy": 0.6,
        "macro_f1": 0.58,
        "roc_auc": 0.65432,
        "per_class": {},
        "confusion_matrix": [[4, 1], [3, 2]],
        "ci95": {"balanced_accuracy": [0.5, 0.7], "roc_auc": [0.55, 0.75]},
    }
    return {
        "eval_split": "test",
        "bootstrap": 100,
        "line": {"model": m, "always_male": {**m, "roc_auc": 0.5}, "tfidf_logreg": {**m, "roc_auc": 0.6}},
        "dataset": {"split": "movie", "balance": "oversample", "corpus": {"source": "x.zip", "male": 7, "female": 3}},
        "model": {"hidden_size": 6, "num_layers": 2, "embedding_dim": 8, "vocab_size": 20},
        "glove": {"name": "glove.6B.50d"},
        "training": {"history": [], "seconds": 60},
    }


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    tokenizer = train_tokenizer(LINES)
    model = BiLSTMClassifier(
        BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6, num_layers=2)
    )
    model.tokenizer = tokenizer
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    (folder / "metrics.json").write_text(json.dumps(_metrics()))
    write_model_card(folder)
    (folder / "stray.pt").write_bytes(b"not for the hub")
    return folder


def _populate_cache(cache: Path, repo_type: str, repo_id: str, folder: Path, revision: str = "main") -> Path:
    """Lay files out as huggingface_hub's cache does: blobs, refs/REVISION -> commit, snapshots/COMMIT/..."""
    commit = ("0123456789abcdef" * 3)[:40] if revision == "main" else ("fedcba9876543210" * 3)[:40]
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    snapshot = repo / "snapshots" / commit
    for path in folder.rglob("*"):
        if path.is_file():
            target = snapshot / path.relative_to(folder)
            blob = repo / "blobs" / f"{abs(hash(path.read_bytes())):x}"
            blob.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, blob)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blob, target.parent), target)
    return snapshot


def test_offline_pull_by_repo_id_gives_identical_logits(model_folder: Path, tmp_path: Path) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    cache = tmp_path / "hub"
    _populate_cache(cache, "model", "org/movie-gender-bilstm", model_folder)
    local = BiLSTMClassifier.from_pretrained(model_folder)
    pulled = BiLSTMClassifier.from_pretrained("org/movie-gender-bilstm", cache_dir=cache)
    np.testing.assert_array_equal(pulled.predict_logits(LINES), local.predict_logits(LINES))


def test_offline_pull_of_a_revision(model_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _populate_cache(cache, "model", "org/m", model_folder, revision="v1")
    assert BiLSTMClassifier.from_pretrained("org/m", revision="v1", cache_dir=cache).predict(LINES)
    with pytest.raises(ModelLoadError, match="org/m: cannot load the model"):
        BiLSTMClassifier.from_pretrained("org/m", cache_dir=cache)  # no main in the cache


def test_repo_missing_a_file_is_a_clear_error(model_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    snapshot = _populate_cache(cache, "model", "org/m", model_folder)
    (snapshot / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="org/m: could not get tokenizer.json"):
        BiLSTMClassifier.from_pretrained("org/m", cache_dir=cache)


def test_offline_load_dataset_from_the_pushed_layout(tmp_path: Path) -> None:
    folder = write_corpus_folder(tmp_path / "c", *synthetic_corpus())
    dd, report = prepare_dataset(folder)
    saved = save_dataset(dd, tmp_path / "ds", report)
    cache = tmp_path / "hub"
    _populate_cache(cache, "dataset", "org/cornell-movie-gender", saved)
    loaded = load_hub_dataset("org/cornell-movie-gender", cache_dir=cache)
    assert loaded["train"].features["label"].names == ["male", "female"]
    for split in dd:
        assert loaded[split].to_dict() == dd[split].to_dict()


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def install(self, monkeypatch) -> None:
        recorder = self

        def create_repo(self, repo_id, **kwargs):
            recorder.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
            return SimpleNamespace(repo_id=repo_id)

        def create_branch(self, repo_id, **kwargs):
            recorder.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

        def create_commit(self, repo_id, operations, **kwargs):
            files = {}
            for op in operations:
                data = op.path_or_fileobj
                files[op.path_in_repo] = Path(data).read_bytes() if isinstance(data, str) else bytes(data)
            recorder.calls.append(("create_commit", {"repo_id": repo_id, "files": files, **kwargs}))
            return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/abc")

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "create_branch", create_branch)
        monkeypatch.setattr(HfApi, "create_commit", create_commit)


def test_push_model_is_one_commit_of_exactly_the_published_files(model_folder: Path, monkeypatch) -> None:
    recorder = _Recorder()
    recorder.install(monkeypatch)
    url = push_model(
        model_folder, "org/movie-gender-bilstm", private=True, revision="v1", dataset_repo="org/cornell-movie-gender"
    )
    assert url.endswith("/commit/abc")
    names = [name for name, _ in recorder.calls]
    assert names == ["create_repo", "create_branch", "create_commit"]
    assert recorder.calls[0][1] | {} == {
        "repo_id": "org/movie-gender-bilstm",
        "repo_type": "model",
        "private": True,
        "exist_ok": True,
    }
    commit = recorder.calls[2][1]
    assert commit["repo_type"] == "model" and commit["revision"] == "v1"
    assert set(commit["files"]) == {"config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json"}
    weights = load_safetensors(commit["files"]["model.safetensors"])
    assert set(weights) == set(BiLSTMClassifier.from_pretrained(model_folder).state_dict())
    card = commit["files"]["README.md"].decode()
    header = yaml.safe_load(card.split("---")[1])
    assert header["datasets"] == ["org/cornell-movie-gender"] and header["library_name"] == "movie-gender"
    assert 'from_pretrained("org/movie-gender-bilstm")' in card and "0.654" in card
    assert 'load_dataset("org/cornell-movie-gender")' in card


def test_push_dataset_sends_shards_and_card(tmp_path: Path, monkeypatch) -> None:
    folder = write_corpus_folder(tmp_path / "c", *synthetic_corpus())
    dd, report = prepare_dataset(folder)
    saved = save_dataset(dd, tmp_path / "ds", report)
    recorder = _Recorder()
    recorder.install(monkeypatch)
    push_dataset(saved, "org/ds", private=False)
    commit = recorder.calls[-1][1]
    assert recorder.calls[0][1]["repo_type"] == "dataset" and commit["repo_type"] == "dataset"
    assert set(commit["files"]) == {
        "README.md",
        "data/train-00000-of-00001.parquet",
        "data/validation-00000-of-00001.parquet",
        "data/test-00000-of-00001.parquet",
    }
    assert commit["files"]["README.md"] == (saved / "README.md").read_bytes()


def test_a_hub_error_carrying_the_token_is_printed_redacted(model_folder: Path, monkeypatch, capsys, caplog) -> None:
    """The Hub answers with an HTTP error whose message repeats the token; the push command prints one redacted line."""
    from huggingface_hub.errors import HfHubHTTPError

    from movie_gender import cli

    secret = "hf_" + "x" * 34
    monkeypatch.setenv("HF_TOKEN", secret)

    def rejecting_create_repo(self, repo_id, **kwargs):
        url = "https://huggingface.co/api/repos/create"
        message = (
            f"401 Client Error: Unauthorized for url {url} (token {self.token or os.environ['HF_TOKEN']} is invalid)"
        )
        try:
            error = HfHubHTTPError(message)
        except TypeError:  # huggingface_hub >= 1.0 wants the httpx response
            import httpx

            error = HfHubHTTPError(message, response=httpx.Response(401, request=httpx.Request("POST", url)))
        raise error

    monkeypatch.setattr(HfApi, "create_repo", rejecting_create_repo)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["push", str(model_folder), "org/m"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "401 Client Error" in err and "hf_***" in err
    assert secret not in err + caplog.text and "Traceback" not in err


def test_a_missing_model_folder_is_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError) as error:
        BiLSTMClassifier.from_pretrained("out/model")
    message = str(error.value)
    assert (
        message.startswith(
            "out/model: cannot load the model: no such model folder, and no reachable Hub repo of that name"
        )
        and "\n" not in message
    )


@pytest.mark.skipif(
    os.environ.get("MOVIE_GENDER_LIVE_HUB") != "1" or not os.environ.get("HF_TOKEN"),
    reason="live Hub test: set MOVIE_GENDER_LIVE_HUB=1 and HF_TOKEN to run it",
)
def test_live_push_and_pull(model_folder: Path, tmp_path: Path) -> None:
    code = f"""
import os, uuid, numpy as np
from huggingface_hub import HfApi
from movie_gender import BiLSTMClassifier
from movie_gender.hub.publish import push_model
api = HfApi()
repo = api.whoami()["name"] + "/movie-gender-live-test-" + uuid.uuid4().hex[:8]
try:
    push_model({str(model_folder)!r}, repo, private=True)
    pulled = BiLSTMClassifier.from_pretrained(repo, cache_dir={str(tmp_path / "live-cache")!r})
    local = BiLSTMClassifier.from_pretrained({str(model_folder)!r})
    np.testing.assert_array_equal(pulled.predict_logits({LINES!r}), local.predict_logits({LINES!r}))
finally:
    api.delete_repo(repo, missing_ok=True)
print("live ok")
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0 and "live ok" in result.stdout, result.stderr[-2000:]
