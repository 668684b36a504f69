"""Typed exceptions: every one names the file (and line, where there is one) that caused it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

_TOKEN = re.compile(r"hf_[A-Za-z0-9]{8,}")


def redact(text: str) -> str:
    """Replace anything shaped like a Hugging Face token."""
    return _TOKEN.sub("hf_***", text)


def first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message, or its class name when the message is empty."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class MovieGenderError(Exception):
    """Base class of every error this package raises on bad input."""


class InputFormatError(MovieGenderError, ValueError):
    """A file does not have the expected format.

    The message names the file and, where known, the 1-based line number.
    """

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class CorpusFormatError(InputFormatError):
    """The Cornell corpus (zip, folder or collated file) is malformed."""


class GloveFormatError(InputFormatError):
    """A GloVe vectors file is malformed."""


class DownloadError(MovieGenderError, OSError):
    """A download failed or its checksum did not match."""


class ModelLoadError(MovieGenderError, ValueError):
    """A model folder or Hub repo is incomplete or inconsistent."""


class HubError(MovieGenderError, OSError):
    """A request to the Hugging Face Hub failed (network, authentication, permissions)."""


class CheckpointMismatchError(MovieGenderError, ValueError):
    """A checkpoint belongs to another run (other data, vocabulary, architecture or optimisation settings)."""


@contextlib.contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """Turn whatever the HTTP stack raises for ``repo_id`` into one :class:`HubError` line (tokens redacted)."""
    try:
        yield
    except MovieGenderError:
        raise
    except Exception as error:  # httpx / huggingface_hub errors have no common base class we can name
        raise HubError(f"{repo_id}: Hub request failed ({type(error).__name__}: {redact(first_line(error))})") from None
