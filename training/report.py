"""The training run's report: loss and validation curves, a per-epoch table and the best
epoch's validation overlays, rewritten after every epoch."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from training.config import TrainConfig
from vlm_grasp_ros.core.report import overlay_grid

LOSS_NAMES = ("total", "quality", "angle", "width", "mask")


def _curves(history: list[dict], out_dir: Path) -> str:
    epochs = [r["epoch"] for r in history]
    figure, (loss_axis, val_axis) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name in LOSS_NAMES:
        loss_axis.plot(epochs, [r[f"train_{name}"] for r in history], marker="o", label=name)
    loss_axis.set_yscale("log")
    loss_axis.set(xlabel="epoch", ylabel="training loss", title="losses")
    loss_axis.legend()
    val_axis.plot(epochs, [100 * r["val_accuracy_top1"] for r in history], marker="o", label="top-1")
    val_axis.plot(epochs, [100 * r["val_accuracy_top5"] for r in history], marker="o", label="top-5")
    val_axis.set(xlabel="epoch", ylabel="%", title="validation, rectangle metric", ylim=(0, 100))
    val_axis.legend()
    figure.tight_layout()
    figure.savefig(out_dir / "curves.png", dpi=90)
    plt.close(figure)
    return "curves.png"


def write_training_report(out_dir: Path, history: list[dict], best_shown: list | None, config: TrainConfig) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    if best_shown is not None:  # only redrawn when the best epoch changes
        overlay_grid(best_shown, out_dir / "overlays_best_val.png")
    lines = [
        f"# Training: {config.model.encoder.name} decoder",
        "",
        f"Output: `{out_dir}`; best checkpoint `best/`, resumable state `last/`.",
        "",
        f"![curves]({_curves(history, out_dir)})",
        "",
        "| epoch | seconds | loss | quality | angle | width | mask | val top-1 | val top-5 | val IoU | val ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in history:
        lines.append(
            f"| {r['epoch']} | {r['seconds']} | {r['train_total']:.4f} | {r['train_quality']:.4f} | "
            f"{r['train_angle']:.4f} | {r['train_width']:.4f} | {r['train_mask']:.4f} | {r['val_accuracy_top1']:.1%} | "
            f"{r['val_accuracy_top5']:.1%} | {r['val_mean_iou']:.3f} | {r['val_latency_ms']:.1f} |"
        )
    if (out_dir / "overlays_best_val.png").is_file():
        lines += [
            "",
            "Best epoch on validation images: labels and the top 5 predictions (see `vlm-grasp eval` reports):",
            "",
            "![overlays](overlays_best_val.png)",
        ]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
