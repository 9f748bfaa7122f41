"""A training run's report, for both trainers: loss and validation curves, one table row per
validation and the best validation's overlays; rewritten after every validation.

Each trainer describes its report with a :class:`ReportLayout` (which history columns to plot
and tabulate); the drawing and the Markdown are the same for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from vlm_grasp_ros.core.report import overlay_grid

OVERLAYS_NAME = "overlays_best_val.png"


@dataclass(frozen=True)
class Column:
    """A history key shown in the table with a format spec (``.1%``, ``.4f``); missing: ``-``."""

    header: str
    key: str = ""  # "": the header
    spec: str = ""

    def cell(self, row: dict) -> str:
        value = row.get(self.key or self.header)
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, self.spec)


#: Where the run was at each row, and the validation figures both trainers report.
PROGRESS_COLUMNS = (Column("epoch"), Column("step"), Column("seconds"))
TOP1_COLUMN, IOU_COLUMN = Column("val top-1", "val_accuracy_top1", ".1%"), Column("val IoU", "val_mean_iou", ".3f")


@dataclass(frozen=True)
class ReportLayout:
    title: str
    #: The line under the title (where the results are, the run's settings).
    summary: str
    #: The history key on the curves' x axis (``epoch`` or ``step``) and its label.
    x_key: str
    x_label: str
    loss_label: str
    #: (history key, legend) of the training losses, drawn on a log scale.
    losses: tuple[tuple[str, str], ...]
    #: (history key, legend) of validation rates in [0, 1], drawn as percentages.
    rates: tuple[tuple[str, str], ...]
    columns: tuple[Column, ...]


def _curves(layout: ReportLayout, history: list[dict], out_dir: Path) -> str:
    x = [r[layout.x_key] for r in history]
    figure, (loss_axis, val_axis) = plt.subplots(1, 2, figsize=(11, 3.8))
    for key, label in layout.losses:
        loss_axis.plot(x, [r[key] for r in history], marker="o", label=label)
    loss_axis.set_yscale("log")
    loss_axis.set(xlabel=layout.x_label, ylabel=layout.loss_label, title="training")
    for key, label in layout.rates:
        if all(key in r for r in history):
            val_axis.plot(x, [100 * r[key] for r in history], marker="o", label=label)
    val_axis.set(xlabel=layout.x_label, ylabel="%", title="validation, rectangle metric", ylim=(-2, 102))
    for axis in (loss_axis, val_axis):
        axis.legend()
    figure.tight_layout()
    figure.savefig(out_dir / "curves.png", dpi=90)
    plt.close(figure)
    return "curves.png"


def write_run_report(out_dir: Path, layout: ReportLayout, history: list[dict], best_shown: list | None) -> Path:
    """``report.md`` and its pictures in ``out_dir``; the overlays are redrawn only when
    ``best_shown`` is given (the best validation changed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if best_shown is not None:
        overlay_grid(best_shown, out_dir / OVERLAYS_NAME)
    lines = [f"# {layout.title}", "", layout.summary, "", f"![curves]({_curves(layout, history, out_dir)})", ""]
    lines.append("| " + " | ".join(c.header for c in layout.columns) + " |")
    lines.append("|" + "---|" * len(layout.columns))
    lines += ["| " + " | ".join(c.cell(r) for c in layout.columns) + " |" for r in history]
    if (out_dir / OVERLAYS_NAME).is_file():
        lines += ["", "Best validation: labels and the top predictions.", "", f"![overlays]({OVERLAYS_NAME})"]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
