"""Where this machine remembers the local corpus and GloVe files a model folder was trained on.

``movie-gender evaluate MODEL`` re-reads the data a model was trained with; metrics.json publishes those sources by
file name only. The local paths are kept in the cache (:func:`movie_gender.data.download.cache_dir`), never inside the
model folder, so a folder uploaded by any means (``hf upload``, ``upload_folder``) carries no local path. An entry is
keyed by the folder's real path and holds a digest of its weights: a folder replaced by another model, or copied
elsewhere, finds no stale entry.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import xxhash

from movie_gender.atomic import atomic_path
from movie_gender.data.download import cache_dir

WEIGHTS = "model.safetensors"


def _entry(folder: str | os.PathLike) -> Path:
    key = xxhash.xxh64(os.path.realpath(folder).encode()).hexdigest()
    return cache_dir() / "local_sources" / f"{key}.json"


def _weights_digest(folder: str | os.PathLike) -> str:
    digest = xxhash.xxh64()
    with open(Path(folder) / WEIGHTS, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def remember_sources(folder: str | os.PathLike, sources: dict[str, str]) -> None:
    """Record ``sources`` (``{"corpus": path, "glove": path}``, absolute local paths) for the model ``folder``."""
    entry = _entry(folder)
    entry.parent.mkdir(parents=True, exist_ok=True)
    record = {"folder": os.path.realpath(folder), "weights_xxh64": _weights_digest(folder), "sources": sources}
    with atomic_path(entry) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n")


def recall_source(model_id: str | os.PathLike, key: str) -> str | None:
    """The local path of ``key`` ("corpus" or "glove") that the model folder ``model_id`` was trained on, as recorded
    on this machine; None for a Hub repo id, an unknown folder, or a folder whose weights have changed since."""
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError, KeyError):
        record = json.loads(_entry(model_id).read_text())
        if record["folder"] == os.path.realpath(model_id) and record["weights_xxh64"] == _weights_digest(model_id):
            return record["sources"].get(key)
    return None


__all__ = ["recall_source", "remember_sources"]
