"""Columns of a ``datasets.Dataset`` as Python lists, read in one go.

``split["text"]`` gives a lazy ``datasets`` Column that yields its rows one by one: turning it into a list costs
seconds per hundred thousand lines (about a hundred times what reading the column at once does), and scoring
paths that tokenise whole splits spent a fifth of a training run there. Every stage reads columns through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def read_columns(split: Any, names: Sequence[str]) -> dict[str, list]:
    """The columns ``names`` of a datasets.Dataset (read in one go, not row by row) or of a mapping, as lists."""
    if hasattr(split, "select_columns"):
        return split.select_columns(list(names)).to_dict()
    return {name: list(split[name]) for name in names}


def read_column(split: Any, name: str) -> list:
    """One column of a datasets.Dataset or a mapping, as a list (:func:`read_columns`)."""
    return read_columns(split, [name])[name]


__all__ = ["read_column", "read_columns"]
