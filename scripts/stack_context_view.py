"""An experiment for the character model (docs/character-model.md, "What was tried for the neural stage").

Per fold of ``--cv K`` (the same folds: movies dealt by line count, split seed from the data options): train the
character preset (its convex parts and partner term) and the context preset (a BiLSTM over each line and the
lines around it, trained on line labels), score the validation and test characters of the fold with the
unknown-gender speakers of their movies as partners, give the context model's mean log-odds its own partner term
(fitted on validation, as every scorer's), and mix the two standardised character scores, ``a * character + (1 -
a) * context``, ``a`` chosen on the validation characters' ROC-AUC. Prints one JSON line per fold and the mean
and sd of the test ROC-AUC of each, and of the fixed mix a = 0.5 (not chosen inside the run: shown as a
reference only).

    python scripts/stack_context_view.py --corpus ../shared/data/cornell_movie_dialogs_corpus.sample.zip \\
        --glove ../shared/data/glove.6B.50d.txt.gz
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import roc_auc_score

from movie_gender.configuration import TrainOptions
from movie_gender.data.corpus import read_corpus
from movie_gender.data.splitting import prepare_dataset
from movie_gender.evaluation.partnered import unknown_lines, with_unknown
from movie_gender.inference.characters import CharacterLines, score_characters
from movie_gender.model.partners import fit_partner_term, partner_matrix
from movie_gender.presets import PRESETS
from movie_gender.training import pipeline
from movie_gender.training.crossval import movie_folds

if TYPE_CHECKING:
    import datasets

MIXES = np.linspace(0.0, 1.0, 11)


def _options(preset: str, corpus: str, glove: str, min_lines: int) -> TrainOptions:
    chosen = PRESETS[preset]
    return TrainOptions(
        output="unused",
        data=replace(chosen.data, corpus=corpus),
        glove=glove,
        model=chosen.model,
        training=chosen.training,
        min_lines=min_lines,
        bootstrap=0,
    )


def _views(models: dict, split: datasets.Dataset, min_lines: int) -> dict:
    """Each model's raw character scores of ``split``, its partner matrix and the labels of characters with
    ``min_lines`` lines or more (-1 for the others)."""
    lines = CharacterLines.from_columns(split)
    line_labels = np.asarray(split.select_columns(["label"]).to_dict()["label"])
    out: dict = {}
    for name, model in models.items():
        scores = score_characters(model, lines)
        out[name] = scores.mean_logit
    labels = np.full(len(scores.ids), -1)
    labels[scores.inverse] = line_labels
    out["labels"] = np.where(scores.n_lines >= min_lines, labels, -1)
    out["partners"] = partner_matrix(scores.inverse, lines.conversation_ids, len(scores.ids))
    return out


def _fold(options: dict, dataset: datasets.DatasetDict, unknown: dict | None, min_lines: int) -> dict:
    """Train both presets on one fold and compare the test ROC-AUC of the character model, the partnered context
    model and their mix."""
    models = {
        name: pipeline.fit_model(o, dataset, progress=False, unknown=unknown).model for name, o in options.items()
    }
    splits = with_unknown({"validation": dataset["validation"], "test": dataset["test"]}, unknown)
    v, t = (_views(models, splits[key], min_lines) for key in ("validation", "test"))
    term = fit_partner_term(v["context"], v["partners"], v["labels"])
    for view in (v, t):
        view["context"] = term.apply(view["context"], view["partners"])
    spread = {name: float(np.std(v[name][v["labels"] >= 0])) for name in options}

    def mix(view: dict, a: float) -> np.ndarray:
        return a * view["character"] / spread["character"] + (1 - a) * view["context"] / spread["context"]

    def auc(view: dict, scores: np.ndarray) -> float:
        known = view["labels"] >= 0
        return float(roc_auc_score(view["labels"][known], scores[known]))

    a = float(MIXES[int(np.argmax([auc(v, mix(v, a)) for a in MIXES]))])
    return {
        "mix_weight": a,
        "character": auc(t, t["character"]),
        "context_partners": auc(t, t["context"]),
        "mix": auc(t, mix(t, a)),
        "mix_half": auc(t, mix(t, 0.5)),
        "test_characters": int((t["labels"] >= 0).sum()),
        "validation_characters": int((v["labels"] >= 0).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="the corpus (zip, folder or URL), as for movie-gender train")
    parser.add_argument("--glove", required=True, help="GloVe file, as for movie-gender train")
    parser.add_argument("--folds", type=int, default=5, help="K of the cross-validation by movie (default 5)")
    parser.add_argument("--min-lines", type=int, default=5, help="characters with this many lines are scored")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    options = {name: _options(name, args.corpus, args.glove, args.min_lines) for name in ("character", "context")}
    data = options["character"].data
    everyone, _ = read_corpus(replace(data.reading(), include_unknown=True))
    labels = np.asarray(everyone.select_columns(["label"]).to_dict()["label"])
    corpus = everyone.select(np.flatnonzero(labels >= 0))
    rows = []
    for i, test_movies in enumerate(movie_folds(corpus["movie_id"], args.folds, data.seed), start=1):
        dataset, _ = prepare_dataset(corpus, data, test_movies=test_movies)
        row = {"fold": i, **_fold(options, dataset, unknown_lines(data, dataset, everyone), args.min_lines)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    for key in ("character", "context_partners", "mix", "mix_half"):
        values = np.asarray([row[key] for row in rows])
        print(f"{key}: {values.mean():.3f} +- {values.std(ddof=1):.3f}")
    gain = np.asarray([row["mix"] - row["character"] for row in rows])
    print(f"mix - character: {gain.mean():+.3f} +- {gain.std(ddof=1):.3f}, ahead in {int((gain > 0).sum())} folds")


if __name__ == "__main__":
    main()
