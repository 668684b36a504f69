"""Helpers shared by the scripts/ front ends: argument types, logging, and turning errors into one line."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Callable

from .errors import MovieGenderError


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def fraction(text: str) -> float:
    """argparse type: a float strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def setup_logging(verbose: bool = False) -> None:
    """INFO-level logs from this package (DEBUG with --verbose), quiet third-party loggers."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    for name in ("httpx", "urllib3", "filelock", "fsspec", "datasets", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.WARNING)


_TOKEN = re.compile(r"hf_[A-Za-z0-9]{8,}")


def redact(text: str) -> str:
    """Replace anything shaped like a Hugging Face token."""
    return _TOKEN.sub("hf_***", text)


def run(main: Callable[[], object]) -> None:
    """Run a script's main(): bad input ends with one clear line on stderr and exit code 2; Ctrl-C with 130."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        main()
    except (MovieGenderError, OSError, ValueError, HfHubHTTPError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {redact(message)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
