"""Evaluation: the protocol (``protocol``: thresholds on validation, metrics per line and per character), the
baselines (``baselines``), paired bootstrap intervals by movie (``bootstrap``), calibration (``calibration``: fitting
and measuring; applying it is ``movie_gender.labels``) and figures (``plots``)."""
