"""Cross-validation by movie: the folds, and `train --cv K` end to end on a tiny synthetic corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from movie_gender.training.crossval import ablation, movie_folds, summarise
from tests.factories import FEMALE_WORDS, MALE_WORDS, SHARED_WORDS, synthetic_corpus, write_corpus_folder, write_glove

ROOT = Path(__file__).resolve().parents[1]


def test_movie_folds_are_disjoint_complete_and_balanced() -> None:
    movies = [f"m{i}" for i in range(23) for _ in range(10 + i % 4)]
    folds = movie_folds(movies, 5, seed=1)
    flat = [m for fold in folds for m in fold]
    assert len(flat) == len(set(flat)) == 23
    lines = [sum(movies.count(m) for m in fold) for fold in folds]
    assert max(lines) - min(lines) <= 13  # at most about one movie apart
    assert movie_folds(movies, 5, seed=1) == folds and movie_folds(movies, 5, seed=2) != folds
    with pytest.raises(ValueError, match="at least 7 movies"):
        movie_folds(movies[:40], 5, seed=0)


def test_summary_is_mean_and_sample_sd_over_folds() -> None:
    folds = [
        {
            "line": {
                "model": {m: v for m in ("roc_auc", "average_precision", "balanced_accuracy", "macro_f1", "accuracy")},
                "difference": {"tfidf_logreg": {"roc_auc": v - 0.6, "balanced_accuracy": 0.0}},
            }
        }
        for v in (0.6, 0.7, 0.8)
    ]
    summary = summarise(folds)
    assert summary["line"]["model"]["roc_auc"]["mean"] == pytest.approx(0.7)
    assert summary["line"]["model"]["roc_auc"]["sd"] == pytest.approx(np.std([0.6, 0.7, 0.8], ddof=1))
    assert summary["line"]["difference"]["tfidf_logreg"]["roc_auc"]["mean"] == pytest.approx(0.1)


def test_train_cv_writes_cv_json_and_a_plot(tmp_path: Path) -> None:
    corpus = write_corpus_folder(tmp_path / "c", *synthetic_corpus(n_movies=9, lines_per_character=12, seed=2))
    words = ["the", ".", "!", "?"] + SHARED_WORDS[1:] + MALE_WORDS + FEMALE_WORDS
    glove = write_glove(tmp_path / "glove.tiny.8d.txt", words)
    out = tmp_path / "cv"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            "--cv",
            "3",
            "--corpus",
            str(corpus),
            "--glove",
            str(glove),
            "--output",
            str(out),
            "--epochs",
            "1",
            "--hidden-size",
            "8",
            "--batch-size",
            "32",
            "--min-lines",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == {"cv.json", "cv_scores.png"}  # no model folder
    assert (out / "cv_scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cv = json.loads((out / "cv.json").read_text())
    assert cv["k"] == 3 and len(cv["folds"]) == 3
    tested = [m for fold in cv["folds"] for m in fold["test_movies"]]
    assert sorted(tested) == sorted(f"m{i}" for i in range(9))  # every movie tested exactly once
    for level in ("line", "character"):
        for scorer in ("model", "always_male", "tfidf_logreg", "glove_mean_logreg"):
            auc = cv["summary"][level][scorer]["roc_auc"]
            assert set(auc) == {"mean", "sd"}
            assert auc["mean"] == pytest.approx(np.mean([f[level][scorer]["roc_auc"] for f in cv["folds"]]))
            assert 0 <= cv["pooled"][level][scorer]["roc_auc"] <= 1
    assert cv["summary"]["line"]["always_male"]["roc_auc"] == {"mean": 0.5, "sd": 0.0}
    assert cv["pooled"]["line"]["model"]["n"] == sum(sum(f["class_counts"]["test"].values()) for f in cv["folds"])
    assert "Cross-validation, 3 folds by movie" in result.stderr


def test_the_ablation_pairs_the_model_with_its_convex_parts_and_the_best_partnered_baseline_fold_by_fold() -> None:
    def fold(model: float, convex: float, convex_partners: float, tfidf: float, doc: float) -> dict:
        names = {
            "model": model,
            "convex": convex,
            "convex_partners": convex_partners,
            "tfidf_logreg_partners": tfidf,
            "tfidf_character_logreg_partners": doc,
        }
        return {"character": {**{n: {"roc_auc": v} for n, v in names.items()}, "difference": {}}}

    cv = {"folds": [fold(0.80, 0.70, 0.78, 0.75, 0.79), fold(0.90, 0.85, 0.91, 0.80, 0.70)]}
    result = ablation(cv)
    assert result["model"]["mean"] == pytest.approx(0.85)
    assert result["convex_partners"]["mean"] == pytest.approx(0.845)
    assert result["model_minus_convex_partners"]["mean"] == pytest.approx(0.005)
    assert result["model_minus_convex_partners"]["folds_ahead"] == 1
    assert result["best_partnered_baseline"] == "tfidf_logreg_partners"  # the best mean: 0.775 against 0.745
    assert result["model_minus_best_partnered_baseline"]["folds_ahead"] == 2
    assert ablation({"folds": [{"character": {"model": {"roc_auc": 0.8}, "difference": {}}}]}) == {}
    assert "validation_lines" not in result  # no fold recorded its parts' validation lines


def test_the_ablation_reports_the_line_level_parts_on_each_folds_validation_lines() -> None:
    def fold(bags: float, view: float | None) -> dict:
        names = ("model", "convex", "convex_partners")
        chosen: dict = {"line_bags_validation_auc": bags}
        if view is not None:
            chosen["context_view"] = {"share": 0.6, "line_validation_auc": view}
        return {
            "character": {**{n: {"roc_auc": 0.8} for n in names}, "difference": {}},
            "choices": {"model": chosen, "partner_terms": {}},
        }

    lines = ablation({"folds": [fold(0.62, 0.60), fold(0.64, None), fold(0.63, 0.58)]})["validation_lines"]
    assert lines["line_bags"]["folds"] == [0.62, 0.64, 0.63]
    assert lines["line_bags"]["mean"] == pytest.approx(0.63)
    assert lines["context_view"]["folds"] == [0.60, 0.58]  # a fold trained without a view recorded none
