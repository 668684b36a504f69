"""Training: the loop (``loop``) and the character model's (``character_training``), the main job end to end
(``pipeline``), cross-validation by movie (``crossval``) and opt-in experiment tracking (``tracking``)."""
