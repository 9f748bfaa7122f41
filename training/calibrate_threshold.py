"""Choose a dense model's score threshold on validation scenes so that grasps off the objects
(the table, the floor, walls, clutter) rarely pass, and say what it costs.

    vlm-grasp synth --view robot --n 300 --seed 3 --out out/synth_robot_val
    python -m training.calibrate_threshold --root out/synth_robot_val --out out/calibration \
        [--model-path DIR] [--max-background 0.03] [--write]

Predictions are made with a low floor (0.05), then every threshold from 0.05 to 0.95 is scored:
the share of scenes with a grasp centred off every labelled object, top-1 accuracy, the share
of the top 5 on objects and the precision (grasps that hit a label). The chosen threshold is
the lowest whose background share is at most ``--max-background``; ``--write`` stores it in
the checkpoint's ``config.json`` as ``postprocess.min_quality``, the score below which the
model gives no grasp (a score scale belongs to one model, so its threshold travels with it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.evaluation import evaluate_predictor
from vlm_grasp_ros.core.metrics import choose_threshold, threshold_sweep
from vlm_grasp_ros.core.predictors.dense import EMBEDDED_MODEL, DensePredictor
from vlm_grasp_ros.core.report import sweep_table

FLOOR = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="a `vlm-grasp synth` folder (object masks are needed)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--model-path", default="", help="a dense checkpoint folder (default: the embedded one)")
    parser.add_argument("--max-background", type=float, default=0.03)
    parser.add_argument("--max-grasps", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="store the threshold in the checkpoint's config.json")
    args = parser.parse_args()

    predictor = DensePredictor.from_path(args.model_path, "cpu")
    config = predictor.model.config
    config.postprocess = dataclasses.replace(config.postprocess, min_quality=FLOOR)
    dataset = open_dataset("synthetic", args.root)
    outcomes = []
    for _sample, result in evaluate_predictor(predictor, dataset, max_grasps=args.max_grasps):
        if result.outcomes is None:
            raise SystemExit(f"{args.root}: images without object masks cannot be calibrated")
        outcomes.append(result.outcomes)
    rows = threshold_sweep(outcomes, np.round(np.arange(FLOOR, 0.951, 0.05), 2).tolist())
    chosen, passing = choose_threshold(rows, args.max_background)
    lines = [
        f"# Score threshold for `{predictor.model_id}`",
        "",
        f"On {len(outcomes)} scenes of `{args.root}`, up to {args.max_grasps} grasps each. Chosen: the lowest "
        f"threshold with at most {100 * args.max_background:.0f}% of scenes holding a grasp off the objects: "
        f"**{chosen['threshold']:.2f}**" + ("" if passing else " (no threshold reached the target: the highest)"),
        "",
        *sweep_table(rows, chosen["threshold"]),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "calibration.json").write_text(json.dumps({"chosen": chosen, "rows": rows}, indent=2), encoding="utf-8")
    print("\n".join(lines))
    if args.write:
        path = Path(args.model_path or EMBEDDED_MODEL) / "config.json"
        saved = json.loads(path.read_text(encoding="utf-8"))
        saved["model"]["postprocess"]["min_quality"] = chosen["threshold"]
        path.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
        print(f"wrote min_quality {chosen['threshold']:.2f} into {path}")


if __name__ == "__main__":
    main()
