"""Opt-in experiment tracking: ``--report-to tensorboard`` logs the per-step training loss and learning rate and the
per-epoch validation metrics.

Nothing here runs unless asked for: the default is ``"none"``, the TensorBoard writer only writes event files to a
local folder (it never opens a connection), and it needs the ``tracking`` extra (``pip install
"movie-gender[tracking]"``), never a core dependency.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from movie_gender.configuration import REPORT_TO
from movie_gender.errors import MovieGenderError

logger = logging.getLogger(__name__)


class TrackingUnavailable(MovieGenderError, ImportError):
    """The tracker asked for is not installed (one clear line from the command, no traceback)."""


class Tracker(Protocol):
    """What training calls: ``log`` scalars at a global step, ``close`` at the end."""

    def log(self, values: dict[str, float], step: int) -> None:
        """Record the scalars ``values`` at global step ``step``."""

    def close(self) -> None:
        """Flush and release whatever the tracker holds."""


class TensorBoardTracker:
    """Scalars as TensorBoard event files under ``logging_dir`` (read them with ``tensorboard --logdir``)."""

    def __init__(self, logging_dir: str | os.PathLike) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrackingUnavailable(
                '--report-to tensorboard needs TensorBoard: pip install "movie-gender[tracking]"'
            ) from None
        self.logging_dir = Path(logging_dir)
        self.writer = SummaryWriter(log_dir=str(self.logging_dir))

    def log(self, values: dict[str, float], step: int) -> None:
        """Write each scalar of ``values`` at global step ``step``."""
        for name, value in values.items():
            self.writer.add_scalar(name, float(value), global_step=step)

    def close(self) -> None:
        """Flush the event files and close the writer."""
        self.writer.flush()
        self.writer.close()


def make_tracker(report_to: str, logging_dir: str | os.PathLike) -> Tracker | None:
    """The tracker ``report_to`` names (None for "none"); ``logging_dir`` is where it writes."""
    if report_to == "none":
        return None
    if report_to == "tensorboard":
        tracker = TensorBoardTracker(logging_dir)
        logger.info("TensorBoard logs: %s (view them with: tensorboard --logdir %s)", logging_dir, logging_dir)
        return tracker
    raise ValueError(f"report_to must be one of {REPORT_TO}, got {report_to!r}")


def step_values(loss: float, learning_rate: float) -> dict[str, float]:
    """The scalars logged after each optimizer step."""
    return {"train/loss": loss, "train/learning_rate": learning_rate}


def epoch_values(row: dict) -> dict[str, float]:
    """The scalars logged after each epoch, from a row of the training history (``val_auc`` -> ``validation/auc``)."""
    values = {f"validation/{key.removeprefix('val_')}": value for key, value in row.items() if key.startswith("val_")}
    values.update({f"train/epoch_{key}": row[key] for key in ("train_loss", "lines_per_s") if key in row})
    return values


__all__ = [
    "REPORT_TO",
    "TrackingUnavailable",
    "Tracker",
    "TensorBoardTracker",
    "make_tracker",
    "step_values",
    "epoch_values",
]
