"""The train / validation / test DatasetDict: :func:`build_dataset` (the protocol is in
:mod:`movie_gender.data.splitting`), and :func:`load_hub_dataset`, a prepared one read back from its folder or Hub
repo. Saving one with its card is :func:`movie_gender.hub.dataset_folder.save_dataset`.
"""

from __future__ import annotations

import os

import datasets
from huggingface_hub import snapshot_download

from movie_gender.configuration import DEFAULT_URL, DataOptions
from movie_gender.data.splitting import prepare_dataset
from movie_gender.errors import hub_errors

# The files of a dataset folder, as save_dataset writes them and the Hub holds them.
DATASET_PATTERNS = ("README.md", "data/*.parquet")


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
    if os.path.isdir(repo_id_or_path):
        return datasets.load_dataset(str(repo_id_or_path))
    with hub_errors(repo_id_or_path):
        folder = snapshot_download(
            repo_id_or_path,
            repo_type="dataset",
            revision=revision,
            cache_dir=None if cache_dir is None else str(cache_dir),
            token=token,
            allow_patterns=list(DATASET_PATTERNS),
        )
    return datasets.load_dataset(folder)
