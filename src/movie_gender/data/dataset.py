"""The train / validation / test DatasetDict: :func:`build_dataset` (the protocol is in
:mod:`movie_gender.data.splitting`), and saving it in the Hub layout with its dataset card
(:func:`movie_gender.hub.dataset_cards.render_dataset_card`).
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from movie_gender.atomic import atomic_folder
from movie_gender.configuration import DEFAULT_URL, DataOptions
from movie_gender.data.splitting import DatasetReport, prepare_dataset
from movie_gender.hub.dataset_cards import render_dataset_card


def build_dataset(
    source: str | os.PathLike | datasets.Dataset = DEFAULT_URL,
    *,
    split: str = DataOptions.split,
    balance: str = DataOptions.balance,
    seed: int = DataOptions.seed,
    validation_size: float = DataOptions.validation_size,
    test_size: float = DataOptions.test_size,
    test_per_class: int = DataOptions.test_per_class,
    drop_overlap: bool = DataOptions.drop_overlap,
    skip_bad_lines: bool = DataOptions.skip_bad_lines,
    sha256: str | None = DataOptions.sha256,
    encoding: str = DataOptions.encoding,
    context_size: int = DataOptions.context_size,
) -> datasets.DatasetDict:
    """Build the train / validation / test DatasetDict with a class-balanced train split.

    Args:
        source: anything :func:`movie_gender.load_cornell` accepts, or an already loaded corpus Dataset.
        split: ``"movie"`` (whole movies in one split only), ``"random"`` (stratified by line) or ``"tutorial"``
            (the first ``test_per_class`` lines of each gender in corpus order are test).
        balance: ``"oversample"`` (RandomOverSampler, the tutorial's choice), ``"undersample"`` or ``"none"``;
            applied to train only, after splitting.
        seed: makes the split and the resampling deterministic.
        validation_size: fraction of the (non-empty) lines for validation.
        test_size: fraction of the (non-empty) lines for test; unused by ``"tutorial"``.
        test_per_class: lines per gender held out by ``split="tutorial"``.
        drop_overlap: drop lines whose normalised text also occurs in a higher-priority split
            (test > validation > train), so "Yes." cannot sit in both train and test.
        skip_bad_lines: count and skip malformed corpus lines instead of stopping (:func:`movie_gender.load_cornell`).
        sha256: the expected sha256 of the corpus file (:func:`movie_gender.load_cornell`).
        encoding: the corpus text encoding (:func:`movie_gender.load_cornell`).
        context_size: the most lines of other speakers in ``context`` before, and again after, each line (passed
            to :func:`movie_gender.load_cornell`; 0: empty context).
    """
    options = DataOptions(
        split=split,
        balance=balance,
        seed=seed,
        validation_size=validation_size,
        test_size=test_size,
        test_per_class=test_per_class,
        drop_overlap=drop_overlap,
        skip_bad_lines=skip_bad_lines,
        sha256=sha256,
        encoding=encoding,
        context_size=context_size,
    )
    return prepare_dataset(source, options)[0]


def save_dataset(dataset: datasets.DatasetDict, output: str | os.PathLike, report: DatasetReport | None = None) -> Path:
    """Write parquet shards (``data/{split}-00000-of-00001.parquet``) and the card (README.md), as on the Hub.

    ``load_dataset(output)`` and ``load_dataset("parquet", data_dir=output)`` then return the same DatasetDict.
    The folder is replaced whole and in one step (written as a temporary sibling, flushed, swapped into place), so
    a reader never finds one build's train beside another build's validation or test; other files in it stay.
    """
    output = Path(output)
    dataset = datasets.DatasetDict({name: part.flatten_indices() for name, part in dataset.items()})
    with atomic_folder(output, replaces=("README.md", "data")) as tmp:
        (tmp / "data").mkdir()
        for name, part in dataset.items():
            part.to_parquet(str(tmp / "data" / f"{name}-00000-of-00001.parquet"))
        (tmp / "README.md").write_text(render_dataset_card(dataset, report), encoding="utf-8")
    return output
