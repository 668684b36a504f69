#!/usr/bin/env python
"""The same as `movie-gender train` (see `movie-gender train --help`), for a checkout without the installed command."""

from movie_gender.commands.common import run
from movie_gender.commands.train import main

if __name__ == "__main__":
    run(main)
