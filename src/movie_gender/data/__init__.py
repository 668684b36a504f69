"""The data stage: the Cornell corpus read from its upstream files (``corpus``, ``conversations``), downloads into
the Hugging Face cache (``download``), the train / validation / test DatasetDict (``dataset``), the word-level
tokenizer (``tokenizer``) and GloVe vectors aligned to it (``glove``)."""
