"""Downloads and the cache: checksums given later are checked, concurrent downloads never mix, a truncated archive
is never kept, and nothing published names a local path."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from movie_gender.data import download
from movie_gender.data.download import fetch, public_source
from movie_gender.errors import DownloadError


def _serve(payload: bytes, *, content_length: bool = True, cut: int | None = None, chunk_delay: float = 0.0):
    """A real HTTP server on 127.0.0.1 serving ``payload`` (optionally cut short, optionally slowly, with or without a
    Content-Length header); returns (server, base URL, list of requests)."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            requests.append(self.path)
            body = payload[:cut] if cut is not None else payload
            self.send_response(200)
            if content_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), 16_384):
                self.wfile.write(body[start : start + 16_384])
                self.wfile.flush()
                time.sleep(chunk_delay)
            self.close_connection = True

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", requests


@pytest.fixture
def served(request):
    servers = []

    def start(payload: bytes, **kwargs):
        server, base, requests = _serve(payload, **kwargs)
        servers.append(server)
        return base, requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_cached_download_is_checked_against_a_checksum_given_later(served, corpus_zip: Path) -> None:
    payload = corpus_zip.read_bytes()
    base, requests = served(payload)
    cached = fetch(f"{base}/corpus.zip")  # cached without a checksum
    with pytest.raises(DownloadError, match="corpus.zip: sha256 mismatch"):
        fetch(f"{base}/corpus.zip", sha256="0" * 64)
    assert len(requests) == 2  # the cached file did not match, so it was fetched again, and that did not match
    assert not cached.exists()  # a file known not to match is not kept
    good = hashlib.sha256(payload).hexdigest()
    assert fetch(f"{base}/corpus.zip", sha256=good).read_bytes() == payload


def test_a_verified_checksum_is_recorded_not_hashed_again(served, corpus_zip: Path, monkeypatch) -> None:
    payload = corpus_zip.read_bytes()
    base, requests = served(payload)
    good = hashlib.sha256(payload).hexdigest()
    cached = fetch(f"{base}/corpus.zip", sha256=good)

    def no_hashing(path):
        raise AssertionError("re-hashed a cached file whose checksum was recorded")

    monkeypatch.setattr(download, "sha256_of", no_hashing)
    assert fetch(f"{base}/corpus.zip", sha256=good) == cached
    monkeypatch.undo()
    cached.write_bytes(b"x" * len(payload))  # changed behind the cache's back: hashed again, found bad, re-fetched
    assert fetch(f"{base}/corpus.zip", sha256=good).read_bytes() == payload and len(requests) == 2


@pytest.mark.parametrize("kind", ["zip", "gzip"])
def test_a_truncated_archive_without_content_length_is_never_kept(
    served, corpus_zip: Path, kind: str, _isolated_cache: Path
) -> None:
    payload = corpus_zip.read_bytes() if kind == "zip" else gzip.compress(os.urandom(200_000))
    base, _ = served(payload, content_length=False, cut=len(payload) - 100)
    name = "corpus.zip" if kind == "zip" else "glove.txt.gz"
    with pytest.raises(DownloadError, match=f"{name}: the download is not a complete {kind} file"):
        fetch(f"{base}/{name}")
    assert not [p for p in _isolated_cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


CHILD = "import sys; from movie_gender.data.download import fetch; print(fetch(sys.argv[1], sha256=sys.argv[2]))"


def test_two_processes_downloading_one_url_download_it_once(served, tmp_path: Path) -> None:
    payload = os.urandom(400_000)
    import zipfile

    with zipfile.ZipFile(tmp_path / "big.zip", "w") as archive:
        archive.writestr("vectors.txt", payload)
    payload = (tmp_path / "big.zip").read_bytes()
    base, requests = served(payload, chunk_delay=0.15)  # ~4 s: the second process starts while the first downloads
    url, digest = f"{base}/big.zip", hashlib.sha256(payload).hexdigest()
    env = {**os.environ, "MOVIE_GENDER_CACHE": str(tmp_path / "shared-cache")}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, digest],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=300) for child in children]
    for child, (_out, err) in zip(children, outputs, strict=False):
        assert child.returncode == 0, err[-2000:]
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1 and Path(paths.pop()).read_bytes() == payload
    assert len(requests) == 1  # the second waited for the first and used its file
    leftovers = [p.name for p in (tmp_path / "shared-cache").rglob("*") if "incomplete" in p.name]
    assert not leftovers


def test_published_sources_are_names_or_urls_never_local_paths() -> None:
    assert public_source("/home/someone/data/cornell_movie_dialogs_corpus.zip") == "cornell_movie_dialogs_corpus.zip"
    assert public_source("file:///home/someone/glove.6B.zip") == "glove.6B.zip"
    assert public_source("../data/corpus-folder/") == "corpus-folder"
    assert public_source("https://nlp.stanford.edu/data/glove.6B.zip") == "https://nlp.stanford.edu/data/glove.6B.zip"
