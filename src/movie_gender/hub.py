"""The model card, and publishing a model folder and a dataset folder on the Hugging Face Hub.

Tokens come from the standard places (``HF_TOKEN``, ``hf auth login``) through huggingface_hub; this module never
prints, logs or writes them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from huggingface_hub import CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData

from .dataset import split_protocol
from .download import atomic_path
from .errors import HubError, MovieGenderError, first_line, redact

logger = logging.getLogger(__name__)

# The files of a model folder that are published; checkpoints, caches and anything else stay local.
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json",
               "training_curves.png", "confusion_matrix.png", "roc_curve.png")
DATASET_PATTERNS = ("README.md", "data/*.parquet")


@contextlib.contextmanager
def _hub_errors(repo_id: str) -> Iterator[None]:
    """Turn whatever the HTTP stack raises into one HubError line (tokens redacted)."""
    try:
        yield
    except MovieGenderError:
        raise
    except Exception as error:  # httpx / huggingface_hub errors have no common base class we can name
        raise HubError(f"{repo_id}: Hub request failed ({type(error).__name__}: {redact(first_line(error))})") from None


def _template() -> str:
    return resources.files("movie_gender").joinpath("templates/model_card.md").read_text(encoding="utf-8")


def _fmt(value: float | None, ci: list[float] | None = None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _rows(level: dict) -> list[dict]:
    names = {"model": "**this model**", "always_male": "always male", "tfidf_logreg": "TF-IDF (1-2 grams) + logistic regression"}
    rows = []
    for key, m in level.items():
        if not isinstance(m, dict):
            continue
        ci = m.get("ci95", {})
        rows.append({"name": names.get(key, key), "n": f"{m['n']:,}", "accuracy": _fmt(m["accuracy"]),
                     "balanced_accuracy": _fmt(m["balanced_accuracy"], ci.get("balanced_accuracy")),
                     "macro_f1": _fmt(m["macro_f1"]), "roc_auc": _fmt(m["roc_auc"], ci.get("roc_auc"))})
    return rows


def _protocol(dataset: dict) -> str:
    return split_protocol(dataset.get("split"), dataset.get("test_per_class"))


def render_model_card(metrics: dict, *, repo_id: str | None = None, dataset_repo: str | None = None) -> str:
    """Render model_card.md with the values of a metrics.json (as written by scripts/train.py)."""
    training, model, glove, dataset = (metrics.get(k, {}) for k in ("training", "model", "glove", "dataset"))
    line = metrics.get("line", {}).get("model", {})
    eval_results = []
    for key, pretty in (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("roc_auc", "ROC-AUC"),
                        ("macro_f1", "macro F1")):
        if key in line:
            eval_results.append(EvalResult(task_type="text-classification", dataset_type=dataset_repo or "cornell_movie_dialog",
                                           dataset_name="Cornell Movie-Dialogs (speaker gender)",
                                           dataset_split=metrics.get("eval_split", "test"), metric_type=key,
                                           metric_name=pretty, metric_value=round(line[key], 4)))
    name = (repo_id or "movie-gender-bilstm").split("/")[-1]
    card_data = ModelCardData(
        language="en", license="mit", library_name="movie-gender", pipeline_tag="text-classification",
        tags=["text-classification", "gender", "movie-dialogue", "glove", "bilstm", "pytorch"],
        datasets=[dataset_repo] if dataset_repo else None,
        metrics=["accuracy", "balanced_accuracy", "roc_auc", "f1"],
        model_name=name, eval_results=eval_results or None,
        base_embeddings=glove.get("name"),
    )
    corpus = dataset.get("corpus", {})
    counts = dataset.get("class_counts", {})
    hidden, layers = model.get("hidden_size"), model.get("num_layers")
    card = ModelCard.from_template(
        card_data, template_str=_template(),
        model_name=name, repo_id=repo_id or "PATH/TO/MODEL", dataset_repo=dataset_repo,
        eval_split=metrics.get("eval_split", "test"), split_protocol=_protocol(dataset),
        bootstrap=metrics.get("bootstrap", 0),
        line_rows=_rows(metrics.get("line", {})), character_rows=_rows(metrics.get("character", {})),
        min_lines=metrics.get("character", {}).get("min_lines", ""),
        corpus_source=corpus.get("source", ""), corpus_male=f"{corpus.get('male', 0):,}",
        corpus_female=f"{corpus.get('female', 0):,}", balance=dataset.get("balance", "n/a"),
        split_sizes=", ".join(f"{k} {sum(v.values()):,}" for k, v in counts.items()),
        architecture=(f"{layers} x {hidden} {'bidirectional ' if model.get('bidirectional') else ''}LSTM, "
                      f"{model.get('pooling')} pooling, fc {hidden} + ReLU, dropout {model.get('dropout')}"),
        embeddings=(f"{glove.get('name', 'GloVe')} ({model.get('embedding_dim')}d), "
                    f"{'frozen' if model.get('freeze_embeddings') else 'fine-tuned'}"),
        vocab_size=f"{model.get('vocab_size', 0):,}",
        type_coverage=_pct(glove.get("type_coverage")), token_coverage=_pct(glove.get("token_coverage")),
        optimisation=(f"Adam, lr {training.get('learning_rate')} ({training.get('lr_schedule', 'constant')} schedule), "
                      f"batch {training.get('batch_size')}, "
                      f"up to {training.get('epochs')} epochs, early stopping patience {training.get('patience')}, "
                      f"gradient clip {training.get('grad_clip')}, seed {training.get('seed')}"),
        epochs_run=len(training.get("history", [])), best_epoch=training.get("best_epoch"),
        best_val_auc=_fmt(training.get("best_validation_auc")),
        hardware=f"{training.get('hardware', '')}, {'bf16 autocast' if training.get('bf16') else 'fp32'}",
        training_time=f"{training.get('seconds', 0) / 60:.1f} min", preset=training.get("preset", "custom"),
    )
    return str(card)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def write_model_card(folder: str | os.PathLike, *, repo_id: str | None = None, dataset_repo: str | None = None) -> Path:
    """(Re)write folder/README.md from folder/metrics.json."""
    folder = Path(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    with atomic_path(folder / "README.md") as tmp:
        tmp.write_text(render_model_card(metrics, repo_id=repo_id, dataset_repo=dataset_repo), encoding="utf-8")
    return folder / "README.md"


def _commit(repo_id: str, repo_type: str, operations: list, *, private: bool, revision: str | None,
            token: str | None, commit_message: str):
    """Create the repo (and branch) if needed, then make one commit of ``operations``."""
    api = HfApi(token=token)
    with _hub_errors(repo_id):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        return api.create_commit(repo_id, operations, commit_message=commit_message, repo_type=repo_type,
                                 revision=revision)


def push_model(folder: str | os.PathLike, repo_id: str, *, private: bool = False, revision: str | None = None,
               dataset_repo: str | None = None, token: str | None = None,
               commit_message: str = "Upload movie-gender model") -> str:
    """Publish a model folder as one commit: config, weights, tokenizer, rendered card, metrics and plots.

    The card is re-rendered with ``repo_id`` (and ``dataset_repo`` in its ``datasets:`` metadata). Returns the
    commit URL.
    """
    folder = Path(folder)
    for required in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / required).is_file():
            raise FileNotFoundError(f"{folder}: not a model folder (no {required})")
    operations = []
    for name in MODEL_FILES:
        if name == "README.md" and (folder / "metrics.json").is_file():
            card = render_model_card(json.loads((folder / "metrics.json").read_text()), repo_id=repo_id,
                                     dataset_repo=dataset_repo)
            operations.append(CommitOperationAdd("README.md", card.encode("utf-8")))
        elif (folder / name).is_file():
            operations.append(CommitOperationAdd(name, str(folder / name)))
    info = _commit(repo_id, "model", operations, private=private, revision=revision, token=token,
                   commit_message=commit_message)
    logger.info("Pushed %s to %s (%d files)", folder, info.commit_url, len(operations))
    return info.commit_url


def push_dataset(folder: str | os.PathLike, repo_id: str, *, private: bool = False, revision: str | None = None,
                 token: str | None = None, commit_message: str = "Upload movie-gender dataset") -> str:
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
    info = _commit(repo_id, "dataset", operations, private=private, revision=revision, token=token,
                   commit_message=commit_message)
    logger.info("Pushed %s to %s (%d files)", folder, info.commit_url, len(operations))
    return info.commit_url


def load_hub_dataset(repo_id_or_path: str, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                     token: str | None = None):
    """``datasets.load_dataset`` on a saved folder or a Hub dataset repo, online or offline from the HF cache.

    For a repo id the files come through ``snapshot_download`` (which, with ``HF_HUB_OFFLINE=1``, serves what the
    Hugging Face cache already holds), then load as the local folder they are.
    """
    import datasets
    from huggingface_hub import snapshot_download

    if os.path.isdir(repo_id_or_path):
        return datasets.load_dataset(str(repo_id_or_path))
    with _hub_errors(repo_id_or_path):
        folder = snapshot_download(repo_id_or_path, repo_type="dataset", revision=revision, cache_dir=cache_dir,
                                   token=token, allow_patterns=list(DATASET_PATTERNS))
    return datasets.load_dataset(folder)
