#!/usr/bin/env python
"""The same as `movie-gender benchmark` (see `movie-gender benchmark --help`), for a checkout without the installed
command. In a checkout with the development data beside it (../shared/data), --corpus and --glove default to the
sample corpus and the 50d GloVe there."""

import sys
from pathlib import Path

from movie_gender.commands.benchmark import main
from movie_gender.commands.common import run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULTS = {"--corpus": DATA / "cornell_movie_dialogs_corpus.sample.zip", "--glove": DATA / "glove.6B.50d.txt.gz"}

if __name__ == "__main__":
    argv = sys.argv[1:]
    for option, path in DEFAULTS.items():
        if path.exists() and not any(a == option or a.startswith(option + "=") for a in argv):
            argv += [option, str(path)]
    run(lambda: main(argv))
