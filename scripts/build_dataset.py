#!/usr/bin/env python
"""The same as `movie-gender build-dataset` (see `movie-gender build-dataset --help`), for a checkout without the
installed command."""

from movie_gender.commands.build_dataset import main
from movie_gender.commands.common import run

if __name__ == "__main__":
    run(main)
