"""Using a trained model: the network with its prediction methods (``classifier``: ``BiLSTMPredictor``), texts ->
batches -> logits -> calibrated P(female) -> labels (``predictor``; the labelling rule once in
``movie_gender.labels``), tables of line and character scores (``prediction``, ``characters``), tables of any size
on one machine (``streaming``, reading ``sources``) or a Ray cluster (``distributed``), speaker tables of any size
scored by character (``speaker_tables``), and the completed corpus
(``completion``)."""
