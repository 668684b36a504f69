"""Model folders on disk and on the Hub: config.json + model.safetensors + tokenizer.json.

Weights load strictly and from safetensors only; a pickle checkpoint is refused, never unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError, LocalEntryNotFoundError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model
from tokenizers import Tokenizer

from movie_gender.atomic import atomic_path
from movie_gender.configuration import CONFIG_NAME, TOKENIZER_NAME, WEIGHTS_NAME, BiLSTMConfig
from movie_gender.data.tokenizer import PAD_TOKEN, UNK_TOKEN
from movie_gender.errors import ModelLoadError, first_line

# What a save replaces in a model folder: the files that describe one model and must not outlive it beside another
# model's weights (card, metrics, plots, exports). Anything else already in the folder is kept.
MODEL_FOLDER_CONTENT = (
    CONFIG_NAME,
    WEIGHTS_NAME,
    TOKENIZER_NAME,
    "README.md",
    "metrics.json",
    "*.png",
    "*.onnx",
    "*.onnx.data",
)
# Weights files of other libraries that would need unpickling: refused, never read.
PICKLE_CHECKPOINTS = ("pytorch_model.bin", "model.pt", "model.pth")
# What huggingface_hub raises where a model cannot be had: from_pretrained turns it into one line (load_error).
HUB_ERRORS = (HfHubHTTPError, LocalEntryNotFoundError, HFValidationError)


def model_file(model_id: str, filename: str, **hub_kwargs: Any) -> str:
    """The local path of ``filename`` in a model folder, or in a Hub repo (downloaded or from the HF cache)."""
    if os.path.isdir(model_id):
        path = os.path.join(model_id, filename)
        if not os.path.isfile(path):
            raise ModelLoadError(f"{model_id}: the model folder has no {filename}")
        return path
    try:
        return hf_hub_download(repo_id=model_id, filename=filename, **hub_kwargs)
    except (EntryNotFoundError, LocalEntryNotFoundError) as error:
        raise ModelLoadError(
            f"{model_id}: could not get {filename} ({type(error).__name__}: {str(error).splitlines()[0]})"
        ) from None


def save_model_folder(model: Any, save_directory: Path) -> None:
    """Write model.safetensors, config.json and tokenizer.json into ``save_directory`` (the temporary folder that
    ``BiLSTMNetwork.save_pretrained`` then swaps into place whole)."""
    tokenizer = model.require_tokenizer()
    with atomic_path(save_directory / WEIGHTS_NAME) as tmp:
        save_model(model, str(tmp), metadata={"format": "pt"})
    with atomic_path(save_directory / TOKENIZER_NAME) as tmp:
        tokenizer.save(str(tmp))
    with atomic_path(save_directory / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(model.config.to_dict(), indent=2, sort_keys=True) + "\n")


def check_model_path(name: str) -> None:
    """Raise :class:`ModelLoadError` when ``name`` looks like a path (absolute, relative, or with more than one
    slash) but is no folder: such a name is never a Hub repo id."""
    looks_like_path = os.path.isabs(name) or name.startswith(".") or name.count("/") > 1 or os.path.exists(name)
    if looks_like_path and not os.path.isdir(name):
        raise ModelLoadError(f"{name}: no such model folder")


def load_error(name: str, error: Exception) -> ModelLoadError:
    """The one-line :class:`ModelLoadError` for a Hub error (one of :data:`HUB_ERRORS`) raised loading ``name``."""
    where = "" if os.path.isdir(name) else ": no such model folder, and no reachable Hub repo of that name"
    return ModelLoadError(f"{name}: cannot load the model{where} ({type(error).__name__}: {first_line(error)})")


def load_pretrained(cls: type, model_id: str, config: Any, hub_kwargs: dict, map_location: str = "cpu") -> Any:
    """``cls`` loaded from a model folder or Hub repo (:func:`load_model_folder`), with the Hub's own error where
    config.json cannot be had."""
    if config is None and not os.path.isdir(model_id):
        # huggingface_hub < 1.0 swallows a failed config.json download: ask again, so that the Hub's own error
        # (offline and not cached, no such repo or revision) reaches from_pretrained's one-line message.
        hf_hub_download(model_id, CONFIG_NAME, **hub_kwargs)
    return load_model_folder(cls, model_id, config, hub_kwargs, map_location)


def _weights_file(model_id: str, hub_kwargs: dict) -> str:
    """The path of model.safetensors; a folder holding only a pickle checkpoint is refused, saying so."""
    try:
        return model_file(model_id, WEIGHTS_NAME, **hub_kwargs)
    except ModelLoadError:
        local = os.path.isdir(model_id)
        if local and any(os.path.exists(os.path.join(model_id, n)) for n in PICKLE_CHECKPOINTS):
            raise ModelLoadError(
                f"{model_id}: only a pickle checkpoint is present; movie-gender loads weights from "
                f"{WEIGHTS_NAME} only and never unpickles files"
            ) from None
        raise


def _load_weights(model: Any, weights_file: str, map_location: str) -> None:
    """Load ``weights_file`` into ``model`` strictly: the same names and shapes as the config implies."""
    try:
        state = load_file(weights_file, device=map_location)
    except (SafetensorError, OSError) as error:
        raise ModelLoadError(f"{weights_file}: not a readable safetensors file ({error})") from None
    missing = sorted(set(model.state_dict()) - set(state))
    unexpected = sorted(set(state) - set(model.state_dict()))
    if missing or unexpected:
        raise ModelLoadError(
            f"{weights_file}: weights do not match {CONFIG_NAME}: missing {missing or 'none'}, "
            f"unexpected {unexpected or 'none'}"
        )
    for name, tensor in model.state_dict().items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ModelLoadError(
                f"{weights_file}: {name} has shape {tuple(state[name].shape)} but {CONFIG_NAME} "
                f"implies {tuple(tensor.shape)}"
            )
    model.load_state_dict(state, strict=True)


def _load_tokenizer(tokenizer_file: str, config: BiLSTMConfig) -> Tokenizer:
    """The tokenizer of ``tokenizer_file``, checked against the config (vocabulary size, [PAD] and [UNK] ids)."""
    try:
        tokenizer = Tokenizer.from_file(tokenizer_file)
    except Exception as error:  # tokenizers raises a bare Exception on bad JSON
        raise ModelLoadError(f"{tokenizer_file}: not a readable tokenizer ({error})") from None
    if tokenizer.get_vocab_size() != config.vocab_size:
        raise ModelLoadError(
            f"{tokenizer_file}: vocabulary of {tokenizer.get_vocab_size()} tokens, but "
            f"{CONFIG_NAME} says vocab_size={config.vocab_size}"
        )
    for token, expected in ((PAD_TOKEN, config.pad_token_id), (UNK_TOKEN, config.unk_token_id)):
        if tokenizer.token_to_id(token) != expected:
            raise ModelLoadError(
                f"{tokenizer_file}: {token} has id {tokenizer.token_to_id(token)}, but {CONFIG_NAME} says {expected}"
            )
    return tokenizer


def load_model_folder(cls: type, model_id: str, config: Any, hub_kwargs: dict, map_location: str = "cpu") -> Any:
    """Build ``cls(config)`` and load its weights and tokenizer strictly from a model folder or Hub repo."""
    if config is None:
        raise ModelLoadError(f"{model_id}: no {CONFIG_NAME}; is this a movie-gender model?")
    try:
        config = config if isinstance(config, BiLSTMConfig) else BiLSTMConfig.from_dict(config)
        model = cls(config)
    except (TypeError, ValueError) as error:
        raise ModelLoadError(
            f"{model_id}: {CONFIG_NAME} is not a valid movie-gender config: {first_line(error)}"
        ) from None
    weights_file = _weights_file(model_id, hub_kwargs)
    tokenizer_file = model_file(model_id, TOKENIZER_NAME, **hub_kwargs)
    _load_weights(model, weights_file, map_location)
    model.tokenizer = _load_tokenizer(tokenizer_file, config)
    model.to(map_location)
    model.eval()
    return model
