"""Write a ConvoKit copy of a Cornell corpus (zip, folder or URL), with the conversations the corpus gives
(movie_conversations.txt, else line-id adjacency): read back with --corpus, it gives the same table as the original.

    python scripts/cornell_to_convokit.py ../shared/data/cornell_movie_dialogs_corpus.sample.zip /tmp/sample-convokit
"""

from __future__ import annotations

import sys

from movie_gender.data.convokit_writer import convert_corpus

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/cornell_to_convokit.py CORPUS OUTPUT_FOLDER")
    print(convert_corpus(sys.argv[1], sys.argv[2]))
