"""Write tests/fixtures/convokit_reference/: a tiny corpus dumped by ConvoKit's own ``Corpus.dump``, the reference
that tests/test_convokit.py checks the package's ConvoKit reader and writer against.

ConvoKit is not a dependency of movie-gender (not even for the tests); this script is run by hand, once, in an
environment that has it (``pip install convokit``), and its output is committed:

    python scripts/make_convokit_fixture.py tests/fixtures/convokit_reference
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from convokit import Corpus, Speaker, Utterance


def build() -> Corpus:
    """Two movies, four speakers (one of unknown gender), two conversations of two speakers each."""
    speakers = {
        "u0": Speaker(id="u0", meta={"character_name": "BIANCA", "gender": "f", "movie_idx": "m0"}),
        "u2": Speaker(id="u2", meta={"character_name": "CAMERON", "gender": "m", "movie_idx": "m0"}),
        "u10": Speaker(id="u10", meta={"character_name": "GUARD", "gender": "?", "movie_idx": "m1"}),
        "u11": Speaker(id="u11", meta={"character_name": "KAT", "gender": "F", "movie_idx": "m1"}),
    }
    lines = [
        ("L194", "u0", "L194", None, "Can we make this quick?", "m0", 0),
        ("L195", "u2", "L194", "L194", "Well, I thought we'd start with pronunciation.", "m0", 1),
        ("L196", "u0", "L194", "L195", "Not the hacking and gagging and spitting part.", "m0", 2),
        ("L300", "u10", "L300", None, "Halt! Who goes there?", "m1", 0),
        ("L301", "u11", "L300", "L300", "Just me, darling.", "m1", 1),
    ]
    utterances = [
        Utterance(
            id=uid,
            speaker=speakers[sid],
            conversation_id=cid,
            reply_to=reply,
            timestamp=turn,
            text=text,
            meta={"movie_id": movie},
        )
        for uid, sid, cid, reply, text, movie, turn in lines
    ]
    corpus = Corpus(utterances=utterances)
    for conversation in corpus.iter_conversations():
        conversation.meta["movie_idx"] = conversation.get_utterance(conversation.id).meta["movie_id"]
    corpus.meta["name"] = "movie-gender reference"
    return corpus


def main(output: str) -> None:
    target = Path(output)
    if target.exists():
        shutil.rmtree(target)
    build().dump(target.name, base_path=str(target.parent))
    print("wrote", sorted(p.name for p in target.iterdir()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/convokit_reference")
