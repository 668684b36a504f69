"""BiLSTMClassifier: the model users load, predict with, save and push. It is a
:class:`~movie_gender.inference.classifier.BiLSTMPredictor` that carries the record of its training run
(``metrics``: metrics.json) and renders the project's model card from it, the example lines scored by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard
from huggingface_hub.errors import HfHubHTTPError

from movie_gender.atomic import atomic_path
from movie_gender.configuration import BiLSTMConfig
from movie_gender.errors import ModelLoadError
from movie_gender.hub.cards import HUB_METADATA
from movie_gender.hub.folder_cards import scored_card
from movie_gender.inference.classifier import BiLSTMPredictor
from movie_gender.model.persistence import model_file
from movie_gender.training.run_record import RECORD_NAME, RunRecord, as_record


class BiLSTMClassifier(BiLSTMPredictor, **HUB_METADATA):
    """The BiLSTM of :class:`~movie_gender.model.modeling.BiLSTMNetwork` with prediction
    (:class:`~movie_gender.inference.classifier.BiLSTMPredictor`), its run record and its card.

    ``metrics`` (the record of its training run, set by :func:`movie_gender.train_model` in the folder it writes and
    restored by ``from_pretrained``) is what the model card reports; without it ``save_pretrained`` / ``push_to_hub``
    write a short card that says no results exist.
    """

    def __init__(self, config: BiLSTMConfig) -> None:
        super().__init__(config)
        self.metrics: RunRecord | None = None

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write model.safetensors, config.json and tokenizer.json (see :mod:`movie_gender.model.persistence`), and
        metrics.json without local file paths when the model carries its training metrics."""
        super()._save_pretrained(save_directory)
        record = as_record(self.metrics)
        if record:
            with atomic_path(save_directory / RECORD_NAME) as tmp:
                tmp.write_text(record.published().to_json())

    def push_to_hub(self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """huggingface_hub's ``push_to_hub`` (one commit of weights, config, tokenizer, metrics.json and this model's
        card, whose usage snippet names ``repo_id``); ``model_card_kwargs`` may add ``dataset_repo``."""
        return super().push_to_hub(
            repo_id, model_card_kwargs={**(model_card_kwargs or {}), "repo_id": repo_id}, **kwargs
        )

    def generate_model_card(
        self,
        *args: Any,
        repo_id: str | None = None,
        dataset_repo: str | None = None,
        plots: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> ModelCard:
        """The movie-gender card (root ``model_card.md``, :func:`~movie_gender.hub.folder_cards.scored_card`):
        results, baselines, data, training, versions and limits from ``self.metrics``, or a short card saying no
        results are recorded. The mixin's metadata (library, licence, tags, pipeline tag) is the card's metadata."""
        card = scored_card(
            self,
            self.config.to_dict(),
            as_record(self.metrics),
            card_data=super().generate_model_card().data,
            repo_id=repo_id,
            dataset_repo=dataset_repo,
            plots=plots,
            **kwargs,
        )
        return ModelCard(card)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: Any,
        force_download: bool,
        local_files_only: bool,
        token: Any,
        map_location: str = "cpu",
        config: Any = None,
        **model_kwargs: Any,
    ) -> BiLSTMClassifier:
        """The model folder (:meth:`~movie_gender.model.modeling.BiLSTMNetwork._from_pretrained`) with the run
        record beside it."""
        hub_kwargs = dict(
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
        )
        model = super()._from_pretrained(model_id=model_id, map_location=map_location, config=config, **hub_kwargs)
        model.metrics = saved_metrics(model_id, hub_kwargs)
        return model


def saved_metrics(model_id: str, hub_kwargs: dict[str, Any]) -> RunRecord | None:
    """The run record (metrics.json) beside a model (folder or Hub repo), for its card; None when absent or
    unreadable."""
    try:
        return RunRecord.load(model_file(model_id, RECORD_NAME, **hub_kwargs))
    except (ModelLoadError, HfHubHTTPError, OSError, ValueError):
        return None


__all__ = ["BiLSTMClassifier", "saved_metrics"]
