#!/usr/bin/env python
"""The same as `movie-gender label-characters` (see `movie-gender label-characters --help`), for a checkout without
the installed command."""

from movie_gender.commands.common import run
from movie_gender.commands.label_characters import main

if __name__ == "__main__":
    run(main)
