"""Helpers shared by the subcommands of `movie-gender`: argument types, logging, and turning errors into one line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from ..errors import MovieGenderError, first_line, redact


def _number(kind: type, accept: Callable[[float], bool], requirement: str) -> Callable[[str], float]:
    """An argparse type: parse ``kind`` and check it, with a message that says what is allowed."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {value}")
        return value

    parse.__name__ = requirement  # argparse names the type in some messages
    return parse


positive_int = _number(int, lambda v: v >= 1, "at least 1")
non_negative_int = _number(int, lambda v: v >= 0, "0 or more")
positive_float = _number(float, lambda v: v > 0, "greater than 0")
fraction = _number(float, lambda v: 0 < v < 1, "between 0 and 1 (exclusive)")


def setup_logging(verbose: bool = False) -> None:
    """INFO-level logs from this package (DEBUG with --verbose), quiet third-party loggers."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    for name in ("httpx", "urllib3", "filelock", "fsspec", "datasets", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run(main: Callable[[], object]) -> None:
    """Run a script's main(): bad input ends with one clear line on stderr and exit code 2; Ctrl-C with 130."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        main()
    except (MovieGenderError, OSError, ValueError, HfHubHTTPError) as error:
        print(f"error: {redact(first_line(error))}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
