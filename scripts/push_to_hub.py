#!/usr/bin/env python
"""The same as `movie-gender push` (see `movie-gender push --help`), for a checkout without the installed command."""

from movie_gender.commands.common import run
from movie_gender.commands.push import main

if __name__ == "__main__":
    run(main)
