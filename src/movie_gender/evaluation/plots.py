"""Figures of an evaluation, written as PNG files: the matplotlib set-up and saving that every plot shares, and the
reliability diagrams of the calibration (one per calibrated level of a run's metrics).

The plots of the protocol (training curves, confusion matrices, ROC curves) draw through :func:`pyplot` and
:func:`save_figure` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from movie_gender.atomic import atomic_path
from movie_gender.data.corpus import LABEL_NAMES
from movie_gender.labels import LEVELS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use: plotting is optional)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically, and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return path


def plot_name(level: str, size: str | None = None) -> str:
    """The reliability diagram's file name in a model folder (``size``: of characters cut to that many lines,
    ``reliability_character_1_lines.png``; the whole characters are ``reliability_character.png``)."""
    return f"reliability_{level}.png" if size in (None, "whole") else f"reliability_{level}_{size}_lines.png"


def plot_reliability(record: Mapping, path: str | Path, title: str = "Reliability") -> Path:
    """A reliability diagram from a level's calibration record: fraction female against mean P(female) per bin,
    raw and calibrated, with the diagonal of perfect calibration and the ECE of each in the legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for key, name, ece, style in (
        ("raw", "raw", record.get("ece_raw"), "o--"),
        ("calibrated", "calibrated", record.get("ece"), "s-"),
    ):
        table = record["reliability"][key]
        ax.plot(
            [b["mean_p"] for b in table],
            [b["fraction_female"] for b in table],
            style,
            label=f"{name} (ECE {ece:.3f})",
        )
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfectly calibrated")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_xlabel(f"mean P(female) in the bin ({record.get('bins')} {record.get('binning')} bins)")
    ax.set_ylabel("fraction female")
    ax.set_title(title), ax.legend(loc="upper left")
    return save_figure(fig, path)


def write_reliability_plots(metrics: Mapping, folder: str | Path) -> list[Path]:
    """A reliability diagram per calibrated level of ``metrics`` into ``folder`` (:func:`plot_name`), and one per
    size band of the characters' calibration by size (characters cut to 1, 2, 3, 5 and 10 lines)."""
    written = []
    split = metrics.get("eval_split", "test")
    for level in LEVELS:
        record = (metrics.get(level) or {}).get("calibration")
        if record:
            title = f"Reliability, {level}s, {split} split"
            written.append(plot_reliability(record, Path(folder) / plot_name(level), title))
        for size, entry in ((record or {}).get("by_size") or {}).items():
            if size != "whole" and entry.get("n"):
                title = f"Reliability, {level}s cut to {size} line{'s' if size != '1' else ''}, {split} split"
                written.append(plot_reliability(entry, Path(folder) / plot_name(level, size), title))
    return written


def plot_training(history: list[dict], path: str | Path) -> Path:
    """Loss (train and validation) and validation ROC-AUC / balanced accuracy per epoch."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["train_loss"] for h in history], "o-", label="train loss")
    left.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation loss")
    left.set_xlabel("epoch"), left.set_title("Loss"), left.legend()
    right.plot(epochs, [h["val_auc"] for h in history], "o-", label="validation ROC-AUC")
    right.plot(epochs, [h["val_balanced_accuracy"] for h in history], "o-", label="validation balanced accuracy")
    right.axhline(0.5, color="grey", lw=0.8, ls="--")
    best = max(history, key=lambda h: h["val_auc"])
    right.axvline(best["epoch"], color="grey", lw=0.8, ls=":", label=f"best epoch ({best['epoch']})")
    right.set_xlabel("epoch"), right.set_title("Validation"), right.legend()
    from matplotlib.ticker import MaxNLocator

    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    return save_figure(fig, path)


def plot_confusion(matrix: list[list[int]], path: str | Path, title: str = "Confusion matrix") -> Path:
    """A 2x2 confusion matrix with counts and row-normalised rates."""
    plt = pyplot()
    values = np.asarray(matrix, dtype=float)
    rates = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            ax.text(
                j,
                i,
                f"{int(values[i, j]):,}\n{rates[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if rates[i, j] > 0.5 else "black",
            )
    ax.set_xticks([0, 1], LABEL_NAMES), ax.set_yticks([0, 1], LABEL_NAMES)
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_title(title)
    return save_figure(fig, path)


def plot_roc(labels: Sequence[int], curves: dict[str, Sequence[float]], path: str | Path, title: str = "ROC") -> Path:
    """ROC curves of several scorers on the same labels, with their AUC in the legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, scores in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("false positive rate (male called female)"), ax.set_ylabel("true positive rate (female)")
    ax.set_title(title), ax.legend(loc="lower right")
    return save_figure(fig, path)


__all__ = [
    "plot_confusion",
    "plot_name",
    "plot_reliability",
    "plot_roc",
    "plot_training",
    "pyplot",
    "save_figure",
    "write_reliability_plots",
]
