#!/usr/bin/env python
"""The same as `movie-gender export` (see `movie-gender export --help`), for a checkout without the installed
command."""

from movie_gender.commands.common import run
from movie_gender.commands.export import main

if __name__ == "__main__":
    run(main)
