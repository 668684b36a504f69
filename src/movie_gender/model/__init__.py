"""The model: the BiLSTM network and its files (``modeling``: ``BiLSTMNetwork``, with building blocks in ``layers``
and model folders on disk in ``persistence``), the character model's pooling (``character_model``), lines of about
one length batched together (``batching``) and the numeric precision they run in (``precision``)."""
