"""Evaluation: the protocol (``protocol``: thresholds on validation, metrics per line and per character), the
baselines (``baselines``), paired bootstrap intervals by movie (``bootstrap``) and calibration (``calibration``)."""
