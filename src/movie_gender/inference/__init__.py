"""Using a trained model: texts -> batches -> logits -> calibrated P(female) -> labels (``predictor``, with
``batching``; the labelling rule once in ``labels``), tables of line and character scores (``prediction``,
``characters``), tables of any size on one machine (``streaming``, reading ``sources``) or a Ray cluster
(``distributed``), speaker tables of any size scored by character (``speaker_tables``), and the completed corpus
(``completion``)."""
