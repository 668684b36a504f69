"""The model: the BiLSTM network (``modeling``, with building blocks in ``layers``) and the character model's pooling
(``character_model``), the numeric precision they run in (``precision``), model folders on disk (``persistence``)
and the ONNX export (``export``)."""
