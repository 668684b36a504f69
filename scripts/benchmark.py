#!/usr/bin/env python
"""The same as `movie-gender benchmark` (see `movie-gender benchmark --help`), for a checkout without the installed
command. In a checkout with the development data beside it (../shared/data), --corpus and --glove default to the
sample corpus and the 50d GloVe there."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks/ folder lives beside the package, not inside it

from benchmarks.run import main  # noqa: E402

from movie_gender.commands.common import run  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DEFAULTS = {"--corpus": DATA / "cornell_movie_dialogs_corpus.sample.zip", "--glove": DATA / "glove.6B.50d.txt.gz"}

if __name__ == "__main__":
    argv = sys.argv[1:]
    for option, path in DEFAULTS.items():
        if path.exists() and not any(a == option or a.startswith(option + "=") for a in argv):
            argv += [option, str(path)]
    run(lambda: main(argv))
