"""Training: the loop (``loop``, with ``batches`` and ``checkpoint``) and the character model's
(``character_training``), a run end to end (``pipeline``: train, evaluate, its record), the run record
(``run_record``: metrics.json, ``RunRecord``) and its typed parts (``report_parts``), cross-validation by movie
(``crossval``) and opt-in experiment tracking (``tracking``)."""
