#!/usr/bin/env python
"""The same as `movie-gender predict` (see `movie-gender predict --help`), for a checkout without the installed
command."""

from movie_gender.commands.common import run
from movie_gender.commands.predict import main

if __name__ == "__main__":
    run(main)
