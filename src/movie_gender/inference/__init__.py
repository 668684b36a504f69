"""Using a trained model: tables of line and character scores (``prediction``, ``characters``), tables of any size
on one machine (``streaming``) or a Ray cluster (``distributed``), and the completed corpus (``completion``)."""
