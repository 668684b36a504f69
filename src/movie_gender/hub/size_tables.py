"""The character calibration by size as the cards print it: one row per size band (characters cut to 1, 2, 3, 5 and
10 lines, and whole), read from a run record's ``character.calibration.by_size``
(:mod:`movie_gender.evaluation.size_calibration`). The model card and the completed corpus' card both show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from movie_gender.evaluation.plots import plot_name


def _text(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) or value != value else f"{value:.3f}"


def size_rows(calibration: Any) -> list[dict]:
    """``[{"lines", "n", "ece", "floor", "log_loss", "prior_log_loss", "whole_map_log_loss", "accuracy",
    "balanced_accuracy", "plot"}]`` of a character calibration record (a ``Calibration`` part or its JSON object);
    none where it has no ``by_size``."""
    by_size = (
        getattr(calibration, "by_size", None) if not isinstance(calibration, Mapping) else calibration.get("by_size")
    )
    rows = []
    for size, entry in (by_size or {}).items():
        if not isinstance(entry, Mapping) or not entry.get("n"):
            continue
        lines = entry.get("lines") or {}
        rows.append(
            {
                "lines": f"whole (median {lines.get('median', 0):g})" if size == "whole" else str(size),
                "n": f"{entry['n']:,}",
                **{key: _text(entry.get(key)) for key in ("ece", "log_loss", "prior_log_loss", "whole_map_log_loss")},
                "floor": _text(entry.get("ece_noise_floor")),
                "accuracy": _text(entry.get("accuracy")),
                "balanced_accuracy": _text(entry.get("balanced_accuracy")),
                "plot": plot_name("character", str(size)),
            }
        )
    return rows


__all__ = ["size_rows"]
