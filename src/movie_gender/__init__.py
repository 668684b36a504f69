"""movie-gender: predict the gender of a movie character from one line of dialogue, the Hugging Face way."""

from .corpus import load_cornell
from .dataset import build_dataset, save_dataset

__all__ = ["load_cornell", "build_dataset", "save_dataset"]
__version__ = "0.1.0"
