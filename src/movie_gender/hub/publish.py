"""The model card, and publishing a model folder and a dataset folder on the Hugging Face Hub.

Tokens come from the standard places (``HF_TOKEN``, ``hf auth login``) through huggingface_hub; this module never
prints, logs or writes them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData

from movie_gender.data.dataset import split_protocol
from movie_gender.data.download import atomic_path
from movie_gender.errors import HubError, MovieGenderError, first_line, redact

if TYPE_CHECKING:
    import datasets

    from movie_gender.model.modeling import BiLSTMClassifier


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


# Where the project lives: [project.urls] in pyproject.toml, the mixin's repo_url and every card link here.
PROJECT_URL = "https://github.com/movie-gender/movie-gender"
# The Hub tags of every movie-gender model; the mixin adds "model_hub_mixin" and "pytorch_model_hub_mixin".
TAGS = ("text-classification", "gender", "movie-dialogue", "glove", "bilstm", "movie-gender")
SCORER_NAMES = {
    "model": "**this model**",
    "always_male": "always male",
    "tfidf_logreg": "TF-IDF (1-2 grams) + logistic regression",
    "glove_mean_logreg": "mean GloVe vector + logistic regression",
    "tfidf_context_logreg": "TF-IDF with context + logistic regression",
    "tfidf_character_logreg": "TF-IDF of one document per character + logistic regression",
    "tfidf_character_context_logreg": "TF-IDF of one document per character and of its context + logistic regression",
}
VERSIONED = ("python", "movie-gender", "torch", "datasets", "tokenizers", "huggingface_hub", "safetensors")
PLOTS = (
    ("training_curves.png", "training curves"),
    ("confusion_matrix.png", "confusion matrix"),
    ("roc_curve.png", "ROC"),
    ("reliability_line.png", "reliability, lines"),
    ("reliability_character.png", "reliability, characters"),
)


def card_template() -> str:
    """The card template: the repository's ``model_card.md``, shipped in the package as templates/model_card.md."""
    return resources.files("movie_gender").joinpath("templates/model_card.md").read_text(encoding="utf-8")


def framework_versions() -> dict[str, str]:
    """The versions of Python and the libraries a model is trained and saved with."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from movie_gender import __version__

    found = {"python": platform.python_version(), "movie-gender": __version__}
    for name in VERSIONED[2:]:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def select_examples(
    split: datasets.Dataset, n: int = 6, seed: int = 42, min_words: int = 5, max_words: int = 25
) -> list[dict]:
    """A few real lines of a split (validation, never test), half of each label, for the card's widget and table.

    Lines of ``min_words`` to ``max_words`` words are drawn at random (seeded), so the examples are typical lines,
    not ones the model happens to get right. Where the split has a ``context`` column, each example keeps its
    context, so that a context model's card scores it as it was trained to.
    """
    import numpy as np

    texts, labels = list(split["text"]), list(split["label"])
    names = split.features["label"].names if hasattr(split.features["label"], "names") else ["male", "female"]
    rng = np.random.default_rng(seed)
    rows = []
    for label in (1, 0):
        pool = [
            i
            for i, (t, y) in enumerate(zip(texts, labels, strict=False))
            if y == label and min_words <= len(t.split()) <= max_words
        ]
        take = min((n + 1 - label) // 2, len(pool))
        rows += [(int(i), label) for i in rng.choice(pool, take, replace=False)]
    chosen = [{"text": texts[i], "label": names[label]} for i, label in rows]
    if "context" in split.column_names:
        for example, (i, _) in zip(chosen, rows, strict=True):
            example["context"] = list(split[i]["context"])
    return chosen


def public_metrics(metrics: dict) -> dict:
    """metrics.json as published: local file paths (corpus, GloVe, output folders) reduced to their file names."""
    out = json.loads(json.dumps(metrics))
    for section, key in (("dataset", "corpus"), (None, "glove")):
        holder = out.get(section, {}).get(key) if section else out.get(key)
        if isinstance(holder, dict) and isinstance(holder.get("source"), str):
            holder["source"] = _public_source(holder["source"])
    for key in ("output", "checkpoint_dir", "logging_dir"):
        if isinstance(out.get("training", {}).get(key), str):
            out["training"][key] = _public_source(out["training"][key])
    return out


def _public_source(source: str) -> str:
    """A URL or Hub id as it is; a local path as its file name (local paths are never published)."""
    if "://" in source or (_looks_like_repo_id(source) and not os.path.exists(source)):
        return source
    return Path(source).name


def _looks_like_repo_id(source: str) -> bool:
    return re.fullmatch(r"[\w.-]+/[\w.-]+", source) is not None and not source.startswith(".")


def _fmt(value: float | None, ci: list[float] | None = None, signed: bool = False) -> str:
    if value is None or value != value:
        return "n/a"
    spec = "+.3f" if signed else ".3f"
    return f"{value:{spec}}" + (f" [{ci[0]:{spec}}, {ci[1]:{spec}}]" if ci else "")


def _rows(level: dict) -> list[dict]:
    """One row per scorer (this model first), ROC-AUC leading; intervals where the bootstrap gave them."""
    rows = []
    scorers = [k for k, v in level.items() if isinstance(v, dict) and "roc_auc" in v]
    for key in sorted(scorers, key=lambda k: k != "model"):
        m, ci = level[key], level[key].get("ci95", {})
        rows.append(
            {
                "name": SCORER_NAMES.get(key, key),
                "n": f"{m['n']:,}" if "n" in m else "n/a",
                "roc_auc": _fmt(m.get("roc_auc"), ci.get("roc_auc")),
                "average_precision": _fmt(m.get("average_precision"), ci.get("average_precision")),
                "balanced_accuracy": _fmt(m.get("balanced_accuracy"), ci.get("balanced_accuracy")),
                "macro_f1": _fmt(m.get("macro_f1")),
                "threshold": _fmt(m.get("threshold")),
            }
        )
    return rows


def _differences(level: dict) -> list[dict]:
    """Paired differences (this model minus a baseline) from a level's ``difference`` entry, when present."""
    rows = []
    for key, d in (level.get("difference") or {}).items():
        if isinstance(d, dict):
            rows.append(
                {
                    "name": SCORER_NAMES.get(key, key),
                    "roc_auc": _fmt(d.get("roc_auc"), d.get("roc_auc_ci95"), signed=True),
                    "balanced_accuracy": _fmt(d.get("balanced_accuracy"), d.get("balanced_accuracy_ci95"), signed=True),
                }
            )
    return rows


def _protocol(dataset: dict) -> str:
    return split_protocol(dataset.get("split"), dataset.get("test_per_class"))


def _interval_note(bootstrap: Any) -> str:
    if isinstance(bootstrap, dict) and bootstrap.get("n"):
        unit = bootstrap.get("unit", "line")
        return (
            f"Intervals are 95% bootstrap intervals ({bootstrap['n']:,} resamples of whole {unit}s, paired across "
            f"scorers)."
        )
    if isinstance(bootstrap, int) and bootstrap:
        return f"Intervals are 95% bootstrap intervals ({bootstrap:,} resamples)."
    return "No bootstrap intervals were computed."


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _levels(metrics: dict) -> list[dict]:
    levels = []
    if metrics.get("line"):
        levels.append(
            {
                "title": "Line level",
                "unit": "lines",
                "rows": _rows(metrics["line"]),
                "differences": _differences(metrics["line"]),
                "intro": "Each line of dialogue scored on its own.",
            }
        )
    if metrics.get("character"):
        levels.append(
            {
                "title": "Character level",
                "unit": "characters",
                "rows": _rows(metrics["character"]),
                "differences": _differences(metrics["character"]),
                "intro": f"Each character with at least {metrics['character'].get('min_lines', '?')} lines in "
                f"the split, scored {_character_scoring(metrics.get('model') or {})}. Baselines per character: the "
                f"mean log-odds of their line scores, or one TF-IDF document per character.",
            }
        )
    return levels


def _calibration(metrics: dict) -> list[dict]:
    """One card row per calibrated level: ECE before and after, the confident-prediction precision, the map."""
    rows = []
    for level, unit in (("line", "lines"), ("character", "characters")):
        record = (metrics.get(level) or {}).get("calibration")
        if not isinstance(record, dict):
            continue
        female = record.get("confident", {}).get("female", {})
        cut = record.get("confident", {}).get("cut", 0.9)
        params = record.get("parameters", {})
        rows.append(
            {
                "level": unit,
                "ece_raw": _fmt(record.get("ece_raw")),
                "ece": _fmt(record.get("ece")),
                "floor": _fmt(record.get("ece_noise_floor")),
                "confident": (
                    f"{_pct(female['precision'])} female of {female.get('n', 0):,}"
                    if female.get("precision") is not None
                    else f"none with P >= {cut}"
                ),
                "cut": cut,
                "parameters": f"{params.get('scale', float('nan')):.3f} x log-odds {params.get('bias', 0):+.3f}",
                "n": f"{params.get('n', 0):,}",
                "bins": f"{record.get('bins')} {record.get('binning')}",
            }
        )
    return rows


def _bag_of_words(config: dict) -> str:
    if not config.get("bag_of_words"):
        return ""
    pairs = config.get("bigram_buckets") or 0
    return f", plus a bag of words (a weight per word{f' and per word pair, {pairs:,} hashed rows' if pairs else ''})"


def _character_scoring(config: dict) -> str:
    if config.get("character_pooling", "none") != "none":
        return "by the model itself: its lines pooled by attention, plus bags of what it says and hears"
    return "by the mean log-odds of its lines"


def _architecture(config: dict) -> dict:
    hidden, layers = config.get("hidden_size"), config.get("num_layers")
    return {
        "architecture": (
            f"{layers} x {hidden} {'bidirectional ' if config.get('bidirectional') else ''}LSTM, "
            f"{config.get('pooling')} pooling, fc {hidden} + ReLU, dropout {config.get('dropout')}"
            + _bag_of_words(config)
            + (f", word dropout {config['word_dropout']}" if config.get("word_dropout") else "")
            + (
                "; a character model: attention over a character's lines, bags of the words it says and hears"
                if config.get("character_pooling", "none") != "none"
                else ""
            )
        ),
        "vocab_size": f"{config.get('vocab_size', 0):,}",
    }


def render_model_card(
    card_data: ModelCardData,
    config: dict,
    metrics: dict | None = None,
    *,
    repo_id: str | None = None,
    dataset_repo: str | None = None,
    examples: list[dict] | None = None,
    plots: tuple[str, ...] = (),
    **extra: Any,
) -> str:
    """Render model_card.md: the full card when ``metrics`` (a metrics.json of ``movie-gender train``) has results,
    an honest short card without them.

    ``card_data`` is the mixin's metadata (library, licence, pipeline tag, tags); ``config`` the model's config;
    ``repo_id`` the Hub repo or folder name shown in the usage snippet; ``examples`` ``{text, label, score}`` rows
    (also the Hub widget); ``plots`` the plot files published beside the card.
    """
    metrics = metrics or {}
    has_results = bool(metrics.get("line", {}).get("model"))
    repo_id = repo_id or "movie-gender-bilstm"
    data = ModelCardData(**card_data.to_dict())
    data.language = "en"
    data.metrics = ["roc_auc", "average_precision", "balanced_accuracy", "f1"]
    if examples:
        data.widget = [
            {
                "text": " ".join(e["text"].split()),  # one line, whatever whitespace the corpus had
                "example_title": f"{e['label']} character (validation line)",
            }
            for e in examples
        ]
    training, glove, dataset = (metrics.get(k, {}) for k in ("training", "glove", "dataset"))
    corpus, counts = dataset.get("corpus", {}), dataset.get("class_counts", {})
    if dataset_repo is None and dataset.get("split") == "prepared" and _looks_like_repo_id(str(corpus.get("source"))):
        dataset_repo = corpus["source"]  # trained on a Hub dataset repo: link it
    recorded = metrics.get("versions")
    eval_results = []
    for key, pretty in (
        ("roc_auc", "ROC-AUC"),
        ("average_precision", "average precision"),
        ("balanced_accuracy", "balanced accuracy"),
        ("macro_f1", "macro F1"),
    ):
        value = metrics.get("line", {}).get("model", {}).get(key)
        if value is not None and value == value:
            eval_results.append(
                EvalResult(
                    task_type="text-classification",
                    dataset_type=dataset_repo or "cornell_movie_dialog",
                    dataset_name="Cornell Movie-Dialogs (speaker gender)",
                    dataset_split=metrics.get("eval_split", "test"),
                    metric_type=key,
                    metric_name=pretty,
                    metric_value=round(value, 4),
                )
            )
    data.datasets = [dataset_repo] if dataset_repo else None
    if eval_results:
        data.eval_results, data.model_name = eval_results, repo_id.split("/")[-1]
    values = dict(
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        project_url=PROJECT_URL,
        dataset_repo=dataset_repo,
        has_results=has_results,
        examples=examples or [],
        plots=[{"markdown": f"![{t}]({f})"} for f, t in PLOTS if f in plots],
        threshold_note=(
            "each scorer's threshold is chosen on the validation split, never on test."
            if "threshold" in metrics.get("line", {}).get("model", {})
            else "a line counts as female at P >= 0.5."
        ),
        eval_split=metrics.get("eval_split", "test"),
        split_protocol=_protocol(dataset),
        interval_note=_interval_note(metrics.get("bootstrap")),
        levels=_levels(metrics),
        calibration=_calibration(metrics),
        corpus_source=_public_source(str(corpus.get("source", ""))),
        corpus_male=f"{corpus.get('male', 0):,}",
        corpus_female=f"{corpus.get('female', 0):,}",
        balance=dataset.get("balance", "n/a"),
        split_sizes=", ".join(f"{k} {sum(v.values()):,}" for k, v in counts.items()) or "n/a",
        **_architecture(config),
        embeddings=(
            f"{glove.get('name', 'GloVe')} ({config.get('embedding_dim')}d), "
            f"{'frozen' if config.get('freeze_embeddings') else 'fine-tuned'}"
        ),
        type_coverage=_pct(glove.get("type_coverage")),
        token_coverage=_pct(glove.get("token_coverage")),
        optimisation=(
            f"Adam, lr {training.get('learning_rate')} ({training.get('lr_schedule', 'constant')} schedule), "
            f"batch {training.get('batch_size')}, up to {training.get('epochs')} epochs, early stopping "
            f"patience {training.get('patience')}, gradient clip {training.get('grad_clip')}, "
            f"seed {training.get('seed')}"
        ),
        epochs_run=len(training.get("history", [])),
        best_epoch=training.get("best_epoch"),
        best_val_auc=_fmt(training.get("best_validation_auc")),
        hardware=f"{training.get('hardware', 'n/a')}, {'bf16 autocast' if training.get('bf16') else 'fp32'}",
        training_time=(
            f"{training.get('seconds', 0) / 60:.1f} min training"
            + (
                f", {training['total_seconds'] / 60:.1f} min in all (data, training, evaluation)"
                if training.get("total_seconds")
                else ""
            )
        ),
        preset=training.get("preset", "custom"),
        versions=list((recorded or framework_versions()).items()),
        versions_note=("Trained with:" if recorded else "Saved with (no training record):"),
    )
    values.update(extra)
    card = str(ModelCard.from_template(data, template_str=card_template(), **values))
    return re.sub(r"\n{3,}", "\n\n", card)


def write_model_card(
    folder: str | os.PathLike,
    model: BiLSTMClassifier | None = None,
    *,
    repo_id: str | None = None,
    dataset_repo: str | None = None,
) -> Path:
    """(Re)write folder/README.md with the model's card (``model`` or the one saved in ``folder``), replacing any
    card already there; the plots in ``folder`` are shown."""
    folder = Path(folder)
    card = _card_for_folder(folder, model, repo_id=repo_id or folder.name, dataset_repo=dataset_repo)
    with atomic_path(folder / "README.md") as tmp:
        tmp.write_text(card, encoding="utf-8")
    return folder / "README.md"


def _card_for_folder(folder: Path, model: BiLSTMClassifier | None = None, **kwargs: str | None) -> str:
    """The card of a model folder, rendered by the model class, with its metrics.json (if any) and plots."""
    if model is None:
        from movie_gender.model.modeling import BiLSTMClassifier

        model = BiLSTMClassifier.from_pretrained(folder)
    if (folder / "metrics.json").is_file():
        model.metrics = json.loads((folder / "metrics.json").read_text())
    plots = tuple(name for name, _ in PLOTS if (folder / name).is_file())
    return str(model.generate_model_card(plots=plots, **kwargs))


def _commit(
    repo_id: str,
    repo_type: str,
    operations: list,
    *,
    private: bool,
    revision: str | None,
    token: str | None,
    commit_message: str,
):
    """Create the repo (and branch) if needed, then make one commit of ``operations``."""
    api = HfApi(token=token)
    with _hub_errors(repo_id):
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
) -> str:
    """Publish a model folder as one commit: config, weights, tokenizer, rendered card, metrics and plots.

    The card is rendered by the model class (:meth:`BiLSTMClassifier.generate_model_card`, the path
    ``save_pretrained`` / ``push_to_hub`` take too) with ``repo_id`` in its usage snippet and ``dataset_repo`` in its
    ``datasets:`` metadata; metrics.json goes up without local file paths. ``extra_files``
    (path in the repo -> local file) go into the same commit, e.g. an ONNX export under ``onnx/``. Returns the
    commit URL.
    """
    folder = Path(folder)
    for required in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / required).is_file():
            raise FileNotFoundError(f"{folder}: not a model folder (no {required})")
    operations = []
    for name in MODEL_FILES:
        if name == "README.md":
            card = _card_for_folder(folder, repo_id=repo_id, dataset_repo=dataset_repo)
            operations.append(CommitOperationAdd("README.md", card.encode("utf-8")))
        elif name == "metrics.json" and (folder / name).is_file():
            published = public_metrics(json.loads((folder / name).read_text()))
            operations.append(CommitOperationAdd(name, (json.dumps(published, indent=2) + "\n").encode("utf-8")))
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
    with _hub_errors(space_repo):
        api.create_repo(space_repo, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        info = api.create_commit(
            space_repo,
            [CommitOperationAdd(name, data) for name, data in files.items()],
            commit_message=commit_message,
            repo_type="space",
        )
    logger.info("Pushed the demo Space to %s (model %s)", info.commit_url, model_repo)
    return info.commit_url


def load_hub_dataset(
    repo_id_or_path: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
) -> datasets.DatasetDict:
    """``datasets.load_dataset`` on a saved folder or a Hub dataset repo, online or offline from the HF cache.

    For a repo id the files come through ``snapshot_download`` (which, with ``HF_HUB_OFFLINE=1``, serves what the
    Hugging Face cache already holds), then load as the local folder they are.
    """
    import datasets
    from huggingface_hub import snapshot_download

    if os.path.isdir(repo_id_or_path):
        return datasets.load_dataset(str(repo_id_or_path))
    with _hub_errors(repo_id_or_path):
        folder = snapshot_download(
            repo_id_or_path,
            repo_type="dataset",
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            allow_patterns=list(DATASET_PATTERNS),
        )
    return datasets.load_dataset(folder)
