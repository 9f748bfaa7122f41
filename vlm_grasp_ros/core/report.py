"""The evaluation report: a Markdown page with a metrics table, histograms and overlays."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np

from vlm_grasp_ros.core.datasets import GraspSample
from vlm_grasp_ros.core.metrics import (
    TOP1_OUTCOMES,
    ImageResult,
    outcomes_and_labels,
    per_kind_accuracy,
    score_top_prediction,
    threshold_sweep,
    top1_breakdown,
)
from vlm_grasp_ros.core.overlay import draw_comparison

if TYPE_CHECKING:
    from vlm_grasp_ros.core.evaluation_files import EvaluationRun

GRID_IMAGES = 8


def _format(value: object, percent: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:.2f}"
    return str(value)


def metrics_table(runs: Sequence[EvaluationRun]) -> str:
    header = (
        "| backend | images | top-1 acc. | top-5 acc. | per-object acc. | mean IoU | angle err. (°) "
        "| centre err. (px) | invalid | latency median / p95 (ms) |"
    )
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for run in runs:
        m = run.metrics()
        if not run.results:
            lines.append(f"| {run.backend} | 0 |" + " – |" * 8)
            continue
        latency = m["latency_ms"]
        lines.append(
            f"| {run.backend} | {m['n_images']} | {_format(m['accuracy_top1'], True)} | "
            f"{_format(m.get('accuracy_top5'), True)} | {_format(m.get('per_object_accuracy'), True)} | "
            f"{_format(m['mean_iou'])} | {_format(m['angle_err_deg'])} | {_format(m['center_err_px'])} | "
            f"{_format(m['invalid_rate'], True)} | {latency['median']:.1f} / {latency['p95']:.1f} |"
        )
    return "\n".join(lines)


SWEEP_THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def sweep_table(rows: Sequence[dict[str, float | None]], chosen: float | None = None) -> list[str]:
    """Markdown lines for :func:`threshold_sweep` rows; the ``chosen`` threshold in bold."""
    # Scenes with nothing labelled get their own column, only where the sweep had some.
    unlabelled = any(row.get("unlabelled_with_grasp") is not None for row in rows)
    lines = [
        "| threshold | scenes with a grasp off the objects | top-1 hit | top-5 on objects | precision | grasps/image |"
        + (" empty scenes with a grasp |" if unlabelled else ""),
        "|---|---|---|---|---|---|" + ("---|" if unlabelled else ""),
    ]
    for row in rows:
        mark = "**" if row["threshold"] == chosen else ""
        lines.append(
            f"| {mark}{row['threshold']:.2f}{mark} | {_format(row['background_scenes'], True)} | "
            f"{_format(row['top1_hit'], True)} | {_format(row['on_object_top5'], True)} | "
            f"{_format(row['precision'], True)} | {_format(row['grasps_per_image'])} |"
            + (f" {_format(row.get('unlabelled_with_grasp'), True)} |" if unlabelled else "")
        )
    return lines


def background_tables(runs: Sequence[EvaluationRun]) -> list[str]:
    """Per backend with object masks: the background figures at a range of score thresholds."""
    parts = []
    for run in runs:
        outcomes, labelled = outcomes_and_labels(run.results)
        if outcomes:
            parts += [f"### {run.backend}: grasps off the labelled objects, by score threshold", ""]
            parts += [*sweep_table(threshold_sweep(outcomes, SWEEP_THRESHOLDS, labelled)), ""]
    return parts


def kind_table(runs: Sequence[EvaluationRun]) -> list[str]:
    """Per-object accuracy by kind of object (backends as columns), where the data name kinds."""
    by_run = {run.backend: per_kind_accuracy(run.results) for run in runs}
    return _by_kind_table(
        ["### Per-object accuracy by kind of object", ""],
        by_run,
        lambda entry: _format(entry["accuracy"], True),
        objects=lambda kind: max(table[kind]["objects"] for table in by_run.values() if kind in table),
    )


def _by_kind_table(
    title: list[str],
    by_run: dict[str, dict[str, dict[str, float]]],
    cell: Callable[[dict[str, float]], str],
    objects: Callable[[str], float] | None = None,
) -> list[str]:
    """One row per kind, one column per backend (``cell`` of its entry, "–" where it has none),
    with an objects column when ``objects`` counts them; nothing when no backend names a kind."""
    kinds = sorted({kind for table in by_run.values() for kind in table})
    if not kinds:
        return []
    count_header, count_rule = ("objects | ", "---|") if objects else ("", "")
    lines = [
        *title,
        f"| kind | {count_header}" + " | ".join(by_run) + " |",
        f"|---|{count_rule}" + "---|" * len(by_run),
    ]
    for kind in kinds:
        cells = [cell(table[kind]) if kind in table else "–" for table in by_run.values()]
        count = f"{objects(kind):.0f} | " if objects else ""
        lines.append(f"| {kind} | {count}" + " | ".join(cells) + " |")
    return [*lines, ""]


def _counts(counted: object) -> str:
    """{"mug": 2, "pen": 1} -> "mug 2, pen 1"; "–" when there is nothing counted."""
    return ", ".join(f"{name} {count}" for name, count in counted.items()) if isinstance(counted, dict) else "–"


def top1_table(runs: Sequence[EvaluationRun]) -> list[str]:
    """Where each labelled image's best grasp lands, per backend with object masks."""
    rows = []
    for run in runs:
        breakdown = top1_breakdown(run.results)
        if breakdown is None:
            continue
        kinds = _counts(breakdown.get("misses_on_object_by_kind"))
        causes = _counts(breakdown.get("misses_on_object_by_cause"))
        shares = " | ".join(_format(breakdown[name], True) for name in TOP1_OUTCOMES)
        rows.append(f"| {run.backend} | {shares} | {kinds} | {causes} |")
    if not rows:
        return []
    header = [
        "### Where each image's best grasp lands",
        "",
        "| backend | hits a label | on a labelled object, missed | off the objects | no grasp "
        "| misses on an object, by kind | by cause |",
        "|---|---|---|---|---|---|---|",
    ]
    note = (
        "A miss's cause: *opening* if another opening (a quarter to four times its own, the jaw alike) at "
        "its centre and angle would hit, else *angle* if another angle would, else *place*."
    )
    return [*header, *rows, "", note, "", *_top1_by_kind_table(runs)]


def _top1_by_kind_table(runs: Sequence[EvaluationRun]) -> list[str]:
    """Top-1 hits among the images whose best grasp lands on each kind of object, per backend."""
    by_run = {}
    for run in runs:
        counted = (top1_breakdown(run.results) or {}).get("top1_by_kind")
        if isinstance(counted, dict):
            by_run[run.backend] = counted
    return _by_kind_table(
        ["Top-1 by the kind of object the best grasp lands on (hits of images):", ""],
        by_run,
        lambda entry: (
            f"{entry['hits']:.0f} of {entry['images']:.0f} ({_format(entry['hits'] / entry['images'], True)})"
        ),
    )


def _histograms(runs: Sequence[EvaluationRun], out_dir: Path) -> list[str]:
    figure, (iou_axis, angle_axis) = plt.subplots(1, 2, figsize=(11, 3.8))
    for run in runs:
        scores = [score_top_prediction(r.predictions[0], r.ground_truth) for r in run.results if r.predictions]
        iou_axis.hist([s.best_iou for s in scores], bins=20, range=(0, 1), alpha=0.55, label=run.backend)
        angles = [s.angle_error_deg for s in scores if not math.isnan(s.angle_error_deg)]
        angle_axis.hist(angles, bins=18, range=(0, 90), alpha=0.55, label=run.backend)
    iou_axis.axvline(0.25, color="black", linestyle="--", linewidth=1, label="hit threshold")
    angle_axis.axvline(30, color="black", linestyle="--", linewidth=1, label="hit threshold")
    iou_axis.set(title="Best IoU of the top grasp", xlabel="IoU", ylabel="images")
    angle_axis.set(title="Angle error of the top grasp", xlabel="degrees (mod 180)", ylabel="images")
    iou_axis.legend(fontsize=8)
    angle_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_dir / "histograms.png", dpi=110)
    plt.close(figure)
    return ["histograms.png"]


def overlay_grid(shown: Sequence[tuple[GraspSample, ImageResult]], path: Path) -> bool:
    """A grid of up to GRID_IMAGES images with labels and the top 5 predictions; False when there
    is nothing to show."""
    if not shown:
        return False
    tiles = []
    for sample, result in shown[:GRID_IMAGES]:
        tile = draw_comparison(sample.image, sample.grasps, result.predictions[:5])
        scale = 320 / max(tile.shape[:2])
        tile = cv2.resize(
            tile, (round(tile.shape[1] * scale), round(tile.shape[0] * scale)), interpolation=cv2.INTER_AREA
        )
        canvas = np.full((240, 320, 3), 255, np.uint8)
        canvas[: tile.shape[0], : tile.shape[1]] = tile[:240, :320]
        hit = bool(result.predictions) and result.predictions[0].is_hit(result.ground_truth)
        cv2.putText(
            canvas,
            "hit" if hit else "miss",
            (6, 18),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.55,
            (0, 160, 0) if hit else (220, 0, 0),
            2,
            cv2.LINE_AA,
        )
        tiles.append(canvas)
    while len(tiles) % 4:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    return True


def write_report(runs: Sequence[EvaluationRun], path: Path, title: str, command: str, extra_markdown: str = "") -> Path:
    """Write the report at ``path`` and its PNGs beside it; returns ``path``."""
    out_dir = path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        f"# {title}",
        "",
        f"Produced by `{command}`.",
        "",
        metrics_table(runs),
        "",
        "Top-k accuracy: an image counts when one of its k best grasps has IoU > 0.25 (exact polygon "
        "IoU over the union) and an angle difference < 30° (mod 180°) with any label. Per-object "
        "accuracy follows OCID-Grasp. Mean IoU, angle and centre errors are those of each image's best "
        "grasp against its matched label.",
        "",
    ]
    parts += kind_table(runs)
    parts += top1_table(runs)
    parts += background_tables(runs)
    if any(run.results for run in runs):
        for name in _histograms(runs, out_dir):
            parts += [f"![histograms]({name})", ""]
    for run in runs:
        grid = f"overlays_{run.backend}.png"
        if overlay_grid(run.shown, out_dir / grid):
            parts += [
                f"## {run.backend}: first images (green: labels, red: predictions, thick: best)",
                "",
                f"![{run.backend} overlays]({grid})",
                "",
            ]
    if extra_markdown:
        parts += [extra_markdown, ""]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
