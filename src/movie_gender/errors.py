"""Typed exceptions: every one names the file (and line, where there is one) that caused it."""

from __future__ import annotations


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
