"""movie-gender: predict the gender of a movie character from one line of dialogue, the Hugging Face way.

The Python API a notebook needs (the ``movie-gender`` command is a thin front end over the same functions)::

    from movie_gender import BiLSTMClassifier, DataOptions, TrainOptions, train_model

    record = train_model(TrainOptions(output="out/model", data=DataOptions(corpus="corpus.zip"), glove="glove.txt.gz"))
    model = BiLSTMClassifier.from_pretrained("out/model")
    model.predict(["I'll be in the car, darling."])

The names load on first use (as transformers does), so ``movie-gender --help`` does not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    # the end-to-end jobs
    "train_model": "hub.model_folder",
    "evaluate_model": "training.pipeline",
    "TrainOptions": "configuration",
    "DataOptions": "configuration",
    "TrainingConfig": "configuration",
    "TrainResult": "training.loop",
    # the steps
    "load_cornell": "data.corpus",
    "build_dataset": "data.dataset",
    "save_dataset": "hub.dataset_folder",
    "train_tokenizer": "data.tokenizer",
    "load_glove": "data.glove",
    # the model
    "BiLSTMConfig": "configuration",
    "BiLSTMClassifier": "hub.classifier",
    "ClassifierOutput": "model.modeling",
    # the Hub
    "push_model": "hub.publish",
    "push_dataset": "hub.publish",
    "load_hub_dataset": "data.dataset",
    "write_model_card": "hub.folder_cards",
    "export_onnx": "hub.export",  # ONNX export (the onnx extra)
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what type checkers and IDEs see
    from movie_gender.configuration import BiLSTMConfig, DataOptions, TrainingConfig, TrainOptions
    from movie_gender.data.corpus import load_cornell
    from movie_gender.data.dataset import build_dataset, load_hub_dataset
    from movie_gender.data.glove import load_glove
    from movie_gender.data.tokenizer import train_tokenizer
    from movie_gender.hub.classifier import BiLSTMClassifier
    from movie_gender.hub.dataset_folder import save_dataset
    from movie_gender.hub.export import export_onnx
    from movie_gender.hub.folder_cards import write_model_card
    from movie_gender.hub.model_folder import train_model
    from movie_gender.hub.publish import push_dataset, push_model
    from movie_gender.model.modeling import ClassifierOutput
    from movie_gender.training.loop import TrainResult
    from movie_gender.training.pipeline import evaluate_model
