"""The data stage: the Cornell corpus files split into records (``corpus_records``), its upstream files read
(``upstream``) and joined into one Dataset (``corpus``, with ``conversations``), downloads into the Hugging Face cache
(``download``), the train / validation / test split protocol (``splitting``), the DatasetDict built or read back
from a folder or Hub repo (``dataset``), the word-level tokenizer (``tokenizer``) and GloVe vectors aligned to it
(``glove``). Other sources of dialogue give the same table of lines (``assembly``): ConvoKit corpus folders
(``convokit`` in, ``convokit_writer`` out) and screenplays (``screenplay``)."""
