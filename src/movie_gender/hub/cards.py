"""The cards of a model, each rendered from a template under ``movie_gender/templates``: the model card
(``model_card.md``, the repository's own) and the README of an ONNX export (``export_readme.md``); the shared
pieces of every card (the project's links, the corpus citation, the split protocol in words). The dataset cards are
in :mod:`movie_gender.hub.dataset_cards`.

A card renders from data: a model's config and its run record (:class:`movie_gender.training.run_record.RunRecord`);
it never loads a model (:meth:`movie_gender.hub.classifier.BiLSTMClassifier.generate_model_card` scores examples).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
from huggingface_hub import CardData, EvalResult, ModelCard, ModelCardData, PyTorchModelHubMixin

from movie_gender.evaluation.baselines import scorer_label
from movie_gender.hub.size_tables import size_rows
from movie_gender.training.report_parts import (
    Calibration,
    CalibrationParameters,
    Confident,
    ConfidentClass,
    CorpusRecord,
    DatasetRecord,
    Difference,
    Intervals,
    LevelReport,
    ScorerMetrics,
    TrainingRecord,
    or_default,
)
from movie_gender.training.run_record import (
    RunRecord,
    as_record,
    framework_versions,
    looks_like_repo_id,
    published_source,
)

logger = logging.getLogger(__name__)

# Where the project lives: [project.urls] in pyproject.toml, the mixin's repo_url and every card link here.
PROJECT_URL = "https://github.com/movie-gender/movie-gender"
# The Hub tags of every movie-gender model; the mixin adds "model_hub_mixin" and "pytorch_model_hub_mixin".
TAGS = ("text-classification", "gender", "movie-dialogue", "glove", "bilstm", "movie-gender")
# The model card's metadata, as BiLSTMClassifier declares it to the mixin.
HUB_METADATA = {
    "library_name": "movie-gender",
    "tags": list(TAGS),
    "license": "mit",
    "pipeline_tag": "text-classification",
    "repo_url": PROJECT_URL,
}


def scorer_name(key: str) -> str:
    """A scorer's name on the card: this model in bold, a baseline by its registry description
    (:func:`movie_gender.evaluation.baselines.scorer_label`)."""
    return "**this model**" if key == "model" else scorer_label(key, long=True)


PLOTS = (
    ("training_curves.png", "training curves"),
    ("confusion_matrix.png", "confusion matrix"),
    ("roc_curve.png", "ROC"),
    ("reliability_line.png", "reliability, lines"),
    ("reliability_character.png", "reliability, characters"),
)
# The corpus' citation, as the dataset cards (the dataset's and the completed corpus') print it.
CITATION = [
    "```bibtex",
    "@InProceedings{Danescu-Niculescu-Mizil+Lee:11a,",
    "  author={Cristian Danescu-Niculescu-Mizil and Lillian Lee},",
    "  title={Chameleons in imagined conversations: A new approach to understanding coordination of "
    "linguistic style in dialogs.},",
    "  booktitle={Proceedings of the Workshop on Cognitive Modeling and Computational Linguistics, ACL 2011},",
    "  year={2011}",
    "}",
    "```",
]


def template(name: str) -> str:
    """A card template shipped in the package (``movie_gender/templates/NAME``)."""
    return resources.files("movie_gender").joinpath(f"templates/{name}").read_text(encoding="utf-8")


def card_template() -> str:
    """The model card template: the repository's ``model_card.md``, shipped as templates/model_card.md."""
    return template("model_card.md")


def split_protocol(split: str | None, test_per_class: int | None = None) -> str:
    """How the lines were split, in words (the dataset card and the model card both say it this way)."""
    if split == "movie":
        return "split by movie: no movie appears in two splits"
    if split == "random":
        return "random split by line, stratified by gender"
    if split == "tutorial":
        return f"the tutorial's split: the first {test_per_class or 0:,} lines of each gender (corpus order) are test"
    return "a prepared dataset"


def metric_text(value: float | None, ci: Sequence[float] | None = None, signed: bool = False) -> str:
    """A metric as the cards print it: three decimals (signed for a difference), its interval after it; or n/a."""
    if value is None or value != value:
        return "n/a"
    spec = "+.3f" if signed else ".3f"
    interval = f" [{ci[0]:{spec}}, {ci[1]:{spec}}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
    return f"{value:{spec}}" + interval


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


# ------------------------------------------------------------------------------------------------------ model card
def _rows(level: LevelReport) -> list[dict]:
    """One row per scorer (this model first), ROC-AUC leading; intervals where the bootstrap gave them."""
    rows = []
    for key in sorted(level.scorers, key=lambda k: k != "model"):
        m = level.scorers[key]
        ci = m.ci95 if isinstance(m.ci95, Intervals) else Intervals()
        rows.append(
            {
                "name": scorer_name(key),
                "n": "n/a" if m.n is None else f"{m.n:,}",
                "roc_auc": metric_text(m.roc_auc, ci.roc_auc),
                "average_precision": metric_text(m.average_precision, ci.average_precision),
                "balanced_accuracy": metric_text(m.balanced_accuracy, ci.balanced_accuracy),
                "macro_f1": metric_text(m.macro_f1),
                "threshold": metric_text(m.threshold),
            }
        )
    return rows


def _differences(level: LevelReport) -> list[dict]:
    """Paired differences (this model minus a baseline) from a level's ``difference`` entry, when present."""
    return [
        {
            "name": scorer_name(key),
            "roc_auc": metric_text(d.roc_auc, d.roc_auc_ci95, signed=True),
            "balanced_accuracy": metric_text(d.balanced_accuracy, d.balanced_accuracy_ci95, signed=True),
        }
        for key, d in (level.difference or {}).items()
        if isinstance(d, Difference)
    ]


def _interval_note(bootstrap: Any) -> str:
    n = bootstrap if isinstance(bootstrap, int) else getattr(bootstrap, "n", 0)
    if not n:
        return "No bootstrap intervals were computed."
    if isinstance(bootstrap, int):
        return f"Intervals are 95% bootstrap intervals ({n:,} resamples)."
    unit = bootstrap.unit or "line"
    return f"Intervals are 95% bootstrap intervals ({n:,} resamples of whole {unit}s, paired across scorers)."


def _levels(record: RunRecord) -> list[dict]:
    levels = []
    line, character = record.level("line"), record.level("character")
    if line:
        levels.append(
            {
                "title": "Line level",
                "unit": "lines",
                "rows": _rows(line),
                "differences": _differences(line),
                "intro": "Each line of dialogue scored on its own.",
            }
        )
    if character:
        scoring = _character_scoring(record.model or {}, _neural_idle(record, record.model or {}))
        levels.append(
            {
                "title": "Character level",
                "unit": "characters",
                "rows": _rows(character),
                "differences": _differences(character),
                "intro": f"Each character with at least {or_default(character.min_lines, '?')} lines in "
                f"the split, scored {scoring}. Baselines per character: the "
                f"mean log-odds of their line scores, or one TF-IDF document per character.",
            }
        )
    return levels


def _calibration_row(unit: str, calibration: Calibration) -> dict:
    """A card row of a calibrated level: ECE before and after, the confident-prediction precision, the map."""
    confident = calibration.confident or Confident()
    female = confident.female or ConfidentClass()
    cut = or_default(confident.cut, 0.9)
    params = calibration.parameters or CalibrationParameters()
    return {
        "level": unit,
        "ece_raw": metric_text(calibration.ece_raw),
        "ece": metric_text(calibration.ece),
        "floor": metric_text(calibration.ece_noise_floor),
        "confident": (
            f"{_pct(female.precision)} female of {or_default(female.n, 0):,}"
            if female.precision is not None
            else f"none with P >= {cut}"
        ),
        "cut": cut,
        "parameters": f"{or_default(params.scale, float('nan')):.3f} x log-odds {or_default(params.bias, 0):+.3f}",
        "n": f"{or_default(params.n, 0):,}",
        "bins": f"{calibration.bins} {calibration.binning}",
    }


def _calibration(record: RunRecord) -> list[dict]:
    """One card row per calibrated level."""
    levels = (("line", "lines"), ("character", "characters"))
    calibrations = [(unit, record.level(level).calibration) for level, unit in levels]
    return [_calibration_row(unit, entry) for unit, entry in calibrations if isinstance(entry, Calibration)]


def _bag_of_words(config: dict) -> str:
    if not config.get("bag_of_words"):
        return ""
    pairs = config.get("bigram_buckets") or 0
    return f", plus a bag of words (a weight per word{f' and per word pair, {pairs:,} hashed rows' if pairs else ''})"


def _neural_idle(record: RunRecord, config: dict) -> bool:
    """Whether a character model kept the state before its neural stage: scoring never runs its bags' LSTM."""
    training = record.training if isinstance(record.training, TrainingRecord) else None
    return config.get("character_pooling", "none") != "none" and training is not None and training.best_epoch == 0


def _view_text(config: dict) -> str:
    """How a character model's context view (model.context_view) joins its score, or "" without one."""
    if not (view := config.get("context_view")):
        return ""
    return (
        f", plus {view.get('weight', 0):.2f} x the mean log-odds of its lines under a context model (a "
        f"{view['config'].get('num_layers')} x {view['config'].get('hidden_size')} BiLSTM over each line and one over "
        f"the lines around it, trained on line labels) with a partner term of its own (weight "
        f"{view.get('partner_weight', 0):.2f})"
    )


def _character_scoring(config: dict, idle: bool = False) -> str:
    if idle:
        return (
            "by the model itself: the mean of its lines' bag scores, plus bags of what it says and hears, minus "
            "the scores of the characters it talks to" + (_view_text(config) or " (no neural stage)")
        )
    if config.get("character_pooling", "none") != "none":
        return "by the model itself: its lines pooled by attention, plus bags of what it says and hears"
    return "by the mean log-odds of its lines"


def _architecture(config: dict, idle: bool = False) -> dict:
    hidden, layers = config.get("hidden_size"), config.get("num_layers")
    if idle:
        kind = "a character model: " if config.get("context_view") else "a character model without a neural stage: "
        around = " and of what is said around it" if config.get("line_context_bag", True) else ""
        return {
            "architecture": (
                f"{kind}logistic-regression bags of the words of each line{around}, bags of the words a character "
                "says and hears, and the scores of the characters it talks to"
                + _view_text(config)
                + f" (the file also holds a {layers} x {hidden} LSTM on the bags' side that scoring never runs: its "
                "output layer is 0)"
            ),
            "vocab_size": f"{config.get('vocab_size', 0):,}",
        }
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


def _eval_results(record: RunRecord, dataset_repo: str | None) -> list[EvalResult]:
    """The line-level results as the Hub's model-index reads them."""
    results: list[EvalResult] = []
    model = record.level("line").model
    if model is None:
        return results
    for key, pretty in (
        ("roc_auc", "ROC-AUC"),
        ("average_precision", "average precision"),
        ("balanced_accuracy", "balanced accuracy"),
        ("macro_f1", "macro F1"),
    ):
        value = getattr(model, key)
        if value is not None and value == value:
            results.append(
                EvalResult(
                    task_type="text-classification",
                    dataset_type=dataset_repo or "cornell_movie_dialog",
                    dataset_name="Cornell Movie-Dialogs (speaker gender)",
                    dataset_split=record.split_name,
                    metric_type=key,
                    metric_name=pretty,
                    metric_value=round(value, 4),
                )
            )
    return results


def _card_metadata(
    card_data: CardData, record: RunRecord, repo_id: str, dataset_repo: str | None, examples: list[dict]
) -> ModelCardData:
    """The card's YAML header: the mixin's metadata, the widget's example lines, the data and the results."""
    data = ModelCardData(**card_data.to_dict())
    data.language = "en"
    data.metrics = ["roc_auc", "average_precision", "balanced_accuracy", "f1"]
    if examples:
        data.widget = [  # type: ignore[attr-defined]  # ModelCardData keeps any key it is given
            {
                "text": " ".join(e["text"].split()),  # one line, whatever whitespace the corpus had
                "example_title": f"{e['label']} character (validation line)",
            }
            for e in examples
        ]
    eval_results = _eval_results(record, dataset_repo)
    data.datasets = [dataset_repo] if dataset_repo else None
    if eval_results:
        data.eval_results, data.model_name = eval_results, repo_id.split("/")[-1]
    return data


def _dataset(record: RunRecord) -> DatasetRecord:
    """The record's data report; an empty one when it has none."""
    return record.dataset if isinstance(record.dataset, DatasetRecord) else DatasetRecord()


def _linked_dataset(record: RunRecord, dataset_repo: str | None) -> str | None:
    """The dataset repo the card links: the one given, else the Hub dataset repo the model was trained on."""
    dataset = _dataset(record)
    source = str((dataset.corpus or CorpusRecord()).source)
    if dataset_repo is None and dataset.split == "prepared" and looks_like_repo_id(source):
        return source  # trained on a Hub dataset repo: link it
    return dataset_repo


def _data_values(record: RunRecord) -> dict:
    """The card's account of the data: the protocol, the corpus, the balance and the split sizes."""
    dataset = _dataset(record)
    corpus, counts = dataset.corpus or CorpusRecord(), or_default(dataset.class_counts, {})
    return {
        "eval_split": record.split_name,
        "split_protocol": split_protocol(dataset.split, dataset.test_per_class),
        "interval_note": _interval_note(record.bootstrap),
        "levels": _levels(record),
        "calibration": _calibration(record),
        "calibration_sizes": size_rows(record.level("character").calibration),  # by size (hub/size_tables.py)
        "corpus_source": published_source(str(or_default(corpus.source, ""))),
        "corpus_male": f"{or_default(corpus.male, 0):,}",
        "corpus_female": f"{or_default(corpus.female, 0):,}",
        "balance": or_default(dataset.balance, "n/a"),
        "split_sizes": ", ".join(f"{k} {sum(v.values()):,}" for k, v in counts.items()) or "n/a",
    }


def _optimisation(training: TrainingRecord, config: dict, idle: bool) -> str:
    """How the model was fitted: its network's optimiser, or a character model's regressions (and context view)."""
    if idle:
        view = "; the context view: Adam on line labels, as the context preset" if config.get("context_view") else ""
        return f"logistic regressions fitted to convergence, C and partner weights chosen on validation{view}"
    return (
        f"Adam, lr {training.learning_rate} ({or_default(training.lr_schedule, 'constant')} schedule), "
        f"batch {training.batch_size}, up to {training.epochs} epochs, early stopping patience {training.patience}, "
        f"gradient clip {training.grad_clip}, seed {training.seed}"
    )


def _training_values(record: RunRecord, config: dict) -> dict:
    """The card's account of the model and its training: architecture, GloVe, optimisation, time, versions."""
    training = record.training if isinstance(record.training, TrainingRecord) else TrainingRecord()
    glove, idle = record.glove, _neural_idle(record, config)  # idle: scoring never runs the bags' LSTM
    name = (glove.name if glove else None) or "GloVe"
    coverage = glove.coverage if glove else {}
    total = training.total_seconds
    return {
        **_architecture(config, idle),
        "embeddings": f"{name} ({config.get('embedding_dim')}d), "
        f"{'frozen' if config.get('freeze_embeddings') else 'fine-tuned'}",
        "type_coverage": _pct(coverage.get("type_coverage")),
        "token_coverage": _pct(coverage.get("token_coverage")),
        "optimisation": _optimisation(training, config, idle),
        "epochs_run": len(or_default(training.history, [])),
        "best_epoch": training.best_epoch,
        "best_val_auc": metric_text(training.best_validation_auc),
        "hardware": f"{or_default(training.hardware, 'n/a')}, {'bf16 autocast' if training.bf16 else 'fp32'}",
        "training_time": f"{or_default(training.seconds, 0) / 60:.1f} min training"
        + (f", {total / 60:.1f} min in all (data, training, evaluation)" if total else ""),
        "preset": or_default(training.preset, "custom"),
        "versions": list((record.versions or framework_versions()).items()),
        "versions_note": "Trained with:" if record.versions else "Saved with (no training record):",
    }


def card_examples(
    examples: Sequence[Mapping] | None, p_female: Sequence[float] | np.ndarray | None = None
) -> list[dict]:
    """The card's example rows: each example line with a markdown table cell and its score (P(female) from
    ``p_female``, in order; "n/a" without scores)."""
    rows = [dict(e) for e in examples or []]
    for example, p in zip(rows, p_female if p_female is not None else [], strict=False):
        example["score"] = f"{p:.2f}"
    for example in rows:
        example["cell"] = " ".join(example["text"].split()).replace("|", "\\|")  # a markdown table cell
        example.setdefault("score", "n/a")
    return rows


def render_model_card(
    card_data: CardData,
    config: dict,
    record: RunRecord | Mapping | None = None,
    *,
    repo_id: str | None = None,
    dataset_repo: str | None = None,
    examples: list[dict] | None = None,
    plots: tuple[str, ...] = (),
    **extra: Any,
) -> str:
    """Render model_card.md: the full card when ``record`` (the run record of ``movie-gender train``) has results,
    an honest short card without them.

    ``card_data`` is the mixin's metadata (library, licence, pipeline tag, tags); ``config`` the model's config;
    ``repo_id`` the Hub repo or folder name shown in the usage snippet; ``examples`` rows of :func:`card_examples`
    (also the Hub widget); ``plots`` the plot files published beside the card.
    """
    record = as_record(record) or RunRecord()
    repo_id = repo_id or "movie-gender-bilstm"
    dataset_repo = _linked_dataset(record, dataset_repo)
    values = dict(
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        project_url=PROJECT_URL,
        dataset_repo=dataset_repo,
        has_results=record.has_results,
        examples=examples or [],
        plots=[{"markdown": f"![{t}]({f})"} for f, t in PLOTS if f in plots],
        threshold_note=(
            "each scorer's threshold is chosen on the validation split, never on test."
            if (record.level("line").model or ScorerMetrics()).threshold is not None
            else "a line counts as female at P >= 0.5."
        ),
        **_data_values(record),
        **_training_values(record, config),
    )
    values.update(extra)
    data = _card_metadata(card_data, record, repo_id, dataset_repo, examples or [])
    card = str(ModelCard.from_template(data, template_str=card_template(), **values))
    return re.sub(r"\n{3,}", "\n\n", card)


class _CardMetadata(PyTorchModelHubMixin, **HUB_METADATA):
    """The mixin's metadata of a movie-gender model, for a card rendered without loading the model."""


def model_card_data() -> CardData:
    """The metadata (library, licence, tags, pipeline tag) the mixin gives a movie-gender model's card."""
    return _CardMetadata().generate_model_card().data


def render_export_readme(name: str, example: str) -> str:
    """The README of an ONNX export folder ``name``, with the torch-free ``example``."""
    import jinja2

    return jinja2.Template(template("export_readme.md")).render(name=name, example=example)


__all__ = [
    "CITATION",
    "HUB_METADATA",
    "PLOTS",
    "PROJECT_URL",
    "TAGS",
    "card_examples",
    "card_template",
    "metric_text",
    "model_card_data",
    "render_export_readme",
    "render_model_card",
    "split_protocol",
    "template",
]
