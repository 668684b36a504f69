"""Using a trained model: texts -> batches -> logits -> calibrated P(female) -> labels (``predictor``, with
``batching``; the labelling rule once in ``labels``), tables of line and character scores (``prediction``,
``characters``), tables of any size on one machine (``streaming``) or a Ray cluster (``distributed``), and the
completed corpus (``completion``)."""
