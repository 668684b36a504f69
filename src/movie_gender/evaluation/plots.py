"""Figures of an evaluation, written as PNG files: the matplotlib set-up and saving that every plot shares, and the
reliability diagrams of the calibration (one per calibrated level of a run's metrics).

The plots of the protocol (training curves, confusion matrices, ROC curves) draw through :func:`pyplot` and
:func:`save_figure` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from movie_gender.atomic import atomic_path
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


__all__ = ["plot_name", "plot_reliability", "pyplot", "save_figure", "write_reliability_plots"]
