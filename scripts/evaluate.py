#!/usr/bin/env python
"""The same as `movie-gender evaluate` (see `movie-gender evaluate --help`), for a checkout without the installed
command."""

from movie_gender.commands.common import run
from movie_gender.commands.evaluate import main

if __name__ == "__main__":
    run(main)
