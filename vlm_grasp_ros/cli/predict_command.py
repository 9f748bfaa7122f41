"""`vlm-grasp predict IMAGE... --backend NAME --out DIR`: <stem>.json and <stem>_overlay.png."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
from tqdm import tqdm

from vlm_grasp_ros.cli.model_arguments import backend_options
from vlm_grasp_ros.core.datasets.sample import read_rgb
from vlm_grasp_ros.core.grasp_json import grasps_to_json
from vlm_grasp_ros.core.overlay import draw_grasps
from vlm_grasp_ros.core.predictors.registry import create_predictor


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such image file: {', '.join(missing)}")
    predictor = create_predictor(args.backend, backend_options(args, [args.backend])[args.backend])
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in tqdm(paths, desc=f"predict {args.backend}", unit="img", disable=len(paths) < 3):
        image = read_rgb(path)
        grasps = predictor.predict(image, prompt=args.prompt, max_grasps=args.max_grasps)
        record = {
            "image": str(path),
            "width": image.shape[1],
            "height": image.shape[0],
            "backend": args.backend,
            "model": predictor.model_id,
            "grasps": grasps_to_json(grasps),
        }
        (out_dir / f"{path.stem}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
        overlay = draw_grasps(image, grasps, thickness=2, label_scores=True)
        cv2.imwrite(str(out_dir / f"{path.stem}_overlay.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    print(f"wrote {len(paths)} predictions and overlays to {out_dir}")
    return 0
