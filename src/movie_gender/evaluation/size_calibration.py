"""Character probabilities honest at every size: the character calibration fitted, and reported, for the number of
lines a character's score rests on.

In the Cornell corpus only characters with 10 or more lines carry a gender label, so a calibration fitted on whole
validation characters has only seen large ones, and stretches the score of a one-line character to a confident
P(female) its one line cannot support. Here validation characters are also **cut**: for each labelled validation
character and each size k in ``SIZES`` (1, 2, 3, 5 and 10 lines) that it exceeds, k of its lines drawn at random
(seeded; ``FIT_DRAWS`` cuts each) stand for the whole character, its conversation partners' lines kept as they are,
and the cut character is scored through the package's character scoring (a ``score`` callable, see :data:`ScoreFn`).
The whole characters fit a Platt scaling as before; the whole and the cut ones together fit how far a character's
calibrated log-odds are pulled back towards the prior for the lines it has, ``n / (n + half_lines)`` of the way
(:func:`movie_gender.evaluation.calibration.fit_size_platt`, saved as
:class:`movie_gender.labels.SizeAwarePlatt`), applied by the one labelling rule with each character's line
count. A richer map (a Platt scaling per size, interpolated) overfitted the few dozen validation characters of the
sample and was worse than the constant prior on held-out characters; one shrinkage parameter was not.

Cutting assumes what the package's character scores depend on: a character's own lines (with their ``context``
column) and, for a character model, the whole lines of the characters it talks to in the conversations of its kept
lines (the partner term); each replica holds exactly those.

The evaluated split's characters are cut the same way, and :func:`by_size` reports, per size and whole: the ECE,
the log-loss beside that of the constant prior (the female share of the validation characters) and of today's
whole-character Platt map, the accuracy at the character threshold, and the reliability bins (a diagram per size:
:func:`movie_gender.evaluation.plots.write_reliability_plots`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from movie_gender.evaluation.calibration import (
    BINNING,
    BINS,
    ece_noise_floor,
    expected_calibration_error,
    fit_platt,
    reliability,
)
from movie_gender.inference.characters import CharacterLines, logit, score_characters
from movie_gender.labels import SizeAwarePlatt, calibration_for, sigmoid

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

SIZES = (1, 2, 3, 5, 10)
FIT_DRAWS = 3  # cuts of each validation character per size for the fit: one left half_lines to the draw (3.8-7.3)
WHOLE = "whole"
CHUNK_LINES = 20_000  # lines scored per call of the score function: memory follows the chunk
SEPARATOR = "\x1f"  # between a replica's number and a character or conversation id
# score(texts, character_ids, conversation_ids | None, context | None) -> (character ids, n_lines, raw log-odds)
ScoreFn = Callable[[list, list, "list | None", "list | None"], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class SplitLines:
    """The lines of a split as the character scoring reads them: texts, speakers, conversations and context (one
    per line; the last two None where the split has none)."""

    texts: list
    character_ids: np.ndarray
    conversation_ids: list | None = None
    context: list | None = None

    @classmethod
    def of(cls, split: datasets.Dataset) -> SplitLines:
        """The lines of a datasets.Dataset split (``text``, ``character_id``; ``conversation_id``, ``context``)."""
        names = [c for c in ("text", "character_id", "conversation_id", "context") if c in split.column_names]
        columns = split.select_columns(names).to_dict()
        return cls(
            list(columns["text"]),
            np.asarray(columns["character_id"]).astype(str),
            columns.get("conversation_id"),
            columns.get("context"),
        )

    def counts(self, ids: Sequence[str]) -> np.ndarray:
        """The number of lines of each character of ``ids`` in the split."""
        names, counts = np.unique(self.character_ids, return_counts=True)
        return counts[np.searchsorted(names, np.asarray(ids).astype(str))]


def model_scorer(model: Any, batch_size: int = 512) -> ScoreFn:
    """The package's one character scoring path (:func:`movie_gender.inference.characters.score_characters`) of
    ``model`` as a :data:`ScoreFn`: a character model's own estimate (its partners through the conversation ids),
    else the mean log-odds of a character's lines."""

    def score(texts: list, character_ids: list, conversation_ids: list | None, context: list | None) -> tuple:
        lines = CharacterLines(texts, character_ids, conversation_ids, context if model.config.uses_context else None)
        characters = score_characters(model, lines, batch_size=batch_size)
        return characters.ids, characters.n_lines, characters.mean_logit

    return score


def _replica_rows(lines: SplitLines, rows: np.ndarray, partners: bool) -> np.ndarray:
    """The lines a cut character's score needs: its kept ``rows`` and, where partners count, every line of each
    character it talks to in the conversations of those rows (their lines kept as they are)."""
    if not partners or lines.conversation_ids is None:
        return rows
    conversations = np.asarray(lines.conversation_ids).astype(str)
    speaker = lines.character_ids[rows[0]]
    in_kept = np.isin(conversations, np.unique(conversations[rows]))
    others = np.setdiff1d(np.unique(lines.character_ids[in_kept]), [speaker])
    return np.concatenate([rows, np.flatnonzero(np.isin(lines.character_ids, others))])


def cut_scores(
    score: ScoreFn,
    lines: SplitLines,
    characters: Sequence[str],
    sizes: Sequence[int] = SIZES,
    seed: int = 0,
    partners: bool = True,
    draws: int = 1,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{k: (index into characters, raw log-odds)}``: each of ``characters`` with more than k lines, cut ``draws``
    times to k of its lines drawn at random (``seed``), scored by ``score``. Each cut character is scored in a
    replica of its own (ids and conversations renamed) beside its partners' lines, so cutting one character never
    cuts another."""
    rng = np.random.default_rng(seed)
    rows_of = {c: np.flatnonzero(lines.character_ids == c) for c in np.asarray(characters).astype(str)}
    jobs = []  # (size, character index, the replica's rows)
    for index, name in enumerate(np.asarray(characters).astype(str)):
        for k in sizes:
            for _ in range(draws if len(rows_of[name]) > k else 0):
                kept = np.sort(rng.choice(rows_of[name], size=k, replace=False))
                jobs.append((k, index, _replica_rows(lines, kept, partners)))
    out: dict[int, list] = {k: [] for k in sizes}
    start = 0
    while start < len(jobs):
        end, total = start, 0
        while end < len(jobs) and (end == start or total + len(jobs[end][2]) <= CHUNK_LINES):
            total += len(jobs[end][2])
            end += 1
        for (k, index, _), value in zip(jobs[start:end], _score_replicas(score, lines, jobs[start:end]), strict=True):
            out[k].append((index, value))
        start = end
    return {
        k: (np.asarray([i for i, _ in pairs], dtype=np.int64), np.asarray([v for _, v in pairs], dtype=np.float64))
        for k, pairs in out.items()
    }


def _score_replicas(score: ScoreFn, lines: SplitLines, jobs: list) -> list[float]:
    """Score the replicas of ``jobs`` in one call; the raw log-odds of each job's cut character."""
    rows = np.concatenate([job[2] for job in jobs])
    tags = np.concatenate([np.full(len(job[2]), f"{j}{SEPARATOR}") for j, job in enumerate(jobs)])
    ids = np.char.add(tags, lines.character_ids[rows])
    conversations = None
    if lines.conversation_ids is not None:
        conversations = np.char.add(tags, np.asarray(lines.conversation_ids).astype(str)[rows]).tolist()
    context = None if lines.context is None else [lines.context[i] for i in rows]
    names, _, logits = score([lines.texts[i] for i in rows], ids.tolist(), conversations, context)
    where = {str(name): value for name, value in zip(names, np.asarray(logits, dtype=np.float64), strict=True)}
    return [where[f"{j}{SEPARATOR}{lines.character_ids[job[2][0]]}"] for j, job in enumerate(jobs)]


def attach_cut_scores(
    model: Any,
    splits: tuple[datasets.Dataset, datasets.Dataset],
    levels: tuple[dict, dict],
    seed: int = 0,
    batch_size: int = 512,
    score: ScoreFn | None = None,
) -> None:
    """Give the character-level data ``levels`` (from :func:`movie_gender.evaluation.protocol.level_data`) of the
    validation and evaluated ``splits`` what a calibration by size needs: ``n_lines`` of each character and ``cut``:
    ``{k: {"labels", "logits", "index"}}`` of its characters cut to k lines (:func:`cut_scores`; ``FIT_DRAWS``
    draws each on validation, one on the evaluated split). A scorer without a model config (no package character
    scoring) and no ``score`` is left as it is: a plain Platt scaling."""
    validation, evaluated = levels
    validation_split, eval_split = splits
    config = getattr(model, "config", None)
    if score is None and not hasattr(config, "is_character_model"):
        return
    score = score or model_scorer(model, batch_size)
    partners = bool(getattr(config, "is_character_model", True))
    for data, split, draws in ((validation, validation_split, FIT_DRAWS), (evaluated, eval_split, 1)):
        lines = SplitLines.of(split)
        data["n_lines"] = lines.counts(data["ids"])
        cut = cut_scores(score, lines, data["ids"], seed=seed, partners=partners, draws=draws)
        data["cut"] = {
            k: {"labels": np.asarray(data["labels"])[i], "logits": z, "index": i} for k, (i, z) in cut.items()
        }


def _log_loss(labels: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(labels == 1, np.log(p), np.log1p(-p)))) if len(labels) else float("nan")


def _size_entry(
    labels: np.ndarray, raw: np.ndarray, p: np.ndarray, whole_map: np.ndarray, threshold: float, prior: float
) -> dict:
    """One size's record: calibration (ECE, log-loss beside the constant prior's and today's whole-character map's),
    accuracy at ``threshold`` and the reliability bins, raw and calibrated (and the scores, for pooling folds)."""
    predicted = (p >= threshold).astype(np.int64)
    two = len(np.unique(labels)) == 2
    return {
        "n": int(len(labels)),
        "ece_raw": expected_calibration_error(labels, raw),
        "ece": expected_calibration_error(labels, p),
        "ece_noise_floor": ece_noise_floor(p),
        "log_loss": _log_loss(labels, p),
        "prior_log_loss": _log_loss(labels, np.full(len(labels), prior)),
        "share_log_loss": _log_loss(labels, np.full(len(labels), np.mean(labels))) if len(labels) else float("nan"),
        "whole_map_log_loss": _log_loss(labels, whole_map),
        "accuracy": float((predicted == labels).mean()) if len(labels) else float("nan"),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)) if two else float("nan"),
        "roc_auc": float(roc_auc_score(labels, p)) if two else float("nan"),
        "extreme": float(np.mean((p < 0.1) | (p > 0.9))) if len(labels) else float("nan"),
        "binning": BINNING,
        "bins": BINS,
        "reliability": {"raw": reliability(labels, raw), "calibrated": reliability(labels, p)},
        "scores": {"labels": labels.astype(int).tolist(), "p_female": np.round(p, 6).tolist()},
    }


def by_size(validation: dict, evaluated: dict, fitted: dict, threshold: float) -> dict:
    """``{"1": ..., "2": ..., "3": ..., "5": ..., "10": ..., "whole": ...}``: the evaluated characters cut to each
    size and whole, calibrated by the fitted map (``fitted``: its config entry), labelled at ``threshold``.
    The constant prior is the one the calibration shrinks towards (the female share of the run's train and
    validation characters); ``share_log_loss`` is the stricter constant no run can know, the evaluated characters'
    own female share; ``whole_map_log_loss`` is what a Platt scaling fitted on whole validation characters only
    (the calibration before this one) would give."""
    calibration = calibration_for(type("Config", (), {"calibration": {"character": fitted}})(), "character")
    vz = logit(validation["raw"])
    whole_map = fit_platt(vz, validation["labels"])
    prior = float(np.mean(validation["labels"])) if len(validation["labels"]) else 0.5
    if isinstance(calibration, SizeAwarePlatt):  # the constant it shrinks towards
        prior = float(sigmoid(np.asarray(calibration.prior)))
    out = {}
    for k, data in evaluated["cut"].items():
        labels, z = np.asarray(data["labels"], dtype=np.int64), np.asarray(data["logits"])
        p = calibration.probability(z, np.full(len(z), k))
        out[str(k)] = _size_entry(labels, 1 / (1 + np.exp(-z)), p, whole_map.probability(z), threshold, prior)
    labels, z = np.asarray(evaluated["labels"], dtype=np.int64), logit(evaluated["raw"])
    p = calibration.probability(z, evaluated["n_lines"])
    out[WHOLE] = _size_entry(labels, evaluated["raw"], p, whole_map.probability(z), threshold, prior)
    out[WHOLE]["lines"] = {
        "min": int(np.min(evaluated["n_lines"], initial=0)),
        "median": float(np.median(evaluated["n_lines"])) if len(labels) else 0.0,
    }
    return out


def summarise_sizes(reports: Sequence[dict]) -> dict:
    """Cross-validation: per size, the character ECE and log-loss (and the constant prior's) mean and sd over the
    folds' reports, and those of all folds' test characters pooled."""
    out: dict = {}
    for report in reports:
        for size, entry in ((report.get("character") or {}).get("calibration") or {}).get("by_size", {}).items():
            out.setdefault(size, []).append(entry)
    return {size: _pooled(entries) for size, entries in out.items()}


def _pooled(entries: list[dict]) -> dict:
    def mean_sd(key: str) -> dict:
        values = np.asarray([e[key] for e in entries], dtype=np.float64)
        return {"mean": float(np.nanmean(values)), "sd": float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0}

    labels = np.concatenate([np.asarray(e["scores"]["labels"], dtype=np.int64) for e in entries])
    p = np.concatenate([np.asarray(e["scores"]["p_female"], dtype=np.float64) for e in entries])
    prior_loss = float(np.sum([e["prior_log_loss"] * e["n"] for e in entries]) / max(len(labels), 1))
    share_loss = float(np.sum([e.get("share_log_loss", np.nan) * e["n"] for e in entries]) / max(len(labels), 1))
    return {
        "folds": len(entries),
        "ece": mean_sd("ece"),
        "log_loss": mean_sd("log_loss"),
        "prior_log_loss": mean_sd("prior_log_loss"),
        "accuracy": mean_sd("accuracy"),
        "pooled": {
            "n": int(len(labels)),
            "ece": expected_calibration_error(labels, p),
            "ece_noise_floor": ece_noise_floor(p),
            "log_loss": _log_loss(labels, p),
            "prior_log_loss": prior_loss,
            "share_log_loss": share_loss,  # each fold's test characters' own share: the stricter constant
        },
    }


def format_sizes(summary: dict) -> list[str]:
    """The cross-validation's character calibration by size, for the log."""
    rows = []
    for size, e in summary.items():
        pooled = e["pooled"]
        rows.append(
            f"character lines {size:>5}: ECE {e['ece']['mean']:.3f} +- {e['ece']['sd']:.3f} (pooled "
            f"{pooled['ece']:.3f} on {pooled['n']}); log-loss {pooled['log_loss']:.3f} (constant prior "
            f"{pooled['prior_log_loss']:.3f}, the test characters' own share {pooled['share_log_loss']:.3f})"
        )
    return [""] + rows if rows else []


__all__ = [
    "SIZES",
    "WHOLE",
    "ScoreFn",
    "SplitLines",
    "attach_cut_scores",
    "by_size",
    "cut_scores",
    "format_sizes",
    "model_scorer",
    "summarise_sizes",
]
