"""The character model's context view: a second network, trained on line labels, that reads each line with the
lines of the other speakers around it (the ``context`` preset's network: a BiLSTM over the line and one over its
context), and whose per-character mean log-odds join the character score.

For a character ``c`` with lines ``i``::

    logit(c) = character(c) + weight * partnered(mean_i view(line_i))

where ``character(c)`` is the character model's own score (its bags and partner term,
:func:`movie_gender.model.character_model.character_logits`) and ``partnered`` is the view's own partner term
(:func:`movie_gender.model.partners.with_partners` with ``partner_weight`` and ``partner_center``). Training
(:mod:`movie_gender.training.context_view`) fits the partner term and ``weight`` on the run's validation characters;
a view whose best weight there is 0 is not kept. The view's weights are saved with the character model's
(``context_view.*`` in model.safetensors), its architecture in config.json (``context_view``), and it encodes with
the character model's tokenizer (both are built from the same train lines).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from movie_gender.configuration import BiLSTMConfig
from movie_gender.model.partners import with_partners

if TYPE_CHECKING:
    from movie_gender.model.modeling import BiLSTMNetwork


@dataclass(frozen=True)
class ContextView:
    """How a character model mixes in its context view (config.json's ``context_view``): the ``weight`` of the
    view's partnered character score, the view's partner term (``partner_weight``, ``partner_center``) and the
    view network's own config (``config``: a :class:`BiLSTMConfig` as a dict)."""

    weight: float
    partner_weight: float
    partner_center: float
    config: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.weight > 0 or self.partner_weight < 0:
            raise ValueError(
                f"context_view: weight must be above 0 and partner_weight 0 or more, got {self.weight} and "
                f"{self.partner_weight}"
            )
        if self.network_config().is_character_model:
            raise ValueError("context_view: the view is a line model (character_pooling none)")

    @classmethod
    def from_dict(cls, data: dict) -> ContextView:
        """The view's settings from config.json; missing or unknown keys are a ``ValueError`` naming them."""
        expected = {"weight", "partner_weight", "partner_center", "config"}
        if not isinstance(data, dict) or set(data) != expected:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"context_view must have the keys {sorted(expected)}, got {got}")
        return cls(float(data["weight"]), float(data["partner_weight"]), float(data["partner_center"]), data["config"])

    def to_dict(self) -> dict:
        """The JSON-ready form config.json holds."""
        return asdict(self)

    def network_config(self) -> BiLSTMConfig:
        """The view network's config."""
        return BiLSTMConfig.from_dict(self.config)

    def mix(self, character: np.ndarray, view_mean: np.ndarray, partners: sparse.csr_matrix | None) -> np.ndarray:
        """The character logits ``character`` plus ``weight`` times the view's partnered per-character mean
        log-odds ``view_mean`` (``partners``: :func:`movie_gender.model.partners.partner_matrix`, None without
        conversation ids: no term)."""
        view = with_partners(view_mean, partners, self.partner_weight, self.partner_center)
        return np.asarray(character, dtype=np.float64) + self.weight * view


def context_view_of(model: Any) -> tuple[ContextView, BiLSTMNetwork] | None:
    """A character model's context view: its settings and its network (holding the character model's tokenizer);
    None for a model without one."""
    settings = getattr(model.config, "context_view", None)
    network = getattr(model, "context_view", None)
    if not settings or network is None:
        return None
    network.tokenizer = model.require_tokenizer()
    return ContextView.from_dict(settings), network


__all__ = ["ContextView", "context_view_of"]
