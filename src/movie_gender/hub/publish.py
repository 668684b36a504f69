"""Publishing on the Hugging Face Hub and pulling back: a model folder, a dataset folder, the demo Space.

Tokens come from the standard places (``HF_TOKEN``, ``hf auth login``) through huggingface_hub; this module never
prints, logs or writes them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi

from movie_gender.errors import hub_errors
from movie_gender.hub.folder_cards import folder_card
from movie_gender.training.run_record import RECORD_NAME, RunRecord

if TYPE_CHECKING:
    from movie_gender.hub.classifier import BiLSTMClassifier


logger = logging.getLogger(__name__)

# The files of a model folder that are published; checkpoints, caches and anything else stay local.
MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "README.md",
    "metrics.json",
    "training_curves.png",
    "confusion_matrix.png",
    "roc_curve.png",
    "reliability_line.png",
    "reliability_character.png",
)


def _commit(
    repo_id: str,
    repo_type: str,
    operations: list,
    *,
    private: bool,
    revision: str | None,
    token: str | None,
    commit_message: str,
) -> CommitInfo:
    """Create the repo (and branch) if needed, then make one commit of ``operations``."""
    api = HfApi(token=token)
    with hub_errors(repo_id):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        return api.create_commit(
            repo_id, operations, commit_message=commit_message, repo_type=repo_type, revision=revision
        )


def push_model(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    dataset_repo: str | None = None,
    token: str | None = None,
    commit_message: str = "Upload movie-gender model",
    extra_files: dict[str, str] | None = None,
    model: BiLSTMClassifier | None = None,
) -> str:
    """Publish a model folder as one commit: config, weights, tokenizer, rendered card, metrics and plots.

    The card is the folder's (:func:`movie_gender.hub.folder_cards.folder_card`, rendered as ``save_pretrained`` /
    ``push_to_hub`` render it) with ``repo_id`` in its usage snippet and ``dataset_repo`` in its ``datasets:``
    metadata; ``model`` (the folder's, loaded) scores its example lines. The run record (metrics.json) goes up
    without local file paths. ``extra_files`` (path in the repo -> local file) go into the same commit, e.g. an ONNX
    export under ``onnx/``. Returns the commit URL.
    """
    folder = Path(folder)
    for required in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / required).is_file():
            raise FileNotFoundError(f"{folder}: not a model folder (no {required})")
    operations = []
    for name in MODEL_FILES:
        if name == "README.md":
            card = folder_card(folder, model, repo_id=repo_id, dataset_repo=dataset_repo)
            operations.append(CommitOperationAdd("README.md", card.encode("utf-8")))
        elif name == RECORD_NAME and (folder / name).is_file():
            published = RunRecord.load(folder / name).published()
            operations.append(CommitOperationAdd(name, published.to_json().encode("utf-8")))
        elif (folder / name).is_file():
            operations.append(CommitOperationAdd(name, str(folder / name)))
    operations += [CommitOperationAdd(name, str(path)) for name, path in (extra_files or {}).items()]
    info = _commit(
        repo_id, "model", operations, private=private, revision=revision, token=token, commit_message=commit_message
    )
    logger.info("Pushed %s to %s (%d files)", folder, info.commit_url, len(operations))
    return info.commit_url


def push_dataset(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str = "Upload movie-gender dataset",
) -> str:
    """Publish a folder written by :func:`movie_gender.save_dataset` (parquet shards + card) as one commit.

    The layout is the one ``DatasetDict.push_to_hub`` writes (``data/{split}-*.parquet`` and a README.md whose YAML
    ``configs`` name the splits), so ``load_dataset(repo_id)`` returns the same DatasetDict; publishing the folder
    keeps our dataset card and the data in a single commit.
    """
    folder = Path(folder)
    shards = sorted((folder / "data").glob("*.parquet"))
    if not shards or not (folder / "README.md").is_file():
        raise FileNotFoundError(f"{folder}: not a dataset folder (expected README.md and data/*.parquet)")
    operations = [CommitOperationAdd("README.md", str(folder / "README.md"))]
    operations += [CommitOperationAdd(f"data/{p.name}", str(p)) for p in shards]
    info = _commit(
        repo_id, "dataset", operations, private=private, revision=revision, token=token, commit_message=commit_message
    )
    logger.info("Pushed %s to %s (%d files)", folder, info.commit_url, len(operations))
    return info.commit_url


SPACE_FILES = ("app.py", "requirements.txt", "README.md")


def space_files(space_dir: str | os.PathLike, model_repo: str, dataset_repo: str | None = None) -> dict[str, bytes]:
    """The files of the demo Space (``space/`` in the project) with ``model_repo`` filled in: ``DEFAULT_MODEL`` in
    app.py, ``models:`` (and ``datasets:``, or none) in the README's YAML header."""
    import re

    import yaml

    space_dir = Path(space_dir)
    missing = [name for name in SPACE_FILES if not (space_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{space_dir}: not a Space folder (no {', '.join(missing)}); run from a checkout of "
            f"movie-gender or pass --space-dir"
        )
    app = (space_dir / "app.py").read_text(encoding="utf-8")
    app, found = re.subn(r"^DEFAULT_MODEL = .*$", lambda _: f"DEFAULT_MODEL = {model_repo!r}", app, count=1, flags=re.M)
    if not found:
        raise ValueError(f"{space_dir / 'app.py'}: no 'DEFAULT_MODEL = ...' line to fill in")
    readme = (space_dir / "README.md").read_text(encoding="utf-8")
    parts = readme.split("---\n", 2)
    if len(parts) != 3 or parts[0]:
        raise ValueError(f"{space_dir / 'README.md'}: no YAML header between '---' lines")
    header = yaml.safe_load(parts[1]) or {}
    header["models"] = [model_repo]
    if dataset_repo:
        header["datasets"] = [dataset_repo]
    else:
        header.pop("datasets", None)
    readme = "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n" + parts[2]
    return {
        "app.py": app.encode("utf-8"),
        "requirements.txt": (space_dir / "requirements.txt").read_bytes(),
        "README.md": readme.encode("utf-8"),
    }


def push_space(
    space_dir: str | os.PathLike,
    space_repo: str,
    model_repo: str,
    *,
    dataset_repo: str | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload movie-gender demo",
) -> str:
    """Create (if needed) a Gradio Space and upload the demo with ``model_repo`` filled in, as one commit."""
    files = space_files(space_dir, model_repo, dataset_repo)
    api = HfApi(token=token)
    with hub_errors(space_repo):
        api.create_repo(space_repo, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        info = api.create_commit(
            space_repo,
            [CommitOperationAdd(name, data) for name, data in files.items()],
            commit_message=commit_message,
            repo_type="space",
        )
    logger.info("Pushed the demo Space to %s (model %s)", info.commit_url, model_repo)
    return info.commit_url
