"""`vlm-grasp predict IMAGE|FOLDER... --backend NAME --out DIR`: <name>.json and <name>_overlay.png.

A folder stands for the image files directly in it. An image that cannot be read or used is
reported on one line and skipped, so the others in the batch still get their grasps; the command
then ends with exit code 2 and says how many were skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
from tqdm import tqdm

from vlm_grasp_ros.cli.model_arguments import backend_options
from vlm_grasp_ros.core.datasets.sample import read_rgb
from vlm_grasp_ros.core.grasp_json import grasps_to_json
from vlm_grasp_ros.core.output_folder import check_output_folder
from vlm_grasp_ros.core.overlay import draw_grasps
from vlm_grasp_ros.core.predictors.registry import create_predictor

#: What a folder argument expands to (OpenCV reads all of these).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def expand_image_paths(arguments: Sequence[str]) -> list[Path]:
    """Files as given, folders as their image files (sorted, not recursive), each path once."""
    paths: list[Path] = []
    missing: list[str] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise ValueError(f"{path}: a folder with no image files ({', '.join(IMAGE_SUFFIXES)})")
            paths.extend(images)
        elif path.is_file():
            paths.append(path)
        else:
            missing.append(argument)
    if missing:
        raise FileNotFoundError(f"no such image file or folder: {', '.join(missing)}")
    unique = {os.path.realpath(p): p for p in reversed(paths)}  # keep the first spelling of each file
    return [p for p in paths if unique.get(os.path.realpath(p)) is p]


def output_names(paths: Sequence[Path]) -> list[str]:
    """One output name per image, none the same: the stem; where two images share one
    (scene_1/rgb.png, scene_2/rgb.png) the path from their common folder with "__" for "/"; where
    that is shared too (rgb.png, rgb.jpg) with the suffix kept (rgb_png)."""
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    resolved = [Path(os.path.realpath(p)) for p in paths]
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    relative = [p.relative_to(common) for p in resolved]
    names = ["__".join(r.with_suffix("").parts) for r in relative]
    if len(set(names)) == len(names):
        return names
    return [f"{name}_{r.suffix.lstrip('.')}" if r.suffix else name for name, r in zip(names, relative, strict=True)]


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
