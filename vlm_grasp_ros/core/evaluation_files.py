"""The files of an evaluation, written in one place for `vlm-grasp eval` and `vlm-grasp replay`.

Schema (one backend per folder):

* ``metrics.json``: :func:`core.metrics.summarize` of the scored images (``n_images``,
  ``accuracy_top1``, ``accuracy_top5``, ``mean_iou``, ``angle_err_deg``, ``center_err_px``,
  ``invalid_rate``, ``empty_rate``, ``latency_ms`` {median, p95, mean}, and where the labels
  have object masks ``per_object_accuracy`` and ``n_objects`` (and, with images of 3 or more
  objects, ``top3_on_3_objects`` and ``n_images_3_objects``); for text-writing backends
  ``invalid_answer_rate``; with images that carry no labels, which every accuracy figure leaves
  out, ``n_unlabelled`` and ``unlabelled_with_grasp``), then the run's description (``backend``, ``model``, ``source``,
  ``oracle_mask``), then any extra sections (replay: ``transport``; eval --support-plane:
  ``support_plane`` {``height_m``, ``dropped_grasps``, ``unchecked_images``}).
* ``predictions.jsonl``: a line per image, in order: ``image``, ``grasps`` (``core.grasp_json``),
  ``latency_ms``, ``valid``, ``error`` (when invalid), ``scored``, ``top1_hit`` (scored images
  with labels: whether the best grasp hits one; ``vlm-grasp compare`` pairs two runs by it) and
  any per-image details (replay: ``stamp_ns``, ``answered``, ``poses``).
* ``report.md``: the metrics table, histograms and overlays (``core.report``), then any extra
  Markdown sections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm_grasp_ros.core.datasets import GraspSample
from vlm_grasp_ros.core.grasp_json import grasps_to_json
from vlm_grasp_ros.core.metrics import ImageResult, summarize, top_k_hit

METRICS_NAME = "metrics.json"
PREDICTIONS_NAME = "predictions.jsonl"
REPORT_NAME = "report.md"
SHOWN_IMAGES = 8  # images drawn in the report's overlay grid


@dataclass(frozen=True)
class RunDescription:
    """What was evaluated on what; the same keys for eval and replay."""

    backend: str
    model: str
    source: str  # "synthetic:out/synth_test", "bag:out/demo/bag", ...
    oracle_mask: bool = False


@dataclass
class EvaluationRun:
    """One backend's evaluation as it is written out."""

    description: RunDescription
    results: list[ImageResult] = field(default_factory=list)
    #: The first SHOWN_IMAGES (sample, result) pairs that have an image, for the overlays.
    shown: list[tuple[GraspSample, ImageResult]] = field(default_factory=list)
    #: Per-image extra fields for predictions.jsonl, by index into ``results``.
    details: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Images with predictions but no score (replay: unlabelled or unanswered frames): their lines.
    unscored: list[dict[str, Any]] = field(default_factory=list)
    #: Extra metrics.json sections, e.g. {"transport": {...}}.
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return self.description.backend

    def add(self, result: ImageResult, sample: GraspSample | None = None, **details: Any) -> None:
        if details:
            self.details[len(self.results)] = details
        self.results.append(result)
        if sample is not None and len(self.shown) < SHOWN_IMAGES:
            self.shown.append((sample, result))

    def metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = dict(summarize(self.results)) if self.results else {"n_images": 0}
        metrics.update(
            backend=self.description.backend,
            model=self.description.model,
            source=self.description.source,
            oracle_mask=self.description.oracle_mask,
        )
        metrics.update(self.sections)
        return metrics

    def prediction_lines(self) -> list[dict[str, Any]]:
        lines = []
        for index, result in enumerate(self.results):
            line: dict[str, Any] = {
                "image": result.name,
                "grasps": grasps_to_json(result.predictions),
                "latency_ms": round(result.latency_ms, 3),
                "valid": result.valid,
                "scored": True,
            }
            if result.ground_truth:
                line["top1_hit"] = top_k_hit(result.predictions, result.ground_truth, 1)
            if result.error:
                line["error"] = result.error
            line.update(self.details.get(index, {}))
            lines.append(line)
        return lines + [{**line, "scored": False} for line in self.unscored]


def write_evaluation(
    runs: list[EvaluationRun], out_dir: Path, title: str, command: str, extra_markdown: str = ""
) -> Path:
    """metrics.json and predictions.jsonl per backend (in ``out_dir``, or ``out_dir/<backend>/``
    with several), and one report.md in ``out_dir``; returns the report's path."""
    from vlm_grasp_ros.core.report import write_report  # matplotlib only when writing

    out_dir.mkdir(parents=True, exist_ok=True)
    for run in runs:
        folder = out_dir if len(runs) == 1 else out_dir / run.backend
        folder.mkdir(parents=True, exist_ok=True)
        (folder / METRICS_NAME).write_text(json.dumps(run.metrics(), indent=2) + "\n", encoding="utf-8")
        (folder / PREDICTIONS_NAME).write_text(
            "".join(json.dumps(line) + "\n" for line in run.prediction_lines()), encoding="utf-8"
        )
    return write_report(runs, out_dir / REPORT_NAME, title, command, extra_markdown)
