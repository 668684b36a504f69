"""A DatasetDict saved as a dataset folder in the Hub layout: parquet shards and the dataset card, in one step."""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from movie_gender.atomic import atomic_folder
from movie_gender.data.splitting import DatasetReport
from movie_gender.hub.dataset_cards import render_dataset_card


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


__all__ = ["save_dataset"]
