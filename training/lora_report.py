"""The LoRA run's report: loss, accuracy and invalid-answer curves, a table per validation and
the best validation's overlays; rewritten after every validation."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from training.lora_config import LoraTrainConfig
from vlm_grasp_ros.core.report import overlay_grid


def _curves(history: list[dict], out_dir: Path) -> str:
    steps = [r["step"] for r in history]
    figure, (loss_axis, val_axis) = plt.subplots(1, 2, figsize=(11, 3.8))
    loss_axis.plot(steps, [r["train_loss"] for r in history], marker="o")
    loss_axis.set_yscale("log")
    loss_axis.set(xlabel="optimiser step", ylabel="answer-token loss", title="training loss")
    val_axis.plot(steps, [100 * r["val_accuracy_top1"] for r in history], marker="o", label="top-1 (constrained)")
    val_axis.plot(
        steps, [100 * r["val_invalid_answer_rate"] for r in history], marker="x", label="invalid, constrained"
    )
    if all("val_invalid_answer_rate_unconstrained" in r for r in history):
        val_axis.plot(
            steps,
            [100 * r["val_invalid_answer_rate_unconstrained"] for r in history],
            marker="x",
            label="invalid, unconstrained",
        )
    val_axis.set(xlabel="optimiser step", ylabel="%", title="validation", ylim=(-2, 102))
    val_axis.legend()
    figure.tight_layout()
    figure.savefig(out_dir / "curves.png", dpi=90)
    plt.close(figure)
    return "curves.png"


def write_lora_report(out_dir: Path, history: list[dict], best_shown: list | None, config: LoraTrainConfig) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    if best_shown is not None:
        overlay_grid(best_shown, out_dir / "overlays_best_val.png")
    lines = [
        f"# LoRA training on {config.base_model}",
        "",
        f"Output: `{out_dir}`; best adapter `best/`, resumable state `last/`. LoRA r={config.lora.r}, "
        f"alpha={config.lora.alpha}, dropout={config.lora.dropout}, quantization {config.quantization}.",
        "",
        f"![curves]({_curves(history, out_dir)})",
        "",
        "| step | epoch | seconds | loss | lr | val top-1 | val IoU | invalid | invalid, unconstrained |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in history:
        free = r.get("val_invalid_answer_rate_unconstrained")
        lines.append(
            f"| {r['step']} | {r['epoch']} | {r['seconds']} | {r['train_loss']:.4f} | {r['learning_rate']:.2e} | "
            f"{r['val_accuracy_top1']:.1%} | {r.get('val_mean_iou', float('nan')):.3f} | "
            f"{r['val_invalid_answer_rate']:.1%} | {'-' if free is None else f'{free:.1%}'} |"
        )
    if (out_dir / "overlays_best_val.png").is_file():
        lines += ["", "Best validation: labels and predictions:", "", "![overlays](overlays_best_val.png)"]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
