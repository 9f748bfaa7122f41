"""`vlm-grasp predict IMAGE|FOLDER... --backend NAME --out DIR`: <name>.json and <name>_overlay.png.

A folder stands for the image files directly in it. An image that cannot be read or used is
reported on one line and skipped, so the others in the batch still get their grasps; the command
then ends with exit code 2 and says how many were skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from vlm_grasp_ros.cli.model_arguments import backend_options
from vlm_grasp_ros.core.datasets.sample import read_rgb
from vlm_grasp_ros.core.grasp_json import grasps_to_json
from vlm_grasp_ros.core.image_files import expand_image_paths, output_names
from vlm_grasp_ros.core.output_folder import check_output_folder
from vlm_grasp_ros.core.overlay import draw_grasps
from vlm_grasp_ros.core.predictors.registry import create_predictor


def run(args: argparse.Namespace) -> int:
    paths = expand_image_paths(args.images)
    out_dir = Path(args.out)
    check_output_folder(out_dir, overwrite=True)  # a file in the way is named before the model loads
    predictor = create_predictor(args.backend, backend_options(args, [args.backend])[args.backend])
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    jobs = list(zip(paths, output_names(paths), strict=True))
    for path, name in tqdm(jobs, desc=f"predict {args.backend}", unit="img", disable=len(paths) < 3):
        try:
            image = read_rgb(path)
            grasps = predictor.predict(image, prompt=args.prompt, max_grasps=args.max_grasps)
        except ValueError as error:  # a DatasetFormatError or a frame the backend refuses: this image only
            message = str(error) if str(path) in str(error) else f"{path}: {error}"
            tqdm.write(f"vlm-grasp predict: skipped {message}", file=sys.stderr)
            skipped.append(str(path))
            continue
        record = {
            "image": str(path),
            "width": image.shape[1],
            "height": image.shape[0],
            "backend": args.backend,
            "model": predictor.model_id,
            "grasps": grasps_to_json(grasps),
        }
        (out_dir / f"{name}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
        overlay = draw_grasps(image, grasps, thickness=2, label_scores=True)
        cv2.imwrite(str(out_dir / f"{name}_overlay.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    written = len(paths) - len(skipped)
    print(f"wrote {written} predictions and overlays to {out_dir}")
    if skipped:
        listed = ", ".join(skipped)
        print(f"vlm-grasp predict: skipped {len(skipped)} of {len(paths)} images: {listed}", file=sys.stderr)
        return 2
    return 0
