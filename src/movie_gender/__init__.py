"""movie-gender: predict the gender of a movie character from one line of dialogue, the Hugging Face way."""

from .corpus import load_cornell
from .dataset import build_dataset, save_dataset
from .export import export_onnx as export_onnx
from .glove import load_glove
from .modeling import BiLSTMClassifier, BiLSTMConfig
from .tokenizer import train_tokenizer

__all__ = ["load_cornell", "build_dataset", "save_dataset", "train_tokenizer", "load_glove", "BiLSTMConfig",
           "BiLSTMClassifier"]
__version__ = "0.1.0"
