"""Fetching files by URL into a cache that follows the Hugging Face conventions.

The cache lives in ``$MOVIE_GENDER_CACHE`` or else ``$HF_HOME/movie_gender`` (``~/.cache/huggingface/movie_gender``).
A download is written to ``NAME.incomplete`` and renamed into place only once it is complete and its checksum (if
given) matches, so an interrupted download is never mistaken for a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

from .errors import DownloadError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The folder this package caches downloads and derived files in."""
    env = os.environ.get("MOVIE_GENDER_CACHE")
    if env:
        return Path(env).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "movie_gender"


def is_url(source: str | os.PathLike) -> bool:
    """True for http(s):// and file:// URLs."""
    return isinstance(source, str) and urllib.parse.urlparse(source).scheme in {"http", "https", "file"}


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(path: Path, expected: str | None, origin: str) -> None:
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected.lower():
        raise DownloadError(f"{origin}: sha256 mismatch (expected {expected}, got {actual})")


def fetch(source: str | os.PathLike, *, sha256: str | None = None, cache: Path | None = None) -> Path:
    """Return a local path for ``source`` (a path or an http(s)/file URL), downloading into the cache if needed.

    A cached download is reused without touching the network. ``sha256`` (optional) is checked on every call for
    local files and once, before it is moved into place, for downloads.
    """
    if not is_url(source):
        path = Path(source).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_file():
            _check_sha256(path, sha256, str(path))
        return path

    url = str(source)
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return fetch(Path(urllib.request.url2pathname(parsed.path)), sha256=sha256)

    name = Path(urllib.parse.unquote(parsed.path)).name or "download"
    folder = (cache or cache_dir()) / "downloads" / hashlib.sha256(url.encode()).hexdigest()[:16]
    target = folder / name
    if target.exists():
        logger.info("Using cached download of %s at %s", url, target)
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".incomplete")
    logger.info("Downloading %s to %s", url, target)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {name}") as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and out.tell() != total:
                raise DownloadError(f"{url}: download ended after {out.tell()} of {total} bytes")
        _check_sha256(partial, sha256, url)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, DownloadError):
            raise
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: download failed ({reason})") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    partial = target.with_name(f".{target.name}.{os.getpid()}.incomplete")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
