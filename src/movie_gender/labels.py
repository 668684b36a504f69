"""The labelling rule, written once: a model's raw log-odds -> calibrated P(female) -> a label at its threshold.

A model's config holds, per level ("line" or "character"), a Platt scaling (``calibration: {level: {"method",
"scale", "bias", "n"}}``, fitted on validation at training time, see :mod:`movie_gender.evaluation.calibration`) and
a decision threshold on the calibrated scale (``threshold`` for lines, ``character_threshold`` for characters, chosen
on validation). ``predict``, ``predict_characters``, the prediction tables, streaming and the demo all make P(female)
with :func:`calibrated_probability` and label with :func:`is_female`. numpy only.

A character's calibration may depend on the number of lines its score rests on (``"method": "platt_by_size"``,
:class:`SizeAwarePlatt`, fitted on validation characters cut to a few lines as well as whole, see
:mod:`movie_gender.evaluation.size_calibration`): one line says little, so its probability is shrunk towards the
prior, a character with a hundred lines hardly. Older configs (plain ``"platt"``) behave as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVELS = ("line", "character")
METHOD = "platt"
SIZE_METHOD = "platt_by_size"


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

    def probability(
        self, z: Sequence[float] | np.ndarray, n_lines: Sequence[int] | np.ndarray | None = None
    ) -> np.ndarray:
        """The calibrated P(female) of raw log-odds ``z`` (``n_lines`` plays no part in this map)."""
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


def _number(data: Mapping, key: str, where: str, positive: bool = False) -> float:
    """``data[key]`` as a finite float (greater than 0 where ``positive``), else ``ValueError`` naming ``where.key``."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}.{key} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{where}.{key} must be greater than 0 (an increasing map), got {value}")
    return float(value)


@dataclass(frozen=True)
class SizeAwarePlatt:
    """Platt scaling shrunk towards the prior for characters with few lines: ``P(female) = sigmoid(prior + r(n) *
    (scale * z + bias - prior))`` with ``r(n) = n^power / (n^power + half_lines^power)``, ``n`` the lines the
    character's score rests on. ``(scale, bias)``: the Platt scaling of whole characters; ``prior``: the log-odds of
    the share of female characters; at ``half_lines`` lines a character's calibrated log-odds are half way from the
    prior to the whole map, and ``power`` says how fast the way is made (1: ``n / (n + half_lines)``; more: one or
    two lines stay nearer the prior). ``scale > 0`` and ``r > 0``: for every ``n`` the map is increasing in ``z``."""

    scale: float = 1.0
    bias: float = 0.0
    prior: float = 0.0
    half_lines: float = 0.0
    n: int = 0  # the whole validation characters of the map (their cuts fitted half_lines too)
    power: float = 1.0  # a config.json without it (written before it existed) means 1

    def logits(self, z: Sequence[float] | np.ndarray, n_lines: Sequence[int] | np.ndarray | None) -> np.ndarray:
        """The calibrated log-odds of raw log-odds ``z`` of characters with ``n_lines`` lines each."""
        if n_lines is None:
            raise ValueError(
                "this model's character calibration depends on the number of lines of each character: "
                "pass n_lines (one count per character score)"
            )
        z = np.asarray(z, dtype=np.float64)
        n = np.maximum(np.asarray(n_lines, dtype=np.float64), 1.0)
        if n.shape != z.shape:
            raise ValueError(f"got {z.size} character scores but {n.size} line counts")
        reach = n**self.power / (n**self.power + self.half_lines**self.power)
        return self.prior + reach * (self.scale * z + self.bias - self.prior)

    def probability(self, z: Sequence[float] | np.ndarray, n_lines: Sequence[int] | np.ndarray | None) -> np.ndarray:
        """The calibrated P(female) of raw log-odds ``z`` of characters with ``n_lines`` lines each."""
        return sigmoid(self.logits(z, n_lines))

    def to_dict(self) -> dict:
        """The config.json entry: plain JSON numbers."""
        values = {key: float(getattr(self, key)) for key in ("scale", "bias", "prior", "half_lines", "power")}
        return {"method": SIZE_METHOD, **values, "n": int(self.n)}

    @classmethod
    def from_dict(cls, data: Mapping, where: str = "calibration") -> SizeAwarePlatt:
        """The calibration of a config.json entry; a malformed one raises ``ValueError`` naming ``where``."""
        values = {key: _number(data, key, where) for key in ("scale", "bias", "prior", "half_lines")}
        if values["scale"] <= 0:
            raise ValueError(f"{where}.scale must be greater than 0 (an increasing map), got {values['scale']}")
        if values["half_lines"] < 0:
            raise ValueError(f"{where}.half_lines must be at least 0, got {values['half_lines']}")
        power = _number(data, "power", where, positive=True) if "power" in data else 1.0
        return cls(**values, n=int(data.get("n", 0) or 0), power=power)


LevelCalibration = PlattScaling | SizeAwarePlatt


def read_calibration(data: Any, where: str = "calibration") -> LevelCalibration:
    """A level's calibration from its config.json entry: Platt scaling, or Platt scaling by size
    (``"method": "platt_by_size"``); a malformed one raises ``ValueError`` naming ``where``."""
    if isinstance(data, Mapping) and data.get("method") == SIZE_METHOD:
        return SizeAwarePlatt.from_dict(data, where)
    return PlattScaling.from_dict(data, where)


def check_calibration(calibration: Any) -> None:
    """Raise ``ValueError`` (naming the key) unless ``calibration`` is None or ``{level: Platt entry}``."""
    if calibration is None:
        return
    if not isinstance(calibration, Mapping):
        raise ValueError(f"calibration must be an object with 'line' and/or 'character', got {calibration!r:.80}")
    for level, entry in calibration.items():
        if level not in LEVELS:
            raise ValueError(f"calibration has an unknown level {level!r}; expected {' or '.join(LEVELS)}")
        read_calibration(entry, f"calibration.{level}")


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def calibration_for(config: Any, level: str) -> LevelCalibration:
    """The calibration of ``level`` in a model's config (the identity when it has none)."""
    _check_level(level)
    entry = (getattr(config, "calibration", None) or {}).get(level)
    return PlattScaling() if entry is None else read_calibration(entry, f"calibration.{level}")


def calibrated_probability(
    config: Any,
    level: str,
    logits: Sequence[float] | np.ndarray,
    n_lines: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """P(female) as users get it: a model's raw log-odds ``logits`` (of lines, or of characters) through the
    calibration its config holds for ``level`` ("line" or "character"); the plain sigmoid for a model without one.
    ``n_lines``: for characters, the number of lines each score rests on (a calibration by size needs it and refuses
    without it; a plain Platt scaling ignores it). The one place where predict_proba, predict, predict_characters,
    the prediction tables and the demo make P."""
    return calibration_for(config, level).probability(logits, n_lines)


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
    "SIZE_METHOD",
    "SizeAwarePlatt",
    "calibrated_probability",
    "calibration_for",
    "check_calibration",
    "decision_threshold",
    "is_female",
    "label_names",
    "read_calibration",
    "sigmoid",
]
