"""movie-gender: predict the gender of a movie character from one line of dialogue, the Hugging Face way.

The Python API a notebook needs (the ``movie-gender`` command is a thin front end over the same functions)::

    from movie_gender import BiLSTMClassifier, DataOptions, TrainOptions, train_model

    metrics = train_model(TrainOptions(output="out/model", data=DataOptions(corpus="corpus.zip"), glove="glove.txt.gz"))
    model = BiLSTMClassifier.from_pretrained("out/model")
    model.predict(["I'll be in the car, darling."])
"""

from __future__ import annotations

__version__ = "0.1.0"

from .configuration import BiLSTMConfig, DataOptions, TrainingConfig, TrainOptions
from .corpus import load_cornell
from .dataset import build_dataset, save_dataset
from .glove import load_glove
from .hub import load_hub_dataset, push_dataset, push_model, write_model_card
from .modeling import BiLSTMClassifier, ClassifierOutput
from .pipeline import evaluate_model, train_model
from .tokenizer import train_tokenizer
from .training import TrainResult

__all__ = [
    "__version__",
    # the end-to-end jobs
    "train_model", "evaluate_model", "TrainOptions", "DataOptions", "TrainingConfig", "TrainResult",
    # the steps
    "load_cornell", "build_dataset", "save_dataset", "train_tokenizer", "load_glove",
    # the model
    "BiLSTMConfig", "BiLSTMClassifier", "ClassifierOutput",
    # the Hub
    "push_model", "push_dataset", "load_hub_dataset", "write_model_card",
]
