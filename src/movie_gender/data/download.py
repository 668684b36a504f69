"""Fetching files by URL into a cache that follows the Hugging Face conventions.

The cache lives in ``$MOVIE_GENDER_CACHE`` or else ``$HF_HOME/movie_gender`` (``~/.cache/huggingface/movie_gender``).
A download is written under a name of its own process (``.NAME.PID.RANDOM.incomplete``), while a lock beside it
keeps other processes from downloading the same URL at once, and renamed into place only once it is complete, its
checksum (if given) matches and, for a zip or gzip file, the archive reads to its end; so an interrupted or truncated
download is never mistaken for a finished one.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
import zlib
from pathlib import Path

from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from movie_gender.atomic import atomic_path
from movie_gender.errors import DownloadError, first_line

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


def _record_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.sha256.json")


def _record(target: Path, digest: str) -> None:
    """Remember a cached file's checksum with its size and modification time, so it is not hashed again."""
    stat = target.stat()
    with atomic_path(_record_path(target)) as tmp:
        tmp.write_text(json.dumps({"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))


def _recorded_sha256(target: Path) -> str | None:
    """The recorded checksum of ``target``, if the file has not changed since it was recorded."""
    try:
        record = json.loads(_record_path(target).read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return None
    if record.get("size") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
        return None
    return record.get("sha256")


def _cached_matches(target: Path, expected: str) -> bool:
    """Whether a cached download has the checksum ``expected`` (hashed once, then recorded)."""
    actual = _recorded_sha256(target)
    if actual is None:
        actual = sha256_of(target)
        _record(target, actual)
    return actual == expected.lower()


def check_archive(path: Path, origin: str) -> None:
    """Raise DownloadError unless a zip (central directory) or gzip (whole stream) file is complete; other files
    pass. The kind is read from the file's first bytes, not from what a server said."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    try:
        if magic.startswith(b"PK"):
            with zipfile.ZipFile(path) as archive:
                archive.infolist()
        elif magic.startswith(b"\x1f\x8b"):
            with gzip.open(path, "rb") as stream:
                while stream.read(_CHUNK):
                    pass
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        kind = "zip" if magic.startswith(b"PK") else "gzip"
        raise DownloadError(
            f"{origin}: the download is not a complete {kind} file ({first_line(error)}); it was not kept, try again"
        ) from None


def fetch(source: str | os.PathLike, *, sha256: str | None = None, cache: Path | None = None) -> Path:
    """Return a local path for ``source`` (a path or an http(s)/file URL), downloading into the cache if needed.

    A cached download is reused without touching the network. ``sha256`` (optional) is checked on every call for
    local files; for downloads before the file is moved into place and, for a cached one, against the checksum
    recorded when it was cached (a cached file that does not match is downloaded again). One process downloads a
    URL at a time (a lock beside the file); others wait and then use the cached file.
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
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f".{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("Waiting for another process downloading %s", url)
        lock.acquire()
    try:
        if target.exists():
            if sha256 is None or _cached_matches(target, sha256):
                logger.info("Using cached download of %s at %s", url, target)
                return target
            logger.warning(
                "The cached download of %s at %s does not match the sha256 given; downloading it again", url, target
            )
            target.unlink()
        _download(url, target, sha256)
        return target
    finally:
        lock.release()


def _download(url: str, target: Path, sha256: str | None) -> None:
    """Download ``url`` under a temporary name of this process, check it, record its checksum, rename it into
    place."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.incomplete")
    logger.info("Downloading %s to %s", url, target)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {target.name}") as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            if total is not None and out.tell() != total:
                raise DownloadError(f"{url}: download ended after {out.tell()} of {total} bytes")
            out.flush()
            os.fsync(out.fileno())
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise DownloadError(f"{url}: sha256 mismatch (expected {sha256}, got {digest.hexdigest()})")
        check_archive(partial, url)
        os.replace(partial, target)
        _record(target, digest.hexdigest())
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        if isinstance(error, DownloadError):
            raise
        reason = getattr(error, "reason", error)
        raise DownloadError(f"{url}: download failed ({reason})") from None
    finally:
        partial.unlink(missing_ok=True)


def public_source(source: str | os.PathLike | None) -> str | None:
    """How a data source may be published: an http(s) URL as it is, a local path or file:// URL as its file name
    only (never a local absolute path)."""
    if source is None:
        return None
    text = str(source)
    parsed = urllib.parse.urlparse(text)
    if parsed.scheme in {"http", "https"}:
        return text
    if parsed.scheme == "file":
        text = urllib.request.url2pathname(parsed.path)
    return Path(text.rstrip("/\\")).name or text
