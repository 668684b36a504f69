"""Fixtures: small synthetic corpora and GloVe files written in the exact upstream formats, and the real sample data."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# After the offline flags: datasets reads them when first imported.
from tests.factories import (  # noqa: E402
    FEMALE_WORDS,
    GLOVE_50D,
    MALE_WORDS,
    SAMPLE_ZIP,
    SHARED_WORDS,
    synthetic_corpus,
    synthetic_dialogues,
    write_corpus_folder,
    write_glove,
    zip_folder,
)


@pytest.fixture
def corpus_files(tmp_path: Path) -> tuple[list[str], list[str]]:
    return synthetic_corpus()


@pytest.fixture
def corpus_folder(tmp_path: Path, corpus_files) -> Path:
    return write_corpus_folder(tmp_path / "extracted", *corpus_files)


@pytest.fixture
def dialogue_files() -> tuple[list[str], list[str], list[str]]:
    return synthetic_dialogues()


@pytest.fixture
def dialogue_folder(tmp_path: Path, dialogue_files) -> Path:
    """A corpus folder with movie_conversations.txt."""
    return write_corpus_folder(tmp_path / "dialogues", *dialogue_files)


@pytest.fixture
def corpus_zip(tmp_path: Path, corpus_folder: Path) -> Path:
    return zip_folder(corpus_folder, tmp_path / "cornell_movie_dialogs_corpus.zip")


@pytest.fixture
def sample_zip() -> Path:
    if not SAMPLE_ZIP.exists():
        pytest.skip(
            f"the real sample corpus is not at {SAMPLE_ZIP} (it is in ../shared/data in the project's checkout and CI)"
        )
    return SAMPLE_ZIP


@pytest.fixture
def glove_50d() -> Path:
    if not GLOVE_50D.exists():
        pytest.skip(
            f"the real GloVe file is not at {GLOVE_50D} (it is in ../shared/data in the project's checkout and CI)"
        )
    return GLOVE_50D


@pytest.fixture
def glove_words() -> list[str]:
    return ["the", ".", ",", "!", "?", "..."] + SHARED_WORDS[1:] + MALE_WORDS + FEMALE_WORDS[:-2] + ["king", "queen"]


@pytest.fixture
def glove_txt(tmp_path: Path, glove_words) -> Path:
    return write_glove(tmp_path / "glove.tiny.8d.txt", glove_words)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def http_server(tmp_path: Path):
    """A real HTTP server on 127.0.0.1 serving the folder ``tmp_path / 'www'``; yields (base_url, folder, requests)."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, server.requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own download/GloVe cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MOVIE_GENDER_CACHE", str(cache))
    return cache
