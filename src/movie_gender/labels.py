"""The labelling rule, written once: a model's raw log-odds -> calibrated P(female) -> a label at its threshold.

A model's config holds, per level ("line" or "character"), a Platt scaling (``calibration: {level: {"method",
"scale", "bias", "n"}}``, fitted on validation at training time, see :mod:`movie_gender.evaluation.calibration`) and
a decision threshold on the calibrated scale (``threshold`` for lines, ``character_threshold`` for characters, chosen
on validation). ``predict``, ``predict_characters``, the prediction tables, streaming and the demo all make P(female)
with :func:`calibrated_probability` and label with :func:`is_female`. numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVELS = ("line", "character")
METHOD = "platt"


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), without overflow warnings."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


@dataclass(frozen=True)
class PlattScaling:
    """``P(female) = sigmoid(scale * z + bias)`` for a raw log-odds ``z``; the identity is (1, 0)."""

    scale: float = 1.0
    bias: float = 0.0
    n: int = 0  # the validation examples it was fitted on (0: not fitted)

    def logits(self, z: Sequence[float] | np.ndarray) -> np.ndarray:
        """The calibrated log-odds of raw log-odds ``z``."""
        return self.scale * np.asarray(z, dtype=np.float64) + self.bias

    def probability(self, z: Sequence[float] | np.ndarray) -> np.ndarray:
        """The calibrated P(female) of raw log-odds ``z``."""
        return sigmoid(self.logits(z))

    def to_dict(self) -> dict:
        """The config.json entry: plain JSON numbers."""
        return {"method": METHOD, "scale": float(self.scale), "bias": float(self.bias), "n": int(self.n)}

    @classmethod
    def from_dict(cls, data: Any, where: str = "calibration") -> PlattScaling:
        """The calibration of a config.json entry; a malformed one raises ``ValueError`` naming ``where``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where} must be an object with method, scale and bias, got {data!r:.80}")
        if data.get("method", METHOD) != METHOD:
            raise ValueError(f"{where}.method must be {METHOD!r}, got {data.get('method')!r}")
        values = {}
        for key in ("scale", "bias"):
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{where}.{key} must be a finite number, got {value!r}")
            values[key] = float(value)
        if values["scale"] <= 0:
            raise ValueError(f"{where}.scale must be greater than 0 (an increasing map), got {values['scale']}")
        return cls(values["scale"], values["bias"], int(data.get("n", 0) or 0))


def check_calibration(calibration: Any) -> None:
    """Raise ``ValueError`` (naming the key) unless ``calibration`` is None or ``{level: Platt entry}``."""
    if calibration is None:
        return
    if not isinstance(calibration, Mapping):
        raise ValueError(f"calibration must be an object with 'line' and/or 'character', got {calibration!r:.80}")
    for level, entry in calibration.items():
        if level not in LEVELS:
            raise ValueError(f"calibration has an unknown level {level!r}; expected {' or '.join(LEVELS)}")
        PlattScaling.from_dict(entry, f"calibration.{level}")


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def calibration_for(config: Any, level: str) -> PlattScaling:
    """The calibration of ``level`` in a model's config (the identity when it has none)."""
    _check_level(level)
    entry = (getattr(config, "calibration", None) or {}).get(level)
    return PlattScaling() if entry is None else PlattScaling.from_dict(entry, f"calibration.{level}")


def calibrated_probability(config: Any, level: str, logits: Sequence[float] | np.ndarray) -> np.ndarray:
    """P(female) as users get it: a model's raw log-odds ``logits`` (of lines, or of characters) through the
    calibration its config holds for ``level`` ("line" or "character"); the plain sigmoid for a model without one.
    The one place where predict_proba, predict, predict_characters, the prediction tables and the demo make P."""
    return calibration_for(config, level).probability(logits)


def decision_threshold(config: Any, level: str) -> float:
    """The model's threshold on calibrated P(female) for ``level``: ``threshold`` (lines) or ``character_threshold``
    (characters) of its config, chosen on validation; 0.5 where the config has none."""
    _check_level(level)
    value = getattr(config, "threshold" if level == "line" else "character_threshold", None)
    return 0.5 if value is None else float(value)


def is_female(config: Any, level: str, p_female: Sequence[float] | np.ndarray) -> np.ndarray:
    """The labelling rule, written once: female where the calibrated P(female) is at or above the model's threshold
    for ``level`` (:func:`decision_threshold`). predict, predict_characters, the prediction tables, streaming and the
    demo all label through it."""
    return np.asarray(p_female, dtype=np.float64) >= decision_threshold(config, level)


def label_names(config: Any, female: Sequence[bool] | np.ndarray) -> list[str]:
    """The label of each entry of ``female`` (from :func:`is_female`): ``id2label["1"]`` or ``id2label["0"]``."""
    names = config.id2label
    return [names["1" if value else "0"] for value in female]


__all__ = [
    "LEVELS",
    "METHOD",
    "PlattScaling",
    "calibrated_probability",
    "calibration_for",
    "check_calibration",
    "decision_threshold",
    "is_female",
    "label_names",
    "sigmoid",
]
