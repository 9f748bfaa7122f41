"""`vlm-grasp eval`: metrics.json, predictions.jsonl and report.md per backend.

With one backend everything lands in ``--out``; with several, each backend gets
``--out/<backend>/`` and the side-by-side report is ``--out/report.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.evaluation import evaluate_predictor
from vlm_grasp_ros.core.grasp_json import grasps_to_json
from vlm_grasp_ros.core.metrics import summarize
from vlm_grasp_ros.cli.model_arguments import backend_options
from vlm_grasp_ros.core.predictors.registry import create_predictor
from vlm_grasp_ros.core.report import GRID_IMAGES, BackendRun, metrics_table, write_report


def run(args: argparse.Namespace) -> int:
    options = backend_options(args)
    predictors = [create_predictor(name, options) for name in args.backend]  # a bad name fails before any work
    dataset = open_dataset(args.dataset, args.root, allow_pickle=args.allow_pickle)
    out_dir = Path(args.out)
    runs = []
    for predictor in predictors:
        backend_dir = out_dir if len(predictors) == 1 else out_dir / predictor.name
        backend_dir.mkdir(parents=True, exist_ok=True)
        results, shown = [], []
        with open(backend_dir / "predictions.jsonl", "w", encoding="utf-8") as lines:
            for sample, result in evaluate_predictor(predictor, dataset, args.limit, args.oracle_mask, args.max_grasps):
                results.append(result)
                if len(shown) < GRID_IMAGES:
                    shown.append((sample, result))
                record = {"image": sample.name, "grasps": grasps_to_json(result.predictions)}
                if not result.valid:
                    record["error"] = result.error
                lines.write(json.dumps(record) + "\n")
        metrics = summarize(results)
        metrics.update(dataset=args.dataset, backend=predictor.name, model=predictor.model_id, oracle_mask=bool(args.oracle_mask))
        (backend_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        runs.append(BackendRun(predictor.name, metrics, results, shown))
    command = "vlm-grasp " + shlex.join(sys.argv[1:]) if sys.argv[0].endswith("vlm-grasp") else "vlm-grasp eval ..."
    mask_note = "oracle masks" if args.oracle_mask else "own segmentation"
    report = write_report(runs, out_dir, f"{args.dataset}: {len(runs[0].results)} images, {mask_note}", command)
    print(metrics_table(runs))
    print(f"report: {report}")
    return 0

